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
    """Thread-safe name → actor/sink table; ``deliver`` is what every shell posts through.

    Every message of every actor passes here, and names change only when an actor starts or is
    restarted: the tables are replaced whole under the lock (copy on write), so a delivery reads
    the current table without taking it. Reading one attribute is atomic in CPython; a delivery
    racing a restart reaches the old actor or the new one, as it would have with the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actors: dict[str, pykka.ActorRef] = {}
        self._sinks: dict[str, Callable[[Message], None]] = {}
        self._symbol_refs: tuple[tuple[str, pykka.ActorRef], ...] = ()  # "symbols": every symbol actor
        self.dropped: Counter[str] = Counter()

    def register(self, name: str, ref: pykka.ActorRef) -> None:
        with self._lock:
            self._actors = {**self._actors, name: ref}
            self._symbol_refs = tuple((n, r) for n, r in self._actors.items() if n.startswith(SYMBOL_PREFIX))

    def register_sink(self, name: str, sink: Callable[[Message], None]) -> None:
        with self._lock:
            self._sinks = {**self._sinks, name: sink}

    def actor(self, name: str) -> pykka.ActorRef | None:
        return self._actors.get(name)

    def actors(self) -> dict[str, pykka.ActorRef]:
        return dict(self._actors)

    def symbols(self) -> list[str]:
        return [n[len(SYMBOL_PREFIX):] for n, _ in self._symbol_refs]

    def deliver(self, to: str, message: Message) -> None:
        if to == "symbols":
            for name, ref in self._symbol_refs:
                self._tell(name, ref, message)
            return
        sink = self._sinks.get(to)
        if sink is not None:
            sink(message)
        else:
            self._tell(to, self._actors.get(to), message)

    def _tell(self, name: str, ref: pykka.ActorRef | None, message: Message) -> None:
        try:
            if ref is None:
                raise pykka.ActorDeadError(f"no actor named {name}")
            ref.tell(message)
        except pykka.ActorDeadError:
            with self._lock:
                self.dropped[name] += 1
                first = self.dropped[name] == 1
            if first:
                log.warning("message dropped", extra={"to": name, "kind": type(message).__name__})
