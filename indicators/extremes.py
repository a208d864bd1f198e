"""``ta.highest`` / ``ta.lowest`` over the last ``length`` bars, exact comparisons, O(1) amortised."""

from __future__ import annotations

from collections import deque

import numpy as np

from indicators.pine import NA, run_stream


class _Extreme:
    """A monotonic deque of (bar, value); na bars occupy window slots but are never candidates."""

    __slots__ = ("length", "_bar", "_queue")
    _highest: bool

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = length
        self._bar = -1
        self._queue: deque[tuple[int, float]] = deque()

    def update(self, x: float) -> float:
        self._bar = bar = self._bar + 1
        q = self._queue
        if x == x:
            if self._highest:
                while q and q[-1][1] <= x:
                    q.pop()
            else:
                while q and q[-1][1] >= x:
                    q.pop()
            q.append((bar, x))
        while q and q[0][0] <= bar - self.length:
            q.popleft()
        if bar < self.length - 1 or not q:
            return NA
        return q[0][1]


class Highest(_Extreme):
    __slots__ = ()
    _highest = True

    @staticmethod
    def batch(x: np.ndarray, length: int) -> np.ndarray:
        return run_stream(Highest(length).update, x)


class Lowest(_Extreme):
    __slots__ = ()
    _highest = False

    @staticmethod
    def batch(x: np.ndarray, length: int) -> np.ndarray:
        return run_stream(Lowest(length).update, x)
