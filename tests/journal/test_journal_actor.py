"""JournalActor: the one writer thread; what a crash can and cannot take from the journal."""

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pykka
import pytest

from vocabulary import messages as m
from actors.journal import Flush, JournalActor
from journal.writer import JournalWriter
from tests.journal import samples as s

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_actor_left_behind():
    yield
    pykka.ActorRegistry.stop_all()
    assert pykka.ActorRegistry.get_all() == []


def rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_decisions_wait_for_a_flush_orders_do_not(tmp_path):
    path = tmp_path / "j.sqlite"
    ref = JournalActor.start(path)
    ref.tell(m.Tick(boundary_ms=s.T0, closed=(1,)))
    ref.tell(s.decision(symbol="BTCUSDT"))
    ref.ask(s.decision(symbol="ETHUSDT"))
    assert rows(path, "SELECT count(*) FROM decisions") == [(0,)]
    last_seq = ref.ask(s.ack())
    assert rows(path, "SELECT kind, outcome FROM orders") == [("ack", "ok")]
    assert last_seq == 4  # seq 1 is the run this writer opened
    ref.tell(s.decision(symbol="SOLUSDT"))
    ref.ask(Flush(tick_ms=s.T0))
    assert rows(path, "SELECT symbol FROM decisions ORDER BY seq") == [("BTCUSDT",), ("ETHUSDT",), ("SOLUSDT",)]


def test_a_ticks_bars_are_written_once_its_cycle_closed_behind_what_already_waited(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite"
    held, release = threading.Event(), threading.Event()
    record = JournalWriter.record

    def holding(self, message):
        if isinstance(message, m.JournalEvent) and message.kind == "hold":
            held.set()
            assert release.wait(30)
        return record(self, message)

    monkeypatch.setattr(JournalWriter, "record", holding)
    ref = JournalActor.start(path)
    ref.tell(s.bar(symbol="BTCUSDT"))
    ref.tell(s.bar(symbol="ETHUSDT"))
    ref.tell(m.Tick(boundary_ms=s.T0, closed=(1,)))
    ref.tell(s.decision(symbol="BTCUSDT"))
    ref.tell(s.decision(symbol="ETHUSDT"))
    ref.tell(s.event(kind="hold"))
    assert held.wait(30)
    # Queued while the journal is busy: the cycle's close, then an order's write-ahead.
    closed = ref.ask(m.CycleDone(boundary_ms=s.T0), block=False)
    ref.tell(m.WriteAhead(intent=s.intent()))
    release.set()
    closed.get(timeout=30)
    ref.ask(Flush())
    order = rows(path, "SELECT 'decision', seq FROM decisions UNION ALL SELECT 'intent', seq FROM orders "
                       "UNION ALL SELECT 'bar', seq FROM bars ORDER BY seq")
    assert [what for what, _ in order] == ["decision", "decision", "intent", "bar", "bar"]


def test_stopping_the_actor_flushes_the_batch_in_hand(tmp_path):
    path = tmp_path / "j.sqlite"
    ref = JournalActor.start(path)
    ref.tell(s.decision())
    ref.tell(s.bar())
    ref.stop()
    assert rows(path, "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM bars)") == [(1, 1)]


CHILD = r"""
import sys, time
from vocabulary import messages as m
from actors.journal import JournalActor
from tests.journal import samples as s

path, mode = sys.argv[1], sys.argv[2]
symbols = [f"S{i:02d}USDT" for i in range(25)]
ref = JournalActor.start(path)
i = 0
while True:
    tick = s.T0 + i * s.MIN
    ref.tell(m.Tick(boundary_ms=tick, closed=(1,)))
    for sym in symbols:
        ref.tell(s.decision(tick_ms=tick, symbol=sym))
    if mode == "pending" and i == 4:
        ref.ask(s.decision(tick_ms=tick, symbol="LASTUSDT"))  # handled, buffered, not committed
        print("pending", i, flush=True)
        time.sleep(60)
    if i % 3 == 0:
        ref.ask(s.ack(tick_ms=tick, link=f"L{i}"))
        ref.ask(s.execution(exec_id=f"E{i}", link=f"L{i}"))
        print("committed", i, flush=True)
    i += 1
"""


def run_and_kill(path, mode, until):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    seen = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, "the writer process exited before it was killed"
            seen.append(line.split())
            if until(seen):
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    return seen


def decisions_per_tick(path):
    return dict(rows(path, "SELECT tick_ms, count(*) FROM decisions GROUP BY tick_ms"))


def test_sigkill_loses_exactly_the_uncommitted_decision_batch(tmp_path):
    path = tmp_path / "j.sqlite"
    run_and_kill(path, "pending", until=lambda seen: seen[-1][0] == "pending")
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    per_tick = decisions_per_tick(path)
    # Ticks 0-3 were closed by the next Tick; tick 4's 26 buffered decisions died with the process.
    assert per_tick == {s.T0 + i * s.MIN: 25 for i in range(4)}
    assert rows(path, "SELECT order_link_id FROM orders ORDER BY seq") == [("L0",), ("L3",)]
    assert rows(path, "SELECT exec_id FROM executions ORDER BY seq") == [("E0",), ("E3",)]


def test_sigkill_mid_stream_never_loses_a_committed_order_or_fill(tmp_path):
    path = tmp_path / "j.sqlite"
    seen = run_and_kill(path, "stream", until=lambda seen: len(seen) >= 40)
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    committed = [int(i) for word, i in seen if word == "committed"]
    links = {r[0] for r in rows(path, "SELECT order_link_id FROM orders")}
    fills = {r[0] for r in rows(path, "SELECT exec_id FROM executions")}
    assert {f"L{i}" for i in committed} <= links
    assert {f"E{i}" for i in committed} <= fills
    per_tick = decisions_per_tick(path)
    ticks = sorted(per_tick)
    # A tick's batch is one transaction: all 25 decisions or none, and only the newest tick can be missing.
    assert set(per_tick.values()) == {25}
    assert ticks == [s.T0 + i * s.MIN for i in range(len(ticks))]
    assert ticks[-1] >= s.T0 + committed[-1] * s.MIN


def test_write_ahead_is_answered_durable_only_after_the_intent_is_on_disk(tmp_path):
    path = tmp_path / "j.sqlite"
    delivered = []

    def deliver(to, message):
        # Whoever receives Durable may send the order at once: the row must already be readable.
        delivered.append((to, message, rows(path, "SELECT kind, order_link_id FROM orders")))

    ref = JournalActor.start(path, deliver)
    ref.ask(m.WriteAhead(intent=s.intent(link="wa-7")))
    assert delivered == [("router", m.Durable(intent=s.intent(link="wa-7")), [("intent", "wa-7")])]
    ref.ask(s.ack(link="wa-7"))
    assert len(delivered) == 1


def test_a_failing_actor_still_flushes_its_batch_and_says_why(tmp_path, monkeypatch, caplog):
    path = tmp_path / "j.sqlite"
    original = JournalWriter.record

    def record(self, message):
        if isinstance(message, m.JournalEvent) and message.kind == "poison":
            raise RuntimeError("poison pill")
        return original(self, message)

    monkeypatch.setattr(JournalWriter, "record", record)
    ref = JournalActor.start(path)
    ref.tell(s.decision(symbol="BTCUSDT"))
    ref.ask(s.decision(symbol="ETHUSDT"))
    with caplog.at_level("ERROR", logger="smtbot.journal"):
        with pytest.raises(RuntimeError, match="poison pill"):
            ref.ask(s.event(kind="poison"))
        ref.tell(s.decision(symbol="SOLUSDT"))  # ask failures keep the actor alive (pykka); tell ones do not
        ref.ask(Flush())
    assert rows(path, "SELECT symbol FROM decisions ORDER BY seq") == [("BTCUSDT",), ("ETHUSDT",), ("SOLUSDT",)]
    # pykka marks the actor stopped before it calls on_failure, so "not alive" does not mean
    # "flushed": wait for the actor's own word that the writer is closed.
    closed = threading.Event()

    class Closed(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "journal closed":
                closed.set()

    handler = Closed()
    logging.getLogger("smtbot.journal").addHandler(handler)
    try:
        with caplog.at_level("INFO", logger="smtbot.journal"):
            ref.tell(s.decision(symbol="ADAUSDT"))  # buffered when the actor dies
            ref.tell(s.event(kind="poison"))
            assert closed.wait(60), "the failing journal actor never closed its writer"
    finally:
        logging.getLogger("smtbot.journal").removeHandler(handler)
    assert not ref.is_alive()
    assert rows(path, "SELECT symbol FROM decisions WHERE seq = 5") == [("ADAUSDT",)]  # after the run row
    assert any(r.getMessage() == "journal actor failed" and "poison pill" in r.error for r in caplog.records)


def test_the_wal_is_checkpointed_after_a_cycle_closes_never_inside_a_commit(tmp_path, monkeypatch):
    import journal.writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_ROWS", 50)
    seen: list[tuple[str, int]] = []  # (what, the connection's wal_autocheckpoint then)
    commit, checkpoint = JournalWriter.commit, JournalWriter.checkpoint

    def spy(name, method):
        def call(self, *args):
            if self._owned_checkpoints and (self._pending or name == "checkpoint"):
                seen.append((name, self.db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]))
            return method(self, *args)
        return call

    monkeypatch.setattr(JournalWriter, "commit", spy("commit", commit))
    monkeypatch.setattr(JournalWriter, "checkpoint", spy("checkpoint", checkpoint))
    ref = JournalActor.start(tmp_path / "j.sqlite")
    try:
        for tick in range(3):
            ref.tell(m.Tick(boundary_ms=s.T0 + tick * s.MIN, closed=(1,)))
            for i in range(30):
                ref.tell(s.decision(tick_ms=s.T0 + tick * s.MIN, symbol=f"S{i:02d}USDT"))
            ref.ask(m.CycleDone(boundary_ms=s.T0 + tick * s.MIN))  # handled: its Checkpoint is queued now
        ref.ask(Flush())
    finally:
        ref.stop()
    # SQLite's own checkpoint is off for every commit; ours follows the cycle that crossed 50 rows,
    # before the next tick's rows, once.
    assert {level for what, level in seen if what == "commit"} == {0}
    assert [what for what, _ in seen] == ["commit", "commit", "checkpoint", "commit"]
    assert rows(tmp_path / "j.sqlite", "SELECT count(*) FROM decisions") == [(90,)]
