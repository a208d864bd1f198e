"""``math.sum`` and ``ta.sma``: TradingView's rolling compensated sum (pine.md, "Sums and sma").

Neither a fresh sum of the window nor a running add/subtract reproduces TradingView; this
machine does, bit for bit, on every sma column of the exports.
"""

from __future__ import annotations

import numpy as np

from indicators.kernels import rolling_sum
from indicators.pine import NA


class RollingSum:
    """``math.sum(x, length)`` over the last ``length`` non-na values.

    An na bar is not stored: it returns the previous sum (na during warm-up).
    """

    __slots__ = ("length", "_sum", "_comp", "_count", "_stored", "_raw", "_head")

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = length
        self._sum = 0.0
        self._comp = 0.0
        self._count = 0
        # ``_stored`` holds what a later bar evicts (the realised ``y2``, or the raw value
        # after a re-baseline); ``_raw`` the values as they came, for the re-baseline sum.
        # Both start at zero, which is exactly the ``old = 0`` the warm-up steps evict.
        self._stored = [0.0] * length
        self._raw = [0.0] * length
        self._head = 0

    def update(self, x: float) -> float:
        n = self.length
        if x != x:
            return self._sum if self._count >= n else NA
        if n == 1:
            return x
        c = self._comp
        h = self._head
        count = self._count
        raw = self._raw
        raw[h] = x
        # Re-baseline when adding |c| to x is absorbed by rounding (the engine's own test,
        # evaluated in this fixed order without a magnitude swap).
        fires = False
        if c != 0.0 and x != 0.0:
            b = c if c > 0.0 else -c
            r = x + b
            if r != 0.0 and r - r == 0.0:
                fires = b - (r - x) > 0.0
        if fires:
            s = x
            i = h
            # Newest first over the older raw values of the window (all seen so far in warm-up);
            # a negative index wraps around the ring.
            for _ in range(count if count < n else n - 1):
                i -= 1
                s = raw[i] + s
            self._comp = 0.0
            self._stored[h] = x
        else:
            s0 = self._sum
            y1 = -self._stored[h] - c
            t = s0 + y1
            e1 = (t - s0) - y1
            y2 = x - e1
            s = t + y2
            self._comp = (s - t) - y2
            self._stored[h] = y2
        self._sum = s
        h += 1
        self._head = 0 if h == n else h
        if count < n:
            count += 1
            self._count = count
            if count < n:
                return NA
        return s

    @staticmethod
    def batch(x: np.ndarray, length: int) -> np.ndarray:
        return rolling_sum(x, length)


class Sma:
    """``ta.sma(x, length) = math.sum(x, length) / length``; an na bar repeats the previous value."""

    __slots__ = ("length", "_sum")

    def __init__(self, length: int) -> None:
        self.length = length
        self._sum = RollingSum(length)

    def update(self, x: float) -> float:
        return self._sum.update(x) / self.length

    @staticmethod
    def batch(x: np.ndarray, length: int) -> np.ndarray:
        return rolling_sum(x, length, length)
