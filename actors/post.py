"""The post office: resolves the destination names cores use to actor refs or plain sinks.

Delivery never raises into the sender: ``tell`` to a dead actor would otherwise kill
the sending actor too (pykka), so a drop is counted and logged once per destination.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable

import pykka

from vocabulary.messages import Message

log = logging.getLogger("smtbot.post")

SYMBOL_PREFIX = "symbol:"


class PostOffice:
    """Thread-safe name → actor/sink table; ``deliver`` is what every shell posts through."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actors: dict[str, pykka.ActorRef] = {}
        self._sinks: dict[str, Callable[[Message], None]] = {}
        self.dropped: Counter[str] = Counter()

    def register(self, name: str, ref: pykka.ActorRef) -> None:
        with self._lock:
            self._actors[name] = ref

    def register_sink(self, name: str, sink: Callable[[Message], None]) -> None:
        with self._lock:
            self._sinks[name] = sink

    def actor(self, name: str) -> pykka.ActorRef | None:
        with self._lock:
            return self._actors.get(name)

    def actors(self) -> dict[str, pykka.ActorRef]:
        with self._lock:
            return dict(self._actors)

    def symbols(self) -> list[str]:
        with self._lock:
            return [n[len(SYMBOL_PREFIX):] for n in self._actors if n.startswith(SYMBOL_PREFIX)]

    def deliver(self, to: str, message: Message) -> None:
        if to == "symbols":
            with self._lock:
                targets = [n for n in self._actors if n.startswith(SYMBOL_PREFIX)]
            for name in targets:
                self._tell(name, message)
            return
        with self._lock:
            sink = self._sinks.get(to)
        if sink is not None:
            sink(message)
        else:
            self._tell(to, message)

    def _tell(self, name: str, message: Message) -> None:
        with self._lock:
            ref = self._actors.get(name)
        try:
            if ref is None:
                raise pykka.ActorDeadError(f"no actor named {name}")
            ref.tell(message)
        except pykka.ActorDeadError:
            self.dropped[name] += 1
            if self.dropped[name] == 1:
                log.warning("message dropped", extra={"to": name, "kind": type(message).__name__})
