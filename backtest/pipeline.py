"""The bot's cores wired in one thread: the symbol cores, the scheduler and the router, built by
``actors.cores`` exactly as the supervisor builds them, driven minute by minute by a venue.

Where the supervisor has actors and a post office, this has one FIFO queue: every (destination,
message) a core returns is queued, and a core's own I/O requests ("self") are performed and fed
back at once, as the actor shells do. The journal answers ``WriteAhead`` with ``Durable``; the
"pacer" message (the router's end of cycle) is what lets the next minute start, as it releases
the paced simulator in ``make run``. Same inputs, same order, so two runs are identical.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from actors.cores import router_core, scheduler_core, symbol_core
from vocabulary.messages import (
    CycleDone,
    Decision,
    Durable,
    JournalEvent,
    Kline,
    Message,
    Now,
    OrderIntent,
    SnapshotRequest,
    TradeClosed,
    WriteAhead,
)
from actors.router import RouterIO
from vocabulary.settings import Settings
from actors.shell import Core
from actors.symbol import SymbolIO
from backtest.venue import InProcessVenue, instrument_map


class Journal(Protocol):
    def record(self, message: object) -> int: ...


class Pipeline:
    """One bot, one thread. ``start()`` once (reconcile + bootstrap), then ``step()`` per minute."""

    def __init__(self, settings: Settings, venue: InProcessVenue, journal: Journal | None = None,
                 symbols: tuple[str, ...] | None = None) -> None:
        self.settings = settings
        self.venue = venue
        self.journal = journal
        self.symbols = tuple(symbols or settings.bot.symbols)
        self.instruments = instrument_map(venue, self.symbols)
        self.router = router_core(settings, self.instruments, react_to_fills=False)
        self.router_io = RouterIO(venue)
        self.cores = {s: symbol_core(settings, s, self.instruments[s], self.symbols) for s in self.symbols}
        self.symbol_io = SymbolIO(venue.klines_range)
        self.scheduler = scheduler_core(settings, self.symbols)
        self.timeframes = tuple(settings.bot.timeframes)
        self.queue: deque[tuple[str, Message]] = deque()
        self.decisions: list[Decision] = []
        self.trades: list[TradeClosed] = []
        self.equity: list[tuple[int, Decimal, int]] = []  # (boundary, equity, open positions) per minute
        self.cycles_done: list[int] = []
        self.counts: Counter[str] = Counter()
        self._held_private: list[Message] = []
        # The post office's addresses, looked up once per message.
        self._routes: dict[str, Callable[[Message], None]] = {
            "journal": self._to_journal, "router": self._to_router, "scheduler": self._to_scheduler,
            **{f"symbol:{symbol}": self._to_symbol(core) for symbol, core in self.cores.items()},
        }

    # --- driving --------------------------------------------------------------------------

    def start(self) -> None:
        """What the supervisor's start does before releasing the first minute."""
        now = self.venue.now_ms()
        self._deliver("journal", JournalEvent(ts_ms=now, kind="started", source="backtest",
                                              message=f"venue=sim-inprocess symbols={len(self.symbols)}"))
        for event in self.router_io.prepare_account(sorted(self.router.instruments), self.settings.risk.leverage, now):
            self._deliver("journal", event)
        self._run(self.router, self.router_io.perform(SnapshotRequest(ts_ms=now, fee_rates=True)), self._perform_router)
        bars = self.settings.bot.bootstrap_bars
        for symbol, core in self.cores.items():
            for request in SymbolIO.bootstrap_requests(symbol, core.timeframes, bars, now):
                self._run(core, self.symbol_io.backfill(request, is_bootstrap=True), self.symbol_io.backfill)
        self.pump()

    def step(self) -> int:
        """One minute: the venue matches it, then its fills and bars flow through the cores."""
        boundary = self.venue.advance()
        for message in self.venue.private_messages():
            self._deliver("router", message)
        for kline in self.venue.closed_klines(boundary, self.timeframes, self.symbols):
            self._deliver(f"symbol:{kline.symbol}", kline)
        self.pump()
        if not self._is_done(boundary):
            # A bar is missing: live, the paced replay waits while the scheduler's clock runs on
            # wall time until its grace expires and the tick goes out without the late symbols.
            self._deliver("scheduler", Now(ts_ms=boundary + self.settings.bot.tick_grace_ms))
            self.pump()
            self.counts["ticks_by_grace"] += 1
        if not self._is_done(boundary):
            self.counts["cycles_unfinished"] += 1
        self.equity.append((boundary, self.router.equity, len(self.router.positions)))
        return boundary

    def _is_done(self, boundary: int) -> bool:
        return bool(self.cycles_done) and self.cycles_done[-1] == boundary

    def feed(self, kline: Kline) -> None:
        """A bar from outside the venue (replays, paper mode): to its symbol core, then settle."""
        self._deliver(f"symbol:{kline.symbol}", kline)
        self.pump()

    def pump(self) -> None:
        while self.queue:
            to, message = self.queue.popleft()
            self._dispatch(to, message)

    # --- the post office ------------------------------------------------------------------

    def _deliver(self, to: str, message: Message) -> None:
        if to == "status":
            if isinstance(message, Decision):
                self.decisions.append(message)
            elif isinstance(message, TradeClosed):
                self.trades.append(message)
        elif to == "pacer":
            assert isinstance(message, CycleDone)
            self.cycles_done.append(message.boundary_ms)
        elif to == "feed":
            self.counts["reconnects_ordered"] += 1  # no socket to reconnect: the bars come from the venue
        elif to == "symbols":
            for symbol in self.symbols:
                self.queue.append((f"symbol:{symbol}", message))
        else:
            self.queue.append((to, message))

    def _dispatch(self, to: str, message: Message) -> None:
        route = self._routes.get(to)
        if route is None:
            raise ValueError(f"no destination {to!r} in a one-thread run")
        route(message)

    def _to_journal(self, message: Message) -> None:
        if self.journal is not None:
            self.journal.record(message)
            if type(message) is CycleDone and self.journal.bars_held:
                self.journal.write_bars(message.boundary_ms)  # as the journal actor, once the cycle has closed
        if isinstance(message, WriteAhead):
            self._deliver("router", Durable(intent=message.intent))

    def _to_router(self, message: Message) -> None:
        self._run(self.router, message, self._perform_router)
        held, self._held_private = self._held_private, []
        for pushed in held:
            self._deliver("router", pushed)

    def _to_scheduler(self, message: Message) -> None:
        # The scheduler shell reads the clock before every message it handles.
        self._run(self.scheduler, Now(ts_ms=self.venue.now_ms()), _no_io)
        self._run(self.scheduler, message, _no_io)

    def _to_symbol(self, core: Core) -> Callable[[Message], None]:
        return lambda message: self._run(core, message, self.symbol_io.backfill)

    def _run(self, core: Core, message: Message, perform: Callable[[Message], Message]) -> None:
        self.counts["handled"] += 1
        for to, out in core.handle(message):
            if to == "self":
                self._run(core, perform(out), perform)
            else:
                self._deliver(to, out)

    def _perform_router(self, request: Message) -> Message:
        answer = self.router_io.perform(request)
        if isinstance(request, OrderIntent):
            # The venue's pushes about this order reach the router after its answer, as on the wire.
            self._held_private += self.venue.private_messages()
        return answer


def _no_io(request: Message) -> Message:
    raise TypeError(f"the scheduler performs no {type(request).__name__}")
