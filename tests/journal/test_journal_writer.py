"""JournalWriter: batches per tick, commits orders and fills at once, one transaction per batch."""

import json
import sqlite3

import pytest

from vocabulary import messages as m
from journal.writer import JournalWriter
from tests.journal import samples as s


def count(path, table):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def path(tmp_path):
    return tmp_path / "journal.sqlite"


def test_appended_rows_are_invisible_until_commit(path):
    writer = JournalWriter(path)
    writer.append([s.decision(symbol=sym) for sym in ("BTCUSDT", "ETHUSDT")])
    assert writer.pending == 2
    assert count(path, "decisions") == 0
    assert writer.commit() == 2
    assert (writer.pending, count(path, "decisions")) == (0, 2)
    writer.close()


def test_seq_is_one_counter_across_tables_and_continues_after_reopening(path):
    writer = JournalWriter(path)
    writer.append_now(s.one_of_each())
    writer.close()
    writer = JournalWriter(path)
    writer.append_now([s.decision(tick_ms=s.T0 + s.MIN)])
    writer.close()
    conn = sqlite3.connect(path)
    seqs = sorted(
        seq for t in ("decisions", "orders", "executions", "position_snapshots", "trades", "events", "bars", "runs")
        for (seq,) in conn.execute(f"SELECT seq FROM {t}")
    )
    assert seqs == list(range(1, len(s.one_of_each()) + 3))  # the first opening started run 1; the second went on with it
    assert conn.execute("SELECT max(seq) FROM decisions").fetchone()[0] == seqs[-1]


def test_rows_without_their_own_tick_carry_the_current_tick(path):
    writer = JournalWriter(path)
    writer.append_now([m.Tick(boundary_ms=s.T0 + s.MIN, closed=(1,)), s.execution(), s.position()])
    writer.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT tick_ms, ts_ms FROM executions").fetchone() == (s.T0 + s.MIN, s.T0 + 30_000)
    assert conn.execute("SELECT tick_ms FROM position_snapshots").fetchone() == (s.T0 + s.MIN,)


def test_a_batch_that_cannot_be_written_stays_buffered_and_is_written_by_the_next_commit(path):
    writer = JournalWriter(path)
    writer.db.execute("PRAGMA busy_timeout=20")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: SQLite cannot write now
    writer.append([s.execution(), s.take(), s.ack()])
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        writer.commit()
    assert writer.pending == 3
    blocker.execute("ROLLBACK")
    writer.append([s.decision(symbol="ETHUSDT")])
    assert writer.commit() == 4
    assert (count(path, "executions"), count(path, "decisions"), count(path, "orders")) == (1, 2, 1)


def test_a_malformed_row_becomes_an_error_event_and_the_rest_of_its_batch_is_kept(path):
    writer = JournalWriter(path)
    broken = m.Decision(tick_ms=s.T0, symbol=None, kind="NO_SETUP")  # NOT NULL symbol
    writer.append([s.take(), broken, s.execution()])
    assert writer.commit() == 3
    assert (writer.pending, writer.rejected_rows) == (0, 1)
    conn = sqlite3.connect(path)
    # seq 1 is the writer's run row.
    assert conn.execute("SELECT seq, kind FROM decisions").fetchall() == [(2, "TAKE")]
    assert conn.execute("SELECT seq, exec_id FROM executions").fetchall() == [(4, "e-1")]
    seq, kind, level, message, data = conn.execute("SELECT seq, kind, level, message, data FROM events").fetchone()
    assert (seq, kind, level) == (3, "journal_row_refused", "ERROR")
    assert "NOT NULL constraint failed: decisions.symbol" in message
    assert json.loads(data)["table"] == "decisions"


def test_a_tick_commits_the_previous_ticks_batch(path):
    writer = JournalWriter(path)
    writer.record(m.Tick(boundary_ms=s.T0, closed=(1,)))
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert writer.record(s.decision(symbol=sym)) == 0
    writer.record(s.position())
    assert count(path, "decisions") == 0
    assert writer.record(m.Tick(boundary_ms=s.T0 + s.MIN, closed=(1,))) == 4
    assert (count(path, "decisions"), count(path, "position_snapshots")) == (3, 1)


@pytest.mark.parametrize("message", [s.intent(), s.ack(), s.order_update(), s.execution(), s.trade(), s.event()])
def test_order_fill_trade_and_event_messages_are_on_disk_when_record_returns(path, message):
    writer = JournalWriter(path)
    writer.record(s.take())
    assert writer.record(message) == 2
    table = {m.OrderIntent: "orders", m.OrderAck: "orders", m.OrderUpdate: "orders", m.ExecutionUpdate: "executions",
             m.TradeClosed: "trades", m.JournalEvent: "events"}[type(message)]
    assert count(path, table) == 1
    # The TAKE that led to the order went in the same transaction, ahead of it.
    assert count(path, "decisions") == 1


def test_a_fill_reported_twice_is_journaled_once(path):
    writer = JournalWriter(path)
    writer.append_now([s.execution(exec_id="e-9")])
    writer.append_now([s.execution(exec_id="e-9"), s.execution(exec_id="e-10")])
    writer.close()
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT exec_id FROM executions ORDER BY seq")] == ["e-9", "e-10"]


def test_close_flushes_the_batch_in_hand_and_is_idempotent(path):
    writer = JournalWriter(path)
    writer.append([s.decision(), s.bar()])
    writer.close()
    writer.close()
    assert (count(path, "decisions"), count(path, "bars")) == (1, 1)


def test_cycle_done_commits_the_ticks_batch_without_waiting_for_the_next_tick(path):
    writer = JournalWriter(path)
    writer.record(m.Tick(boundary_ms=s.T0, closed=(1,)))
    writer.record(s.decision(symbol="BTCUSDT"))
    writer.record(s.decision(symbol="ETHUSDT"))
    assert count(path, "decisions") == 0
    assert writer.record(m.CycleDone(boundary_ms=s.T0)) == 2
    assert count(path, "decisions") == 2


def seqs(path, table):
    return [r[0] for r in sqlite3.connect(path).execute(f"SELECT seq FROM {table} ORDER BY seq")]


def test_a_ticks_bars_are_written_after_its_decisions_in_a_transaction_of_their_own(path):
    writer = JournalWriter(path)
    for sym in ("BTCUSDT", "ETHUSDT"):
        for tf in (1, 5):
            assert writer.record(s.bar(symbol=sym, interval=tf, start_ms=s.T0 - tf * s.MIN)) == 0
    writer.record(m.Tick(boundary_ms=s.T0, closed=(1, 5)))
    writer.record(s.decision(symbol="BTCUSDT"))
    writer.record(s.decision(symbol="ETHUSDT"))
    assert writer.pending == 6  # what a crash now would lose: the bars too
    assert writer.record(m.CycleDone(boundary_ms=s.T0)) == 2
    assert (count(path, "decisions"), count(path, "bars"), writer.bars_held) == (2, 0, 4)
    assert writer.write_bars(s.T0) == 4
    assert (count(path, "bars"), writer.pending) == (4, 0)
    # Numbered as written: after the tick's decisions, no hole below them.
    assert max(seqs(path, "decisions")) < min(seqs(path, "bars"))
    assert seqs(path, "decisions") + seqs(path, "bars") == list(range(2, 8))  # seq 1: the run


def test_bars_of_a_later_boundary_stay_held_for_their_own_tick(path):
    writer = JournalWriter(path)
    writer.record(s.bar(start_ms=s.T0 - s.MIN))
    writer.record(s.bar(start_ms=s.T0))  # the next minute's bar, in before the write
    assert writer.write_bars(s.T0) == 1
    assert sqlite3.connect(path).execute("SELECT start_ms FROM bars").fetchall() == [(s.T0 - s.MIN,)]
    assert writer.bars_held == 1
    writer.close()  # held bars are written on close
    assert count(path, "bars") == 2


def test_held_bars_a_failed_commit_could_not_write_are_written_by_the_next(path, monkeypatch):
    writer = JournalWriter(path)
    writer.record(s.decision())
    writer.record(s.bar())
    insert = writer._insert_batch
    calls = []

    def fails_once(batch, bulk):
        calls.append(len(batch))
        if len(calls) == 2:  # the bars' own transaction
            raise sqlite3.OperationalError("disk I/O error")
        insert(batch, bulk)

    monkeypatch.setattr(writer, "_insert_batch", fails_once)
    with pytest.raises(sqlite3.OperationalError):
        writer.write_bars()
    assert (count(path, "decisions"), count(path, "bars"), writer.pending) == (1, 0, 1)
    assert writer.commit() == 1
    assert count(path, "bars") == 1
    writer.close()


def test_a_write_ahead_intent_is_committed_as_the_intent_itself(path):
    writer = JournalWriter(path)
    assert writer.record(m.WriteAhead(intent=s.intent(link="wa-1"))) == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT kind, order_link_id, qty FROM orders").fetchall() == [("intent", "wa-1", "0.010")]


def test_a_reopened_writer_resumes_the_current_tick_from_the_journal(path):
    writer = JournalWriter(path)
    writer.append_now([s.decision(tick_ms=s.T0), s.decision(tick_ms=s.T0 + s.MIN)])
    writer.close()
    writer = JournalWriter(path)
    assert writer.current_tick_ms == s.T0 + s.MIN
    writer.append_now([s.execution()])
    writer.close()
    assert sqlite3.connect(path).execute("SELECT tick_ms FROM executions").fetchone() == (s.T0 + s.MIN,)


def synchronous(writer):
    return writer.db.execute("PRAGMA synchronous").fetchone()[0]  # 1 NORMAL, 2 FULL


def test_a_batch_of_decisions_and_bars_commits_normal_and_one_with_a_fill_commits_full(path):
    writer = JournalWriter(path)
    writer.append([s.decision(), s.bar()])
    writer.commit()
    assert synchronous(writer) == 1
    writer.append([s.decision(symbol="ETHUSDT"), s.execution()])
    writer.commit()
    assert synchronous(writer) == 2
    for message in (s.intent(), s.ack(), s.order_update(), s.trade(), s.event()):
        writer.append([s.bar(start_ms=s.T0 + 7 * s.MIN)])
        writer.commit()
        assert synchronous(writer) == 1
        writer.record(message)
        assert synchronous(writer) == 2, type(message).__name__
    writer.close()


def test_a_flood_of_bars_is_committed_in_bounded_batches_before_any_tick(path):
    from journal.writer import MAX_PENDING

    writer = JournalWriter(path)
    flood = [s.bar(start_ms=s.T0 + i * s.MIN) for i in range(MAX_PENDING + 5)]
    for bar in flood:
        writer.record(bar)
        assert writer.pending < MAX_PENDING
    assert (count(path, "bars"), writer.pending) == (MAX_PENDING, 5)
    writer.close()
    assert count(path, "bars") == MAX_PENDING + 5


def test_a_journal_set_to_synchronous_off_stays_off(path):
    writer = JournalWriter(path)  # a backtest's throwaway journal asks for no fsync at all
    writer.db.execute("PRAGMA synchronous=OFF")
    writer.append([s.decision(), s.execution()])
    writer.commit()
    writer.append([s.decision(symbol="ETHUSDT")])
    writer.commit()
    assert synchronous(writer) == 0
    writer.close()


def as_columns(rows):
    """Rows (each a table's values less seq and run_id) as ``append_columns`` takes them."""
    return [list(column) for column in zip(*rows)]


def test_rows_appended_in_bulk_are_the_rows_their_messages_make_numbered_in_turn_with_them(path):
    """``append_columns`` takes a table's values less seq and run_id, a column each: the writer
    numbers the rows in the order of the calls, with the messages appended around them, as
    ``append`` would."""
    from journal.records import bar_values

    bars = [s.bar(start_ms=s.T0 + i * s.MIN) for i in range(3)]
    writer = JournalWriter(path)
    writer.append([s.decision()])
    writer.append_columns("bars", as_columns(bar_values(k, 0, 0)[1:-1] for k in bars[:2]))
    writer.append([bars[2]])
    assert writer.pending == 4
    writer.commit()
    with pytest.raises(ValueError, match="no journal table 'candles'"):
        writer.append_columns("candles", [[]])
    with pytest.raises(ValueError, match="columns given"):  # a column short: refused, not zipped short
        writer.append_columns("bars", as_columns(bar_values(k, 0, 0)[1:-2] for k in bars))
    with pytest.raises(ValueError, match="different lengths"):
        writer.append_columns("bars", [column[:2] if i == 3 else column
                                       for i, column in enumerate(as_columns(bar_values(k, 0, 0)[1:-1] for k in bars))])
    assert writer.pending == 0
    writer.close()
    conn = sqlite3.connect(path)
    stored = conn.execute("SELECT * FROM bars ORDER BY seq").fetchall()
    decision_seq = conn.execute("SELECT seq FROM decisions").fetchone()[0]
    run_id = conn.execute("SELECT max(run_id) FROM runs").fetchone()[0]
    assert [row[0] for row in stored] == [decision_seq + 1, decision_seq + 2, decision_seq + 3]
    names = [c[1] for c in conn.execute("PRAGMA table_info(bars)")]
    from journal.schema import columns
    as_messages = [dict(zip(columns("bars"), bar_values(k, seq, run_id))) for k, seq in zip(bars, range(decision_seq + 1, decision_seq + 4))]
    assert [dict(zip(names, row)) for row in stored] == as_messages


def test_a_bulk_of_rows_is_committed_once_the_batch_is_full(path):
    from journal.records import bar_values
    from journal.writer import MAX_PENDING

    writer = JournalWriter(path)
    writer.append_columns("bars", as_columns(bar_values(s.bar(start_ms=s.T0 + i * s.MIN), 0, 0)[1:-1] for i in range(MAX_PENDING + 5)))
    assert (count(path, "bars"), writer.pending) == (MAX_PENDING + 5, 0)
    writer.close()


def test_rows_appended_in_bulk_that_a_failed_commit_could_not_write_are_written_by_the_next(path, monkeypatch):
    from journal.records import bar_values

    writer = JournalWriter(path)
    insert = writer._insert_batch
    calls = []

    def fails_once(batch, bulk):
        calls.append(sum(len(rows) for _, rows in bulk))
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        insert(batch, bulk)

    monkeypatch.setattr(writer, "_insert_batch", fails_once)
    writer.append_columns("bars", as_columns(bar_values(s.bar(start_ms=s.T0 + i * s.MIN), 0, 0)[1:-1] for i in range(3)))
    writer.append([s.decision()])
    with pytest.raises(sqlite3.OperationalError):
        writer.commit()
    assert (count(path, "bars"), count(path, "decisions"), writer.pending) == (0, 0, 4)
    assert writer.commit() == 4 and calls == [3, 3]
    assert (count(path, "bars"), count(path, "decisions"), writer.pending) == (3, 1, 0)
    writer.close()


def test_a_bulk_row_that_breaks_a_constraint_is_journaled_as_an_error_and_its_batch_is_kept(path):
    from journal.records import bar_values

    writer = JournalWriter(path)
    rows = [list(bar_values(s.bar(start_ms=s.T0 + i * s.MIN), 0, 0)[1:-1]) for i in range(3)]
    rows[1][2] = None  # symbol NOT NULL
    writer.append_columns("bars", as_columns(rows))
    writer.append([s.decision()])
    assert writer.commit() == 4
    assert (count(path, "bars"), count(path, "decisions"), writer.rejected_rows) == (2, 1, 1)
    writer.close()
