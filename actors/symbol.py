"""One symbol's actor: its kline buffers, its streaming indicators, its decision per tick.

``SymbolCore`` is pure. Bars go in (feed, backfill, bootstrap), indicator state advances
once per confirmed bar, and on each ``Tick`` the core snapshots closed bars only into a
``MarketState`` and asks the strategy, at once. The composite bias needs BTC's and ETH's
states of the same boundary: those two symbols attach their state to the ``BarReady``
that tells the scheduler their bars are in, and the scheduler hands both to every symbol
inside the ``Tick``. One hop in, one out: no symbol waits on another symbol's mailbox.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import pykka

from actors.buffer import Added, KlineBuffer
from actors.dispatch import DispatchedActor, io_pool
from vocabulary.messages import (
    AccountView,
    Backfill,
    BackfillResult,
    BarReady,
    Decided,
    Decision,
    FeedGap,
    FrameState,
    JournalEvent,
    Kline,
    MarketState,
    Message,
    Reason,
    Tick,
)
from actors.scheduler import MINUTE_MS, closed_timeframes
from actors.shell import CoreActor, Deliver, Outbox, Recorder

log = logging.getLogger("smtbot.symbol")


class FrameIndicatorsLike(Protocol):
    def update(self, kline: Kline) -> FrameState: ...

    @property
    def last(self) -> FrameState | None: ...


# decide(state, bias states of the same tick, latest account view) -> Decision
Decide = Callable[[MarketState, tuple[MarketState, ...], AccountView | None], Decision]
BuildState = Callable[[str, int, dict[int, FrameState | None], bool], MarketState]


class SymbolCore:
    """Buffers + indicators + the per-tick decision of one symbol."""

    def __init__(
        self,
        symbol: str,
        timeframes: Sequence[int],
        *,
        capacity: int | Mapping[int, int],
        indicators: Callable[[int], FrameIndicatorsLike],
        build_state: BuildState,
        decide: Decide,
        bias_symbols: Sequence[str] = (),
    ) -> None:
        self.symbol = symbol
        self.timeframes = tuple(sorted(timeframes))
        sizes = capacity if isinstance(capacity, Mapping) else dict.fromkeys(self.timeframes, capacity)
        self.buffers = {tf: KlineBuffer(symbol, tf, sizes[tf]) for tf in self.timeframes}
        self.indicators = {tf: indicators(tf) for tf in self.timeframes}
        self._build_state = build_state
        self._decide = decide
        # A bias symbol announces its state with its bars (BarReady); every symbol reads the
        # others' from the tick. BTC and ETH take their bias from each other only.
        self.shares_bias = symbol in bias_symbols
        self.needs_bias = frozenset(bias_symbols) - {symbol}
        # A bias symbol's state sent with its BarReady, while no bar has moved a frame since: its
        # tick decides on it rather than building the same state twice.
        self._announced: MarketState | None = None
        # The timeframes closing at a boundary repeat with the boundary's phase in the
        # timeframes' common period: computed once per phase, not per bar.
        self._period_ms = math.lcm(*self.timeframes) * MINUTE_MS
        self._closing: dict[int, tuple[int, ...]] = {}
        self._handlers: dict[type, Callable[[Message], Outbox]] = {
            Kline: lambda k: self._on_kline(k, announce=True),  # type: ignore[arg-type]
            Tick: self._on_tick,  # type: ignore[dict-item]
            BackfillResult: self._on_backfill,  # type: ignore[dict-item]
            FeedGap: self._on_feed_gap,  # type: ignore[dict-item]
            AccountView: self._on_account,  # type: ignore[dict-item]
        }
        self.account: AccountView | None = None
        self.last_decision: Decision | None = None
        self.last_ready_ms: int | None = None
        self.counts: Counter[str] = Counter()
        self._pending: dict[int, dict[int, Kline]] = {tf: {} for tf in self.timeframes}  # bars waiting behind a gap
        self._backfilling: set[int] = set()

    # --- dispatch ---------------------------------------------------------------------

    def handle(self, message: Message) -> Outbox:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise TypeError(f"symbol core cannot handle {type(message).__name__}")
        return handler(message)

    def _on_account(self, view: AccountView) -> Outbox:
        self.account = view
        return []

    # --- bars -------------------------------------------------------------------------

    def _on_kline(self, kline: Kline, *, announce: bool, may_backfill: bool = True) -> Outbox:
        buffer = self.buffers.get(kline.interval)
        if buffer is None or kline.symbol != self.symbol:
            self.counts["foreign"] += 1
            return []
        if kline.start_ms % buffer.step_ms:
            self.counts["off_grid"] += 1  # no venue bar starts there; the buffer would raise
            return []
        added = buffer.add(kline)
        self.counts[added.value] += 1
        if added is Added.APPENDED:
            return self._consume(kline, announce)
        if added is Added.GAP:
            self._pending[kline.interval][kline.start_ms] = kline
            gap = buffer.gap_before(kline)
            if gap is not None and may_backfill and kline.interval not in self._backfilling:
                self._backfilling.add(kline.interval)
                self.counts["backfill"] += 1
                # Through the waiting bar itself: whether the venue knows it tells a halted
                # market (accept the gap) from a bar that does not exist (refuse it).
                return [("self", Backfill(symbol=self.symbol, interval=kline.interval, from_ms=gap.from_ms, to_ms=kline.end_ms))]
        return []

    def _consume(self, kline: Kline, announce: bool) -> Outbox:
        self.indicators[kline.interval].update(kline)
        self._announced = None  # a frame moved: an announced state no longer stands for the frames
        out: Outbox = [("journal", kline)]
        boundary = kline.end_ms
        if announce and (self.last_ready_ms is None or boundary > self.last_ready_ms) and self._has_all_bars_closing_at(boundary):
            out.append(self._ready(boundary))
        waiting = self._pending[kline.interval]
        following = waiting.pop(boundary, None)
        if following is not None:
            out += self._on_kline(following, announce=announce)
        return out

    def ready_after_bootstrap(self) -> Outbox:
        """A restarted actor may have loaded the bar of the boundary the scheduler is still
        waiting for as history: say so, or that tick would wait for a bar already here."""
        last = self.buffers[self.timeframes[0]].last
        if last is None or (self.last_ready_ms is not None and last.end_ms <= self.last_ready_ms):
            return []
        if not self._has_all_bars_closing_at(last.end_ms):
            return []
        return [self._ready(last.end_ms)]

    def _ready(self, boundary: int) -> tuple[str, Message]:
        """The boundary's bars are all in. A bias symbol's state of that boundary is final at
        this moment (nothing else closes there), so it travels with the announcement."""
        self.last_ready_ms = boundary
        state = None
        if self.shares_bias:
            frames, stale = self._frames_at(boundary)
            state = self._announced = self._build_state(self.symbol, boundary, frames, bool(stale))
        return ("scheduler", BarReady(symbol=self.symbol, boundary_ms=boundary, state=state))

    def _has_all_bars_closing_at(self, boundary: int) -> bool:
        phase = boundary % self._period_ms
        closing = self._closing.get(phase)
        if closing is None:
            closing = self._closing[phase] = closed_timeframes(boundary, self.timeframes)
        for tf in closing:
            last = self.buffers[tf].last
            if last is None or last.end_ms != boundary:
                return False
        return True

    def _on_backfill(self, result: BackfillResult) -> Outbox:
        interval = result.interval
        out: Outbox = []
        if result.error:
            self.counts["backfill_failed"] += 1
            out.append(("journal", JournalEvent(
                ts_ms=result.to_ms, kind="backfill_failed", source=f"symbol:{self.symbol}",
                message=f"{interval}m [{result.from_ms}, {result.to_ms}): {result.error}", level="WARNING",
            )))
        known = {k.start_ms for k in result.klines if k.confirmed}
        for kline in sorted(result.klines, key=lambda k: k.start_ms):
            if kline.confirmed:
                out += self._on_kline(kline, announce=not result.is_bootstrap, may_backfill=False)
        self._backfilling.discard(interval)
        waiting = self._pending[interval]
        if waiting and not result.error:
            # The venue answered and the hole is still there. Bars it does not know are not
            # bars (a corrupt frame, a clock far ahead): refused, or they would wedge the
            # symbol. A bar it knows after a hole is a halted market: accept the gap.
            for start in sorted(s for s in waiting if s not in known):
                refused = waiting.pop(start)
                self.counts["bar_unknown_to_venue"] += 1
                out.append(("journal", JournalEvent(
                    ts_ms=refused.start_ms, kind="bar_refused", source=f"symbol:{self.symbol}", level="WARNING",
                    message=f"{interval}m bar {refused.start_ms} is not on the venue: refused",
                )))
        if waiting and not result.error:
            first = waiting.pop(min(waiting))
            self.buffers[interval].accept_gap(first)
            self.counts["gap_accepted"] += 1
            out.append(("journal", JournalEvent(
                ts_ms=first.start_ms, kind="gap_accepted", source=f"symbol:{self.symbol}",
                message=f"{interval}m bars before {first.start_ms} do not exist on the venue", level="WARNING",
            )))
            out += self._consume(first, announce=True)
        return out

    def _on_feed_gap(self, gap: FeedGap) -> Outbox:
        buffer = self.buffers.get(gap.interval)
        if buffer is None or gap.interval in self._backfilling:
            return []
        start = buffer.next_start_ms()
        start = gap.from_ms if start is None else min(start, gap.from_ms)
        if start >= gap.to_ms:
            return []
        self._backfilling.add(gap.interval)
        self.counts["backfill"] += 1
        return [("self", Backfill(symbol=self.symbol, interval=gap.interval, from_ms=start, to_ms=gap.to_ms))]

    # --- decisions --------------------------------------------------------------------

    def _on_tick(self, tick: Tick) -> Outbox:
        state = self._announced
        if state is None or state.tick_ms != tick.boundary_ms or state.is_stale:
            frames, stale = self._frames_at(tick.boundary_ms)
            if stale:
                return self._finish(self._reject(tick.boundary_ms, *(Reason(code="data.stale", value=tf) for tf in stale)))
            state = self._build_state(self.symbol, tick.boundary_ms, frames, False)
        # The scheduler sends the bias states in symbol order; a bias symbol late for the
        # tick is simply absent, and the strategy says so ("bias.BTCUSDT missing").
        bias = tuple(b for b in tick.bias if b.symbol in self.needs_bias)
        return self._finish(self._decide(state, bias, self.account))

    def _frames_at(self, boundary: int) -> tuple[dict[int, FrameState | None], list[int]]:
        """Each timeframe's newest closed frame, and the timeframes whose frame is not the
        one that should be closed at ``boundary`` (a late or missing bar)."""
        frames: dict[int, FrameState | None] = {}
        stale: list[int] = []
        for tf in self.timeframes:
            step = tf * MINUTE_MS
            frame = self.indicators[tf].last
            frames[tf] = frame
            if frame is None or frame.start_ms + step != boundary - boundary % step:
                stale.append(tf)
        return frames, stale

    def _reject(self, tick_ms: int, *reasons: Reason) -> Decision:
        return Decision(tick_ms=tick_ms, symbol=self.symbol, kind="REJECT", reasons=tuple(reasons))

    def _finish(self, decision: Decision) -> Outbox:
        self.last_decision = decision
        self.counts[decision.kind] += 1
        out: Outbox = [("journal", decision), ("status", decision)]
        if decision.kind == "TAKE":
            out.append(("router", decision))
        out.append(("scheduler", Decided(symbol=self.symbol, tick_ms=decision.tick_ms, kind=decision.kind)))
        return out


Fetch = Callable[[str, int, int, int], list[Kline]]


class SymbolIO:
    """A symbol's side effects, apart from any thread: REST bootstrap and backfills.
    The pykka shell and the one-thread backtest share it."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    @staticmethod
    def bootstrap_requests(symbol: str, timeframes: Sequence[int], bars: int, now_ms: int) -> list[Backfill]:
        """The closed history to load at start: ``bars`` bars of each timeframe before ``now_ms``."""
        requests = []
        for tf in timeframes:
            step = tf * MINUTE_MS
            to_ms = now_ms - now_ms % step
            requests.append(Backfill(symbol=symbol, interval=tf, from_ms=to_ms - bars * step, to_ms=to_ms))
        return requests

    def backfill(self, request: Backfill, *, is_bootstrap: bool = False) -> BackfillResult:
        try:
            klines = tuple(self._fetch(request.symbol, request.interval, request.from_ms, request.to_ms))
            error = ""
        except Exception as exc:  # noqa: BLE001 - a failed backfill is journaled; the next gap retries it
            klines, error = (), f"{type(exc).__name__}: {exc}"
        return BackfillResult(
            symbol=request.symbol, interval=request.interval, from_ms=request.from_ms, to_ms=request.to_ms,
            klines=klines, error=error, is_bootstrap=is_bootstrap,
        )


class SymbolActor(DispatchedActor, CoreActor):
    """Shell: bootstraps history on start and performs the core's REST backfills.

    Every symbol actor shares the dispatcher's thread (``actors.dispatch``: a tick's 25 or 500
    symbols decide one after another on one thread instead of waking as many threads), so its
    REST work never runs in a handler: the bootstrap runs in ``on_start`` (on the I/O pool, before
    any message), and a backfill is fetched on the I/O pool and comes back as a
    ``BackfillResult`` message. Meanwhile the symbol keeps handling its mailbox: bars behind the
    gap wait in the core, and a tick it cannot decide for lack of them is a stale-data REJECT,
    answered on time rather than after the REST call."""

    def __init__(
        self, core: SymbolCore, deliver: Deliver, fetch: Fetch, *, bootstrap_bars: int, now_ms: Callable[[], int],
        is_restart: bool = False, recorder: Recorder | None = None,
    ) -> None:
        super().__init__(core, deliver, recorder=recorder)
        self.name = f"symbol:{core.symbol}"
        self._is_restart = is_restart
        self.io = SymbolIO(fetch)
        self._bootstrap_bars = bootstrap_bars
        self._now_ms = now_ms

    def on_start(self) -> None:
        try:
            for request in self.io.bootstrap_requests(self.core.symbol, self.core.timeframes, self._bootstrap_bars, self._now_ms()):
                self.dispatch(self.io.backfill(request, is_bootstrap=True))
            if self._is_restart:
                self.post(self.core.ready_after_bootstrap())
        except Exception as exc:  # noqa: BLE001 - same contract as a failure in on_receive
            self._fail(Backfill(symbol=self.core.symbol, interval=1, from_ms=0, to_ms=0), exc)

    def perform(self, request: Message) -> None:
        if not isinstance(request, Backfill):
            super().perform(request)
            return
        io_pool().submit(self._backfill, request)

    def _backfill(self, request: Backfill) -> None:
        """On the I/O pool: the REST call, its answer (or its error) told back to this actor."""
        result = self.io.backfill(request)
        try:
            self.actor_ref.tell(result)
        except pykka.ActorDeadError:
            pass  # stopped (or restarted as a new actor) meanwhile: the new one bootstraps afresh
