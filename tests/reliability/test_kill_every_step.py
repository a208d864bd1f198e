"""Kill at every step: the bot process is SIGKILLed at each step of an order's life and
restarted; one cycle later the exchange holds a stop on every position, at most one
take-profit, no order the journal did not write ahead, nothing twice, and the journal is
whole (``PRAGMA integrity_check``, every row once committed still there, unchanged).

The bot runs as ``run.py run`` against ``run.py sim --paced`` in another process, so the
venue lives on while the bot dies. The test reads only: the journal (read-only SQLite), the
simulator's admin routes and its signed REST. A step is pinned, where a race would blur
it, by holding the venue's answer to one route (``timeout_before``: never processed;
``timeout_after``: processed, the answer never arrives) and killing while it is held.

Entries are made frequent by settings alone (``score_min`` far below any score, zones near
zero, no cooldown, no daily loss stop, tight stops that end positions soon: the stop floor at one
round trip, a target at 1 R with ``min_net_rr`` below it, since a target rounded toward the entry
nets under ``rr``) plus ``entry_offset_bps`` (a tick at least), without which every PostOnly entry
at the close crosses the simulator's one-price book and is cancelled unfilled.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import msgspec
import pytest

from vocabulary.settings import Credentials, Secret
from exchange.bybit.errors import BybitError, TransportError
from exchange.bybit.rest import BybitRest
from journal.schema import JOURNAL_TABLES
from strategy.orders import parse_link_id
from tests.e2e.test_external_sim import free_port
from tests.reliability.conftest import ROOT, scale

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MINUTE = 60_000
ROUNDS = scale(1, 5)
ENTRY_TTL_BARS = 8
HELD_S = 60.0  # far longer than any step: the bot is dead before the venue answers
GIVE_UP_S = 5.0  # a step not reached by then is tried again


class Venue:
    """The simulator process: admin routes and the account's signed REST."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.admin = httpx.Client(base_url=self.url, timeout=5)
        self.rest = BybitRest(self.url, Credentials(Secret("smtbot-sim-key"), Secret("smtbot-sim-secret")))

    def clock(self) -> dict:
        return self.admin.get("/sim/clock").json()

    def hold(self, kind: str, path_prefix: str) -> None:
        plan = {"rest": [{"kind": kind, "path_prefix": path_prefix, "rate": 1.0, "stall_s": HELD_S}]}
        self.admin.post("/sim/faults", json=plan).raise_for_status()

    def clear(self) -> None:
        self.admin.delete("/sim/faults").raise_for_status()

    def orders_stored(self, link: str) -> int:
        return self.admin.get("/sim/orders", params={"orderLinkId": link}).json()["count"]


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    port = free_port()
    symbols = ",".join(f'"{s}"' for s in SYMBOLS)
    # The venue's own log is kept beside the bot's: a failing run is read from both.
    with (tmp_path_factory.mktemp("venue") / "sim.log").open("ab") as out:
        proc = subprocess.Popen([sys.executable, "run.py", "sim", "--paced", "--port", str(port)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT,
                                env={"SMTBOT__BOT__SYMBOLS": f"[{symbols}]", "PATH": os.environ.get("PATH", "")})
    try:
        deadline = time.monotonic() + 30
        while not answers(f"http://127.0.0.1:{port}/sim/clock"):
            assert proc.poll() is None and time.monotonic() < deadline, "the simulator did not come up"
            time.sleep(0.05)
        venue = Venue(port)
        yield port, venue
        venue.rest.close()
        venue.admin.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


class BotProcess:
    """``run.py run`` in its own process; only ever SIGKILLed."""

    def __init__(self, settings: Path, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "run.py", "--settings", str(self.settings), "run"], cwd=ROOT,
                                         stdout=out, stderr=subprocess.STDOUT, env={"PATH": os.environ.get("PATH", "")})
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"the bot exited: {self.log.read_text()[-2000:]}"


class Journal:
    """Read-only views of the bot's journal, opened afresh for every look."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, *args) -> list[tuple]:
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # the bot is still creating the journal
            raise
        finally:
            db.close()

    def last_seq(self) -> int:
        return max((row[0] for t in JOURNAL_TABLES for row in self.rows(f"SELECT coalesce(max(seq), 0) FROM {t}")), default=0)

    def committed(self) -> dict[tuple[str, int], str]:
        """A digest of every row a reader can see now: committed rows."""
        seen = {}
        for table in JOURNAL_TABLES:
            for row in self.rows(f"SELECT * FROM {table}"):
                seen[(table, row[0])] = hashlib.sha1(repr(row).encode()).hexdigest()
        return seen


class Account:
    """What the venue holds now, read through its signed REST and admin routes."""

    def __init__(self, venue: Venue) -> None:
        self.positions = [p for p in venue.rest.positions() if p.size > 0]
        self.working = venue.rest.open_orders()
        self.entries = [o for o in self.working if not o.reduce_only]

    @property
    def is_flat(self) -> bool:
        return not self.positions and not self.working


def entry_status(venue: Venue, link: str) -> str:
    rows = venue.admin.get("/sim/orders", params={"orderLinkId": link}).json()["orders"]
    return rows[0]["orderStatus"] if rows else ""


class Step:
    """One step of an order's life: the state to wait for first (nothing held), the venue
    route to hold while waiting, and when the bot has reached the step. With one position at
    a time (``max_positions = 1``) the next create after a resting entry is its take-profit
    or, if the entry expired, a new entry: then the attempt is abandoned and made again."""

    def __init__(self, name: str, ready: Callable[[Account], bool], hold: tuple[str, str] | None,
                 reached: Callable[[Journal, Venue, Armed], bool], abandoned: Callable[[Journal, Venue, Armed], bool] = lambda j, v, at: False):
        self.name, self.ready, self.hold, self.reached, self.abandoned = name, ready, hold, reached, abandoned
        self.resting_entry = ""

    def ready_now(self, venue: Venue) -> bool:
        try:
            account = Account(venue)
        except (BybitError, TransportError):
            return False  # our reads share the account's rate limit with the bot: look again
        self.resting_entry = account.entries[0].order_link_id if account.entries else ""
        return self.ready(account)


class Armed(msgspec.Struct, frozen=True):
    """Where a step's wait began: the journal's last seq, and the entry resting on the venue."""

    since: int
    entry: str


def intents_since(j: Journal, since: int, action: str, reduce_only: int) -> list[str]:
    return [r[0] for r in j.rows("SELECT order_link_id FROM orders WHERE kind = 'intent' AND action = ? AND reduce_only = ? "
                                 "AND seq > ?", action, reduce_only, since)]


def entry_gone_unfilled(j: Journal, v: Venue, at: Armed) -> bool:
    """The resting entry expired, or its position ended before a take-profit was asked for:
    the next create is a new entry, not the take-profit the step waits for."""
    return bool(intents_since(j, at.since, "create", 0)) or entry_status(v, at.entry) in ("Cancelled", "Deactivated", "Rejected")


STEPS = [
    Step("after the TAKE is journaled (its create never processed)", lambda a: a.is_flat,
         ("timeout_before", "/v5/order/create"),
         lambda j, v, at: bool(j.rows("SELECT 1 FROM decisions WHERE kind = 'TAKE' AND seq > ?", at.since))),
    Step("after the entry create is sent (processed, answer held)", lambda a: a.is_flat,
         ("timeout_after", "/v5/order/create"),
         lambda j, v, at: any(v.orders_stored(link) == 1 for link in intents_since(j, at.since, "create", 0))),
    Step("after the entry create is acked", lambda a: a.is_flat, None,
         lambda j, v, at: bool(j.rows("SELECT 1 FROM orders WHERE kind = 'ack' AND action = 'create' AND reduce_only = 0 "
                                         "AND outcome = 'ok' AND seq > ?", at.since))),
    Step("after the fill, before the take-profit is placed", lambda a: bool(a.entries) and not a.positions,
         ("timeout_before", "/v5/order/create"),
         lambda j, v, at: entry_status(v, at.entry) == "Filled", entry_gone_unfilled),
    Step("during the break-even lock (processed, answer held)", lambda a: bool(a.positions),
         ("timeout_after", "/v5/position/trading-stop"),
         lambda j, v, at: bool(intents_since(j, at.since, "trading_stop", 0))),
    Step("after the take-profit create is sent (processed, answer held)", lambda a: bool(a.entries) and not a.positions,
         ("timeout_after", "/v5/order/create"),
         lambda j, v, at: any(v.orders_stored(link) == 1 for link in intents_since(j, at.since, "create", 1)), entry_gone_unfilled),
    Step("after the take-profit create is acked", lambda a: bool(a.entries) and not a.positions, None,
         lambda j, v, at: bool(j.rows("SELECT 1 FROM orders WHERE kind = 'ack' AND action = 'create' AND reduce_only = 1 "
                                         "AND outcome = 'ok' AND seq > ?", at.since))),
]


def wait_for_either(reached: Callable[[], bool], abandoned: Callable[[], bool], give_up_s: float, bot: BotProcess) -> str:
    """"reached", "abandoned", or "stuck": the held call was not the one the step waits for
    (say a create the venue refused with 10002, answer held all the same) and the bot's
    single REST lane waits out its timeouts; a kill there is as good as any, and is counted."""
    started = time.monotonic()
    outcome = "stuck"
    while time.monotonic() < started + give_up_s:
        if reached():
            outcome = "reached"
            break
        if abandoned():
            outcome = "abandoned"
            break
        bot.assert_alive()
        time.sleep(0.005)
    WAITED["reaching a step"] += time.monotonic() - started
    return outcome


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, bot: BotProcess) -> None:
    started = time.monotonic()
    while not condition():
        bot.assert_alive()
        assert time.monotonic() < started + timeout_s, f"not reached in {timeout_s:g} s: {what}"
        time.sleep(0.25)  # our reads share the account's per-UID limits with the bot: keep them rare
    WAITED[what.split(":")[0]] += time.monotonic() - started


WAITED: Counter[str] = Counter()


def settings_file(tmp: Path, port: int) -> Path:
    path = tmp / "settings.toml"
    path.write_text(f"""
[bot]
symbols = {list(SYMBOLS)!r}
bootstrap_bars = 250
log_level = "WARNING"
[sim]
embedded = false
port = {port}
[journal]
path = "{tmp / 'journal.sqlite'}"
[web]
enabled = false
[strategy]
score_min = -100.0
wt_oversold = -0.01
wt_overbought = 0.01
pre_cross_gap = 1000.0
pre_cross_bars = 1
ha_streak_min = 1
entry_offset_bps = 0.01
entry_ttl_bars = {ENTRY_TTL_BARS}
be_trigger_r = 0.3
rr = 1.0
min_net_rr = 0.5
swing_lookback = 3
max_stop_pct = 0.004
[risk]
cooldown_bars = 0
max_positions = 1
daily_loss_limit = 1000000.0
min_stop_cost_multiple = 1.0
min_stop_atr = 0.0
""".replace("'", '"'))
    return path


def exchange_problems(venue: Venue, journal: Journal) -> dict[str, list]:
    """What must hold one cycle after a restart; each list names the offenders."""
    positions = [p for p in venue.rest.positions() if p.size > 0]
    working = venue.rest.open_orders()
    clock = venue.clock()["clock_ms"]
    written_ahead = {r[0] for r in journal.rows("SELECT order_link_id FROM orders WHERE kind = 'intent'")}
    entry_qty = {}
    for link, symbol, qty in journal.rows("SELECT order_link_id, symbol, qty FROM orders WHERE kind = 'intent' "
                                          "AND action = 'create' AND reduce_only = 0"):
        entry_qty.setdefault(symbol, set()).add(Decimal(qty))
    held = {(p.symbol, p.position_idx) for p in positions}
    take_profits = Counter((o.symbol, o.position_idx) for o in working if o.reduce_only)
    entries = [o for o in working if not o.reduce_only]
    return {
        "positions without a stop": [p.symbol for p in positions if p.stop_loss is None],
        "positions with more than one take-profit": [k for k, n in take_profits.items() if n > 1],
        "take-profits without a position": [k for k in take_profits if k not in held],
        "orders never written ahead": [o.order_link_id for o in working if o.order_link_id not in written_ahead],
        "entries kept past their time": [o.order_link_id for o in entries
                                         if (p := parse_link_id(o.order_link_id)) is not None
                                         and clock - p.stamp_ms > (ENTRY_TTL_BARS + 2) * MINUTE],
        # A resting entry a bar only touches fills in part (the venue's partial fills): a position
        # as large as one entry or smaller is one entry; larger, or with no entry, is not.
        "positions larger than one entry": [f"{p.symbol} {p.size}" for p in positions
                                            if p.size > max(entry_qty.get(p.symbol, {Decimal(0)}))],
    }


def test_sigkill_at_every_order_step_heals_within_one_cycle(venue, tmp_path, report):
    port, v = venue
    journal = Journal(tmp_path / "journal.sqlite")
    bot = BotProcess(settings_file(tmp_path, port), tmp_path / "bot.log")
    committed: dict[tuple[str, int], str] = {}
    kills: Counter[str] = Counter()
    problems_seen: Counter[str] = Counter()
    try:
        bot.start()
        for _ in range(ROUNDS):
            for step in STEPS:
                name = step.name
                for attempt in range(12):
                    wait_until(lambda: step.ready_now(v), 90, f"ready for: {name}", bot)
                    at = Armed(since=journal.last_seq(), entry=step.resting_entry)
                    if step.hold is not None:
                        v.hold(*step.hold)
                    outcome = wait_for_either(lambda: step.reached(journal, v, at), lambda: step.abandoned(journal, v, at),
                                              GIVE_UP_S, bot)
                    committed.update(journal.committed())
                    bot.kill()
                    v.clear()
                    if outcome == "reached":
                        kills[name] += 1
                        break
                    # The kill landed elsewhere in the life of an order; the restart heals
                    # it like any other, and the step is tried again.
                    kills[f"attempts {outcome}"] += 1
                    bot.start()
                else:
                    pytest.fail(f"never reached: {name}")

                # Restart, let the new process finish one cycle, then freeze the account by
                # killing it again (nobody acks the paced venue) and look.
                restart_clock = v.clock()["clock_ms"]
                bot.start()
                wait_until(lambda: v.clock()["acked_through_ms"] >= restart_clock + MINUTE, 60, f"one cycle after a restart: {name}", bot)
                committed.update(journal.committed())
                bot.kill()
                kills["after one cycle (freeze)"] += 1

                integrity = journal.rows("PRAGMA integrity_check")
                now = journal.committed()
                lost = [key for key in committed if key not in now]
                changed = [key for key, digest in committed.items() if key in now and now[key] != digest]
                problems = exchange_problems(v, journal)
                problems["journal integrity"] = [] if integrity == [("ok",)] else integrity
                problems["committed rows lost"] = lost
                problems["committed rows changed"] = changed
                for kind, offenders in problems.items():
                    problems_seen[kind] += len(offenders)
                assert all(not offenders for offenders in problems.values()), \
                    f"killed {name}: { {k: o for k, o in problems.items() if o} }"
                bot.start()
    finally:
        bot.kill()
        v.clear()
    intents = journal.rows("SELECT action, reduce_only, count(*) FROM orders WHERE kind = 'intent' GROUP BY 1, 2")
    report.add("3. kill at every step", rounds=ROUNDS, sigkills=sum(kills.values()), bot_starts=bot.starts,
               **{f"killed: {name}": n for name, n in kills.items()},
               **{f"intents {action}{' reduce-only' if ro else ''}": n for action, ro, n in intents},
               committed_rows_checked=len(committed), **{k: n for k, n in problems_seen.items()},
               **{f"seconds {k}": round(t, 1) for k, t in WAITED.items()})
