"""``ta.ema`` and ``ta.rma``: sma-seeded recurrences in the exact form TradingView evaluates.

Both skip na bars whole (na out, state untouched) and seed with ``ta.sma`` computed by the
rolling compensated sum on the bar the ``length``-th non-na value arrives (pine.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from indicators.kernels import seeded_average
from indicators.pine import NA
from indicators.rolling_sum import RollingSum


class _SeededAverage(ABC):
    __slots__ = ("length", "_seed", "_value")

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = length
        self._seed = RollingSum(length)
        self._value = NA

    @abstractmethod
    def _step(self, prev: float, x: float) -> float:
        """One recurrence step after the seed: EMA and RMA differ only here."""

    def update(self, x: float) -> float:
        if x != x:
            return NA
        v = self._value
        v = self._step(v, x) if v == v else self._seed.update(x) / self.length
        self._value = v
        return v

    _wilder = False

    @classmethod
    def batch(cls, x: np.ndarray, length: int) -> np.ndarray:
        return seeded_average(x, length, cls._wilder)


class Ema(_SeededAverage):
    """``ta.ema(x, length)``: ``prev + alpha * (x - prev)``; the textbook form is an ulp off."""

    __slots__ = ("alpha",)

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.alpha = 2 / (length + 1)

    def _step(self, prev: float, x: float) -> float:
        # Length 1 is the identity in Pine; the incremental form is not, once prev and x are far apart.
        return x if self.length == 1 else prev + self.alpha * (x - prev)


class Rma(_SeededAverage):
    """``ta.rma(x, length)``: Wilder's ``(prev * (length - 1) + x) / length``, not ema with alpha 1/length."""

    __slots__ = ()
    _wilder = True

    def _step(self, prev: float, x: float) -> float:
        n = self.length
        return (prev * (n - 1) + x) / n
