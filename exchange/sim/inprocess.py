"""The simulator venue inside the caller's thread: no sockets, no event loop, no clock of its own.

A backtest (and paper mode) must meet the venue through the same V5 requests and answers as
``make run`` does, or the two would not decide alike. So this is the served venue minus the
wire: ``transport`` is an httpx transport that hands each request to the same ``RestApi.respond``
the HTTP server runs (signature, recv window, parameter checks, V5 envelope), and the stream
pushes are the same frames the WebSocket endpoints send, queued for the caller to read.

Two ways to move time:
- ``advance()``: the next minute of the replayed files (a backtest), as the server's replay does;
- ``on_bar(symbol, bar)``: a closed 1m bar that arrived from outside (paper mode: live public
  data, fills simulated here). The engine matches that symbol's resting orders against it and the
  clock moves to the bar's end. The venue's own kline endpoint keeps serving its store only.

``account_version`` and ``marks_version`` tell a caller when an account read may answer
differently, so a backtest can skip re-reading an account that has not changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import httpx
import msgspec

from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultState
from exchange.sim.market import MINUTE_MS, Bar, InstrumentRules, KlineStore, load_store
from exchange.sim.rest import RestApi
from exchange.sim.server import kline_push
from exchange.sim.venue import Venue


class InProcessSim:
    """The venue, its REST face as an httpx transport, and its stream pushes as queued frames.

    Single-threaded by design: whoever calls ``advance``/``on_bar`` also makes the requests.
    """

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.config = venue.config
        self.faults = FaultState()
        self.rest = RestApi(self)
        self._private: list[bytes] = []
        self._push_seq = 0
        # Orders, positions and the wallet change only by a write or by what the engine pushes
        # (its contract: every state change is queued as an event); the marks of open positions
        # (markPrice, unrealisedPnl, hence equity) also move with every bar.
        self.account_version = 0
        self.marks_version = 0

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def replay(cls, config: SimConfig, *, start_ms: int | None = None) -> InProcessSim:
        """Replay ``config.data_dir``; the clock starts at ``start_ms`` (a minute boundary), or
        ``config.warmup_minutes`` after the data's common start, as the server's does."""
        store, rules = load_store(Path(config.data_dir), config.symbols, config.loop, config.kline_cache)
        if start_ms is not None:
            if start_ms % MINUTE_MS or not store.first_ms <= start_ms < store.end_ms:
                raise ValueError(f"start {start_ms} is not a minute inside the data [{store.first_ms}, {store.end_ms})")
            config = msgspec.structs.replace(config, warmup_minutes=(start_ms - store.first_ms) // MINUTE_MS)
        return cls(Venue(store, rules, config))

    @classmethod
    def fed(cls, rules: Mapping[str, InstrumentRules], config: SimConfig, last_bars: Mapping[str, Bar]) -> InProcessSim:
        """A venue driven by ``on_bar`` alone (paper mode). ``last_bars`` holds each symbol's newest
        closed 1m bar, all on the same minute: its close is the last price orders are judged against."""
        starts = {bar.start_ms for bar in last_bars.values()}
        if len(starts) != 1 or set(last_bars) - set(rules):
            raise ValueError("last_bars needs one bar per known symbol, all starting on the same minute")
        store = KlineStore({symbol: [bar] for symbol, bar in last_bars.items()})
        venue = Venue(store, {s: rules[s] for s in last_bars}, msgspec.structs.replace(config, warmup_minutes=0, loop=False))
        venue.clock_ms = venue.engine.now_ms = starts.pop() + MINUTE_MS  # those bars are closed
        for symbol, bar in last_bars.items():
            venue.engine.set_last_price(symbol, bar.close)
        return cls(venue)

    # --- the clock ------------------------------------------------------------------------

    @property
    def clock_ms(self) -> int:
        return self.venue.clock_ms

    def now_ms(self) -> int:
        return self.venue.clock_ms

    def jumped_within(self, seconds: float) -> int:
        """Nothing is ever in flight here (the caller steps the clock and makes the requests)."""
        return 0

    @property
    def is_finished(self) -> bool:
        return self.venue.is_finished

    def advance(self) -> int:
        """The next replayed minute: match it, queue its private pushes; returns the new boundary."""
        boundary = self.venue.advance()
        self._after_bars()
        return boundary

    def on_bar(self, symbol: str, bar: Bar) -> int:
        """A closed 1m ``bar`` of ``symbol`` from outside: match ``symbol``'s resting orders against
        it and move the clock to its end (never backwards). Returns the clock.

        Call it once per symbol per minute, as each closed bar arrives; a bar that ends before the
        clock still matches (a late symbol), it just leaves the clock where it is."""
        end = bar.start_ms + MINUTE_MS
        if end > self.venue.clock_ms:
            # A bar of the next minute: every bar of the minute ending at the clock is in.
            self.close_minute(self.venue.clock_ms)
        boundary = max(self.venue.clock_ms, end)
        self.venue.engine.on_bar(symbol, bar, boundary)
        self.venue.clock_ms = boundary
        self._after_bars()
        return boundary

    def close_minute(self, boundary: int) -> None:
        """Every symbol's bar of the minute ending at ``boundary`` is in: its funding is settled
        now, after all of them, as the replay's ``advance`` does (a position a bar closed pays
        nothing, and each mark is the minute's close). ``on_bar`` calls it when the next minute's
        first bar arrives; a driver that knows the minute is complete calls it at once."""
        self.venue.engine.settle_funding(boundary)
        self.publish_private()  # the funding executions, if any were paid

    def _after_bars(self) -> None:
        # A position that opened or closed in the bar was pushed; one open after it has new marks.
        if any(p.size for p in self.venue.engine.positions.values()):
            self.marks_version += 1
        self.publish_private()

    # --- REST -----------------------------------------------------------------------------

    @property
    def transport(self) -> httpx.BaseTransport:
        """Give this to ``httpx.Client(transport=...)`` (any base URL): requests never leave the process."""
        return InProcessTransport(self)

    def publish_private(self) -> None:
        """Queue the engine's private events as the private stream would push them (RestApi calls
        this after every request, as the server does)."""
        events = self.venue.engine.drain_events()
        if events:
            self.account_version += 1
        for topic, data in events:
            self._push_seq += 1
            frame = {"id": f"inprocess-{self._push_seq}", "topic": topic, "creationTime": self.now_ms(), "data": [data]}
            self._private.append(json.dumps(frame, separators=(",", ":")).encode())

    # --- streams --------------------------------------------------------------------------

    def drain_private(self) -> list[bytes]:
        """Private-stream frames (execution → order → position → wallet) queued since the last call."""
        frames, self._private = self._private, []
        return frames

    def closed_klines(self, boundary_ms: int, intervals: Iterable[int], symbols: Iterable[str] | None = None) -> list[bytes]:
        """The ``confirm:true`` public frames the server pushes at ``boundary_ms``, in its order
        (sorted by interval, then symbol): every interval that closes there, for every symbol."""
        closing = [i for i in set(intervals) if boundary_ms % (i * MINUTE_MS) == 0]
        wanted = sorted((i, s) for i in closing for s in (self.venue.symbols if symbols is None else symbols))
        frames = []
        for interval, symbol in wanted:
            span = interval * MINUTE_MS
            closed = self.venue.candle(symbol, interval, boundary_ms - span)
            if closed is not None and closed[1]:
                topic = f"kline.{interval}.{symbol}"
                frames.append(json.dumps(kline_push(topic, interval, closed[0], True, boundary_ms), separators=(",", ":")).encode())
        return frames


class InProcessTransport(httpx.BaseTransport):
    """httpx → ``RestApi.respond`` in the calling thread: same checks, same envelope, no socket."""

    def __init__(self, sim: InProcessSim) -> None:
        self.sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            # Any write may change the account, some without a push (leverage, position mode);
            # refused ones count too, to keep the rule simple. Reads (GET) change nothing.
            self.sim.account_version += 1
        answer = self.sim.rest.respond(request.method, request.url.path, request.url.query.decode(), request.read(), request.headers)
        return httpx.Response(answer.status_code, headers=answer.headers.items(), content=answer.body, request=request)
