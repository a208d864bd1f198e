"""The bot's side of the in-process simulator: what the router and the symbol cores need from a
venue (``actors.router.Venue`` plus ``klines_range``), spoken through the live clients.

Orders, reads and backfills go through ``BybitRest`` (intent checks, V5 request bodies, signing,
answer parsing) into ``exchange.sim.inprocess``; stream pushes go through the live decoders
(``PUBLIC_FRAME_DECODER`` + ``kline_from_ws`` for bars, ``PrivateStream`` for the private
topics). So a backtest and ``make run`` on the simulator see the same bytes become the same
messages; only sockets and threads are missing.

With ``reuse_reads`` the router's three per-minute account reads (``positions()``,
``open_orders()``, ``wallet_equity()``, all symbols) are answered again without a request while
what they depend on stands still: the simulator's ``account_version`` (every write, every push),
and for positions and equity its ``marks_version`` too (a bar while a position is open). The
messages are those of the last real read of the same state: the router receives the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TypeVar

import msgspec

from vocabulary.messages import ExecutionUpdate, Instrument, Kline, Message, OrderAck, OrderIntent, OrderUpdate, PositionUpdate
from vocabulary.settings import Credentials, Secret
from exchange.bybit import models
from exchange.bybit.rest import BybitRest
from exchange.bybit.ws_private import PrivateStream
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import Bar

# Any URL will do: the transport answers in-process and the host is never resolved.
BASE_URL = "http://sim.inprocess"
_private_frame = msgspec.json.Decoder(models.PrivateFrame)
T = TypeVar("T")


def _no_wait(_seconds: float) -> None:
    """The client's rate limiter asks for a pause measured on the venue clock, which does not move
    while we wait; the simulator in-process has no limit to respect (it runs with rate_limits off)."""


class InProcessVenue:
    """``execute``, ``positions``, ``open_orders``, ``wallet_equity``, ``executions`` (the router's
    Venue) and ``klines_range`` (the symbols' fetch) over an ``InProcessSim``; ``advance`` /
    ``on_bar`` move its time, ``private_messages`` and ``closed_klines`` read its streams."""

    def __init__(self, sim: InProcessSim, *, reuse_reads: bool = False) -> None:
        self.sim = sim
        self.reuse_reads = reuse_reads
        self._kept: dict[str, tuple[tuple[int, ...], object]] = {}  # read → (its versions, its answer)
        self.reads_reused = 0
        config = sim.config
        self.credentials = Credentials(api_key=Secret(config.api_key), api_secret=Secret(config.api_secret))
        # The replay clock is the client's clock, as the supervisor sets it against the simulator.
        clock = self.clock_s
        self.rest = BybitRest(BASE_URL, self.credentials, clock=clock, transport=sim.transport, sleep=_no_wait)
        self.market = BybitRest(BASE_URL, None, clock=clock, transport=sim.transport, sleep=_no_wait)
        self.rest.sync_time()
        self.market.sync_time()
        self._inbox: list[Message] = []
        self._private = PrivateStream(BASE_URL, self.credentials, self._inbox.append, clock=clock)

    def clock_s(self) -> float:
        return self.sim.now_ms() / 1000

    def now_ms(self) -> int:
        return self.sim.now_ms()

    def close(self) -> None:
        self.rest.close()
        self.market.close()

    # --- the router's Venue ---------------------------------------------------------------

    def instruments(self, symbols: Iterable[str]) -> dict[str, Instrument]:
        return self.rest.instruments(symbols)

    def execute(self, intent: OrderIntent) -> OrderAck:
        return self.rest.execute(intent)

    def positions(self, symbol: str | None = None) -> list[PositionUpdate]:
        if symbol is None and self.reuse_reads:
            return list(self._reused("positions", self._marked, lambda: tuple(self.rest.positions())))
        return self.rest.positions(symbol)

    def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        if symbol is None and self.reuse_reads:
            # No field of an order is read from the market (Order.to_v5): bars move none of them.
            return list(self._reused("open_orders", self._unmarked, lambda: tuple(self.rest.open_orders())))
        return self.rest.open_orders(symbol)

    def wallet_equity(self) -> Decimal:
        if self.reuse_reads:
            return self._reused("wallet_equity", self._marked, self.rest.wallet_equity)
        return self.rest.wallet_equity()

    def _marked(self) -> tuple[int, ...]:
        return self.sim.account_version, self.sim.marks_version

    def _unmarked(self) -> tuple[int, ...]:
        return (self.sim.account_version,)

    def _reused(self, name: str, versions: Callable[[], tuple[int, ...]], fetch: Callable[[], T]) -> T:
        """The last answer of this read if what it depends on has not changed since, else ``fetch()``.
        Answers are immutable (tuples of frozen messages, a Decimal); no field of them is read from the clock."""
        before = versions()
        kept = self._kept.get(name)
        if kept is not None and kept[0] == before:
            self.reads_reused += 1
            return kept[1]  # type: ignore[return-value]
        answer = fetch()
        if versions() == before:  # a read changes nothing; kept only if that held
            self._kept[name] = (before, answer)
        return answer

    def executions(self, symbol: str | None = None, *, start_ms: int | None = None, end_ms: int | None = None) -> list[ExecutionUpdate]:
        return self.rest.executions(symbol, start_ms=start_ms, end_ms=end_ms)

    def fee_rates(self, symbol: str | None = None) -> dict[str, models.FeeRate]:
        return self.rest.fee_rates(symbol)

    def switch_position_mode(self, symbol: str, *, hedge: bool) -> bool:
        return self.rest.switch_position_mode(symbol, hedge=hedge)

    def set_leverage(self, symbol: str, leverage: int | Decimal) -> bool:
        return self.rest.set_leverage(symbol, leverage)

    # --- the symbols' fetch ---------------------------------------------------------------

    def klines_range(self, symbol: str, interval: int, start_ms: int, end_ms: int) -> list[Kline]:
        return self.market.klines_range(symbol, interval, start_ms, end_ms)

    # --- time and streams -----------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        return self.sim.is_finished

    def advance(self) -> int:
        """The next replayed minute (fills first); returns its boundary."""
        return self.sim.advance()

    def on_bar(self, symbol: str, bar: Bar) -> int:
        """Paper mode: a closed 1m bar from the live feed fills ``symbol``'s resting orders here."""
        return self.sim.on_bar(symbol, bar)

    def private_messages(self) -> list[Message]:
        """The private pushes since the last call, as the private stream delivers them to the router."""
        for raw in self.sim.drain_private():
            self._private._on_push(_private_frame.decode(raw))
        out, self._inbox[:] = list(self._inbox), []
        return out

    def closed_klines(self, boundary_ms: int, timeframes: Iterable[int], symbols: Iterable[str]) -> list[Kline]:
        """The confirmed bars the public stream pushes at ``boundary_ms``, in push order."""
        bars = []
        for raw in self.sim.closed_klines(boundary_ms, timeframes, symbols):
            frame = models.PUBLIC_FRAME_DECODER.decode(raw)
            _, interval, symbol = frame.topic.split(".")
            bars += [models.kline_from_ws(symbol, int(interval), item) for item in frame.data]
        return bars


def instrument_map(venue: InProcessVenue, symbols: Iterable[str]) -> Mapping[str, Instrument]:
    """The rules of every symbol, or a clear error naming the ones the venue does not trade."""
    wanted = tuple(symbols)
    found = venue.instruments(wanted)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValueError(f"the venue has no tradable instrument for {missing}")
    return found
