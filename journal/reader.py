"""Read-only queries over the journal, for the web layer.

The connection is opened with ``mode=ro`` (and ``query_only``), so nothing here can write
even by mistake. Two facts of the writer keep the queries cheap on a large journal:
rows are never changed, and a row with a lower ``seq`` is always committed no later than
one with a higher ``seq``. So counters are folded incrementally (only rows above the last
seen ``seq`` are read), and everything else is cached until the journal's last ``seq``
moves.

Every list, position and PnL figure is about one run (``journal.runs``): the current one (the
newest start or resume) unless ``run`` names another. A simulator run's wallet starts afresh,
so no figure ever adds up rows of two runs.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import statistics
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from journal.schema import JOURNAL_TABLES

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
DAY_MS = 86_400_000

Row = dict[str, Any]


class JournalUnavailable(RuntimeError):
    """The journal file does not exist (yet) or cannot be read."""


class UnknownRun(LookupError):
    """A ``run`` the journal does not hold; the message says which ones it does."""


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


class JournalReader:
    """Thread-safe: each thread gets its own read-only connection; caches are shared."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
        self._local = threading.local()
        self._lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._folds: dict[str, tuple[int, Any]] = {}
        self._cache: dict[str, tuple[tuple[int, Any], Any]] = {}

    # --- connections ---------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if not self.path.exists():
            raise JournalUnavailable(f"no journal at {self.path.name} yet")
        try:
            conn = sqlite3.connect(self._uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=2000")
            conn.execute("SELECT 1 FROM decisions LIMIT 1")
        except sqlite3.Error as exc:
            raise JournalUnavailable(f"journal not readable: {exc}") from None
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return [dict(r) for r in self._conn().execute(sql, tuple(params))]

    def _value(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """The first column of the first row; None when there is no row (an empty journal)."""
        row = self._conn().execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every query inside sees the journal as of one moment, even while the writer
        commits (one read transaction on this thread's connection)."""
        conn = self._conn()
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # --- raw execution (for tests and tools that must prove the connection is read-only) ---

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Run any statement on the read-only connection; writes fail inside SQLite."""
        return self._rows(sql, params)

    # --- journal facts ----------------------------------------------------------------------

    def last_seq(self) -> int:
        """The newest row's seq across every table: the journal's version number."""
        parts = ", ".join(f"(SELECT coalesce(max(seq), 0) FROM {t})" for t in JOURNAL_TABLES)
        return self._value(f"SELECT max({parts})")

    def _cached(self, name: str, extra: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, recomputed only when the journal grew or ``extra`` changed.
        One slot per name, so the cache never grows."""
        key = (self.last_seq(), extra)
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[name] = (key, value)
        return value

    def facts(self, run: int | None = None) -> Row:
        """What /status says about the journal itself, and which run the page shows."""
        scope = self._scope(run)
        return {
            "schema_version": self._value("SELECT max(version) FROM schema_version"),
            "last_seq": self.last_seq(),
            "last_tick_ms": self._value(f"SELECT tick_ms FROM decisions WHERE {scope} ORDER BY seq DESC LIMIT 1"),
            "bars": self.bars_count(),
            "run": self.run(run),
            "runs": self._value("SELECT count(DISTINCT run_id) FROM runs"),
        }

    # --- runs -------------------------------------------------------------------------------

    def current_run(self) -> int | None:
        """The run of the newest start or resume; None for a journal with no run yet."""
        return self._value("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1")

    def runs(self) -> list[Row]:
        """Every run, newest first: how it started, how often it was resumed, when last."""
        return self._cached("runs", None, self._runs)

    def _runs(self) -> list[Row]:
        out = []
        for first in self._rows("SELECT * FROM runs WHERE seq IN (SELECT min(seq) FROM runs GROUP BY run_id) ORDER BY run_id DESC"):
            resumes = self._rows("SELECT ts_ms FROM runs WHERE run_id = ? AND kind = 'resume' ORDER BY seq", [first["run_id"]])
            first["started_ms"] = first.pop("ts_ms")
            first["symbols"] = [s for s in (first["symbols"] or "").split(",") if s]
            first["resumed_ms"] = [r["ts_ms"] for r in resumes]
            for key in ("tick_ms", "seq"):
                first.pop(key)
            out.append(first)
        return out

    def run(self, run: int | None = None) -> Row | None:
        """One run's description (the current one by default)."""
        wanted = self.current_run() if run is None else run
        return next((r for r in self.runs() if r["run_id"] == wanted), None)

    def _scope(self, run: int | None) -> str:
        """The SQL condition selecting one run's rows (``run`` is an int, so it is inlined)."""
        if run is None:
            run = self.current_run()
            if run is None:
                return "1"  # nothing recorded yet
        elif not any(r["run_id"] == run for r in self.runs()):
            known = ", ".join(str(r["run_id"]) for r in self.runs()) or "none yet"
            raise UnknownRun(f"run: no run {run} in this journal (runs: {known})")
        return "run_id IS NULL" if run == 0 else f"run_id = {int(run)}"

    # --- paged lists ------------------------------------------------------------------------

    def decisions(self, symbol: str | None = None, kind: str | None = None, limit: int = DEFAULT_LIMIT,
                  before: int | None = None, run: int | None = None) -> list[Row]:
        """Newest first; ``before`` (a seq) pages back."""
        where, params = _filters(self._scope(run), symbol=symbol, kind=kind, before=before)
        rows = self._rows(f"SELECT * FROM decisions{where} ORDER BY seq DESC LIMIT ?", [*params, _check_limit(limit)])
        for row in rows:
            row["reasons"] = json.loads(row["reasons"])
        return rows

    def trades(self, symbol: str | None = None, since: int | None = None, limit: int = DEFAULT_LIMIT,
               before: int | None = None, run: int | None = None) -> list[Row]:
        """Closed round trips, newest first; ``since`` is an exit time in ms."""
        where, params = _filters(self._scope(run), symbol=symbol, before=before, since=since)
        return self._rows(f"SELECT * FROM trades{where} ORDER BY seq DESC LIMIT ?", [*params, _check_limit(limit)])

    def trade_pnls(self, run: int | None = None) -> list[Row]:
        """Every closed trade of one run as (seq, exit_ms, pnl_usdt), oldest first: the equity
        curve's fallback when the run journaled no wallet report (not paged: a curve needs all)."""
        return self._rows(f"SELECT seq, exit_ms, pnl_usdt FROM trades WHERE {self._scope(run)} ORDER BY seq")

    def events(self, kind: str | None = None, limit: int = DEFAULT_LIMIT, before: int | None = None,
               run: int | None = None) -> list[Row]:
        where, params = _filters(self._scope(run), kind=kind, before=before)
        rows = self._rows(f"SELECT * FROM events{where} ORDER BY seq DESC LIMIT ?", [*params, _check_limit(limit)])
        for row in rows:
            row["data"] = json.loads(row["data"]) if row["data"] else {}
        return rows

    # --- current state ----------------------------------------------------------------------

    def symbols(self, table: str = "decisions") -> list[str]:
        """Every symbol a table mentions, by hopping along its symbol index (a loose index
        scan): cost grows with the number of symbols, not of rows."""
        return [r[0] for r in self._conn().execute(
            f"WITH RECURSIVE s(symbol) AS (SELECT min(symbol) FROM {table} UNION ALL "
            f"SELECT (SELECT min(symbol) FROM {table} WHERE symbol > s.symbol) FROM s WHERE s.symbol IS NOT NULL) "
            "SELECT symbol FROM s WHERE symbol IS NOT NULL"
        )]

    def positions(self, run: int | None = None) -> list[Row]:
        """The latest snapshot of every (symbol, position_idx) whose size is not zero, in the run."""
        scope = self._scope(run)
        return self._cached("positions", scope, lambda: self._positions(scope))

    def _positions(self, scope: str) -> list[Row]:
        open_ = []
        for symbol in self.symbols("position_snapshots"):
            for idx in (0, 1, 2):
                rows = self._rows(
                    f"SELECT * FROM position_snapshots WHERE symbol = ? AND position_idx = ? AND {scope} ORDER BY seq DESC LIMIT 1",
                    [symbol, idx],
                )
                if rows and Decimal(rows[0]["size"]) != 0:
                    open_.append(rows[0])
        return open_

    def overview(self, symbols: Iterable[str] = (), run: int | None = None) -> list[Row]:
        """One row per symbol (the given ones plus every one the run has decided on):
        last closed 1m bar, last decision, open position."""
        wanted = tuple(symbols)
        scope = self._scope(run)
        return self._cached("overview", (wanted, scope), lambda: self._overview(wanted, scope, run))

    def _overview(self, wanted: tuple[str, ...], scope: str, run: int | None) -> list[Row]:
        decided = [s for s in self.symbols("decisions")
                   if self._value(f"SELECT 1 FROM decisions WHERE symbol = ? AND {scope} LIMIT 1", [s])]
        names = list(dict.fromkeys((*wanted, *decided)))
        positions: dict[str, list[Row]] = {}
        for p in self.positions(run):
            positions.setdefault(p["symbol"], []).append(p)
        rows = []
        for symbol in names:
            bar = self._rows("SELECT start_ms, open, high, low, close, volume FROM bars WHERE symbol = ? AND interval = 1 "
                             f"AND {scope} ORDER BY start_ms DESC LIMIT 1", [symbol])
            decision = self.decisions(symbol=symbol, limit=1, run=run)
            rows.append({
                "symbol": symbol,
                "last_bar": bar[0] if bar else None,
                "last_decision": decision[0] if decision else None,
                "positions": positions.get(symbol, []),
            })
        return rows

    # --- PnL ledger -------------------------------------------------------------------------

    def pnl(self, now_ms: int, run: int | None = None) -> Row:
        """Closed-trade PnL of one run (the current one by default) today (UTC), over the last
        7 days and over the whole run ("all"); in USDT (exact) and in R; in total, per symbol and
        per entry path. "all" is never summed across runs: each simulator run starts a new wallet.
        Each carries where the money went (pnl_usdt = gross_usdt - fees - slippage_usdt -
        funding_usdt, every figure net), the same parts in R, the exit mix and the stops'
        distances in bps (``_Sums``)."""
        scope = self._scope(run)
        today = now_ms - now_ms % DAY_MS
        # Floored to the minute so the 7-day window's cache lives a minute, not a request.
        week = now_ms - now_ms % 60_000 - 7 * DAY_MS
        windows = {
            "today": (today, self._cached("pnl_today", (today, scope), lambda: _ledger(self._trades_since(today, scope)))),
            "7d": (week, self._cached("pnl_7d", (week, scope), lambda: _ledger(self._trades_since(week, scope)))),
            "all": (None, self._fold(f"pnl_all:{scope}", "trades", f"SELECT * FROM trades WHERE seq > ? AND seq <= ? AND {scope}",
                                     _Ledger, _Ledger.add, _Ledger.as_dict)),
        }
        return {name: {"from_ms": start, **ledger} for name, (start, ledger) in windows.items()}

    def _trades_since(self, start_ms: int, scope: str) -> list[Row]:
        return self._rows("SELECT symbol, path, exit_reason, entry_price, qty, pnl_usdt, pnl_r, fees, gross_usdt, "
                          f"slippage_usdt, funding_usdt, stop_price FROM trades WHERE exit_ms >= ? AND {scope}", [start_ms])

    # --- counters for /metrics ----------------------------------------------------------------

    def _fold(self, name: str, table: str, sql: str, initial: Callable[[], Any],
              step: Callable[[Any, list[Row]], Any], view: Callable[[Any], Any]) -> Any:
        """Fold the rows of ``table`` with seq in (last seen, newest] into a running value
        and return ``view`` of it. ``sql`` takes those two bounds; the upper one makes the
        read a consistent snapshot even while the writer commits."""
        with self._lock:
            cursor, value = self._folds.get(name, (0, None))
            if value is None:
                value = initial()
            top = self._value(f"SELECT coalesce(max(seq), 0) FROM {table}")
            if top > cursor:
                step(value, self._rows(sql, [cursor, top]))
            self._folds[name] = (max(top, cursor), value)
            return view(value)

    def _count_by(self, table: str, column: str, where: str = "") -> dict[str, int]:
        extra = f" AND {where}" if where else ""
        return self._fold(
            f"count:{table}:{column}:{where}", table,
            f"SELECT {column} AS key, count(*) AS n FROM {table} WHERE seq > ? AND seq <= ?{extra} GROUP BY {column}",
            Counter, lambda acc, rows: acc.update({r["key"]: r["n"] for r in rows}), dict,
        )

    def counters(self) -> Row:
        """Totals since the journal began, each one counted once per row ever."""
        events = self._count_by("events", "kind")
        return {
            "decisions_by_kind": self._count_by("decisions", "kind"),
            "orders_by_result": self._count_by("orders", "outcome", "kind = 'ack'"),
            "order_updates_by_status": self._count_by("orders", "status", "kind = 'update'"),
            "events_by_kind": events,
            "reconnects": events.get("reconnect", 0),
            "executions": sum(self._count_by("executions", "symbol").values()),
            "trades": sum(self._count_by("trades", "symbol").values()),
            "bars": self.bars_count(),
        }

    def bars_count(self) -> int:
        return sum(self._count_by("bars", "interval").values())

    # --- charts and open orders (read by web/series.py) ------------------------------------

    def bars(self, symbol: str, interval: int, after_ms: int = -1, limit: int = 100_000) -> list[Row]:
        """Closed bars of one symbol and interval with ``start_ms > after_ms``, oldest first."""
        return self._rows(
            "SELECT start_ms, open, high, low, close, volume FROM bars WHERE symbol = ? AND interval = ? AND start_ms > ? "
            "ORDER BY start_ms LIMIT ?", [symbol, interval, after_ms, limit])

    def chart_marks(self, symbol: str, since_ms: int, run: int | None = None) -> Row:
        """What the bot did on one symbol since ``since_ms`` in one run (the current one by
        default): TAKE decisions, fills, closed trades."""
        with self.snapshot():
            scope = self._scope(run)
            # TAKEs are rare: walk the (kind, seq) index, not every decision of the symbol.
            takes = self._rows(
                "SELECT tick_ms, side, path, score, entry_price, stop_price, target_price, qty FROM decisions "
                f"INDEXED BY idx_decisions_kind_seq WHERE kind = 'TAKE' AND symbol = ? AND tick_ms >= ? AND {scope} ORDER BY seq",
                [symbol, since_ms])
            fills = self._rows(
                "SELECT ts_ms, order_link_id, side, price, qty, fee, is_maker FROM executions "
                f"WHERE symbol = ? AND ts_ms >= ? AND {scope} ORDER BY seq", [symbol, since_ms])
            trades = self._rows(
                "SELECT side, path, entry_ms, exit_ms, entry_price, exit_price, qty, fees, pnl_usdt, pnl_r, exit_reason, "
                f"order_link_id FROM trades WHERE symbol = ? AND exit_ms >= ? AND {scope} ORDER BY exit_ms", [symbol, since_ms])
        return {"takes": takes, "fills": fills, "trades": trades}

    def price_samples(self, symbol: str, limit: int = 20) -> list[str]:
        """The symbol's newest exact prices as the bot planned and the venue filled them (on its tick grid)."""
        rows = self._conn().execute(
            "SELECT entry_price, stop_price, target_price FROM decisions INDEXED BY idx_decisions_kind_seq "
            "WHERE kind = 'TAKE' AND symbol = ? ORDER BY seq DESC LIMIT ?", [symbol, limit]).fetchall()
        fills = self._conn().execute(
            "SELECT price FROM executions WHERE symbol = ? ORDER BY seq DESC LIMIT ?", [symbol, limit]).fetchall()
        orders = self._conn().execute(
            "SELECT price, stop_loss FROM orders WHERE symbol = ? AND kind = 'intent' ORDER BY seq DESC LIMIT ?",
            [symbol, limit]).fetchall()
        return [p for row in (*rows, *fills, *orders) for p in row if p is not None]

    def wallet_equity(self, run: int | None = None) -> list[tuple[int, str]]:
        """(ts_ms, total equity) from one run's wallet reports (the current run by default),
        oldest first, one per minute (the minute's last): the account's equity curve, folded
        incrementally. One run only: a restarted simulator's wallet starts afresh, and a curve
        through two wallets would draw the restart as a gain or a loss."""
        scope = self._scope(run)
        return self._fold(f"wallet_equity:{scope}", "events",
                          f"SELECT ts_ms, data FROM events WHERE kind = 'wallet' AND seq > ? AND seq <= ? AND {scope} ORDER BY seq",
                          dict, _fold_wallet, lambda by_minute: list(by_minute.values()))

    def notable_events(self, limit: int = DEFAULT_LIMIT, before: int | None = None, run: int | None = None) -> list[Row]:
        """One run's events (the current run by default), newest first, without DEBUG rows
        (per-wallet reports): what an operator reads."""
        where = f" AND {self._scope(run)}" + (" AND seq < ?" if before is not None else "")
        rows = self._rows(f"SELECT * FROM events WHERE level != 'DEBUG'{where} ORDER BY seq DESC LIMIT ?",
                          [*([before] if before is not None else []), _check_limit(limit)])
        for row in rows:
            row["data"] = json.loads(row["data"]) if row["data"] else {}
        return rows

    def open_orders(self) -> list[Row]:
        """Orders the venue last reported working (or acknowledged and not yet reported on),
        oldest first: the newest ack/update row of each order, folded incrementally. Not scoped
        to a run: the venue's book outlives a restart (an entry placed before it keeps resting,
        and the reconciliation does not journal it again), so a run's view would hide it."""
        return self._fold("open_orders", "orders",
                          "SELECT * FROM orders WHERE kind != 'intent' AND seq > ? AND seq <= ? ORDER BY seq",
                          _OrderBook, _OrderBook.add, _OrderBook.working)


def _fold_wallet(by_minute: dict[int, tuple[int, str]], rows: list[Row]) -> None:
    for row in rows:
        equity = (json.loads(row["data"]) if row["data"] else {}).get("total_equity")
        if equity is not None and row["ts_ms"] is not None:
            by_minute[row["ts_ms"] // 60_000] = (row["ts_ms"], str(equity))


class _OrderBook:
    """Each order's newest ack/update; an order leaves the book once the venue reports it done
    (and never comes back: an ack journaled after its fill must not resurrect it)."""

    WORKING = ("New", "PartiallyFilled", "Untriggered")

    def __init__(self) -> None:
        self.book: dict[str, Row] = {}
        self.done: set[str] = set()

    def add(self, rows: list[Row]) -> None:
        for row in rows:
            key = row["order_link_id"] or row["order_id"] or f"seq-{row['seq']}"
            if key in self.done:
                continue
            row.pop("message", None)  # the full venue message stays in the journal; the list shows its columns
            if row["kind"] == "update":
                if row["status"] in self.WORKING:
                    self.book[key] = row
                else:
                    self.book.pop(key, None)
                    self.done.add(key)
            elif row["outcome"] == "ok" and (row["action"] == "create" or key in self.book):
                self.book[key] = {**self.book.get(key, {}), **{k: v for k, v in row.items() if v is not None}}
            elif row["action"] == "create":
                self.done.add(key)  # refused: it never rested

    def working(self) -> list[Row]:
        return sorted(self.book.values(), key=lambda r: r["seq"])


def _filters(scope: str, **given: Any) -> tuple[str, list[Any]]:
    sql = {"symbol": "symbol = ?", "kind": "kind = ?", "before": "seq < ?", "since": "exit_ms >= ?"}
    clauses = [(sql[k], v) for k, v in given.items() if v is not None]
    return " WHERE " + " AND ".join([scope, *(c for c, _ in clauses)]), [v for _, v in clauses]


class _Ledger:
    """Running sums of closed trades: USDT and fees as exact Decimals, R as float."""

    def __init__(self) -> None:
        self.total = _Sums()
        self.by_symbol: dict[str, _Sums] = {}
        self.by_path: dict[str, _Sums] = {}

    def add(self, rows: list[Row]) -> None:
        for row in rows:
            self.total.add(row)
            self.by_symbol.setdefault(row["symbol"], _Sums()).add(row)
            self.by_path.setdefault(row.get("path") or "adopted", _Sums()).add(row)

    def as_dict(self) -> Row:
        return {"total": self.total.as_dict(), "by_symbol": {s: v.as_dict() for s, v in sorted(self.by_symbol.items())},
                "by_path": {p: v.as_dict() for p, v in sorted(self.by_path.items())}}


EXIT_KINDS = ("stop", "target", "break_even", "ttl", "liquidation", "manual", "unknown")
_PARTS = ("gross_usdt", "fees", "slippage_usdt", "funding_usdt", "pnl_usdt")


def _dec_or_zero(value: Any) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


class _Sums:
    """Running sums of a set of trades. Journals begun before the cost split have no gross,
    slippage or funding: such a row counts its net as gross (its slippage and funding unknown, 0)."""

    __slots__ = ("trades", "wins", "losses", "pnl_usdt", "fees", "pnl_r", "r_trades", "parts", "parts_r",
                 "risked", "exits", "stop_bps")

    def __init__(self) -> None:
        self.trades = self.wins = self.losses = self.r_trades = self.risked = 0
        self.pnl_usdt = Decimal(0)
        self.fees = Decimal(0)
        self.pnl_r = 0.0
        self.parts = dict.fromkeys(_PARTS, Decimal(0))
        self.parts_r = dict.fromkeys(_PARTS, 0.0)
        self.exits = dict.fromkeys(EXIT_KINDS, 0)
        self.stop_bps: list[float] = []

    def add(self, row: Row) -> None:
        pnl = Decimal(row["pnl_usdt"])
        self.trades += 1
        self.wins += pnl > 0
        self.losses += pnl < 0
        self.pnl_usdt += pnl
        self.fees += Decimal(row["fees"]) if row["fees"] is not None else 0
        if row["pnl_r"] is not None:
            self.pnl_r += row["pnl_r"]
            self.r_trades += 1
        fees = _dec_or_zero(row["fees"])
        split = row.get("gross_usdt") is not None
        values = {
            "gross_usdt": Decimal(row["gross_usdt"]) if split else pnl + fees,
            "fees": fees,
            "slippage_usdt": _dec_or_zero(row.get("slippage_usdt")),
            "funding_usdt": _dec_or_zero(row.get("funding_usdt")),
            "pnl_usdt": pnl,
        }
        for name, value in values.items():
            self.parts[name] += value
        reason = row.get("exit_reason") or "unknown"
        self.exits[reason] = self.exits.get(reason, 0) + 1
        entry, stop, qty = row.get("entry_price"), row.get("stop_price"), row.get("qty")
        if entry is not None and stop is not None and qty is not None and Decimal(entry) != Decimal(stop):
            distance = abs(Decimal(entry) - Decimal(stop))
            risk = distance * Decimal(qty)
            self.risked += 1
            for name, value in values.items():
                self.parts_r[name] += float(value / risk)
            self.stop_bps.append(float(distance / Decimal(entry) * 10_000))

    def as_dict(self) -> Row:
        ordered = sorted(self.stop_bps)
        nearest = lambda p: round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)  # noqa: E731
        return {
            "trades": self.trades, "wins": self.wins, "losses": self.losses,
            "pnl_usdt": str(self.pnl_usdt), "fees": str(self.fees),
            "pnl_r": round(self.pnl_r, 6), "r_trades": self.r_trades,
            # where the money went, in USDT (exact) and in R per trade with a known stop
            "gross_usdt": str(self.parts["gross_usdt"]), "slippage_usdt": str(self.parts["slippage_usdt"]),
            "funding_usdt": str(self.parts["funding_usdt"]),
            "per_trade_r": {name: round(v / self.risked, 6) for name, v in self.parts_r.items()} if self.risked else None,
            "exits": dict(self.exits),
            "stop_bps": {"trades": len(ordered), "min": nearest(0), "p25": nearest(0.25),
                         "median": round(statistics.median(ordered), 3), "p75": nearest(0.75),
                         "max": round(ordered[-1], 3)} if ordered else None,
        }


def _ledger(rows: list[Row]) -> Row:
    ledger = _Ledger()
    ledger.add(rows)
    return ledger.as_dict()
