"""The flight recorder played back: an unchanged journal replays identical, a changed strategy
parameter is pinpointed at its first differing decision, and a session of the bot itself on the
simulator replays identical through the one-thread pipeline."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from vocabulary.settings import load_settings
from backtest.replay import replay
from backtest.run import Window, run_backtest
from exchange.sim.market import MINUTE_MS, load_store

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
RULES = Path("data/klines/instruments-bybit-linear.csv")


def settings(**env):
    return load_settings(Path("settings.toml").read_text(), {f"SMTBOT__{k}": v for k, v in env.items()})


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    store, _ = load_store(Path("data/klines"), SYMBOLS)
    path = tmp_path_factory.mktemp("replay") / "journal.sqlite"
    run_backtest(settings(), Window(symbols=SYMBOLS, end_ms=store.first_ms + (6000 + 180) * MINUTE_MS), journal_path=path)
    return path


def test_an_unchanged_journal_replays_identical(journal):
    assert replay(settings(), journal, rules_file=RULES) == (180 * len(SYMBOLS), None)


def test_a_changed_strategy_parameter_is_pinpointed_at_the_first_differing_decision(journal):
    compared, difference = replay(settings(STRATEGY__RR="2.5"), journal, rules_file=RULES)
    with sqlite3.connect(journal) as db:
        first_sized = db.execute("select seq, tick_ms, symbol from decisions where reasons like '%size.net_rr%' "
                                 "order by seq limit 1").fetchone()
        before = db.execute("select count(*) from decisions where seq < ?", (first_sized[0],)).fetchone()[0]
    # rr moves only the target, and the net reward-to-risk sizing reports: every decision before the
    # first candidate that reached sizing still matches.
    assert compared == before
    assert difference is not None and f"tick {first_sized[1]}" in difference and first_sized[2] in difference
    assert "size.net_rr" in difference or "target_price" in difference


def test_the_command_line_says_identical_or_names_the_difference(journal):
    same = subprocess.run([sys.executable, "run.py", "replay", "--journal", str(journal)], capture_output=True, text=True, timeout=120)
    assert same.returncode == 0 and same.stdout.strip() == f"identical: {180 * len(SYMBOLS)} decisions"
    changed = subprocess.run([sys.executable, "run.py", "replay", "--journal", str(journal), "--set", "strategy.score_min=3.0"],
                             capture_output=True, text=True, timeout=120)
    assert changed.returncode == 1 and "differs after" in changed.stdout and "score_min" in changed.stdout


def test_a_journal_killed_between_a_ticks_decisions_and_its_bars_replays_the_ticks_before(journal, tmp_path):
    # The journal writes a tick's bars just after its decisions; a kill in between leaves that
    # tick's decisions without their bars. Made here by removing the last tick's bars from a copy.
    copy = tmp_path / "killed.sqlite"
    with sqlite3.connect(journal) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as db:
        last_tick = db.execute("select max(tick_ms) from decisions").fetchone()[0]
        db.execute("drop trigger bars_no_delete")
        gone = db.execute("delete from bars where start_ms + interval * ? = ?", (MINUTE_MS, last_tick)).rowcount
    assert gone >= len(SYMBOLS)
    assert replay(settings(), copy, rules_file=RULES) == (179 * len(SYMBOLS), None)
