"""The fast backtest is the faithful backtest, only faster: on the shipped month of all seven
symbols, the same TAKE decisions, the same closed trades field for field (fees, slippage, spread,
funding, partial fills) and the same equity after every minute; the same on a day under the
other fill models; its journal holds the faithful journal's TAKEs, trades and candles; and what
it cannot honour it refuses with one line naming ``--faithful`` (exit 2), writing nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.cli import processes_of
from backtest.fast import run_fast_backtest
from backtest.run import FillModel, Result, Window, run_backtest
from exchange.sim.market import MINUTE_MS, load_store
from journal.reader import JournalReader
from strategy.orders import order_link_id
from tests.backtest.synthetic import random_walk, write_symbol
from vocabulary.settings import load_settings

BASE = Path("settings.toml").read_text()


def settings(**overrides: str):
    return load_settings(BASE, {f"SMTBOT__{k}": v for k, v in overrides.items()})


def takes_of(result: Result):
    return sorted((d for d in result.decisions if d.kind == "TAKE"), key=lambda d: (d.tick_ms, d.symbol))


def by_entry(result: Result):
    return sorted(result.trades, key=lambda t: (t.entry_ms, t.symbol))


# --- the shipped month, both engines, run once for the module -------------------------------------


@pytest.fixture(scope="module")
def month() -> tuple[Result, Result]:
    """(faithful, fast) on the whole shipped month, the simulator's default window: ~40 s + ~25 s."""
    return run_backtest(settings(), Window()), run_fast_backtest(settings(), Window())


def test_on_the_month_the_fast_engine_takes_the_faithful_decisions(month):
    faithful, fast = month
    assert fast.decisions == takes_of(faithful)


def test_on_the_month_the_fast_engine_closes_the_faithful_trades_field_for_field(month):
    faithful, fast = month
    assert by_entry(fast) == by_entry(faithful)


def test_on_the_month_the_fast_equity_is_the_faithful_equity_every_minute(month):
    faithful, fast = month
    assert (fast.start_ms, fast.end_ms, fast.initial_equity) == (faithful.start_ms, faithful.end_ms, faithful.initial_equity)
    assert fast.equity == faithful.equity


def test_on_the_month_two_processes_give_the_one_process_run(month):
    """The recorder's forked worker (``processes=2``) computes half the symbols' columns: the same
    TAKEs, trades and equity, compared whole."""
    _, fast = month
    two = run_fast_backtest(settings(), Window(), processes=2)
    assert (two.decisions, two.trades, two.equity, two.counts) == (fast.decisions, fast.trades, fast.equity, fast.counts)


def test_the_month_exercises_every_cost_and_refusal_it_is_held_to(month):
    """Guards the parity above against passing on nothing: the venue's costs are charged, entries
    fill in part, the router refuses TAKEs, exits hit stops, targets and the break-even lock."""
    faithful, fast = month
    trades = fast.trades
    assert len(trades) > 500 and fast.counts["takes_refused_by_router"] > 0
    assert {t.exit_reason for t in trades} >= {"stop", "target", "break_even"}
    assert any(t.slippage_usdt > 0 for t in trades) and any(t.funding_usdt != 0 for t in trades)
    asked = {order_link_id(d.symbol, d.tick_ms, d.path, d.side): d.qty for d in fast.decisions if d.path and d.side}
    assert any(t.qty < asked[t.order_link_id] for t in trades)
    assert len(faithful.decisions) == fast.counts["states"] > 20 * fast.counts["states_decided"]
    # The states the trial screened out are among the faithful engine's candidates it rejected.
    rejected = sum(1 for d in faithful.decisions if d.kind == "REJECT" and d.path)
    assert rejected >= fast.counts["states_screened"] > fast.counts["states_decided"]
    assert fast.engine == "fast" and faithful.engine == "faithful"


# --- a day under the other fill models --------------------------------------------------------------

# (fill model, [sim]/[risk] overrides, the day: minutes after the data's first bar)
FILLS = {
    "OHLC path, a touch fills, take-profit first": (
        FillModel(intrabar_path="OHLC", fill_through_ticks=0, sl_before_tp=False), {}, 9000),
    "OLHC path, other fees and equity": (
        FillModel(intrabar_path="OLHC", maker_fee=0.0001, taker_fee=0.0006, initial_equity=3000.0), {}, 9000),
    "no venue costs": (FillModel(), {"SIM__SPREAD": "false", "SIM__STOP_SLIPPAGE": "false", "SIM__FUNDING": "false",
                                     "SIM__PARTIAL_FILLS": "false"}, 9000),
    # A day with positions open across funding settlements.
    "wide spread, deep stop slippage, small touch fills, funding from a file": (FillModel(), {
        "SIM__SPREAD_BPS": "3.0", "SIM__STOP_SLIPPAGE_BPS": "5.0", "RISK__SLIPPAGE_BPS": "5.0", "RISK__SPREAD_BPS": "3.0",
        "SIM__TOUCH_FILL_FRACTION": "0.3", "SIM__FUNDING_CSV": "FUNDING"}, 10440),
}


def funding_file(path: Path, window: Window) -> Path:
    """Every settlement of the window at a rate of its own: BTC and ETH receive, the rest pay."""
    assert window.start_ms is not None and window.end_ms is not None
    every = 8 * 60 * MINUTE_MS
    with path.open("w") as f:
        f.write("symbol,fundingRateTimestamp,fundingRate\n")
        for i, ms in enumerate(range(window.start_ms - window.start_ms % every + every, window.end_ms + 1, every)):
            for symbol in settings().bot.symbols:
                rate = -0.0007 if symbol in ("BTCUSDT", "ETHUSDT") else 0.0015 + i * 0.0001
                f.write(f"{symbol},{ms},{rate}\n")
    return path


@pytest.fixture(scope="module")
def first_ms() -> int:
    store, _ = load_store(Path(settings().sim.data_dir), settings().bot.symbols)
    return store.first_ms


@pytest.mark.parametrize(("fills", "sim", "minutes_in"), FILLS.values(), ids=FILLS.keys())
def test_on_a_day_both_engines_agree_under_other_fill_models_and_venue_costs(
        first_ms: int, fills: FillModel, sim: dict[str, str], minutes_in: int, tmp_path: Path):
    start = first_ms + minutes_in * MINUTE_MS
    day = Window(start_ms=start, end_ms=start + 1440 * MINUTE_MS)
    if "SIM__FUNDING_CSV" in sim:
        sim = {**sim, "SIM__FUNDING_CSV": json.dumps(str(funding_file(tmp_path / "funding.csv", day)))}
    s = settings(RISK__RISK_MODE='"pct"', RISK__RISK_PER_TRADE="0.5", **sim)  # sizing reads the equity
    faithful, fast = run_backtest(s, day, fills), run_fast_backtest(s, day, fills)
    assert faithful.trades, "the day must hold trades for this test to mean anything"
    if "SIM__FUNDING_CSV" in sim:
        # The file's rates were charged (0.07 % to 0.15 % and more per settlement), not the
        # constant 0.01 %, which over a day's three settlements costs about 0.03 % of notional.
        assert any(abs(t.funding_usdt) > Decimal("0.001") * t.qty * t.entry_price for t in fast.trades)
    assert fast.decisions == takes_of(faithful)
    assert by_entry(fast) == by_entry(faithful)
    assert fast.equity == faithful.equity


# --- the command line: journal, report, refusals -------------------------------------------------------


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", "backtest", "--no-progress", *args],
                          capture_output=True, text=True, timeout=timeout)


def rows(journal: Path, query: str) -> list[tuple]:
    with sqlite3.connect(journal) as db:
        return db.execute(query).fetchall()


def test_the_fast_journal_holds_the_faithful_takes_trades_and_candles_and_the_report_names_its_engine(tmp_path):
    to = "2025-06-04T12:00"
    # The fast run with the recorder's worker process: the command line hands it through.
    fast = cli("--to", to, "--processes", "2", "--out", str(tmp_path / "fast"))
    faithful = cli("--faithful", "--to", to, "--out", str(tmp_path / "faithful"))
    assert fast.returncode == 0 and faithful.returncode == 0, fast.stderr + faithful.stderr
    a, b = tmp_path / "fast" / "journal.sqlite", tmp_path / "faithful" / "journal.sqlite"
    start = json.loads((tmp_path / "fast" / "report.json").read_text())["start_ms"]
    for query in (
        "SELECT tick_ms, symbol, kind, path, side, score, reasons, entry_price, stop_price, target_price, qty "
        "FROM decisions WHERE kind = 'TAKE' ORDER BY tick_ms, symbol",
        "SELECT symbol, side, path, entry_ms, exit_ms, entry_price, exit_price, qty, fees, pnl_usdt, pnl_r, exit_reason, "
        "order_link_id, gross_usdt, slippage_usdt, funding_usdt, stop_price FROM trades ORDER BY entry_ms, symbol",
        f"SELECT tick_ms, symbol, interval, start_ms, open, high, low, close, volume, turnover FROM bars "
        f"WHERE tick_ms > {start} ORDER BY symbol, interval, start_ms",
    ):
        assert rows(a, query) == rows(b, query)
    assert rows(a, "SELECT count(*) FROM trades")[0][0] > 0
    assert rows(a, "SELECT DISTINCT kind FROM decisions") == [("TAKE",)]
    assert "NO_SETUP and REJECT decisions" in rows(a, "SELECT data FROM events WHERE kind = 'started'")[0][0]

    report = json.loads((tmp_path / "fast" / "report.json").read_text())
    assert report["engine"] == "fast" and report["decisions"] is None and report["takes"] > 0
    reader = JournalReader(a)  # the dashboard's equity curve: the engine's per-minute equity, as wallet reports
    try:
        assert float(reader.wallet_equity()[-1][1]) == report["metrics"]["final_equity"] != float(report["initial_equity"])
    finally:
        reader.close()
    assert json.loads((tmp_path / "faithful" / "report.json").read_text())["engine"] == "faithful"
    assert "Engine: fast" in (tmp_path / "fast" / "report.md").read_text()
    assert "Engine: faithful" in (tmp_path / "faithful" / "report.md").read_text()
    assert "(fast engine," in fast.stdout and "(faithful engine," in faithful.stdout
    assert "fast engine." in (tmp_path / "fast" / "report.html").read_text()
    replayed = subprocess.run([sys.executable, "run.py", "replay", "--journal", str(a)], capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 2 and len(replayed.stderr.strip().splitlines()) == 1, replayed.stderr
    assert "written by the fast backtest engine" in replayed.stderr and "--faithful" in replayed.stderr


def assert_refused(done: subprocess.CompletedProcess, out: Path, condition: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and condition in lines[0] and lines[0].endswith("run it with --faithful"), done.stderr
    assert not (out / "journal.sqlite").exists() and not (out / "report.json").exists()


def test_a_course_the_trial_does_not_model_is_refused(tmp_path):
    """A long entry TTL lets the rest of a partly filled DOGE entry fill after its position closed."""
    done = cli("--to", "2025-06-04T12:00", "--set", "strategy.entry_ttl_bars=30", "--set", "strategy.entry_offset_bps=3.0",
               "--out", str(tmp_path))
    assert_refused(done, tmp_path, "the rest of a partly filled entry fills after its position closed")


def test_an_account_the_venue_liquidates_is_refused_at_the_minute_it_does(tmp_path):
    """80 % of equity at risk per trade at 100x: the faithful engine's venue liquidates ETHUSDT
    in the minute before 2025-06-18 20:42."""
    run = ("--from", "2025-06-18", "--to", "2025-06-19", "--set", 'risk.risk_mode="pct"', "--set", "risk.risk_per_trade=80",
           "--set", "risk.leverage=100", "--set", "risk.max_positions=7", "--set", "risk.daily_loss_limit=1000000",
           "--set", "risk.cooldown_bars=0")
    done = cli(*run, "--out", str(tmp_path / "fast"))
    assert_refused(done, tmp_path / "fast", "falls under its maintenance margin 514.33 after ETHUSDT's bar")
    assert "in the minute before 1750279320000 ms" in done.stderr

    faithful = cli("--faithful", *run, "--out", str(tmp_path / "faithful"))
    assert faithful.returncode == 0, faithful.stderr
    liquidated = rows(tmp_path / "faithful" / "journal.sqlite", "SELECT symbol, exit_ms FROM trades WHERE exit_reason = 'liquidation'")
    assert liquidated == [("ETHUSDT", 1750279320000)]


def test_a_data_gap_inside_the_window_is_refused(tmp_path):
    data = tmp_path / "data"
    write_symbol(data, "BTCUSDT", random_walk(6600, seed=7), skip=(6300, 6302))
    out = tmp_path / "out"
    done = cli("--symbols", "BTCUSDT", "--data", str(data), "--out", str(out))
    # The batch recorder meets the hole first (minute 6300 after the first bar) and names it.
    assert_refused(done, out, "BTCUSDT: 1m bars are missing from 2025-06-05 09:00")


def test_a_negative_fill_through_is_refused(tmp_path):
    done = cli("--to", "2025-06-04", "--fill-through-ticks", "-1", "--out", str(tmp_path))
    assert_refused(done, tmp_path, "--fill-through-ticks -1 is below 0")


def test_the_faithful_engine_runs_what_the_fast_one_refuses(tmp_path):
    data = tmp_path / "data"
    write_symbol(data, "BTCUSDT", random_walk(6600, seed=7), skip=(6300, 6302))
    done = cli("--faithful", "--symbols", "BTCUSDT", "--data", str(data), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "(faithful engine," in done.stdout


@pytest.mark.parametrize("cores, load, expected", [({0}, 0.0, 1), ({0, 1}, 0.2, 2), ({0, 1}, 0.99, 2), ({0, 1}, 1.0, 1),
                                                  ({0, 1, 2, 3}, 2.5, 2), ({0, 1, 2, 3}, 3.2, 1)])
def test_processes_auto_uses_a_worker_for_the_python_loops_where_a_second_core_is_there_and_idle(
        monkeypatch, cores, load, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: cores, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0), raising=False)
    assert processes_of("auto", kernels="python") == expected
    # Compiled loops compute the columns faster than a worker hands them back: one process.
    assert processes_of("auto", kernels="c") == 1 and processes_of("auto", kernels="numba") == 1
    assert processes_of("1") == 1 and processes_of("2") == 2  # asked for, whatever the machine
    monkeypatch.delattr(os, "fork")
    assert processes_of("auto", kernels="python") == 1  # no fork, no worker
