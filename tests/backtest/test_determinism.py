"""Two backtests of the same window write byte-identical journals, whatever the process (a
different PYTHONHASHSEED reorders every set of strings), and the command line writes the report."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from vocabulary.settings import load_settings
from backtest.run import Window, run_backtest
from exchange.sim.market import MINUTE_MS, load_store

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MINUTES = 240


def settings():
    return load_settings(Path("settings.toml").read_text(), {})


def first_boundary() -> int:
    store, _ = load_store(Path("data/klines"), SYMBOLS)
    return store.first_ms + 6000 * MINUTE_MS  # the simulator's default warm-up


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_runs_write_the_same_journal_bytes_and_the_cli_writes_the_report(tmp_path):
    end = first_boundary() + MINUTES * MINUTE_MS
    result = run_backtest(settings(), Window(symbols=SYMBOLS, end_ms=end), journal_path=tmp_path / "a.sqlite")
    assert result.ticks == MINUTES and len(result.decisions) == MINUTES * len(SYMBOLS)
    assert result.counts.get("cycles_unfinished", 0) == 0

    out = tmp_path / "cli"
    to = dt.datetime.fromtimestamp(end / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run([sys.executable, "run.py", "backtest", "--faithful", "--symbols", ",".join(SYMBOLS), "--to", to,
                           "--out", str(out), "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert digest(out / "journal.sqlite") == digest(tmp_path / "a.sqlite")

    report = json.loads((out / "report.json").read_text())
    assert report["ticks"] == MINUTES and report["decisions"] == MINUTES * len(SYMBOLS)
    assert set(report["metrics"]) >= {"win_rate", "profit_factor", "max_drawdown", "sharpe", "sortino", "calmar", "exposure",
                                      "by_path", "by_symbol", "by_side", "expectancy_r", "expectancy_usdt", "net_pnl_usdt"}
    assert "| max drawdown" in (out / "report.md").read_text()
    assert "max drawdown" in done.stdout and "equity" in done.stdout
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert (out / "equity.png").exists() == has_matplotlib
    assert ("equity.png skipped: matplotlib is not installed" in done.stdout) != has_matplotlib
    with sqlite3.connect(out / "journal.sqlite") as db:
        kinds = dict(db.execute("select kind, count(*) from decisions group by kind").fetchall())
    assert sum(kinds.values()) == MINUTES * len(SYMBOLS)


def test_a_changed_setting_changes_the_run(tmp_path):
    end = first_boundary() + 120 * MINUTE_MS
    base = run_backtest(settings(), Window(symbols=SYMBOLS, end_ms=end))
    # A daily loss limit under any trade's loss at its stop: every candidate is rejected before the wire.
    strict = load_settings(Path("settings.toml").read_text(), {"SMTBOT__RISK__DAILY_LOSS_LIMIT": "0.01"})
    changed = run_backtest(strict, Window(symbols=SYMBOLS, end_ms=end))
    assert any(d.kind == "TAKE" for d in base.decisions), "the window must hold a TAKE for this test to mean anything"
    assert not any(d.kind == "TAKE" for d in changed.decisions)


def test_a_rerun_replaces_the_previous_backtest_saying_so_and_never_appends(tmp_path):
    end = first_boundary() + 30 * MINUTE_MS
    to = dt.datetime.fromtimestamp(end / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")
    command = [sys.executable, "run.py", "backtest", "--symbols", "BTCUSDT", "--to", to, "--out", str(tmp_path), "--no-progress"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    once = digest(tmp_path / "journal.sqlite")
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{tmp_path}: replacing the previous backtest there" in again.stderr
    assert digest(tmp_path / "journal.sqlite") == once  # the same backtest again, not appended to the first


def test_a_bots_journal_in_out_is_never_replaced(tmp_path):
    from journal.runs import RunInfo
    from journal.writer import JournalWriter

    JournalWriter(tmp_path / "journal.sqlite", RunInfo(mode="sim", venue="sim")).close()
    before = (tmp_path / "journal.sqlite").read_bytes()
    done = subprocess.run([sys.executable, "run.py", "backtest", "--symbols", "BTCUSDT", "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == (
        f"{tmp_path / 'journal.sqlite'} is a bot's journal (sim runs), not a backtest's: choose another --out")
    assert (tmp_path / "journal.sqlite").read_bytes() == before
