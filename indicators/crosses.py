"""``ta.crossover``, ``ta.crossunder`` and ``ta.cross``, as measured on TradingView.

crossover/crossunder compare exactly against the last bar where both series were defined.
``ta.cross`` is not ``crossover or crossunder``: it remembers the last *tolerantly* unequal
side (none at first), keeps it through runs of tolerant equality, and fires on a *strict*
move to the other side (pine.md, "Comparisons and crosses").
"""

from __future__ import annotations

import numpy as np

from indicators.pine import EPSILON, run_stream_bool


class Crossover:
    __slots__ = ("_was_le",)

    def __init__(self) -> None:
        self._was_le = False

    def update(self, a: float, b: float) -> bool:
        fired = a > b and self._was_le
        if a == a and b == b:
            self._was_le = a <= b
        return fired

    @staticmethod
    def batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return run_stream_bool(Crossover().update, a, b)


class Crossunder(Crossover):
    """``ta.crossunder(a, b)`` is exactly ``ta.crossover(b, a)``: both comparisons are exact."""

    __slots__ = ()

    def update(self, a: float, b: float) -> bool:
        return Crossover.update(self, b, a)

    @staticmethod
    def batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return run_stream_bool(Crossunder().update, a, b)


class Cross:
    __slots__ = ("_side",)

    def __init__(self) -> None:
        self._side = 0  # -1: last tolerantly below, +1: above, 0: no side yet

    def update(self, a: float, b: float) -> bool:
        side = self._side
        fired = (side < 0 and a > b) or (side > 0 and a < b)
        diff = a - b
        if diff < -EPSILON:
            self._side = -1
        elif diff > EPSILON:
            self._side = 1
        return fired

    @staticmethod
    def batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return run_stream_bool(Cross().update, a, b)
