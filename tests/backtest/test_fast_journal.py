"""The fast engine journals the candles the venue closes, from the recording's columns: the very
rows the bar-by-bar route (``exchange.sim.aggregate`` over the store's bars) makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backtest.batch_tape import closed_candles
from backtest.fast import candle_columns
from exchange.sim.market import MINUTE_MS, BarColumns, KlineStore, load_store
from tests.backtest.synthetic import START_MS, random_walk, write_symbol

DATA = Path(__file__).resolve().parents[2] / "data" / "klines"
SYMBOL = "ADAUSDT"  # a coarse tick: prices with few digits, volumes with many


@pytest.fixture(scope="module")
def shipped():
    """The shipped series twice: as the file's columns, and as the Bars they stand for."""
    store, rules = load_store(DATA, (SYMBOL,))
    series = store.bars[SYMBOL]
    assert isinstance(series, BarColumns)
    return store, KlineStore({SYMBOL: tuple(series)}), rules[SYMBOL].tick_size


def rows(store, tick, first_ms, start_ms, end_ms, timeframes):
    """The candles as rows (close, start, timeframe, open, high, low, close, volume, turnover), each
    column's dtype checked: the journal's ints and floats come from them."""
    columns = candle_columns(store, SYMBOL, tick, first_ms, start_ms, end_ms, timeframes)
    assert [c.dtype for c in columns] == [np.dtype(np.int64)] * 3 + [np.dtype(np.float64)] * 6
    return list(zip(*(c.tolist() for c in columns)))


@pytest.mark.parametrize("timeframes", [(1, 3, 5, 15), (1, 3, 5, 7), (15,)])
@pytest.mark.parametrize(("first", "start", "end"), [
    (0, 37, 2 * 1440 + 11),  # minutes from the series' first bar: a window inside the data
    (-7, 2, 600),  # the first candles would need minutes before the data: left out
    (0, 0, 1),  # one minute
    (5, 4, 4),  # an empty window
])
def test_the_candles_from_columns_are_the_bars_own_row_for_row(shipped, timeframes, first, start, end):
    columns, bars, tick = shipped
    origin = columns.bars[SYMBOL].start_ms[0]
    longest = max(timeframes) * MINUTE_MS
    start_ms = int(origin) + start * MINUTE_MS
    first_ms = int(origin) + first * MINUTE_MS
    first_ms -= first_ms % longest  # as write_journal aligns it
    end_ms = int(origin) + end * MINUTE_MS
    assert closed_candles(columns, SYMBOL, tick, first_ms, start_ms, end_ms, timeframes) is not None
    assert closed_candles(bars, SYMBOL, tick, first_ms, start_ms, end_ms, timeframes) is None
    fast = rows(columns, tick, first_ms, start_ms, end_ms, timeframes)
    assert fast == rows(bars, tick, first_ms, start_ms, end_ms, timeframes)
    closes = [row[0] for row in fast]
    assert all(start_ms < close <= end_ms for close in closes)
    if end - start > 1440:
        assert {row[2] for row in fast} == set(timeframes)


def test_a_series_with_a_turnover_is_journaled_from_its_bars_with_the_turnover_summed(tmp_path):
    write_symbol(tmp_path, SYMBOL, random_walk(120, seed=3, price=0.6) , turnover=True)
    store, rules = load_store(tmp_path, (SYMBOL,))
    tick = rules[SYMBOL].tick_size
    start_ms, end_ms = START_MS + 30 * MINUTE_MS, START_MS + 90 * MINUTE_MS
    assert closed_candles(store, SYMBOL, tick, START_MS, start_ms, end_ms, (1, 3)) is None
    made = rows(store, tick, START_MS, start_ms, end_ms, (1, 3))
    assert {(row[2], row[8]) for row in made} == {(1, 750000.0), (3, 2250000.0)}
    assert len(made) == 60 + 20 and np.all(np.diff([row[0] for row in made if row[2] == 3]) == 3 * MINUTE_MS)


def test_the_journal_is_in_time_order_each_minutes_candles_before_its_messages(tmp_path):
    """Across the days the candles are written in: a row's seq follows its minute, and within a
    minute the candles closing then come before the decisions, trades and equity of that minute."""
    import sqlite3

    from backtest.fast import run_fast_backtest, write_journal
    from backtest.run import FillModel, Window, sim_config
    from vocabulary.settings import load_settings

    settings = load_settings((DATA.parents[1] / "settings.toml").read_text(), {})
    window = Window(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), end_ms=1_749_200_000_000)  # ~3 days from the default start
    result = run_fast_backtest(settings, window)
    write_journal(tmp_path / "j.sqlite", result, sim_config(settings, window, FillModel()), tuple(settings.bot.timeframes))
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        rows = db.execute("SELECT seq, tick_ms, 0 FROM bars UNION ALL SELECT seq, tick_ms, 1 FROM decisions "
                          "UNION ALL SELECT seq, exit_ms, 2 FROM trades UNION ALL "
                          "SELECT seq, ts_ms, 3 FROM events WHERE kind = 'wallet' ORDER BY seq").fetchall()
    assert len({ms // 86_400_000 for _, ms, kind in rows if kind == 0}) >= 3 and any(kind == 1 for *_, kind in rows)
    assert [(ms, kind) for _, ms, kind in rows] == sorted((ms, kind) for _, ms, kind in rows)
