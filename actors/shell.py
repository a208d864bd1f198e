"""The one actor shell: a pykka thread that hands each message to a pure core and
posts what the core returns. Shells hold no trading logic.

A failure inside a core is caught here, journaled and reported to the supervisor,
which starts a *new* actor rebuilt from the source of truth; pykka's default would
stop the actor silently and drop its queued messages.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from actors.dispatch import ThreadActor
from vocabulary.messages import JournalEvent, Message

log = logging.getLogger("smtbot.actors")

# What a core returns: (destination, message) pairs. Destinations are names the post
# office resolves: "journal", "router", "scheduler", "symbols" (every symbol actor),
# "symbol:BTCUSDT", "feed", "self" (the shell itself), "supervisor", "status".
Outbox = list[tuple[str, Message]]
Deliver = Callable[[str, Message], None]
# Per-actor replay: every message a core handled, with what it returned (the flight recorder).
Recorder = Callable[[Message, Outbox], None]


class Core(Protocol):
    def handle(self, message: Message) -> Outbox: ...


class CoreActor(ThreadActor):
    """Shell around one core. Subclasses may override ``before`` (prepare a message's
    context, e.g. a clock pulse) and ``perform`` (carry out an I/O request of the core)."""

    name = "actor"

    def __init__(self, core: Core, deliver: Deliver, *, recorder: Recorder | None = None) -> None:
        super().__init__()
        self.core = core
        self._deliver = deliver
        self._recorder = recorder
        self.handled = 0
        self.failed = False

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Message):
            raise TypeError(f"{self.name} received {type(message).__name__}, not a message")
        if self.failed:
            return None
        try:
            self.before(message)
            self.dispatch(message)
        except Exception as exc:  # noqa: BLE001 - a failed core is journaled and replaced, never silent
            self._fail(message, exc)
        return None

    def dispatch(self, message: Message) -> None:
        self.handled += 1
        outbox = self.core.handle(message)
        if self._recorder is not None:
            self._recorder(message, outbox)
        self.post(outbox)

    def post(self, outbox: Outbox) -> None:
        for to, out in outbox:
            if to == "self":
                self.perform(out)
            else:
                self._deliver(to, out)

    def before(self, message: Message) -> None:
        """Hook run before the core sees ``message``."""

    def perform(self, request: Message) -> None:
        """Carry out a request the core addressed to its own shell (I/O lives here)."""
        raise TypeError(f"{self.name} cannot perform {type(request).__name__}")

    def _fail(self, message: Message, exc: Exception) -> None:
        self.failed = True
        text = f"{type(exc).__name__}: {exc}"
        log.error("actor failed", extra={"actor": self.name, "on": type(message).__name__, "error": text})
        log.debug("actor failure traceback", extra={"actor": self.name, "traceback": traceback.format_exc()})
        self._deliver("journal", JournalEvent(
            ts_ms=0, kind="actor_failed", source=self.name, level="ERROR",
            message=text[:500], data=(("message", type(message).__name__),),
        ))
        self._deliver("supervisor", JournalEvent(ts_ms=0, kind="actor_failed", source=self.name, message=text[:500]))
        self.actor_ref.stop(block=False)
