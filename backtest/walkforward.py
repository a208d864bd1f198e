"""Walk-forward arithmetic and the tuning objective: pure, so both are tested by hand and by property.

The plan of a study, over the gap-free windows of its data (``backtest.history``)::

    window 1 (gap-free)                                  gap   window 2 (gap-free)
    |warm-up|train 1 ......|e|test 1|                    ///   |warm-up|train 4 ......|e|test 4|
    |warm-up|   train 2 ......|e|test 2|                 ///   |warm-up|      train F ...|e|HOLD-OUT|
    |warm-up|      train 3 ......|e|test 3|              ///
                                                                 (e = embargo, F = the final choice)

- **Selection only in sample.** For each split an optimiser sees only the split's train window;
  its winner is run once on the split's test window. The walk-forward's out-of-sample record is
  the test windows' trades, one after another: no test window overlaps another, each test window
  lies after its train window and ``embargo`` away from it (purged: no train bar within
  ``embargo`` of the test window), so nothing a test scores was fitted on.
- **Rolling** train windows keep their length and move with the test; **anchored** ones start at
  their window's first usable minute and grow.
- **Splits never straddle a gap**: train and test lie in one window, after its warm-up (the
  history the bot's bootstrap reads).
- **A final hold-out** at the end of the data, ``embargo`` after everything else: the final
  choice is selected on the train window right before it (``final``), and the hold-out is run
  once, with that choice, after every trial is done. No trial ever reads a hold-out bar.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal, NamedTuple

from vocabulary.messages import TradeClosed
from backtest.history import Span, utc_minute

MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS

Scheme = Literal["rolling", "anchored"]


class Split(NamedTuple):
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    window: int = 0  # index of the gap-free window both lie in


class Plan(NamedTuple):
    windows: tuple[Span, ...]  # each window's usable part (after its warm-up)
    splits: tuple[Split, ...]  # walk-forward splits, in time order
    final: Split  # the final choice's train window; its test window is the hold-out
    embargo_ms: int
    scheme: Scheme

    @property
    def holdout(self) -> Span:
        return Span(self.final.test_start, self.final.test_end)


class PlanError(ValueError):
    """The data cannot hold the plan asked for; the message says what is missing."""


def rolling_splits(start_ms: int, end_ms: int, *, train_ms: int, test_ms: int, step_ms: int | None = None,
                   embargo_ms: int = 0, anchored: bool = False, window: int = 0) -> list[Split]:
    """Every (train, test) pair that fits inside [start_ms, end_ms), in time order: the test
    ``embargo_ms`` after its train window, the next split ``step_ms`` (default: the test length)
    later. A step shorter than the test would overlap test windows, so it is refused."""
    if train_ms <= 0 or test_ms <= 0:
        raise ValueError("train and test windows must be longer than zero")
    step = test_ms if step_ms is None else step_ms
    if step < test_ms:
        raise ValueError("the step must be at least the test window, or test windows would overlap")
    if embargo_ms < 0:
        raise ValueError("the embargo cannot be negative")
    splits = []
    t = start_ms
    while t + train_ms + embargo_ms + test_ms <= end_ms:
        test_start = t + train_ms + embargo_ms
        splits.append(Split(start_ms if anchored else t, t + train_ms, test_start, test_start + test_ms, window))
        t += step
    return splits


def plan(windows: Sequence[Span], *, warmup_ms: int, train_ms: int, test_ms: int, holdout_ms: int,
         embargo_ms: int, step_ms: int | None = None, scheme: Scheme = "rolling") -> Plan:
    """The study's splits and hold-out over ``windows`` (gap-free, in time order), each used after
    its first ``warmup_ms``. The hold-out is the last ``holdout_ms`` of the last window."""
    usable = [Span(w.start_ms + warmup_ms, w.end_ms) for w in windows if w.end_ms - w.start_ms > warmup_ms]
    if not usable:
        raise PlanError(f"no gap-free window is longer than the {warmup_ms // MINUTE_MS} minutes of warm-up the bootstrap needs")
    if holdout_ms <= 0:
        raise PlanError("the hold-out must be longer than zero")
    last = usable[-1]
    holdout = Span(max(last.start_ms, last.end_ms - holdout_ms), last.end_ms)
    final_end = holdout.start_ms - embargo_ms
    final_start = last.start_ms if scheme == "anchored" else max(last.start_ms, final_end - train_ms)
    if final_end - final_start < min(train_ms, DAY_MS // 4):
        raise PlanError(f"the last window ({utc_minute(last.start_ms)} to {utc_minute(last.end_ms)}) leaves no train window before its "
                        f"hold-out of {holdout.minutes / 1440:.1f} days: shorten [tune] holdout_days or --train-days")
    splits: list[Split] = []
    for i, w in enumerate(usable):
        end = final_end if i == len(usable) - 1 else w.end_ms
        splits += rolling_splits(w.start_ms, end, train_ms=train_ms, test_ms=test_ms, step_ms=step_ms,
                                 embargo_ms=embargo_ms, anchored=scheme == "anchored", window=i)
    final = Split(final_start, final_end, holdout.start_ms, holdout.end_ms, len(usable) - 1)
    return Plan(tuple(usable), tuple(splits), final, embargo_ms, scheme)




def expectancy_r(trades: Sequence[TradeClosed]) -> tuple[float | None, int]:
    """Mean R (net of fees: ``TradeClosed.pnl_r``) of the trades that have one, and how many those are."""
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
