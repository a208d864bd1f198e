"""The batch recorder's rows made a chunk at a time are the rows it makes for the whole window,
field for field; a forward reader (the trial) makes each chunk once and never holds more than
one; and a trial on the chunked tape is the trial on the whole one. The bars the trial walks
are compact arrays."""

from __future__ import annotations

import dataclasses
from array import array
from pathlib import Path

import msgspec
import numpy as np
import pytest

from backtest.batch_tape import record_tape_batch
from backtest.chunked_rows import ChunkedRows
from backtest.fast import first_gap
from backtest.history import utc_minute
from backtest.run import Window
from backtest.tape import Tape
from backtest.trial import run_trial
from exchange.sim.market import MINUTE_MS, load_store
from vocabulary.settings import load_settings

BASE = Path("settings.toml").read_text()
MINUTES = 1440
WIDEST = (-35.0, 35.0)  # wider than the defaults: trials with other zone levels read the same tape
encode = msgspec.msgpack.encode  # every field of every state and bias state, floats to the bit


def settings_with(**overrides: str):
    return load_settings(BASE, {f"SMTBOT__{k.upper()}": v for k, v in overrides.items()})


@pytest.fixture(scope="module")
def window() -> Window:
    base = settings_with()
    store, _ = load_store(Path(base.sim.data_dir), base.bot.symbols)
    start = store.first_ms + 9000 * MINUTE_MS
    return Window(start_ms=start, end_ms=start + MINUTES * MINUTE_MS)


@pytest.fixture(scope="module")
def whole(window: Window) -> Tape:
    return record_tape_batch(settings_with(), window, widest=WIDEST)


def chunked(window: Window, chunk_ticks: int, **kwargs) -> Tape:
    return record_tape_batch(settings_with(), window, widest=WIDEST, chunk_ticks=chunk_ticks, **kwargs)


@pytest.mark.parametrize("chunk_ticks", [1, 7, 240, MINUTES * 2])
def test_chunked_rows_are_the_whole_windows_rows(whole: Tape, window: Window, chunk_ticks: int) -> None:
    tape = chunked(window, chunk_ticks)
    rows = tape.rows
    assert isinstance(rows, ChunkedRows) and len(rows) == len(whole.rows) > 100
    for k, (a, b) in enumerate(zip(whole.rows, rows)):
        assert encode(b) == encode(a), f"row {k}: {a.state.symbol} at {a.state.tick_ms}"
    # A tick's rows stay in one chunk, and no chunk spans more than chunk_ticks ticks.
    for lo, hi in zip(rows.bounds, rows.bounds[1:]):
        if lo < hi:
            first, last = whole.rows[lo].state.tick_ms, whole.rows[hi - 1].state.tick_ms
            assert (last - first) // MINUTE_MS < chunk_ticks
            if hi < len(whole.rows):
                assert whole.rows[hi].state.tick_ms != last
    for f in dataclasses.fields(Tape):
        if f.name not in ("rows", "fires", "wt1", "wt2", "votes", "bias_votes", "cache"):
            assert getattr(tape, f.name) == getattr(whole, f.name), f.name
    for name in ("fires", "wt1", "wt2", "votes", "bias_votes"):
        assert np.array_equal(getattr(tape, name), getattr(whole, name), equal_nan=True), name


def test_a_forward_reader_makes_each_chunk_once_and_holds_one_at_a_time(whole: Tape, window: Window) -> None:
    tape = chunked(window, 60)
    rows = tape.rows
    assert isinstance(rows, ChunkedRows)
    sizes = [hi - lo for lo, hi in zip(rows.bounds, rows.bounds[1:]) if hi > lo]
    assert len(sizes) > 10
    for k in range(len(rows)):
        assert rows[k].state.tick_ms == whole.rows[k].state.tick_ms
    assert rows.chunks_made == len(sizes)
    assert rows.most_held == max(sizes) < len(rows) / 5


def test_reading_back_makes_a_chunk_again_with_the_same_rows(whole: Tape, window: Window) -> None:
    rows = chunked(window, 120).rows
    assert isinstance(rows, ChunkedRows)
    last, first = rows[len(rows) - 1], rows[0]
    assert encode(first) == encode(whole.rows[0]) and encode(last) == encode(whole.rows[-1])
    assert rows[-1] is rows[len(rows) - 1]  # negative indices count from the end
    assert rows.chunks_made == 3
    assert [encode(r) for r in rows[5:40:7]] == [encode(r) for r in whole.rows[5:40:7]]
    with pytest.raises(IndexError):
        rows[len(rows)]
    with pytest.raises(ValueError, match="start at 0"):
        ChunkedRows([1, 3], lambda positions: [])


def test_a_selecting_reader_has_only_its_rows_made_and_still_gets_any_other(whole: Tape, window: Window) -> None:
    rows = chunked(window, 60).rows
    assert isinstance(rows, ChunkedRows)
    chosen = list(range(0, len(rows), 9))
    rows.select(chosen)
    for k in chosen:
        assert encode(rows[k]) == encode(whole.rows[k])
    # Each chunk made its selected rows alone.
    per_chunk = [sum(lo <= k < hi for k in chosen) for lo, hi in zip(rows.bounds, rows.bounds[1:])]
    assert rows.most_held == max(per_chunk) < max(hi - lo for lo, hi in zip(rows.bounds, rows.bounds[1:]))
    made = rows.chunks_made
    assert encode(rows[1]) == encode(whole.rows[1])  # not selected: made with its whole chunk
    assert rows.chunks_made == made + 1 and rows.most_held >= rows.bounds[1]


@pytest.mark.parametrize("per_make", [2, 25, 10_000])
def test_a_selecting_reader_has_its_rows_made_a_few_chunks_at_a_time(whole: Tape, window: Window, per_make: int) -> None:
    rows = chunked(window, 60).rows
    assert isinstance(rows, ChunkedRows)
    calls: list[list[int]] = []
    make = rows._make
    rows._make = lambda positions: (calls.append(list(positions)), make(positions))[1]
    chosen = list(range(3, len(rows), 7))
    rows.select(chosen, per_make=per_make)
    for k in chosen:
        assert encode(rows[k]) == encode(whole.rows[k])
    # Each call made the selected rows of whole chunks in order, once each, and stopped at the
    # first chunk that brought it to per_make: the fewest chunks, never a row twice.
    assert [k for call in calls for k in call] == chosen
    chunk_of = lambda k: next(c for c, (lo, hi) in enumerate(zip(rows.bounds, rows.bounds[1:])) if lo <= k < hi)  # noqa: E731
    for n, call in enumerate(calls):
        assert n == len(calls) - 1 or len(call) >= per_make
        last = chunk_of(call[-1])
        assert sum(chunk_of(k) < last for k in call) < per_make
        if n + 1 < len(calls):
            between = range(rows.bounds[last + 1], calls[n + 1][0])
            assert not any(k in chosen for k in between)
    assert len(calls) == 1 if per_make == 10_000 else len(calls) > 3
    assert rows.chunks_made == len(calls) and rows.most_held == max(map(len, calls))
    assert encode(rows[1]) == encode(whole.rows[1])  # not selected: made with its own chunk alone
    assert calls[-1] == list(range(rows.bounds[0], rows.bounds[1]))


@pytest.mark.parametrize("overrides", [{}, {"strategy__wt_oversold": "-35", "strategy__wt_overbought": "35",
                                            "risk__max_positions": "1"}])
def test_a_trial_on_the_chunked_tape_is_the_trial_on_the_whole_one(whole: Tape, window: Window, overrides: dict) -> None:
    settings = settings_with(**overrides)
    tape = chunked(window, 100)
    expected, got = run_trial(whole, settings), run_trial(tape, settings)
    assert got.takes == expected.takes and got.trades == expected.trades and got.decided == expected.decided
    assert expected.takes and expected.trades
    rows = tape.rows
    assert isinstance(rows, ChunkedRows)
    assert rows.chunks_made <= len(rows.bounds) - 1  # forward only: no chunk made twice


def test_the_recorders_bars_are_compact_arrays(whole: Tape) -> None:
    """Eight bytes a price, one a presence flag: a year of 25 symbols is 13 M minutes."""
    for bars in whole.bars.values():
        assert {column.itemsize for column in (bars.open, bars.high, bars.low, bars.close)} == {8}
        assert bars.present.itemsize == 1 and len(bars.present) == len(bars.close) == MINUTES


def test_the_first_minute_without_a_bar_is_found_in_the_compact_presence_flags(whole: Tape) -> None:
    assert first_gap(whole) == ""
    symbol = whole.symbols[2]
    bars = whole.bars[symbol]
    present = array("b", bars.present)
    present[700] = present[900] = 0
    holed = dataclasses.replace(whole, bars={**whole.bars, symbol: dataclasses.replace(bars, present=present)})
    ms = bars.first_ms + 700 * MINUTE_MS
    assert f"no {symbol} 1m bar at {utc_minute(ms)} UTC ({ms} ms)" in first_gap(holed)
