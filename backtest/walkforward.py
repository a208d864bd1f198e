"""Walk-forward arithmetic and the tuning objective: pure, so both are tested by hand.

Rolling splits: a train window, then the test window right after it; the next split starts one
step later (the test length unless told otherwise), so test windows tile the data without overlap
and every test window lies after everything its parameters could have been fitted on.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import NamedTuple

from actors.messages import TradeClosed

MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS


class Split(NamedTuple):
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def rolling_splits(start_ms: int, end_ms: int, *, train_ms: int, test_ms: int, step_ms: int | None = None) -> list[Split]:
    """Every (train, test) pair that fits inside [start_ms, end_ms), in time order."""
    if train_ms <= 0 or test_ms <= 0:
        raise ValueError("train and test windows must be longer than zero")
    step = test_ms if step_ms is None else step_ms
    if step <= 0:
        raise ValueError("the step must be longer than zero")
    splits = []
    t = start_ms
    while t + train_ms + test_ms <= end_ms:
        splits.append(Split(t, t + train_ms, t + train_ms, t + train_ms + test_ms))
        t += step
    return splits


def expectancy_r(trades: Sequence[TradeClosed]) -> tuple[float | None, int]:
    """Mean R of the trades that have one, and how many those are."""
    rs = [t.pnl_r for t in trades if t.pnl_r is not None]
    return (statistics.fmean(rs) if rs else None), len(rs)


def objective(trades: Sequence[TradeClosed], min_trades: int) -> float:
    """Expectancy in R when at least ``min_trades`` trades have an R. Below that the value is worse
    than any real expectancy (fees can take a loser past -1 R, not to -9) and grows with the count, so the search is
    pulled towards parameters that trade rather than stuck on a flat floor."""
    value, n = expectancy_r(trades)
    if value is None or n < min_trades:
        return -10.0 + n / max(min_trades, 1)
    return value
