"""The walk-forward plan, by property over ranges, steps and gaps: selection windows never see
what is reported out of sample, test windows never overlap, splits never straddle a gap, and no
split touches the hold-out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.history import Span
from backtest.walkforward import DAY_MS, MINUTE_MS, PlanError, Split, plan, rolling_splits

HOUR = 60 * MINUTE_MS
T0 = 1_748_736_000_000


@st.composite
def plans(draw):
    windows, t = [], T0
    for _ in range(draw(st.integers(1, 3))):
        t += draw(st.integers(0, 90)) * DAY_MS + (MINUTE_MS if windows else 0)  # a gap of a minute or months
        length = draw(st.integers(60, 60 * 24 * 40)) * MINUTE_MS
        windows.append(Span(t, t + length))
        t += length
    hours = lambda lo, hi: draw(st.integers(lo, hi)) * HOUR  # noqa: E731
    test = hours(1, 72)
    kwargs = dict(warmup_ms=hours(0, 100), train_ms=hours(1, 240), test_ms=test, holdout_ms=hours(1, 240),
                  embargo_ms=draw(st.integers(0, 180)) * MINUTE_MS, step_ms=test + hours(0, 24),
                  scheme=draw(st.sampled_from(["rolling", "anchored"])))
    return windows, kwargs


@settings(max_examples=300, deadline=None)
@given(plans())
def test_every_split_is_purged_separate_and_inside_one_gap_free_window_before_the_holdout(case):
    windows, kw = case
    try:
        p = plan(windows, **kw)
    except PlanError:
        return  # the data cannot hold it: refused with a reason, never a plan that cheats
    holdout = p.holdout
    assert 0 < holdout.end_ms - holdout.start_ms <= kw["holdout_ms"]
    long_enough = [w for w in windows if w.end_ms - w.start_ms > kw["warmup_ms"]]
    assert holdout.end_ms == long_enough[-1].end_ms, "the hold-out is the end of the data (a window shorter than its warm-up is unused)"
    for s in (*p.splits, p.final):
        usable = p.windows[s.window]
        original = next(w for w in windows if w.start_ms <= usable.start_ms and usable.end_ms <= w.end_ms)
        assert usable.start_ms == original.start_ms + kw["warmup_ms"], "after the window's warm-up"
        assert usable.start_ms <= s.train_start < s.train_end and s.test_start < s.test_end <= usable.end_ms, "one gap-free window"
        assert s.train_end + kw["embargo_ms"] <= s.test_start, "no train bar within the embargo of its test"
        if kw["scheme"] == "rolling" and s is not p.final:
            assert s.train_end - s.train_start == kw["train_ms"]
        if kw["scheme"] == "anchored":
            assert s.train_start == usable.start_ms
    for s in p.splits:
        assert s.test_end - s.test_start == kw["test_ms"]
        assert s.test_end + kw["embargo_ms"] <= holdout.start_ms, "no split reads the hold-out, nor its embargo"
    tests = sorted((s.test_start, s.test_end) for s in p.splits)
    assert all(a[1] <= b[0] for a, b in zip(tests, tests[1:])), "test windows never overlap"
    assert [s.test_start for s in p.splits] == sorted(s.test_start for s in p.splits), "in time order"
    assert p.final.train_end + kw["embargo_ms"] <= holdout.start_ms


def test_rolling_splits_with_an_embargo_by_hand():
    splits = rolling_splits(0, 10 * DAY_MS, train_ms=4 * DAY_MS, test_ms=2 * DAY_MS, embargo_ms=HOUR)
    assert splits == [Split(0, 4 * DAY_MS, 4 * DAY_MS + HOUR, 6 * DAY_MS + HOUR),
                      Split(2 * DAY_MS, 6 * DAY_MS, 6 * DAY_MS + HOUR, 8 * DAY_MS + HOUR)]
    anchored = rolling_splits(0, 10 * DAY_MS, train_ms=4 * DAY_MS, test_ms=2 * DAY_MS, anchored=True)
    assert [s.train_start for s in anchored] == [0, 0, 0] and [s.train_end for s in anchored] == [4 * DAY_MS, 6 * DAY_MS, 8 * DAY_MS]
    with pytest.raises(ValueError, match="overlap"):
        rolling_splits(0, 10 * DAY_MS, train_ms=4 * DAY_MS, test_ms=2 * DAY_MS, step_ms=DAY_MS)


def test_a_month_and_a_gapped_month_by_hand():
    june = Span(T0, T0 + 30 * DAY_MS)
    august = Span(T0 + 61 * DAY_MS, T0 + 91 * DAY_MS)
    p = plan([june, august], warmup_ms=4 * DAY_MS, train_ms=7 * DAY_MS, test_ms=2 * DAY_MS, holdout_ms=5 * DAY_MS, embargo_ms=HOUR)
    assert p.windows == (Span(T0 + 4 * DAY_MS, june.end_ms), Span(august.start_ms + 4 * DAY_MS, august.end_ms))
    assert p.holdout == Span(august.end_ms - 5 * DAY_MS, august.end_ms)
    assert [s.window for s in p.splits] == [0] * 9 + [1] * 6, "June holds nine splits, August six before its hold-out"
    assert p.final == Split(p.holdout.start_ms - HOUR - 7 * DAY_MS, p.holdout.start_ms - HOUR, p.holdout.start_ms, p.holdout.end_ms, 1)


def test_a_plan_the_data_cannot_hold_is_refused_with_its_reason():
    with pytest.raises(PlanError, match="warm-up"):
        plan([Span(T0, T0 + DAY_MS)], warmup_ms=2 * DAY_MS, train_ms=DAY_MS, test_ms=DAY_MS, holdout_ms=DAY_MS, embargo_ms=0)
    with pytest.raises(PlanError, match="holdout_days"):
        plan([Span(T0, T0 + 3 * DAY_MS)], warmup_ms=0, train_ms=DAY_MS, test_ms=DAY_MS, holdout_ms=3 * DAY_MS, embargo_ms=0)
