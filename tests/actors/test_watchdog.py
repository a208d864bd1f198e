"""The scheduler's watchdog on the real actors: a symbol actor that stops answering (here a
REST backfill that hangs) never holds the pipeline. Its tick goes out within the grace, its
cycle closes within the decide grace, both journaled by name in the real SQLite journal,
and once it answers again the next tick is whole.

Time is the scheduler's own clock, moved by the test with ``Now`` pulses as the supervisor's
pulse thread does; every wait is for a message the pipeline delivers.
"""

from __future__ import annotations

import threading

import pykka
import pytest

from actors.cores import scheduler_core, symbol_core
from actors.journal import Flush, JournalActor
from vocabulary.messages import BarReady, CycleDone, Decided, FeedGap, Instrument, Kline, Message, Now, Tick
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
    hang = threading.Event()
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
            core = symbol_core(settings, symbol, instrument, SYMBOLS)
            post.register(f"symbol:{symbol}", SymbolActor.start(core, watch.deliver, fetch_for(symbol),
                                                                bootstrap_bars=BOOTSTRAP, now_ms=lambda: live_from))
        post.register("scheduler", SchedulerActor.start(scheduler_core(settings, SYMBOLS), watch.deliver, lambda: clock["now"]))
        yield settings, post, watch, clock, data, live_from, hang, released, journal, journal_path
    finally:
        released.set()
        pykka.ActorRegistry.stop_all(block=True)


def bars_at(data, symbol: str, boundary: int) -> list[Kline]:
    return [k for k in data[symbol] if k.end_ms == boundary]


def test_a_symbol_that_stops_answering_is_named_and_never_holds_a_tick(pipeline):
    settings, post, watch, clock, data, live_from, hang, released, journal, journal_path = pipeline
    grace, decide_grace = settings.bot.tick_grace_ms, settings.bot.decide_grace_ms
    healthy = [s for s in SYMBOLS if s != WEDGED]

    def pulse(ts_ms: int) -> None:
        # Only these pulses move the scheduler's time (its shell's own clock reads stay at
        # the start): a message already in its mailbox is handled at the time it arrived.
        watch.deliver("scheduler", Now(ts_ms=ts_ms))

    def symbols_that(kind: type, tick_ms: int) -> set[str]:
        at = "boundary_ms" if kind is BarReady else "tick_ms"
        return {m.symbol for m in watch.sent(kind) if getattr(m, at) == tick_ms}

    def cycle_done(tick_ms: int) -> CycleDone | None:
        return next((m for m in watch.sent(CycleDone, to="journal") if m.boundary_ms == tick_ms), None)

    # SOLUSDT's feed reconnects and the backfill of the minute it missed hangs: its actor is
    # stuck in that call, so everything after it waits in its mailbox.
    hang.set()
    post.actor(f"symbol:{WEDGED}").tell(FeedGap(symbol=WEDGED, interval=1, from_ms=live_from - M, to_ms=live_from))
    boundary = live_from + M
    pulse(boundary)
    for symbol in SYMBOLS:
        for k in bars_at(data, symbol, boundary):
            post.actor(f"symbol:{symbol}").tell(k)
    watch.wait(lambda _: symbols_that(BarReady, boundary) == set(healthy), "the healthy symbols' BarReady")

    # The grace runs out: the tick goes out without SOLUSDT and says so.
    pulse(boundary + grace - 1)
    pulse(boundary + grace)
    tick = watch.wait(lambda _: next(iter(watch.sent(Tick, to="symbols")), None), "the tick")
    assert tick.boundary_ms == boundary and tick.late == (WEDGED,)
    watch.wait(lambda _: symbols_that(Decided, boundary) == set(healthy), "the healthy symbols' decisions")
    assert cycle_done(boundary) is None, "the cycle waits for SOLUSDT while its decide grace lasts"

    # The decide grace runs out: the cycle closes without SOLUSDT and says so.
    pulse(boundary + grace + decide_grace)
    done = watch.wait(lambda _: cycle_done(boundary), "the cycle's close")
    assert done == CycleDone(boundary_ms=boundary, missing=(WEDGED,))
    journal.ask(Flush(), timeout=WAIT_S)
    reader = JournalReader(journal_path)
    try:
        late = {e["kind"]: e for e in reader.events() if e["kind"] in ("symbols_late", "decisions_late")}
    finally:
        reader.close()
    assert set(late) == {"symbols_late", "decisions_late"}
    for event in late.values():
        assert event["source"] == "scheduler" and event["level"] == "WARNING"
        assert event["data"] == {"tick_ms": str(boundary), "symbols": WEDGED}

    # The call comes back: SOLUSDT catches up on its own and the next tick is whole, on time.
    released.set()
    nxt = boundary + M
    pulse(nxt)
    for symbol in SYMBOLS:
        for k in bars_at(data, symbol, nxt):
            post.actor(f"symbol:{symbol}").tell(k)
    done = watch.wait(lambda _: cycle_done(nxt), "the next cycle")
    assert done == CycleDone(boundary_ms=nxt, missing=())
