"""The scheduler's watchdog on the real actors. A symbol whose REST backfill hangs never holds
the pipeline: its tick goes out within the grace naming it, and it still answers that tick (a
stale-data REJECT), since its REST work runs off the dispatcher. A handler stuck on the
dispatcher itself holds the symbols queued behind it there (the price of sharing one thread,
``actors.dispatch``); the scheduler, on a thread of its own, closes the cycle within the decide
grace and names them. Both are journaled by name in the real SQLite journal, and once the call
comes back the next tick is whole.

Time is the scheduler's own clock, moved by the test with ``Now`` pulses as the supervisor's
pulse thread does; every wait is for a message the pipeline delivers.
"""

from __future__ import annotations

import threading

import pykka
import pytest

from actors.cores import scheduler_core, symbol_core
from actors.decide import strategy_decide
from actors.journal import Flush, JournalActor
from vocabulary.messages import BarReady, CycleDone, Decided, Decision, FeedGap, Instrument, Kline, Message, Now, Tick
from actors.post import PostOffice
from actors.scheduler import SchedulerActor
from vocabulary.settings import load_settings
from actors.symbol import SymbolActor
from journal.reader import JournalReader
from tests.actors.klines import bars_1m, feed

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")
WEDGED = "SOLUSDT"
M = 60_000
BOOTSTRAP = 50  # bars per timeframe: 50 x 15m of history is enough to decide
MINUTES = BOOTSTRAP * 15 + 120
WAIT_S = 60  # only a hang ever waits this long; every wait below ends on a delivery


class Watch:
    """Every delivery of the post office, in order, and a wait for one that matters."""

    def __init__(self, post: PostOffice) -> None:
        self.post = post
        self.seen: list[tuple[str, Message]] = []
        self._changed = threading.Condition()

    def deliver(self, to: str, message: Message) -> None:
        self.post.deliver(to, message)
        with self._changed:
            self.seen.append((to, message))
            self._changed.notify_all()

    def wait(self, found, what: str):
        """The first truthy ``found(deliveries so far)``; fails only if the pipeline hangs."""
        with self._changed:
            result = self._changed.wait_for(lambda: found(self.seen), timeout=WAIT_S)
        if not result:
            pytest.fail(f"the pipeline never delivered {what}")
        return result

    def sent(self, kind: type, to: str | None = None) -> list:
        return [m for dest, m in self.seen if isinstance(m, kind) and (to is None or dest == to)]


@pytest.fixture
def pipeline(tmp_path):
    settings = load_settings(f"[bot]\nsymbols = {list(SYMBOLS)!r}\n".replace("'", '"'), {})
    data = {s: feed(s, MINUTES) for s in SYMBOLS}
    start = max(bars_1m(s, MINUTES)[0].start_ms for s in SYMBOLS) + BOOTSTRAP * 15 * M
    live_from = start - start % (15 * M) + 15 * M
    hang = threading.Event()  # WEDGED's backfills of the live minutes do not come back
    stuck = threading.Event()  # WEDGED's next decision does not return
    released = threading.Event()

    def fetch_for(symbol: str):
        def fetch(_symbol: str, tf: int, start_ms: int, end_ms: int) -> list[Kline]:
            if symbol == WEDGED and start_ms >= live_from - M and hang.is_set():
                released.wait()  # a REST call that does not come back
            return [k for k in data[symbol] if k.interval == tf and start_ms <= k.start_ms < end_ms]
        return fetch

    post = PostOffice()
    watch = Watch(post)
    clock = {"now": live_from}
    journal_path = tmp_path / "journal.sqlite"
    try:
        journal = JournalActor.start(journal_path)
        post.register("journal", journal)
        for sink in ("router", "pacer", "feed", "status", "supervisor"):
            post.register_sink(sink, lambda message: None)
        instrument = Instrument(symbol="X", tick_size=0.01, qty_step=0.001, min_order_qty=0.001, max_order_qty=1000.0,
                                min_notional=5.0)
        for symbol in SYMBOLS:
            decide = strategy_decide(settings.strategy, settings.risk, instrument)
            if symbol == WEDGED:
                decide = wedged(decide, stuck, released)
            core = symbol_core(settings, symbol, instrument, SYMBOLS, decide=decide)
            post.register(f"symbol:{symbol}", SymbolActor.start(core, watch.deliver, fetch_for(symbol),
                                                                bootstrap_bars=BOOTSTRAP, now_ms=lambda: live_from))
        post.register("scheduler", SchedulerActor.start(scheduler_core(settings, SYMBOLS), watch.deliver, lambda: clock["now"]))
        yield settings, post, watch, clock, data, live_from, hang, stuck, released, journal, journal_path
    finally:
        released.set()
        pykka.ActorRegistry.stop_all(block=True)


def wedged(decide, stuck: threading.Event, released: threading.Event):
    """``decide``, except that while ``stuck`` is set it does not return before ``released``."""
    def decide_or_hang(*args):
        if stuck.is_set():
            released.wait()
        return decide(*args)
    return decide_or_hang


def bars_at(data, symbol: str, boundary: int) -> list[Kline]:
    return [k for k in data[symbol] if k.end_ms == boundary]


class Steps:
    """The test's moves on the pipeline and what it reads back."""

    def __init__(self, pipeline) -> None:
        (self.settings, self.post, self.watch, self.clock, self.data, self.live_from, self.hang, self.stuck,
         self.released, self.journal, self.journal_path) = pipeline

    def pulse(self, ts_ms: int) -> None:
        # Only these pulses move the scheduler's time (its shell's own clock reads stay at
        # the start): a message already in its mailbox is handled at the time it arrived.
        self.watch.deliver("scheduler", Now(ts_ms=ts_ms))

    def bars(self, boundary: int, symbols: tuple[str, ...] = SYMBOLS) -> None:
        for symbol in symbols:
            for k in bars_at(self.data, symbol, boundary):
                self.post.actor(f"symbol:{symbol}").tell(k)

    def symbols_that(self, kind: type, tick_ms: int) -> set[str]:
        at = "boundary_ms" if kind is BarReady else "tick_ms"
        return {m.symbol for m in self.watch.sent(kind) if getattr(m, at) == tick_ms}

    def tick(self, boundary: int) -> Tick:
        return self.watch.wait(lambda _: next((t for t in self.watch.sent(Tick, to="symbols") if t.boundary_ms == boundary), None),
                               f"the tick of {boundary}")

    def cycle_done(self, tick_ms: int) -> CycleDone | None:
        return next((m for m in self.watch.sent(CycleDone, to="journal") if m.boundary_ms == tick_ms), None)

    def late_events(self) -> dict[str, dict]:
        self.journal.ask(Flush(), timeout=WAIT_S)
        reader = JournalReader(self.journal_path)
        try:
            return {e["kind"]: e for e in reader.events() if e["kind"] in ("symbols_late", "decisions_late")}
        finally:
            reader.close()

    def next_tick_is_whole(self, boundary: int) -> None:
        """Once WEDGED's call came back: the next boundary's tick goes out on time and its cycle closes whole."""
        self.released.set()
        nxt = boundary + M
        self.pulse(nxt)
        self.bars(nxt)
        done = self.watch.wait(lambda _: self.cycle_done(nxt), "the next cycle")
        assert done == CycleDone(boundary_ms=nxt, missing=())
        assert self.tick(nxt).late == ()


def test_a_symbol_whose_backfill_hangs_is_named_late_and_still_answers_its_tick(pipeline):
    steps = Steps(pipeline)
    grace = steps.settings.bot.tick_grace_ms
    healthy = {s for s in SYMBOLS if s != WEDGED}

    # SOLUSDT's connection drops with the boundary's bar in it; the feed reconnects and reports
    # the gap, and the backfill of that minute hangs. The call is on the I/O pool: the actor
    # goes on with its mailbox.
    steps.hang.set()
    boundary = steps.live_from + M
    steps.pulse(boundary)
    steps.bars(boundary, tuple(sorted(healthy)))
    steps.post.actor(f"symbol:{WEDGED}").tell(FeedGap(symbol=WEDGED, interval=1, from_ms=steps.live_from, to_ms=boundary))
    steps.watch.wait(lambda _: steps.symbols_that(BarReady, boundary) == healthy, "the healthy symbols' BarReady")

    # The grace runs out: the tick goes out without SOLUSDT's bar and says so; SOLUSDT decides
    # it all the same, on what it has: a stale-data REJECT, and the cycle closes whole at once.
    steps.pulse(boundary + grace - 1)
    steps.pulse(boundary + grace)
    assert steps.tick(boundary).late == (WEDGED,)
    done = steps.watch.wait(lambda _: steps.cycle_done(boundary), "the cycle's close")
    assert done == CycleDone(boundary_ms=boundary, missing=())
    (rejected,) = [d for d in steps.watch.sent(Decision, to="journal") if d.symbol == WEDGED and d.tick_ms == boundary]
    assert rejected.kind == "REJECT" and {r.code for r in rejected.reasons} == {"data.stale"}
    late = steps.late_events()
    assert set(late) == {"symbols_late"}
    assert late["symbols_late"]["source"] == "scheduler" and late["symbols_late"]["level"] == "WARNING"
    assert late["symbols_late"]["data"] == {"tick_ms": str(boundary), "symbols": WEDGED}

    # The call comes back: SOLUSDT catches up on its own and the next tick is whole, on time.
    steps.next_tick_is_whole(boundary)


def test_a_handler_stuck_on_the_dispatcher_is_named_when_the_decide_grace_runs_out(pipeline):
    steps = Steps(pipeline)
    decide_grace = steps.settings.bot.decide_grace_ms
    # The symbols decide a tick in the order it reaches them (the order they were started): the
    # ones before SOLUSDT decide, SOLUSDT's decision does not return, the ones after it wait.
    before = set(SYMBOLS[:SYMBOLS.index(WEDGED)])
    behind = set(SYMBOLS[SYMBOLS.index(WEDGED):])

    steps.stuck.set()
    boundary = steps.live_from + M
    steps.pulse(boundary)
    steps.bars(boundary)
    assert steps.tick(boundary).late == ()
    steps.watch.wait(lambda _: steps.symbols_that(Decided, boundary) == before, "the decisions before SOLUSDT's")
    assert steps.cycle_done(boundary) is None, "the cycle waits while its decide grace lasts"

    # The decide grace runs out: the scheduler, on its own thread, closes the cycle and names
    # every symbol that had not decided.
    steps.pulse(boundary + decide_grace)
    done = steps.watch.wait(lambda _: steps.cycle_done(boundary), "the cycle's close")
    assert done == CycleDone(boundary_ms=boundary, missing=tuple(sorted(behind)))
    late = steps.late_events()
    assert set(late) == {"decisions_late"}
    assert late["decisions_late"]["data"] == {"tick_ms": str(boundary), "symbols": ",".join(sorted(behind))}

    steps.next_tick_is_whole(boundary)
