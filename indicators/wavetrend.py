"""WaveTrend: LazyBear's WT and VuManChu Cipher B's variant, with Cipher B's cross and zone flags.

Both are one machine on ``hlc3``: esa = ema(ap, channel); d = ema(abs(ap - esa), channel);
ci = (ap - esa) / (0.015 * d); wt1 = ema(ci, average); wt2 = sma(wt1, ma). A flat stretch
makes d zero: Pine's division by zero gives na, so ci and wt1 are na there and the emas
skip the bar.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from indicators.crosses import Cross
from indicators.ema import Ema
from indicators.params import WaveTrendParams
from indicators.pine import EPSILON, NA, div_array, hlc3
from indicators.rolling_sum import Sma


class WaveTrend:
    __slots__ = ("_esa", "_d", "_wt1", "_wt2")

    def __init__(self, params: WaveTrendParams = WaveTrendParams()) -> None:
        self._esa = Ema(params.channel)
        self._d = Ema(params.channel)
        self._wt1 = Ema(params.average)
        self._wt2 = Sma(params.ma)

    def update(self, ap: float) -> tuple[float, float]:
        """(wt1, wt2) for one bar of the source (hlc3 in both variants)."""
        dev = ap - self._esa.update(ap)
        den = 0.015 * self._d.update(abs(dev))
        wt1 = self._wt1.update(NA if den == 0.0 else dev / den)
        return wt1, self._wt2.update(wt1)

    @staticmethod
    def batch(ap: np.ndarray, params: WaveTrendParams = WaveTrendParams()) -> tuple[np.ndarray, np.ndarray]:
        dev = ap - Ema.batch(ap, params.channel)
        d = Ema.batch(np.abs(dev), params.channel)
        wt1 = Ema.batch(div_array(dev, 0.015 * d), params.average)
        return wt1, Sma.batch(wt1, params.ma)


class CipherBSignals(NamedTuple):
    wt1: float
    wt2: float
    cross_up: bool
    cross_down: bool
    oversold: bool
    overbought: bool


class CipherB:
    """VuManChu Cipher B's WaveTrend with ``ta.cross(wt1, wt2)`` and its tolerant script tests:
    up when ``wt2 - wt1 <= 0`` at the cross, down when ``>= 0``, oversold ``wt2 <= oversold``,
    overbought ``wt2 >= overbought``."""

    __slots__ = ("oversold", "overbought", "_wt", "_cross")

    def __init__(
        self, params: WaveTrendParams = WaveTrendParams(), oversold: float = -53.0, overbought: float = 53.0
    ) -> None:
        self.oversold = oversold
        self.overbought = overbought
        self._wt = WaveTrend(params)
        self._cross = Cross()

    def update(self, high: float, low: float, close: float) -> CipherBSignals:
        wt1, wt2 = self._wt.update(hlc3(high, low, close))
        crossed = self._cross.update(wt1, wt2)
        gap = wt2 - wt1
        return CipherBSignals(
            wt1,
            wt2,
            crossed and gap <= EPSILON,
            crossed and gap >= -EPSILON,
            wt2 - self.oversold <= EPSILON,
            wt2 - self.overbought >= -EPSILON,
        )

    @staticmethod
    def batch(
        high: np.ndarray, low: np.ndarray, close: np.ndarray,
        params: WaveTrendParams = WaveTrendParams(), oversold: float = -53.0, overbought: float = 53.0,
    ) -> CipherBSignals:
        """The same fields as arrays (float64 for wt1/wt2, bool for the flags)."""
        wt1, wt2 = WaveTrend.batch(hlc3(high, low, close), params)
        crossed = Cross.batch(wt1, wt2)
        with np.errstate(invalid="ignore"):
            gap = wt2 - wt1
            return CipherBSignals(
                wt1,
                wt2,
                crossed & (gap <= EPSILON),
                crossed & (gap >= -EPSILON),
                wt2 - oversold <= EPSILON,
                wt2 - overbought >= -EPSILON,
            )
