"""aggregate(): higher timeframes from 1m bars, shared by the server and backtests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from exchange.sim.aggregate import aggregate
from exchange.sim.market import load_bars
from sim_builders import DATA

BTC = load_bars((DATA / "BTCUSDT-1m.csv.gz").resolve())


def test_fifteen_minute_bars_are_aligned_and_summarise_their_minutes():
    minutes = BTC[:200]
    bars = aggregate(minutes, 15)
    assert all(b.start_ms % 900_000 == 0 for b in bars)
    for b in bars:
        inside = [m for m in minutes if b.start_ms <= m.start_ms < b.start_ms + 900_000]
        assert len(inside) == 15
        assert (b.open, b.close) == (inside[0].open, inside[-1].close)
        assert (b.high, b.low) == (max(m.high for m in inside), min(m.low for m in inside))
        assert b.volume == sum(m.volume for m in inside)


def test_incomplete_groups_are_dropped_unless_partial_is_asked_for():
    minutes = BTC[:200]
    first_full = next(m.start_ms for m in minutes if m.start_ms % 300_000 == 0)
    assert aggregate(minutes, 5)[0].start_ms == first_full
    partial = aggregate(minutes, 5, partial=True)
    assert partial[0].start_ms == minutes[0].start_ms - minutes[0].start_ms % 300_000 < first_full


def test_float_klines_from_backtests_aggregate_the_same_way():
    floats = [SimpleNamespace(start_ms=b.start_ms, open=float(b.open), high=float(b.high), low=float(b.low),
                              close=float(b.close), volume=float(b.volume)) for b in BTC[:60]]
    exact = aggregate(BTC[:60], 3)
    approx = aggregate(floats, 3)
    assert [(a.start_ms, a.high, a.low) for a in approx] == [(e.start_ms, float(e.high), float(e.low)) for e in exact]
    assert all(a.turnover is None for a in approx)


def test_one_minute_aggregation_is_the_identity_and_bad_intervals_raise():
    assert [(b.start_ms, b.close) for b in aggregate(BTC[:10], 1)] == [(b.start_ms, b.close) for b in BTC[:10]]
    with pytest.raises(ValueError):
        aggregate(BTC[:10], 0)
