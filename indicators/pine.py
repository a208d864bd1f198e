"""Pine v6 value semantics every indicator builds on: na, nz, division, tolerant comparison, sources.

Pine's ``na`` is NaN here (``None`` only at the message boundary). Each helper works on a
Python float for the streaming path; the ``*_array`` forms are the numpy twins the batch
path uses, element for element the same IEEE operations, so the bits agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

NA = float("nan")

# Pine compares floats in scripts with an absolute tolerance (pine.md, "Comparisons").
EPSILON = 1e-10


def is_na(x: float) -> bool:
    return x != x


def nz(x: float, replacement: float = 0.0) -> float:
    return replacement if x != x else x


def div(a: float, b: float) -> float:
    """Pine's ``a / b``: a zero divisor gives na (as measured by PyneSys/pynecore), never inf."""
    return NA if b == 0.0 else a / b


def div_array(a: np.ndarray | float, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0.0, np.nan, a / b)


def pine_max(a: float, b: float) -> float:
    """``math.max``: exact comparison, na when either side is na (Python's ``max`` is order-dependent on NaN)."""
    if a != a or b != b:
        return NA
    return a if a >= b else b


def pine_min(a: float, b: float) -> float:
    if a != a or b != b:
        return NA
    return a if a <= b else b


# Tolerant script comparisons; na on either side is false, as in Pine.
def gt(a: float, b: float) -> bool:
    return a - b > EPSILON


def lt(a: float, b: float) -> bool:
    return a - b < -EPSILON


def ge(a: float, b: float) -> bool:
    return a - b >= -EPSILON


def le(a: float, b: float) -> bool:
    return a - b <= EPSILON


def eq(a: float, b: float) -> bool:
    return abs(a - b) <= EPSILON


# Sources, in Pine's literal left-to-right order; they serve floats and arrays alike.
def hl2(high, low):
    return (high + low) / 2


def hlc3(high, low, close):
    return (high + low + close) / 3


def ohlc4(open_, high, low, close):
    return (open_ + high + low + close) / 4


def hlcc4(high, low, close):
    # ``(h + l + c + c) / 4`` rounds differently on 21 of 146 bars of ma.csv (pine.md).
    return (high + low + 2 * close) / 4


class History:
    """Series history access ``x[k]``: ``history[0]`` is this bar, ``history[k]`` k bars ago, na beyond what is kept."""

    __slots__ = ("_ring", "_size", "_count", "_head")

    def __init__(self, max_bars_back: int) -> None:
        if max_bars_back < 0:
            raise ValueError(f"max_bars_back must be >= 0, got {max_bars_back}")
        self._size = max_bars_back + 1
        self._ring = [NA] * self._size
        self._count = 0
        self._head = 0

    def append(self, x: float) -> None:
        self._ring[self._head] = x
        self._head = (self._head + 1) % self._size
        self._count += 1

    def __getitem__(self, k: int) -> float:
        if k < 0 or k >= self._size or k >= self._count:
            return NA
        return self._ring[(self._head - 1 - k) % self._size]


class Change:
    """``ta.change(x)``: ``x - x[1]``, na on the first bar; an na bar yields na and is not remembered."""

    __slots__ = ("_prev",)

    def __init__(self) -> None:
        self._prev = NA

    def update(self, x: float) -> float:
        if x != x:
            return NA
        prev = self._prev
        self._prev = x
        return x - prev

    @staticmethod
    def batch(x: np.ndarray) -> np.ndarray:
        out = np.full(len(x), np.nan)
        valid = np.flatnonzero(~np.isnan(x))
        out[valid[1:]] = x[valid[1:]] - x[valid[:-1]]
        return out


def run_stream(update: Callable[..., float], *columns: np.ndarray) -> np.ndarray:
    """Feed equal-length columns bar by bar through a streaming ``update``; the result as float64.

    The batch forms use this for every recurrence: pine.md forbids vectorised shortcuts
    (cumsum, lfilter) for sequential machines, and running the streaming step itself is
    what makes batch and streaming bit-identical.
    """
    n = len(columns[0])
    lists: Iterable[list[float]] = [np.asarray(c, dtype=np.float64).tolist() for c in columns]
    return np.fromiter(map(update, *lists), dtype=np.float64, count=n)


def run_stream_bool(update: Callable[..., bool], *columns: np.ndarray) -> np.ndarray:
    n = len(columns[0])
    lists = [np.asarray(c, dtype=np.float64).tolist() for c in columns]
    return np.fromiter(map(update, *lists), dtype=np.bool_, count=n)
