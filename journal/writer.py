"""The journal's only writer: buffers rows, commits each batch in one transaction.

Decisions, bars and position snapshots are buffered and committed once per tick, so a
crash loses at most the batch in hand. Orders, fills, closed trades and events are
committed the moment they arrive (``append_now``): when it returns, they are on disk,
and the router may act on the next step.

The bars a tick is decided on reach the journal before the tick, but are written after its
decisions (``record`` holds them; ``write_bars``, which the journal actor calls once the
tick's cycle has closed): a 15-minute boundary's bars are four rows a symbol against one
decision, and writing them while the symbols decide put their inserts on the decisions' path
(``bench/cycle.py``: 25 symbols, 15-minute ticks 5.0 → 3.7 ms). They take their seq when
written, so ``seq`` never has a hole that fills in later.

Durability per batch (RELIABILITY.md, "Journal durability"): a batch holding any order,
fill, trade or event commits with ``synchronous=FULL`` (fsync before the commit returns);
a batch of only decisions, bars and position snapshots commits with ``synchronous=NORMAL``
(in WAL mode: safe against a process crash, and made durable by the next FULL commit or
checkpoint, but a power cut may lose the newest such batches). A connection someone set
to ``synchronous=OFF`` (``backtest.run``'s throwaway journal) is left OFF.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path

from vocabulary import messages as m
from journal.lock import JournalLock
from journal.records import Row, bar_values, decision_values, record_for
from journal.runs import RunInfo, begin_run
from journal.schema import JOURNAL_TABLES, columns, open_journal

#: Messages that must be durable before anyone acts on them.
IMMEDIATE = (m.OrderIntent, m.OrderAck, m.OrderUpdate, m.ExecutionUpdate, m.TradeClosed, m.JournalEvent, m.FeedGap)

#: Tables whose rows only ever ride in a per-tick batch; a batch of these alone commits
#: with synchronous=NORMAL. Every other table's rows make their batch FULL.
BATCH_TABLES = frozenset({"decisions", "bars", "position_snapshots"})

#: Rows buffered before a commit is forced. A tick of 500 symbols is ~1,200 rows, so a
#: tick's batch stays one transaction; only a flood (the bootstrap's 400 bars x 4
#: timeframes x every symbol, before the first tick) reaches it, and memory stays flat.
MAX_PENDING = 10_000

_LEVELS = {"NORMAL": 1, "FULL": 2}

#: Rows committed between two checkpoints when the owner takes them over (``own_checkpoints``):
#: about SQLite's default of 1,000 WAL pages for this journal's rows.
CHECKPOINT_ROWS = 5_000

# A pending row: its table and its values in column order (a tuple, not a dict: the
# bootstrap buffers hundreds of thousands of bars).
Pending = tuple[str, tuple]


class JournalWriter:
    """Owns the SQLite write connection. Not thread-safe: one owner (the JournalActor).

    Opening it holds the journal's OS lock (``JournalBusy`` if another writer has it) and records
    the run it writes for (``RunInfo``: a new one, or a live account's resumed); without one it
    goes on with the journal's current run. Every row written carries that run's id. A caller that checked the lock
    earlier (the supervisor, before binding ports) hands its held ``lock`` in.
    """

    def __init__(self, path: str | Path, run: RunInfo | None = None, *, lock: JournalLock | None = None) -> None:
        self._owns_lock = lock is None  # a lock handed in stays its owner's to release
        self._lock = lock if lock is not None else JournalLock(path)
        self._lock.acquire()
        try:
            self.db = open_journal(path)
        except BaseException:
            if self._owns_lock:
                self._lock.release()
            raise
        self._pending: list[Pending] = []
        # Rows appended in bulk (``append_columns``), a list per call: committed with the pending ones.
        self._bulk: list[tuple[str, list[tuple]]] = []
        self._bulk_rows = 0
        # Confirmed bars ``record`` was handed, not yet rows (no seq): written by ``write_bars``.
        self._bars: list[m.Kline] = []
        self._statements = {table: self._insert_sql(table) for table in JOURNAL_TABLES}
        self._columns = {table: columns(table) for table in JOURNAL_TABLES}
        # The level of a batch without orders or fills; bench/journal.py sets FULL to price the fsync.
        self.batch_synchronous = "NORMAL"
        self.last_seq: int = max(
            self.db.execute(f"SELECT coalesce(max(seq), 0) FROM {t}").fetchone()[0] for t in JOURNAL_TABLES
        )
        # The newest decision's tick (by seq: an index lookup, not a scan of every decision).
        last = self.db.execute("SELECT tick_ms FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
        self.current_tick_ms: int | None = last[0] if last else None
        self.committed_rows = 0
        self._rows_since_checkpoint = 0
        self._owned_checkpoints = False
        self.commits = 0
        self.rejected_rows = 0
        current = self.db.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        if run is None and current is not None and current[0] != 0:  # run 0 only names pre-run rows
            self.run_id: int = current[0]  # a writer that names no run (a tool, a test) goes on with the current one
        else:
            self.run_id, row = begin_run(self.db, run or RunInfo(), self.last_seq + 1)
            self.last_seq += 1
            self._pending.append(("runs", tuple(map(row.get, self._columns["runs"]))))
            self.commit()

    @staticmethod
    def _insert_sql(table: str) -> str:
        names = columns(table)
        # A fill reported twice is one fill: the unique exec_id index keeps the first.
        verb = "INSERT OR IGNORE" if table == "executions" else "INSERT"
        return f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"

    @property
    def pending(self) -> int:
        """Rows appended or bars held but not yet committed (what a crash right now would lose)."""
        return len(self._pending) + self._bulk_rows + len(self._bars)

    @property
    def bars_held(self) -> int:
        """Bars ``record`` holds for ``write_bars``."""
        return len(self._bars)

    def write_bars(self, through_ms: int | None = None) -> int:
        """Write the bars ``record`` holds, those closed by ``through_ms`` (all without it), in one
        transaction of their own after whatever is pending; returns the rows written. Bars of a
        later boundary that arrived meanwhile stay held for their own tick."""
        written = self.commit()  # first: if it raises, the bars are still held
        due, held = (self._bars, []) if through_ms is None else _split(self._bars, through_ms)
        self._bars = held
        if due:
            self.append(due)  # rows now: a failed commit keeps them pending for the next one
            written += self.commit()
        return written

    def append(self, messages: Iterable[object]) -> None:
        """Buffer the rows for ``messages``; nothing reaches the file until ``commit``
        (or until ``MAX_PENDING`` rows are buffered, which commits them)."""
        for message in messages:
            kind = type(message)
            # Most rows, mapped straight to their values (``records.bar_values``, ``decision_values``).
            if kind is m.Kline and message.confirmed:
                self.last_seq += 1
                self._pending.append(("bars", bar_values(message, self.last_seq, self.run_id)))
                continue
            if kind is m.Decision:
                self._note_tick(message.tick_ms)
                self.last_seq += 1
                self._pending.append(("decisions", decision_values(message, self.last_seq, self.run_id)))
                continue
            if isinstance(message, m.Tick):
                self._note_tick(message.boundary_ms)
                continue
            record = record_for(message)
            if record is None:
                continue
            table, row = record
            if isinstance(message, m.Decision):
                self._note_tick(message.tick_ms)
            if row["tick_ms"] is None:
                row["tick_ms"] = self.current_tick_ms
            row["run_id"] = self.run_id
            self.last_seq += 1
            row["seq"] = self.last_seq
            self._pending.append((table, tuple(map(row.get, self._columns[table]))))
        if len(self._pending) + self._bulk_rows >= MAX_PENDING:
            self.commit()

    def append_columns(self, table: str, values: Sequence[Sequence[object]]) -> None:
        """Buffer rows given as columns: ``table``'s columns in ``columns(table)`` order less the first
        (seq) and the last (run_id), which the writer gives them as ``append`` does, one sequence
        each, all of one length. A bulk source (the fast backtest's candles,
        ``backtest.fast.write_journal``) makes no message a row, and no row in Python either: they
        are zipped (a month of 7 symbols is 416,000 candles)."""
        names = self._columns.get(table)
        if names is None:
            raise ValueError(f"no journal table {table!r}")
        if len(values) != len(names) - 2:
            raise ValueError(f"{table}: {len(values)} columns given, {len(names) - 2} expected (its columns less seq and run_id)")
        lengths = set(map(len, values))
        if len(lengths) > 1:
            raise ValueError(f"{table}: columns of different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        if not n:
            return
        seq = self.last_seq
        self._bulk.append((table, list(zip(range(seq + 1, seq + n + 1), *values, repeat(self.run_id, n)))))
        self._bulk_rows += n
        self.last_seq = seq + n
        if len(self._pending) + self._bulk_rows >= MAX_PENDING:
            self.commit()

    def commit(self) -> int:
        """Write every buffered row in ONE transaction; returns how many were written.

        If SQLite cannot write at all (locked, disk full), the batch stays buffered for
        the next commit and the error propagates. If one row breaks a constraint, that
        row alone is replaced by an ERROR event saying so: a malformed decision must not
        take the orders and fills of its batch down with it.
        """
        if not self._pending and not self._bulk:
            return 0
        batch, self._pending = self._pending, []
        bulk, self._bulk = self._bulk, []
        written, self._bulk_rows = len(batch) + self._bulk_rows, 0
        try:
            tables = {table for table, _ in batch} | {table for table, _ in bulk}
            self._set_synchronous(self.batch_synchronous if tables <= BATCH_TABLES else "FULL")
            try:
                with self.db.atomic():
                    self._insert_batch(batch, bulk)
            except sqlite3.IntegrityError:
                with self.db.atomic():
                    self._insert_row_by_row(batch + [(table, values) for table, rows in bulk for values in rows])
        except BaseException:
            # The transaction rolled back; keep the rows so a retry (or close) can write them.
            self._pending = batch + self._pending
            self._bulk = bulk + self._bulk
            self._bulk_rows += written - len(batch)
            raise
        self.committed_rows += written
        self._rows_since_checkpoint += written
        self.commits += 1
        return written

    # --- checkpoints ------------------------------------------------------------------------

    def own_checkpoints(self) -> None:
        """Stop SQLite's automatic checkpoint, which runs inside whichever commit crosses the
        threshold: that commit (a tick's decisions, or an order's write-ahead) would pay for
        copying the WAL back and fsyncing the database file. The owner then calls
        ``checkpoint`` when nothing waits on it (the JournalActor: after a tick's cycle closed)."""
        self.db.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._owned_checkpoints = True

    @property
    def checkpoint_due(self) -> bool:
        return self._owned_checkpoints and self._rows_since_checkpoint >= CHECKPOINT_ROWS

    def checkpoint(self) -> None:
        """Copy the WAL back into the database (PASSIVE: never waits for a reader of the web
        dashboard; what a reader still needs is copied by the next one)."""
        self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self._rows_since_checkpoint = 0

    def _set_synchronous(self, level: str) -> None:
        # Outside any transaction (SQLite applies it to the next commit); only on a change.
        # A connection set to OFF (a backtest's throwaway journal) asked for no durability
        # at all: left as it is.
        current = self.db.conn.execute("PRAGMA synchronous").fetchone()[0]
        if current != _LEVELS[level] and current != 0:
            self.db.conn.execute(f"PRAGMA synchronous={level}")

    def _insert_batch(self, batch: list[Pending], bulk: list[tuple[str, list[tuple]]]) -> None:
        by_table: dict[str, list[tuple]] = {}
        for table, values in batch:
            by_table.setdefault(table, []).append(values)
        for table, rows in bulk:
            by_table.setdefault(table, []).extend(rows)
        for table, rows in by_table.items():
            self.db.conn.executemany(self._statements[table], rows)

    def _insert_row_by_row(self, batch: list[Pending]) -> None:
        for table, values in batch:
            try:
                with self.db.atomic():  # a savepoint: only this row is undone
                    self.db.conn.execute(self._statements[table], values)
            except sqlite3.IntegrityError as exc:
                self.rejected_rows += 1
                row = dict(zip(self._columns[table], values))
                self.db.conn.execute(self._statements["events"], _values("events", _rejection(table, row, exc)))

    def append_now(self, messages: Iterable[object]) -> int:
        """Append and commit at once. Anything already buffered goes in the same
        transaction, so the file's seq order never has a hole that fills in later."""
        self.append(messages)
        return self.commit()

    def record(self, message: object) -> int:
        """The batching policy in one place: a Tick closes the previous tick's batch and
        CycleDone closes the current one; order and fill events (and a router's write-ahead
        intent) are committed on arrival; confirmed bars are held for ``write_bars``;
        everything else waits.
        Returns the rows committed by this call."""
        kind = type(message)
        if kind is m.Kline and message.confirmed:
            # Written after the tick's decisions (module doc): the actor calls write_bars.
            self._bars.append(message)
            return self.write_bars() if len(self._bars) >= MAX_PENDING else 0  # a bootstrap's flood
        if kind is m.Decision:
            self.append((message,))  # the bulk of a tick's rows: past the checks below
            return 0
        if isinstance(message, m.Tick):
            written = self.commit()
            self._note_tick(message.boundary_ms)
            return written
        if isinstance(message, m.CycleDone):
            return self.commit()  # every decision of the tick is in: the batch is complete
        if isinstance(message, m.WriteAhead):
            return self.append_now((message.intent,))
        if isinstance(message, IMMEDIATE):
            return self.append_now((message,))
        self.append((message,))
        return 0

    def close(self) -> None:
        """Flush what is buffered and release the connection; safe to call twice."""
        if self.db is None:
            return
        try:
            self.write_bars()
        finally:
            self.db.close()
            self.db = None  # type: ignore[assignment]
            if self._owns_lock:
                self._lock.release()

    def _note_tick(self, tick_ms: int) -> None:
        if self.current_tick_ms is None or tick_ms > self.current_tick_ms:
            self.current_tick_ms = tick_ms


def _split(bars: list[m.Kline], through_ms: int) -> tuple[list[m.Kline], list[m.Kline]]:
    """The bars closed by ``through_ms`` and the later ones, each in arrival order (one pass)."""
    due: list[m.Kline] = []
    later: list[m.Kline] = []
    for k in bars:
        (due if k.end_ms <= through_ms else later).append(k)
    return due, later


def _values(table: str, row: Row) -> tuple:
    return tuple(row.get(c) for c in columns(table))


def _rejection(table: str, row: Row, exc: Exception) -> Row:
    """The event that takes a refused row's place (and its seq, so seq stays unique)."""
    return {
        "seq": row["seq"], "tick_ms": row.get("tick_ms"), "ts_ms": row.get("ts_ms"),
        "kind": "journal_row_refused", "source": "journal", "level": "ERROR",
        "message": f"{table} row refused by SQLite: {exc}",
        "data": json.dumps({"table": table, "row": row}, default=str, sort_keys=True),
        "run_id": row.get("run_id"),
    }
