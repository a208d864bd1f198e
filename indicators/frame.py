"""The indicator set of one symbol on one timeframe, advanced one closed bar at a time.

This is the glue the symbol actor calls: a confirmed ``Kline`` in, the ``FrameState``
snapshot out. It holds only streaming state, so each bar costs O(1) and no numpy.

Two implementations, one behaviour: ``PythonFrameIndicators`` composes the indicator machines
of this package and is the reference; ``indicators/_frame.c`` transcribes the same recurrences
operation for operation (a bar in ~1 µs instead of ~9). ``FrameIndicators`` is the compiled one
when the install built it (``setup.py``; it needs a C compiler) and the Python one otherwise;
``COMPILED`` says which. tests/indicators/test_frame_compiled.py holds the two equal bit for bit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from vocabulary.messages import FrameState, Kline, MarketState
from indicators.ema import Ema
from indicators.heikin_ashi import HeikinAshi
from indicators.mfi import Mfi, RsiMfiArea
from indicators.params import IndicatorParams
from indicators.pine import hlc3
from indicators.vwap import SessionVwap
from indicators.wavetrend import CipherB


def _value(x: float) -> float | None:
    """Pine's na (NaN) becomes ``None`` at the message boundary."""
    return x if x == x else None


class PythonFrameIndicators:
    """Heikin Ashi, Cipher B WaveTrend, MFI, RSI+MFI area, EMA and session VWAP of one timeframe.

    ``update`` takes confirmed bars of this interval in strictly increasing time; anything
    else raises ``ValueError`` rather than silently corrupting the recurrences.
    """

    __slots__ = (
        "interval", "params", "_ha", "_wt", "_mfi", "_area", "_ema", "_vwap",
        "_wt1_hist", "_wt2_hist", "_streak_hist", "_high_hist", "_low_hist", "_last",
    )

    def __init__(self, interval: int, params: IndicatorParams = IndicatorParams(), hist_len: int = 16) -> None:
        if hist_len < 1:
            raise ValueError(f"hist_len must be >= 1, got {hist_len}")
        self.interval = interval
        self.params = params
        self._ha = HeikinAshi()
        self._wt = CipherB(params.vmc, params.oversold, params.overbought)
        self._mfi = Mfi(params.mfi_length)
        self._area = RsiMfiArea(params.rsi_mfi_period, params.rsi_mfi_multiplier, params.rsi_mfi_pos_y)
        self._ema = Ema(params.ema_length)
        self._vwap = SessionVwap(params.vwap_session_start_ms)
        self._wt1_hist: deque[float | None] = deque(maxlen=hist_len)
        self._wt2_hist: deque[float | None] = deque(maxlen=hist_len)
        self._streak_hist: deque[int] = deque(maxlen=hist_len)
        self._high_hist: deque[float] = deque(maxlen=hist_len)
        self._low_hist: deque[float] = deque(maxlen=hist_len)
        self._last: FrameState | None = None

    @property
    def last(self) -> FrameState | None:
        return self._last

    def update(self, kline: Kline) -> FrameState:
        if not kline.confirmed:
            raise ValueError(f"{kline.symbol} {kline.interval}m bar at {kline.start_ms} is not confirmed")
        if kline.interval != self.interval:
            raise ValueError(f"{kline.symbol}: a {kline.interval}m bar fed to the {self.interval}m indicators")
        last = self._last
        if last is not None and kline.start_ms <= last.start_ms:
            raise ValueError(
                f"{kline.symbol} {self.interval}m bar at {kline.start_ms} is not after the last one ({last.start_ms})"
            )
        o, h, low, c, v = kline.open, kline.high, kline.low, kline.close, kline.volume
        src = hlc3(h, low, c)
        ha = self._ha.update(o, h, low, c)
        wt = self._wt.update(h, low, c)
        wt1 = _value(wt.wt1)
        wt2 = _value(wt.wt2)
        self._wt1_hist.append(wt1)
        self._wt2_hist.append(wt2)
        self._streak_hist.append(ha.streak)
        self._high_hist.append(h)
        self._low_hist.append(low)
        state = FrameState(
            interval=self.interval,
            start_ms=kline.start_ms,
            open=o,
            high=h,
            low=low,
            close=c,
            volume=v,
            ha_open=ha.open,
            ha_high=ha.high,
            ha_low=ha.low,
            ha_close=ha.close,
            ha_streak=ha.streak,
            wt1=wt1,
            wt2=wt2,
            wt_cross_up=wt.cross_up,
            wt_cross_down=wt.cross_down,
            wt_oversold=wt.oversold,
            wt_overbought=wt.overbought,
            mfi=_value(self._mfi.update(src, v)),
            rsi_mfi_area=_value(self._area.update(o, h, low, c)),
            ema200=_value(self._ema.update(c)),
            vwap=_value(self._vwap.update(kline.start_ms, src, v)),
            wt1_hist=tuple(self._wt1_hist),
            wt2_hist=tuple(self._wt2_hist),
            ha_streak_hist=tuple(self._streak_hist),
            high_hist=tuple(self._high_hist),
            low_hist=tuple(self._low_hist),
        )
        self._last = state
        return state


try:
    from indicators._frame import FrameIndicators
except ImportError:  # no compiler at install, or a FrameState its fields no longer match
    FrameIndicators = PythonFrameIndicators  # type: ignore[misc]

COMPILED = FrameIndicators is not PythonFrameIndicators


def build_market_state(
    symbol: str, tick_ms: int, frames: Mapping[int, FrameState | None], is_stale: bool = False
) -> MarketState:
    """The strategy's snapshot: the last closed bar of each timeframe that has one, shortest first."""
    return MarketState(
        symbol=symbol,
        tick_ms=tick_ms,
        frames=tuple(frames[i] for i in sorted(frames) if frames[i] is not None),
        is_stale=is_stale,
    )
