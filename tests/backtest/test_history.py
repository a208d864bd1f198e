"""A user's kline history: both file shapes read, anything else named by file and line, gapped
files cut into the gap-free windows every symbol covers, and a window written as its own small
data directory the simulator loads."""

from __future__ import annotations

import gzip

import pytest

from backtest.history import Span, common_windows, gap_free_runs, read_history, window_dir
from exchange.sim.market import MINUTE_MS, KlineFileError, load_bars, load_store
from tests.backtest import synthetic

T0 = synthetic.START_MS


def test_files_with_and_without_turnover_give_the_same_bars(tmp_path):
    ohlc = synthetic.random_walk(50, seed=1)
    seven = synthetic.write_symbol(tmp_path / "seven", "BTCUSDT", ohlc)
    six = synthetic.write_symbol(tmp_path / "six", "BTCUSDT", ohlc, turnover=False)
    with_turnover, without = load_bars(seven.resolve()), load_bars(six.resolve())
    assert len(without) == 50 and all(b.turnover is None for b in without)
    assert [(b.start_ms, b.open, b.high, b.low, b.close, b.volume) for b in with_turnover] == \
        [(b.start_ms, b.open, b.high, b.low, b.close, b.volume) for b in without]
    assert read_history(tmp_path / "six", ["BTCUSDT"]).windows == (Span(T0, T0 + 50 * MINUTE_MS),)


@pytest.mark.parametrize("row, problem", [
    ("1748736120000,1,2,3,4", "expected start_ms,open,high,low,close,volume[,turnover], got 5 columns"),
    ("1748736120000,1,2,3,4,5,6,7", "got 8 columns"),
    ("1748736120000,1,2,x,4,5", "not a kline row"),
])
def test_a_row_of_another_shape_is_named_by_file_and_line(tmp_path, row, problem):
    path = synthetic.write_symbol(tmp_path, "BTCUSDT", synthetic.random_walk(2, seed=1), turnover=False)
    with gzip.open(path, "at") as f:
        f.write(row + "\n")
    for read in (lambda: read_history(tmp_path, ["BTCUSDT"]), lambda: load_bars(path.resolve())):
        with pytest.raises(KlineFileError) as caught:
            read()
        assert str(caught.value).startswith(f"{path}:4: ") and problem in str(caught.value)


def test_rows_out_of_order_are_named(tmp_path):
    path = synthetic.write_symbol(tmp_path, "BTCUSDT", synthetic.random_walk(3, seed=1))
    with gzip.open(path, "at") as f:
        f.write(f"{T0 + MINUTE_MS},1,1,1,1,1,\n")
    with pytest.raises(KlineFileError, match=r":5: start_ms .* is not after the row before"):
        read_history(tmp_path, ["BTCUSDT"])


def test_gaps_split_the_history_into_the_windows_every_symbol_covers(tmp_path):
    minutes = 600
    synthetic.write_symbol(tmp_path, "BTCUSDT", synthetic.random_walk(minutes, seed=1), skip=(200, 300))
    synthetic.write_symbol(tmp_path, "ETHUSDT", synthetic.random_walk(minutes, seed=2, price=3000.0), skip=(450, 460))
    history = read_history(tmp_path, ["BTCUSDT", "ETHUSDT"])
    at = lambda i: T0 + i * MINUTE_MS  # noqa: E731
    assert history.windows == (Span(at(0), at(200)), Span(at(300), at(450)), Span(at(460), at(600)))
    assert not history.is_continuous
    cut = window_dir(history, history.windows[1], tmp_path / "cache")
    store, rules = load_store(cut, ["BTCUSDT", "ETHUSDT"])
    assert (store.first_ms, store.end_ms) == (at(300), at(450)), "the window's rows and nothing else"
    assert store.bar_at("BTCUSDT", at(300)) == load_bars((tmp_path / "BTCUSDT-1m.csv.gz").resolve())[200]
    assert window_dir(history, history.windows[1], tmp_path / "cache") == cut, "written once"


def test_a_continuous_history_is_replayed_from_its_own_directory(tmp_path):
    synthetic.write_symbol(tmp_path, "BTCUSDT", synthetic.random_walk(30, seed=1))
    history = read_history(tmp_path, ["BTCUSDT"])
    assert history.is_continuous and window_dir(history, history.windows[0], tmp_path / "cache") == tmp_path


def test_runs_and_their_intersection_by_hand():
    a = gap_free_runs([0, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS])
    assert a == [Span(0, 3 * MINUTE_MS), Span(5 * MINUTE_MS, 6 * MINUTE_MS)]
    assert common_windows([a, [Span(MINUTE_MS, 10 * MINUTE_MS)]]) == [Span(MINUTE_MS, 3 * MINUTE_MS), Span(5 * MINUTE_MS, 6 * MINUTE_MS)]


def test_a_fingerprint_is_of_the_bytes(tmp_path):
    synthetic.write_symbol(tmp_path / "a", "BTCUSDT", synthetic.random_walk(30, seed=1))
    synthetic.write_symbol(tmp_path / "b", "BTCUSDT", synthetic.random_walk(30, seed=2))
    same = read_history(tmp_path / "a", ["BTCUSDT"]).fingerprint
    assert same == read_history(tmp_path / "a", ["BTCUSDT"]).fingerprint
    assert same != read_history(tmp_path / "b", ["BTCUSDT"]).fingerprint


def test_a_missing_file_is_named(tmp_path):
    synthetic.write_symbol(tmp_path, "BTCUSDT", synthetic.random_walk(3, seed=1))
    with pytest.raises(KlineFileError, match="no ETHUSDT-1m.csv.gz"):
        read_history(tmp_path, ["BTCUSDT", "ETHUSDT"])
