"""``ta.rsi``: up and down moves each through ``ta.rma``, combined in Pine's own order."""

from __future__ import annotations

import numpy as np

from indicators.ema import Rma
from indicators.pine import NA, div, run_stream


class Rsi:
    """``ta.rsi(x, length)``: na on the first bar; ``100 - 100 / (1 + rma_up / rma_down)``.

    A zero ``rma_down`` is a Pine division by zero, hence na (not 100).
    """

    __slots__ = ("_prev", "_up", "_down")

    def __init__(self, length: int) -> None:
        self._prev = NA
        self._up = Rma(length)
        self._down = Rma(length)

    def update(self, x: float) -> float:
        if x != x:
            return NA
        prev = self._prev
        self._prev = x
        if prev != prev:
            return NA
        up = self._up.update(max(x - prev, 0.0))
        down = self._down.update(max(prev - x, 0.0))
        return 100 - 100 / (1 + div(up, down))

    @staticmethod
    def batch(x: np.ndarray, length: int) -> np.ndarray:
        return run_stream(Rsi(length).update, x)
