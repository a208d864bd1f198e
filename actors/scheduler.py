"""The scheduler: the one clock reader. It turns "every symbol has its closed 1m bar"
(or the grace period running out) into one ``Tick`` per minute, and closes the cycle
once every symbol has decided (or its decide grace running out).

It is the pipeline's watchdog: nothing downstream of a boundary waits on a symbol for
longer than a grace. A symbol whose bar is not in within ``grace_ms`` is named in the
tick and journaled as ``symbols_late``; one that has not decided within
``decide_grace_ms`` of its tick is journaled as ``decisions_late`` and its cycle closes
without it, so a wedged or swamped actor shows up in the journal instead of as silence.

The tick also carries the bias: BTC's and ETH's ``BarReady`` bring their state of the
boundary, and the tick hands those states to every symbol. That is the whole bias
traffic, one message per symbol per tick: no symbol waits on another's mailbox. A bias
symbol late for the tick is not waited for beyond the grace; the tick goes out without
its state and the strategy reads the bias as missing.

``SchedulerCore`` is pure: time arrives as ``Now`` pulses (wall clock live, venue time
against the simulator), so a replay of its inputs reproduces its ticks exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vocabulary.messages import (
    BarReady, CycleDone, Decided, JournalEvent, MarketState, Message, Now, Reconnect, SymbolRestarted, Tick,
)
from actors.shell import CoreActor, Outbox, Recorder

MINUTE_MS = 60_000


def closed_timeframes(boundary_ms: int, timeframes: Sequence[int]) -> tuple[int, ...]:
    """Timeframes whose bar closes at ``boundary_ms`` (1 always; 15 only on quarter hours)."""
    return tuple(tf for tf in sorted(timeframes) if boundary_ms % (tf * MINUTE_MS) == 0)


class SchedulerCore:
    """Decides when a boundary's tick goes out and when its cycle is complete."""

    def __init__(
        self,
        symbols: Sequence[str],
        timeframes: Sequence[int],
        *,
        grace_ms: int,
        heartbeat_timeout_ms: int,
        decide_grace_ms: int = 5_000,
    ) -> None:
        self.symbols = frozenset(symbols)
        self.timeframes = tuple(timeframes)
        self.grace_ms = grace_ms
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.decide_grace_ms = decide_grace_ms
        self.now_ms: int | None = None
        self.last_tick_ms: int | None = None
        self.last_bar_at_ms: int | None = None  # clock time of the newest BarReady: the feed heartbeat
        self.ticks = 0
        self.late_ticks = 0
        self.late_cycles = 0  # cycles closed with a symbol that had not decided
        self.reconnects_ordered = 0
        self._ready: dict[int, set[str]] = {}
        self._bias: dict[int, dict[str, MarketState]] = {}  # boundary -> bias symbol -> its state there
        self._deciding: dict[int, set[str]] = {}  # tick -> symbols still to decide
        self._restarted: dict[int, set[str]] = {}  # tick -> symbols whose actor died before deciding
        self._decide_by: dict[int, int] = {}  # tick -> clock time its cycle closes, decided or not

    def handle(self, message: Message) -> Outbox:
        if isinstance(message, BarReady):
            return self._on_bar_ready(message)
        if isinstance(message, Now):
            return self._on_now(message.ts_ms)
        if isinstance(message, Decided):
            return self._on_decided(message.symbol, message.tick_ms)
        if isinstance(message, SymbolRestarted):
            return self._on_restarted(message.symbol)
        raise TypeError(f"scheduler cannot handle {type(message).__name__}")

    def _on_bar_ready(self, message: BarReady) -> Outbox:
        boundary = message.boundary_ms
        if message.symbol not in self.symbols:
            return []
        if self.now_ms is not None:
            self.last_bar_at_ms = self.now_ms
        if self.last_tick_ms is not None and boundary <= self.last_tick_ms:
            return []  # that tick already went out (the symbol was late): nothing to wait for
        ready = self._ready.setdefault(boundary, set())
        ready.add(message.symbol)
        if message.state is not None:
            self._bias.setdefault(boundary, {})[message.symbol] = message.state
        if ready == self.symbols:
            return self._tick(boundary)
        return []

    def _on_now(self, now_ms: int) -> Outbox:
        if self.now_ms is not None and now_ms < self.now_ms:
            return []  # a clock never runs backwards; a late pulse changes nothing
        self.now_ms = now_ms
        out: Outbox = []
        for tick_ms in sorted(self._deciding):
            if now_ms >= self._decide_by[tick_ms]:
                out += self._close_cycle(tick_ms)
        for boundary in sorted(self._ready):
            if now_ms >= boundary + self.grace_ms and (self.last_tick_ms is None or boundary > self.last_tick_ms):
                out += self._tick(boundary)
        if self.last_bar_at_ms is None:
            self.last_bar_at_ms = now_ms
        elif now_ms - self.last_bar_at_ms >= self.heartbeat_timeout_ms:
            # Sockets die silently; the watchdog does not trust the socket library to notice.
            self.last_bar_at_ms = now_ms
            self.reconnects_ordered += 1
            silent = f"no closed bar for {self.heartbeat_timeout_ms} ms"
            out.append(("feed", Reconnect(reason=silent)))
            out.append(("journal", JournalEvent(ts_ms=now_ms, kind="feed_silent", source="scheduler", message=silent, level="WARNING")))
        return out

    def _tick(self, boundary: int) -> Outbox:
        ready = self._ready.get(boundary, set())
        late = tuple(sorted(self.symbols - ready))
        out: Outbox = []
        # A cycle nobody finished (an actor died mid-cycle) is closed before the next starts.
        for stuck in sorted(self._deciding):
            out += self._close_cycle(stuck)
        if self.last_tick_ms is not None and boundary > self.last_tick_ms + MINUTE_MS:
            skipped = (boundary - self.last_tick_ms) // MINUTE_MS - 1
            out.append(("journal", JournalEvent(
                ts_ms=boundary, kind="ticks_skipped", source="scheduler",
                message=f"{skipped} boundaries had no bars from any symbol", level="WARNING",
            )))
        self.last_tick_ms = boundary
        for old in [b for b in self._ready if b <= boundary]:
            del self._ready[old]
        states = self._bias.pop(boundary, {})
        for old in [b for b in self._bias if b < boundary]:
            del self._bias[old]
        self.ticks += 1
        self.late_ticks += bool(late)
        self._deciding[boundary] = set(self.symbols)
        # Counted from when the tick goes out (a late tick still gets the full decide grace);
        # never from before the boundary, whatever the clock said last.
        self._decide_by[boundary] = max(boundary, self.now_ms or boundary) + self.decide_grace_ms
        if late:
            out.append(("journal", _late_event(
                "symbols_late", boundary, self.now_ms or boundary, late,
                f"no closed bar within the {self.grace_ms} ms grace; the tick went out without them",
            )))
        bias = tuple(states[s] for s in sorted(states))
        tick = Tick(boundary_ms=boundary, closed=closed_timeframes(boundary, self.timeframes), late=late, bias=bias)
        out.append(("journal", tick))
        out.append(("symbols", tick))
        return out

    def _on_decided(self, symbol: str, tick_ms: int) -> Outbox:
        waiting = self._deciding.get(tick_ms)
        if waiting is None:
            return []
        waiting.discard(symbol)
        return self._close_cycle(tick_ms) if not waiting else []

    def _on_restarted(self, symbol: str) -> Outbox:
        out: Outbox = []
        for tick_ms in sorted(self._deciding):
            waiting = self._deciding[tick_ms]
            if symbol in waiting:
                waiting.discard(symbol)
                self._restarted.setdefault(tick_ms, set()).add(symbol)
                if not waiting:
                    out += self._close_cycle(tick_ms)
        return out

    def _close_cycle(self, tick_ms: int) -> Outbox:
        undecided = self._deciding.pop(tick_ms)
        del self._decide_by[tick_ms]
        missing = tuple(sorted(undecided | self._restarted.pop(tick_ms, set())))
        out: Outbox = []
        if undecided:
            # A restarted actor is journaled by the supervisor; one that is merely slow or
            # wedged is named here, or its silence would look like a quiet market.
            self.late_cycles += 1
            out.append(("journal", _late_event(
                "decisions_late", tick_ms, self.now_ms or tick_ms, tuple(sorted(undecided)),
                f"no decision within the {self.decide_grace_ms} ms decide grace; the cycle closed without them",
            )))
        done = CycleDone(boundary_ms=tick_ms, missing=missing)
        return [*out, ("journal", done), ("router", done)]


LATE_NAMES_SHOWN = 20  # the message stays one readable line; ``data`` holds every name


def _late_event(kind: str, tick_ms: int, now_ms: int, symbols: Sequence[str], why: str) -> JournalEvent:
    shown = ", ".join(symbols[:LATE_NAMES_SHOWN]) + (f" and {len(symbols) - LATE_NAMES_SHOWN} more" if len(symbols) > LATE_NAMES_SHOWN else "")
    return JournalEvent(
        ts_ms=now_ms, kind=kind, source="scheduler", level="WARNING",
        message=f"tick {tick_ms}: {len(symbols)} late ({shown}): {why}",
        data=(("tick_ms", str(tick_ms)), ("symbols", ",".join(symbols))),
    )


class SchedulerActor(CoreActor):
    """Shell: feeds ``Now`` pulses from ``clock`` (on every message) into the core."""

    def __init__(
        self, core: SchedulerCore, deliver: Callable[[str, Message], None], clock: Callable[[], int],
        *, recorder: Recorder | None = None,
    ) -> None:
        super().__init__(core, deliver, recorder=recorder)
        self._clock = clock

    def before(self, message: Message) -> None:
        if not isinstance(message, Now):
            self.dispatch(Now(ts_ms=self._clock()))
