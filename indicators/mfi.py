"""Money flow: ``ta.mfi`` and VuManChu Cipher B's "RSI+MFI area"."""

from __future__ import annotations

import numpy as np

from indicators.pine import EPSILON, NA, div, div_array
from indicators.rolling_sum import RollingSum, Sma


class Mfi:
    """``ta.mfi(src, length)`` with ``volume``.

    The direction test is tolerant (|change| <= 1e-10 is no move), the first bar's na change
    counts as a move on both sides, a side whose rolling sum is within 1e-10 of zero is zero,
    and a zero lower side gives 100 (pine.md, "Oscillators"). When the two sums are opposite
    (residues just beyond the tolerance after a run of zero-volume bars), ``1 + upper / lower`` is
    zero: Pine's zero divisor gives na (``pine.div``), never an exception or an infinity.
    """

    __slots__ = ("_prev", "_upper", "_lower")

    def __init__(self, length: int = 14) -> None:
        self._prev = NA
        self._upper = RollingSum(length)
        self._lower = RollingSum(length)

    def update(self, src: float, volume: float) -> float:
        if src != src:
            return NA
        chg = src - self._prev
        self._prev = src
        first = chg != chg  # no previous value: Pine's na comparisons are false, so both sides take it
        upper = self._upper.update(volume * (0.0 if not first and chg <= EPSILON else src))
        lower = self._lower.update(volume * (0.0 if not first and chg >= -EPSILON else src))
        if upper != upper or lower != lower:
            return NA
        if -EPSILON <= lower <= EPSILON:
            return 100.0
        if -EPSILON <= upper <= EPSILON:
            upper = 0.0
        # The ratio first: ``100 - 100 * lower / (upper + lower)`` rounds differently.
        return 100.0 - div(100.0, 1.0 + upper / lower)

    @staticmethod
    def batch(src: np.ndarray, volume: np.ndarray, length: int = 14) -> np.ndarray:
        valid = ~np.isnan(src)  # an na bar is skipped whole, as in update()
        every = bool(valid.all())  # the usual case: no copies through the mask
        x, v = (src, volume) if every else (src[valid], volume[valid])
        chg = np.concatenate(([np.nan], x[1:] - x[:-1]))
        has_prev = ~np.isnan(chg)
        upper = RollingSum.batch(v * np.where(has_prev & (chg <= EPSILON), 0.0, x), length)
        lower = RollingSum.batch(v * np.where(has_prev & (chg >= -EPSILON), 0.0, x), length)
        with np.errstate(divide="ignore", invalid="ignore"):
            mfi = 100.0 - div_array(100.0, 1.0 + np.where(np.abs(upper) <= EPSILON, 0.0, upper) / lower)
        mfi = np.where(np.abs(lower) <= EPSILON, 100.0, mfi)
        mfi = np.where(np.isnan(upper) | np.isnan(lower), np.nan, mfi)
        if every:
            return mfi
        out = np.full(len(src), np.nan)
        out[valid] = mfi
        return out


class RsiMfiArea:
    """VuManChu's ``ta.sma(((close - open) / (high - low)) * multiplier, period) - pos_y``.

    A flat bar (high == low) divides by zero, which Pine makes na; the sma then skips it and
    repeats its previous value (na-compacted window).
    """

    __slots__ = ("multiplier", "pos_y", "_sma")

    def __init__(self, period: int = 60, multiplier: float = 150.0, pos_y: float = 2.5) -> None:
        self.multiplier = multiplier
        self.pos_y = pos_y
        self._sma = Sma(period)

    def update(self, open_: float, high: float, low: float, close: float) -> float:
        rng = high - low
        term = NA if rng == 0.0 else ((close - open_) / rng) * self.multiplier
        return self._sma.update(term) - self.pos_y

    @staticmethod
    def batch(
        open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
        period: int = 60, multiplier: float = 150.0, pos_y: float = 2.5,
    ) -> np.ndarray:
        term = div_array(close - open_, high - low) * multiplier
        return Sma.batch(term, period) - pos_y
