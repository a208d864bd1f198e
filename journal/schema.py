"""The journal's SQLite schema: append-only tables, enforced by the database itself, and
the forward migrations that build them.

Every journal table has ``seq`` (one counter across all tables, so the whole journal has
one total order), ``tick_ms`` (the 1m boundary the row belongs to) and ``ts_ms`` (when the
thing itself happened, from the message). Prices, quantities, fees and PnL are TEXT
holding the exact Decimal string; indicator values are REAL (float64, as computed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

#: The tables of schema version 1 (what its migration creates, whatever is added later).
_V1_TABLES = ("decisions", "orders", "executions", "position_snapshots", "trades", "events", "bars")
#: Tables the writer appends to; each one refuses UPDATE and DELETE.
JOURNAL_TABLES = (*_V1_TABLES, "runs")

_ROW_HEAD: dict[str, type] = {"seq": int, "tick_ms": int, "ts_ms": int}

_COLUMNS: dict[str, dict[str, type]] = {
    "decisions": {
        "symbol": str, "kind": str, "path": str, "side": str, "score": float,
        "reasons": str, "entry_price": str, "stop_price": str, "target_price": str, "qty": str,
    },
    # One table for the whole life of an order: the request (kind="intent"), the venue's
    # answer (kind="ack") and every status report (kind="update"). Reading one order's
    # story is then a single seq-ordered scan by order_link_id, and nothing can be
    # mis-joined; the sparse columns cost SQLite next to nothing. ``message`` keeps the
    # full message as JSON so no field the venue sent is ever lost.
    "orders": {
        "kind": str, "action": str, "symbol": str, "order_link_id": str, "order_id": str,
        "side": str, "order_type": str, "time_in_force": str, "qty": str, "price": str,
        "position_idx": int, "reduce_only": int, "stop_loss": str, "take_profit": str,
        "reason": str, "outcome": str, "ret_code": int, "ret_msg": str, "status": str,
        "cum_exec_qty": str, "avg_price": str, "reject_reason": str, "message": str,
    },
    "executions": {
        "symbol": str, "exec_id": str, "order_id": str, "order_link_id": str, "side": str,
        "price": str, "qty": str, "fee": str, "is_maker": int,
    },
    "position_snapshots": {
        "symbol": str, "position_idx": int, "side": str, "size": str, "avg_price": str,
        "stop_loss": str, "take_profit": str, "mark_price": str, "unrealised_pnl": str, "liq_price": str,
    },
    "trades": {
        "symbol": str, "side": str, "path": str, "entry_ms": int, "exit_ms": int,
        "entry_price": str, "exit_price": str, "qty": str, "fees": str, "pnl_usdt": str,
        "pnl_r": float, "exit_reason": str, "order_link_id": str,
        # v3: where the money went (TradeClosed) and the stop the trade opened with
        "gross_usdt": str, "slippage_usdt": str, "funding_usdt": str, "stop_price": str,
    },
    "events": {"kind": str, "source": str, "level": str, "message": str, "data": str},
    "bars": {
        "symbol": str, "interval": int, "start_ms": int, "open": float, "high": float,
        "low": float, "close": float, "volume": float, "turnover": float, "confirmed": int,
    },
}

_NOT_NULL: dict[str, set[str]] = {
    "decisions": {"symbol", "kind", "reasons"},
    "orders": {"kind", "symbol", "message"},
    "executions": {"symbol", "exec_id", "price", "qty", "fee"},
    "position_snapshots": {"symbol", "size"},
    "trades": {"symbol", "side", "entry_ms", "exit_ms", "pnl_usdt"},
    "events": {"kind", "source", "level"},
    "bars": {"symbol", "interval", "start_ms"},
}


# One row each time a writer opens the journal: kind "start" begins a run, "resume" continues
# an earlier one (a live account survives a restart). Every other row carries its run_id.
_RUN_COLUMNS: dict[str, type] = {
    "run_id": int, "kind": str, "mode": str, "venue": str, "account": str, "settings_hash": str,
    "data_from_ms": int, "data_to_ms": int, "symbols": str,
}


class JournalVersionError(RuntimeError):
    """The file was written by a newer smtbot: migrations only go forward."""


def columns(table: str) -> tuple[str, ...]:
    """Every column of a journal table, as every insert names them (a later migration appends its
    columns to the table, so this is not the physical order: run_id came with version 4, liq_price with 5)."""
    if table == "runs":
        return (*_ROW_HEAD, *_RUN_COLUMNS)
    return (*_ROW_HEAD, *_COLUMNS[table], "run_id")


def _append_only(db: sqlite_utils.Database, table: str) -> None:
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
        )


#: Columns a later migration adds (v1 creates each table without them).
_V3_TRADE_COLUMNS = ("gross_usdt", "slippage_usdt", "funding_usdt", "stop_price")
_V5_POSITION_COLUMNS = ("liq_price",)
_LATER_COLUMNS = {"trades": _V3_TRADE_COLUMNS, "position_snapshots": _V5_POSITION_COLUMNS}


def _v1_tables(db: sqlite_utils.Database) -> None:
    for table in _V1_TABLES:
        later = _LATER_COLUMNS.get(table, ())
        db[table].create(
            {**_ROW_HEAD, **{k: v for k, v in _COLUMNS[table].items() if k not in later}}, pk="seq",
            not_null=_NOT_NULL[table] | {"seq"},
        )
        _append_only(db, table)
    # The venue may report one fill twice (WS, then the REST list after a reconnect);
    # a fill happened once, so the journal keeps it once.
    db["executions"].create_index(["exec_id"], unique=True)


def _v2_read_indexes(db: sqlite_utils.Database) -> None:
    # What the web reader asks: newest rows per symbol / kind, trades by exit time,
    # one order's story by its link id, bars by symbol and time.
    db["decisions"].create_index(["symbol", "seq"])
    db["decisions"].create_index(["kind", "seq"])
    db["orders"].create_index(["order_link_id", "seq"])
    db["position_snapshots"].create_index(["symbol", "position_idx", "seq"])
    db["trades"].create_index(["exit_ms"])
    db["trades"].create_index(["symbol", "exit_ms"])
    db["events"].create_index(["kind", "seq"])
    db["bars"].create_index(["symbol", "interval", "start_ms"])


def _v3_trade_costs(db: sqlite_utils.Database) -> None:
    # Where a trade's money went (TradeClosed): NULL in the rows of older journals.
    for name in _V3_TRADE_COLUMNS:
        db["trades"].add_column(name, str)
def _v4_runs(db: sqlite_utils.Database) -> None:
    db["runs"].create({**_ROW_HEAD, **_RUN_COLUMNS}, pk="seq", not_null={"seq", "run_id", "kind", "mode"})
    _append_only(db, "runs")
    db["runs"].create_index(["run_id", "seq"])
    for table in _V1_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN run_id INTEGER")
    # Rows written before runs were recorded keep run_id NULL (no UPDATE, ever); run 0 names them.
    top = db.execute("SELECT max(" + ", ".join(f"(SELECT coalesce(max(seq), 0) FROM {t})" for t in _V1_TABLES) + ")").fetchone()[0]
    if top:
        db.execute("INSERT INTO runs (seq, tick_ms, ts_ms, run_id, kind, mode) VALUES (?, NULL, NULL, 0, 'legacy', 'unknown')", [top + 1])
    # What the reader asks per run: newest rows, trades by exit time, positions, bars.
    db["decisions"].create_index(["run_id", "seq"])
    db["events"].create_index(["run_id", "seq"])
    db["trades"].create_index(["run_id", "exit_ms"])
    db["position_snapshots"].create_index(["run_id", "symbol", "position_idx", "seq"])
    db["bars"].create_index(["run_id", "symbol", "interval", "start_ms"])


def _v5_liquidation_price(db: sqlite_utils.Database) -> None:
    # The venue's liquidation price of each position snapshot: NULL in older rows.
    for name in _V5_POSITION_COLUMNS:
        db["position_snapshots"].add_column(name, str)


#: MIGRATIONS[i] takes a journal at version i to version i + 1. Append, never edit.
MIGRATIONS: tuple[tuple[str, Callable[[sqlite_utils.Database], None]], ...] = (
    ("append-only journal tables", _v1_tables),
    ("indexes for the web reader", _v2_read_indexes),
    ("trade costs: gross, slippage, funding, stop", _v3_trade_costs),
    ("runs: every row belongs to one run", _v4_runs),
    ("position snapshots: the venue's liquidation price", _v5_liquidation_price),
)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite_utils.Database) -> int:
    """The version a journal is at; 0 for an empty file."""
    if not db["schema_version"].exists():
        return 0
    return db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(db: sqlite_utils.Database, target: int = LATEST_VERSION) -> int:
    """Apply every migration between the journal's version and ``target``, each in its own
    transaction together with its schema_version row. Returns the resulting version."""
    if not db["schema_version"].exists():
        with db.atomic():
            db["schema_version"].create({"version": int, "description": str}, pk="version")
            _append_only(db, "schema_version")
    current = schema_version(db)
    if current > LATEST_VERSION:
        raise JournalVersionError(
            f"journal is at schema version {current}, this smtbot knows up to {LATEST_VERSION}"
        )
    for version in range(current + 1, target + 1):
        description, step = MIGRATIONS[version - 1]
        with db.atomic():
            step(db)
            db["schema_version"].insert({"version": version, "description": description})
    return max(current, target)


class NotAJournal(RuntimeError):
    """The file exists but is no smtbot journal this version can write to."""


def check_writable_journal(path: str | Path) -> None:
    """Read-only look at an existing file before anyone writes to it: a SQLite database whose
    schema version this smtbot knows (or an empty one). Raises ``NotAJournal`` saying why."""
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise NotAJournal(f"{path} is a directory, not a journal file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] if "schema_version" in tables else 0
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise NotAJournal(f"{path} is not an smtbot journal ({exc})") from None
    if tables and "schema_version" not in tables:
        raise NotAJournal(f"{path} is a SQLite file but not an smtbot journal (tables: {', '.join(sorted(tables)[:5])})")
    if (version or 0) > LATEST_VERSION:
        raise NotAJournal(f"{path} was written by a newer smtbot (schema version {version}, this one knows up to {LATEST_VERSION})")


def open_journal(path: str | Path, target: int = LATEST_VERSION) -> sqlite_utils.Database:
    """The journal's one write connection: directories and tables created, migrated, WAL on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are only the explicit ones the writer opens
    # (db.atomic), so Python's sqlite3 never commits behind its back.
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed order or fill is on disk before append_now returns, not just in
    # the OS cache (NORMAL survives a process crash but not a power cut).
    db.execute("PRAGMA synchronous=FULL")
    # INSERT OR REPLACE deletes the conflicting row; with recursive triggers that hidden
    # delete hits the DELETE trigger too, so even REPLACE cannot rewrite history.
    db.execute("PRAGMA recursive_triggers=ON")
    db.execute("PRAGMA busy_timeout=5000")
    migrate(db, target)
    return db
