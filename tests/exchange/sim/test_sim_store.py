"""The replayed market finds each minute's bar by its time: a file with missing minutes replays
them as missing, never by sliding every later bar earlier."""

from __future__ import annotations

from exchange.sim.market import MINUTE_MS, KlineStore
from sim_builders import T0, make_bar


def series(minutes):
    return [make_bar(T0 + i * MINUTE_MS, 100 + i, 101 + i, 99 + i, 100 + i) for i in minutes]


def test_a_bar_after_a_hole_is_replayed_at_its_own_minute():
    store = KlineStore({"BTCUSDT": series([0, 1, 2, 5, 6])})
    assert [store.bar_at("BTCUSDT", T0 + i * MINUTE_MS) is not None for i in range(8)] == [
        True, True, True, False, False, True, True, False]
    assert store.bar_at("BTCUSDT", T0 + 5 * MINUTE_MS).start_ms == T0 + 5 * MINUTE_MS
    assert store.end_ms == T0 + 7 * MINUTE_MS
    assert [b.start_ms for b in store.bars_between("BTCUSDT", T0, store.end_ms)] == [
        T0 + i * MINUTE_MS for i in (0, 1, 2, 5, 6)]


def test_symbols_with_and_without_holes_share_one_clock():
    store = KlineStore({"BTCUSDT": series(range(8)), "ETHUSDT": series([0, 3, 4, 7])})
    assert store.bar_at("ETHUSDT", T0 + 3 * MINUTE_MS).open == store.bar_at("BTCUSDT", T0 + 3 * MINUTE_MS).open
    assert store.bar_at("ETHUSDT", T0 + MINUTE_MS) is None


def test_a_looping_replay_with_a_hole_repeats_it_at_the_same_place_in_each_lap():
    store = KlineStore({"BTCUSDT": series([i for i in range(20) if i != 7])}, loop=True)
    lap = store.span_ms
    assert lap == 15 * MINUTE_MS
    assert store.bar_at("BTCUSDT", T0 + lap + 7 * MINUTE_MS) is None
    assert store.bar_at("BTCUSDT", T0 + lap + 8 * MINUTE_MS).open == store.bar_at("BTCUSDT", T0 + 8 * MINUTE_MS).open
