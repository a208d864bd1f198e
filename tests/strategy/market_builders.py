"""Hand-built MarketStates for strategy tests: neutral by default, a setup is what a test overrides.

Prices are built from integer ticks so a mirrored state (every price reflected around a
centre, every oscillator negated) is exact, not a float approximation.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from vocabulary.messages import FrameState, Instrument, MarketState
from vocabulary.settings import RiskSettings, Settings, StrategySettings
from exchange.sim.config import SimConfig
from exchange.sim.costs import Costs as SimCosts
from exchange.sim.costs import stop_fill_ticks
from strategy.context import EntryContext
from strategy.costs import fallback_costs

TICK = Decimal("0.1")
T0 = 1_764_000_000_000  # a 1m boundary
INSTRUMENT = Instrument(symbol="SOLUSDT", tick_size=TICK, qty_step=Decimal("0.001"),
                        min_order_qty=Decimal("0.001"), max_order_qty=Decimal("10000"), min_notional=Decimal("5"))


# The shipped simulator's costs ([sim] of settings.toml's defaults): what the risk model's
# allowance must cover, priced by the venue's own code rather than by strategy.costs.
VENUE = SimConfig.from_settings(Settings().sim).costs


def venue_stop_fill(stop: Decimal, d: int, tick: Decimal = TICK, venue: SimCosts = VENUE) -> Decimal:
    """Where the venue (the shipped one unless given) fills the stop of a ``d`` position that
    triggered at ``stop`` without a gap."""
    trigger = int(stop / tick)
    assert trigger * tick == stop, "a stop is on the tick grid"
    return stop_fill_ticks(venue, trigger, trigger, None, falling=d > 0) * tick


# The tables' long: entry 100.0, stop 98.8 (module doc of test_sizing). The shipped venue fills that
# stop a tick of slippage (2 bps of 98.8 is a fifth of the 0.1 tick, rounded up to one) and a tick
# of half spread below it, at 98.6: the allowance is 0.2, 20 bps on this coarse grid. So a stop-out
# loses per unit the 1.2 of distance, the maker entry fee, the allowance, and the taker fee on
# 98.8 + 0.2 (strategy.costs' upper bound for a long: the fill, and so its fee, is lower).
_RISK = RiskSettings()
LONG_ALLOWANCE = Decimal("98.8") - venue_stop_fill(Decimal("98.8"), 1)
LONG_LOSS_PER_UNIT = (Decimal("1.2") + Decimal("100.0") * Decimal(str(_RISK.maker_fee)) + LONG_ALLOWANCE
                      + (Decimal("98.8") + LONG_ALLOWANCE) * Decimal(str(_RISK.taker_fee)))
LONG_QTY = INSTRUMENT.round_qty(Decimal(str(_RISK.risk_per_trade)) / LONG_LOSS_PER_UNIT)  # 1 R of the default budget


def px(ticks: int) -> float:
    """A price exactly ``ticks`` ticks from zero, as the float the indicators would carry."""
    return float(Decimal(ticks) * TICK)


def frame(interval: int = 1, **over) -> FrameState:
    """A frame with every vote neutral: doji HA, wt1 == wt2 == 0, no MFI/EMA/VWAP yet."""
    values = dict(
        interval=interval, start_ms=T0 - interval * 60_000, open=100.0, high=100.5, low=99.5, close=100.0, volume=1.0,
        ha_open=100.0, ha_high=100.5, ha_low=99.5, ha_close=100.0, ha_streak=0,
        wt1=0.0, wt2=0.0, wt_cross_up=False, wt_cross_down=False, wt_oversold=False, wt_overbought=False,
        mfi=None, rsi_mfi_area=None, ema200=None, vwap=None,
    )
    values.update(over)
    return FrameState(**values)


def green(**over) -> dict:
    """HA candle fields of a green bar (close above open)."""
    return dict(ha_open=99.8, ha_close=100.2, **over)


def red(**over) -> dict:
    return dict(ha_open=100.2, ha_close=99.8, **over)


SWING = dict(low=99.4, high=100.3, low_hist=(99.6, 99.3, 99.0, 99.4), high_hist=(100.4, 100.2, 100.1, 100.3))


def signal_frame(setup: dict, over: dict) -> FrameState:
    """A green 1m bar at close 100.0 whose lowest low of the lookback is 99.0, with ``setup`` then ``over`` applied."""
    return frame(1, **{**SWING, **green(), **setup, **over})


def long_cross(**over) -> FrameState:
    """cross_based fires long: cross up at wt2 -60 on the first green HA bar after two reds."""
    return signal_frame(dict(
        wt1=-57.0, wt2=-60.0, wt_cross_up=True, wt_oversold=True, ha_streak=1, ha_streak_hist=(-2, 1),
        wt1_hist=(-66.0, -62.0, -57.0), wt2_hist=(-61.0, -61.0, -60.0)), over)


# SOLUSDT's real 1m bar of 2025-06-25 03:04 UTC (start 1750820640000) as the indicators computed it
# from the shipped month (tests/strategy/test_paths.py recomputes it): wt1 still under wt2, the gap
# wt2 - wt1 shrinking 12.57 -> 11.65 -> 0.55, the first green HA bar after two red ones.
REAL_PRE_CROSS = dict(
    wt1=-56.41043649145205, wt2=-55.85814753513716, ha_streak=1, ha_streak_hist=(-1, -2, 1),
    wt1_hist=(-51.596972254908515, -59.56703385905092, -56.41043649145205),
    wt2_hist=(-39.03057899859991, -47.91758576581176, -55.85814753513716))
REAL_PRE_CROSS_MS = 1750820640000


def long_pre_cross(**over) -> FrameState:
    """pre_cross fires long: the oscillators of a real pre-cross (``REAL_PRE_CROSS``) on the table's prices."""
    return signal_frame(REAL_PRE_CROSS, over)


def long_ha_reversal(**over) -> FrameState:
    """ha_reversal fires long: three red HA bars, then green, wt1 at -60 already above wt2."""
    return signal_frame(dict(
        wt1=-60.0, wt2=-66.0, ha_streak=1, ha_streak_hist=(-1, -2, -3, 1),
        wt1_hist=(-70.0, -65.0, -60.0), wt2_hist=(-66.0, -66.0, -66.0)), over)


def market(one: FrameState, *higher: FrameState, symbol: str = "SOLUSDT", tick_ms: int = T0, **over) -> MarketState:
    frames = {f.interval: f for f in (frame(3), frame(5), frame(15), *higher)}
    return MarketState(symbol=symbol, tick_ms=tick_ms, frames=(one, *[frames[i] for i in (3, 5, 15)]), **over)


def bullish_frame(interval: int) -> FrameState:
    """A higher-timeframe frame where all five votes are bullish."""
    return frame(interval, wt1=10.0, wt2=5.0, rsi_mfi_area=3.0, ema200=90.0, vwap=95.0, **green())


def context(**over) -> EntryContext:
    # The tables work their prices out from the signal close itself: no entry offset.
    # The tables work their prices out from the signal close itself: no entry offset, a stop buffer
    # of 20 bps (two ticks beyond a swing low of 99.0), no ATR floor; the cost floor (2 x 9.5 bps of
    # round trip) is far inside their 1.2 % stops.
    risk = RiskSettings(min_stop_atr=0.0)
    values = dict(strategy=StrategySettings(entry_offset_bps=0.0, stop_buffer_bps=20.0), risk=risk, instrument=INSTRUMENT,
                  equity=Decimal("10000"), costs=fallback_costs(risk, INSTRUMENT.tick_size))
    values.update(over)
    return EntryContext(**values)


def with_strategy(ctx: EntryContext, **over) -> EntryContext:
    return msgspec.structs.replace(ctx, strategy=msgspec.structs.replace(ctx.strategy, **over))


def with_risk(ctx: EntryContext, **over) -> EntryContext:
    return msgspec.structs.replace(ctx, risk=msgspec.structs.replace(ctx.risk, **over))


# --- mirroring -------------------------------------------------------------------------------

PRICE_FIELDS = ("open", "close", "ha_open", "ha_close")
SWAPPED_PRICES = (("high", "low"), ("ha_high", "ha_low"))


def _reflect(price: float | None, centre: int) -> float | None:
    if price is None:
        return None
    ticks = Decimal(str(price)) / TICK
    assert ticks == ticks.to_integral_value(), f"{price} is not on the test tick grid"
    return px(2 * centre - int(ticks))


def _negate(value: float | None) -> float | None:
    return None if value is None else -value


def mirror_frame(f: FrameState, centre: int) -> FrameState:
    """The same frame seen upside down: prices reflected around ``centre`` ticks, oscillators negated."""
    changes: dict = {name: _reflect(getattr(f, name), centre) for name in PRICE_FIELDS}
    for a, b in SWAPPED_PRICES:
        changes[a], changes[b] = _reflect(getattr(f, b), centre), _reflect(getattr(f, a), centre)
    changes.update(
        ema200=_reflect(f.ema200, centre), vwap=_reflect(f.vwap, centre),
        wt1=_negate(f.wt1), wt2=_negate(f.wt2), rsi_mfi_area=_negate(f.rsi_mfi_area),
        mfi=None if f.mfi is None else 100.0 - f.mfi,
        wt_cross_up=f.wt_cross_down, wt_cross_down=f.wt_cross_up,
        wt_oversold=f.wt_overbought, wt_overbought=f.wt_oversold,
        ha_streak=-f.ha_streak, ha_streak_hist=tuple(-s for s in f.ha_streak_hist),
        wt1_hist=tuple(_negate(v) for v in f.wt1_hist), wt2_hist=tuple(_negate(v) for v in f.wt2_hist),
        high_hist=tuple(_reflect(v, centre) for v in f.low_hist),
        low_hist=tuple(_reflect(v, centre) for v in f.high_hist),
    )
    return msgspec.structs.replace(f, **changes)


def mirror_market(state: MarketState, centre: int) -> MarketState:
    return msgspec.structs.replace(state, frames=tuple(mirror_frame(f, centre) for f in state.frames))


def mirror_price(price: Decimal, centre: int) -> Decimal:
    return 2 * centre * TICK - price
