"""Runs: every row belongs to one run; a simulator restart is a new run whose figures never add
up with the previous one's; a live account resumes its run; one writer per journal, by the OS."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from journal.lock import JournalBusy
from journal.reader import JournalReader, UnknownRun
from journal.runs import RunInfo
from journal.writer import JournalWriter
from tests.journal import samples as s

SIM = RunInfo(mode="sim", venue="sim", settings_hash="abc", data_from_ms=s.T0, data_to_ms=s.T0 + 60 * s.MIN,
              symbols=("BTCUSDT",), started_ms=1)
LIVE = RunInfo(mode="live", venue="mainnet", account="key-fingerprint", started_ms=1)
NOW = s.T0 + 20 * s.MIN


def write_run(path, run: RunInfo, messages) -> int:
    writer = JournalWriter(path, run)
    writer.append_now(messages)
    writer.close()
    return writer.run_id


def test_every_row_carries_the_run_that_wrote_it(tmp_path):
    path = tmp_path / "j.sqlite"
    first = write_run(path, SIM, s.one_of_each())
    second = write_run(path, SIM, s.one_of_each())
    assert (first, second) == (1, 2)
    db = sqlite3.connect(path)
    for table in ("decisions", "orders", "executions", "position_snapshots", "trades", "events", "bars"):
        assert db.execute(f"SELECT count(*) FROM {table} WHERE run_id IS NULL").fetchone()[0] == 0, table
    assert db.execute("SELECT run_id, kind, mode, settings_hash, data_from_ms, symbols FROM runs ORDER BY seq").fetchall() == [
        (1, "start", "sim", "abc", s.T0, "BTCUSDT"), (2, "start", "sim", "abc", s.T0, "BTCUSDT")]


def test_a_restarted_simulator_shows_only_its_new_run_and_all_time_is_the_runs_own(tmp_path):
    path = tmp_path / "j.sqlite"
    write_run(path, SIM, [s.trade(pnl="-5.00", r=-1.0), s.trade(pnl="-6.00", r=-1.0), s.position("BTCUSDT", "0.010")])
    write_run(path, SIM, [s.trade(pnl="3.00", r=1.5), s.decision(tick_ms=s.T0 + s.MIN)])
    reader = JournalReader(path)
    pnl = reader.pnl(NOW)
    assert (pnl["all"]["total"]["trades"], pnl["all"]["total"]["pnl_usdt"]) == (1, "3.00")
    assert pnl["today"]["total"]["pnl_usdt"] == "3.00"
    assert [t["pnl_usdt"] for t in reader.trades()] == ["3.00"]
    assert reader.positions() == []  # the old run's open position belonged to a wallet that is gone
    assert [r["run_id"] for r in reader.runs()] == [2, 1]
    assert reader.facts()["run"]["run_id"] == 2
    earlier = reader.pnl(NOW, run=1)
    assert (earlier["all"]["total"]["trades"], earlier["all"]["total"]["pnl_usdt"]) == (2, "-11.00")
    assert len(reader.positions(run=1)) == 1
    with pytest.raises(UnknownRun, match="no run 7 in this journal"):
        reader.trades(run=7)
    reader.close()


def test_a_live_account_resumes_its_run_across_restarts(tmp_path):
    path = tmp_path / "j.sqlite"
    assert write_run(path, LIVE, [s.trade(pnl="2.00")]) == 1
    assert write_run(path, LIVE, [s.trade(pnl="1.00")]) == 1
    other_key = RunInfo(mode="live", venue="mainnet", account="another-key", started_ms=2)
    assert write_run(path, other_key, [s.trade(pnl="9.00")]) == 2
    assert write_run(path, LIVE, [s.trade(pnl="0.50")]) == 1  # back on the first account: its run again
    reader = JournalReader(path)
    assert reader.pnl(NOW)["all"]["total"]["pnl_usdt"] == "3.50"
    assert [r["run_id"] for r in reader.runs()] == [2, 1]
    assert len(reader.run(1)["resumed_ms"]) == 2
    reader.close()


def test_a_second_writer_in_this_process_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    first = JournalWriter(path)
    with pytest.raises(JournalBusy, match="open for writing by another smtbot process"):
        JournalWriter(path)
    first.close()
    JournalWriter(path).close()  # released on close


def test_a_second_writer_in_another_process_is_refused_until_the_first_exits(tmp_path):
    path = tmp_path / "j.sqlite"
    root = Path(__file__).resolve().parents[2]
    code = ("import sys; from journal.writer import JournalWriter; from journal.lock import JournalBusy\n"
            "try:\n    JournalWriter(sys.argv[1]).close()\nexcept JournalBusy as e:\n    print(e); sys.exit(3)\n")
    writer = JournalWriter(path)
    refused = subprocess.run([sys.executable, "-c", code, str(path)], cwd=root, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3 and "open for writing by another smtbot process" in refused.stdout
    writer.close()
    allowed = subprocess.run([sys.executable, "-c", code, str(path)], cwd=root, capture_output=True, text=True, timeout=60)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def test_the_runs_table_is_append_only_too(tmp_path):
    path = tmp_path / "j.sqlite"
    write_run(path, SIM, [])
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE runs SET mode = 'live'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM runs")
