"""KlineBuffer: the feed's repeats and holes become one ordered run of confirmed bars."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.buffer import Added, Gap, KlineBuffer
from vocabulary.messages import Kline

T0 = 1_748_623_200_000  # a whole hour, so on every timeframe's grid


def bar(i: int, *, confirmed: bool = True, interval: int = 1, close: float = 100.0) -> Kline:
    return Kline(
        symbol="BTCUSDT", interval=interval, start_ms=T0 + i * interval * 60_000,
        open=100.0, high=101.0, low=99.0, close=close, volume=1.0, confirmed=confirmed,
    )


def test_confirmed_bars_in_sequence_are_appended_once():
    buf = KlineBuffer("BTCUSDT", 1, capacity=10)
    assert [buf.add(bar(i)) for i in range(3)] == [Added.APPENDED] * 3
    assert buf.add(bar(2)) is Added.DUPLICATE
    assert [k.start_ms for k in buf.bars()] == [T0, T0 + 60_000, T0 + 120_000]


def test_an_in_progress_bar_replaces_the_last_in_progress_bar_and_never_appends():
    buf = KlineBuffer("BTCUSDT", 1, capacity=10)
    buf.add(bar(0))
    assert buf.add(bar(1, confirmed=False, close=1.0)) is Added.PARTIAL
    assert buf.add(bar(1, confirmed=False, close=2.0)) is Added.PARTIAL
    assert buf.partial.close == 2.0 and len(buf) == 1
    assert buf.add(bar(1, close=3.0)) is Added.APPENDED
    assert buf.partial is None and buf.last.close == 3.0


def test_an_in_progress_update_of_an_already_confirmed_bar_is_stale():
    buf = KlineBuffer("BTCUSDT", 1, capacity=10)
    buf.add(bar(0))
    assert buf.add(bar(0, confirmed=False)) is Added.STALE
    assert buf.partial is None


def test_a_skipped_bar_is_a_gap_that_names_the_missing_span():
    buf = KlineBuffer("BTCUSDT", 1, capacity=10)
    buf.add(bar(0))
    assert buf.add(bar(3)) is Added.GAP
    assert buf.gap_before(bar(3)) == Gap(T0 + 60_000, T0 + 180_000)
    assert len(buf) == 1, "a bar after a gap waits for the backfill"


def test_an_older_bar_that_was_never_held_is_stale_not_duplicate():
    buf = KlineBuffer("BTCUSDT", 1, capacity=2)
    for i in range(4):
        buf.add(bar(i))
    assert buf.add(bar(0)) is Added.STALE  # fell out of the bounded buffer
    assert buf.add(bar(3)) is Added.DUPLICATE


def test_the_buffer_is_bounded_and_keeps_the_newest_bars():
    buf = KlineBuffer("BTCUSDT", 5, capacity=3)
    for i in range(10):
        buf.add(bar(i, interval=5))
    assert [k.start_ms for k in buf.bars()] == [T0 + i * 300_000 for i in (7, 8, 9)]


def test_bars_of_another_series_or_off_the_grid_are_refused_loudly():
    buf = KlineBuffer("BTCUSDT", 3, capacity=3)
    with pytest.raises(ValueError, match="offered to the BTCUSDT 3m buffer"):
        buf.add(bar(0, interval=1))
    with pytest.raises(ValueError, match="not on the 3m grid"):
        buf.add(Kline(symbol="BTCUSDT", interval=3, start_ms=T0 + 60_000, open=1, high=1, low=1, close=1, volume=1))


@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=200))
def test_whatever_the_feed_does_the_buffer_holds_a_strictly_consecutive_run(events):
    buf = KlineBuffer("BTCUSDT", 1, capacity=50)
    for index, confirmed in events:
        buf.add(bar(index, confirmed=confirmed))
    starts = [k.start_ms for k in buf.bars()]
    assert all(b - a == 60_000 for a, b in zip(starts, starts[1:]))
    assert all(k.confirmed for k in buf.bars())


def test_a_gap_the_venue_cannot_fill_restarts_the_run_at_the_next_bar():
    buf = KlineBuffer("BTCUSDT", 1, capacity=10)
    buf.add(bar(0))
    buf.accept_gap(bar(5))
    assert [k.start_ms for k in buf.bars()] == [T0 + 300_000]
    assert buf.add(bar(6)) is Added.APPENDED
    with pytest.raises(ValueError):
        buf.accept_gap(bar(7))  # no gap there
