"""Heikin Ashi candles by the Pine recipe (not the chart type), with their colour streak.

Colour uses Pine's tolerant script comparison: green when ``ha_close > ha_open``, red when
``ha_close < ha_open``, otherwise a doji. The streak counts consecutive candles of one colour,
signed (+n green, -n red); a colour change restarts it at +/-1, and a doji has no colour, so
it scores 0 and the next coloured candle starts a new streak at +/-1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from indicators import kernels
from indicators.pine import EPSILON, NA, ohlc4, pine_max, pine_min


class HaCandle(NamedTuple):
    open: float
    high: float
    low: float
    close: float
    streak: int


def next_streak(streak: int, ha_open: float, ha_close: float) -> int:
    diff = ha_close - ha_open
    if diff > EPSILON:
        return streak + 1 if streak > 0 else 1
    if diff < -EPSILON:
        return streak - 1 if streak < 0 else -1
    return 0


class HeikinAshi:
    __slots__ = ("_open", "_close", "_streak")

    def __init__(self) -> None:
        self._open = NA
        self._close = NA
        self._streak = 0

    def update(self, open_: float, high: float, low: float, close: float) -> HaCandle:
        prev_open = self._open
        ha_close = ohlc4(open_, high, low, close)
        ha_open = (open_ + close) / 2 if prev_open != prev_open else (prev_open + self._close) / 2
        self._open = ha_open
        self._close = ha_close
        self._streak = streak = next_streak(self._streak, ha_open, ha_close)
        return HaCandle(
            ha_open,
            pine_max(high, pine_max(ha_open, ha_close)),
            pine_min(low, pine_min(ha_open, ha_close)),
            ha_close,
            streak,
        )

    @staticmethod
    def batch(
        open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ha_open, ha_high, ha_low, ha_close, streak) arrays; streak is int64."""
        ha_close = ohlc4(open_, high, low, close)
        ha_open = kernels.ha_open((open_ + close) / 2, ha_close)
        diff = ha_close - ha_open
        with np.errstate(invalid="ignore"):
            colour = np.where(diff > EPSILON, 1, np.where(diff < -EPSILON, -1, 0))
        # np.maximum/np.minimum propagate NaN, as Pine's math.max/min do.
        ha_high = np.maximum(high, np.maximum(ha_open, ha_close))
        ha_low = np.minimum(low, np.minimum(ha_open, ha_close))
        return ha_open, ha_high, ha_low, ha_close, kernels.streak(colour)
