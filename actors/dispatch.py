"""Many actors, few threads: a pykka actor type whose mailbox is served by a shared dispatcher.

pykka's ``ThreadingActor`` gives every actor its own OS thread, and every message to an idle
actor wakes that thread (a futex wake, then a GIL hand-off), while the GIL runs one thread at a
time anyway. ``bench/cycle.py`` measures it with empty handlers: a 25-symbol tick's messages take
~2.1 ms p50 between threads, ~0.85 ms with the symbols on one dispatcher; at 500 symbols ~40 ms
against ~10 ms, and the bot's own cycle fell with them (5.2 → 3.0 ms, 129 → 53 ms).

A ``DispatchedActor`` is still an actor - its own mailbox, its messages handled one at a time
and in order, its state touched by no one else, ``tell``/``ask``/``stop`` as pykka's - but its
messages are handled on a ``Dispatcher``'s thread, shared with the other actors of that
dispatcher, as Akka's dispatchers and Erlang's schedulers run many actors on few threads. A
message to an actor of a busy dispatcher wakes nothing.

The price: a handler that blocks holds the thread for every actor of its dispatcher, so an
actor on one does its blocking work elsewhere, and never ``ask``s an actor of its own dispatcher
(the answer would wait for the very thread that is waiting; the symbol cores only ``tell``). ``on_start`` (a symbol's REST bootstrap) runs on
``io_pool()``, its messages waiting in its mailbox until it returns, as a thread of its own would
have them wait; other blocking work is handed to the same pool by the shell and its result comes
back as a message (a symbol's backfill; ``actors.symbol``). Journal and router, whose handlers
write to disk and to the venue, and the scheduler, the watchdog that must see a dispatcher
stuck in a handler, keep their own threads.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pykka

log = logging.getLogger("smtbot.dispatch")


class Dispatcher:
    """Threads that handle the messages of the actors given to them. An actor with mail is in
    the ready queue at most once; a worker takes it, handles up to ``slice`` of its messages
    and puts it back at the end of the queue if more are waiting, so a flood to one actor
    (a bootstrap's history) never starves the others."""

    def __init__(self, name: str, threads: int = 1, *, slice: int = 32) -> None:
        if threads < 1:
            raise ValueError(f"a dispatcher needs at least one thread, got {threads}")
        self.name = name
        self.slice = slice
        self._ready: queue.SimpleQueue[DispatchedActor] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, actor: DispatchedActor) -> None:
        self._ready.put(actor)

    def _work(self) -> None:
        while True:
            actor = self._ready.get()
            try:
                actor._run_slice(self.slice)  # noqa: SLF001 - the dispatcher is the actor's loop
            except BaseException:  # noqa: BLE001 - a worker outlives any one actor
                log.exception("dispatcher worker: an actor's slice raised", extra={"dispatcher": self.name})


class _Mailbox:
    """pykka's inbox interface (``put``, ``get``, ``empty``, ``qsize``) over a deque; ``put``
    hands the owner to its dispatcher when the owner is not already waiting for a turn."""

    __slots__ = ("_items", "_lock", "_scheduled", "owner")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self.owner: DispatchedActor | None = None

    def put(self, envelope: Any, block: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            self._items.append(envelope)
            if self._scheduled:
                return
            self._scheduled = True
        assert self.owner is not None
        self.owner._dispatcher().submit(self.owner)  # noqa: SLF001

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


_default: Dispatcher | None = None
_io: ThreadPoolExecutor | None = None
_shared_lock = threading.Lock()

#: Threads for dispatched actors' blocking work: enough for a few REST calls at once (the
#: rate limiter paces them anyway), few enough that a storm of backfills stays a queue.
IO_THREADS = 4


def default_dispatcher() -> Dispatcher:
    """The process's shared dispatcher, one thread (the GIL runs one at a time), started on first use."""
    global _default
    with _shared_lock:
        if _default is None:
            _default = Dispatcher("actors")
        return _default


def io_pool() -> ThreadPoolExecutor:
    """The process's pool for dispatched actors' blocking work (``on_start``, REST backfills)."""
    global _io
    with _shared_lock:
        if _io is None:
            _io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="actor-io")
        return _io


class ThreadActor(pykka.ThreadingActor):
    """pykka's thread-per-actor, with a lighter mailbox: for the actors that keep a thread of
    their own (journal, scheduler, router; module doc). pykka's ``queue.Queue`` takes a Python
    ``Condition`` on every ``put`` and ``get``; ``queue.SimpleQueue`` is the same FIFO in C with
    the interface pykka uses (``put``, ``get``, ``empty``, ``qsize``). A 25-symbol tick is ~100
    messages to these threads: ``bench/cycle.py`` measured the cycle ~8 % shorter with it."""

    @staticmethod
    def _create_actor_inbox() -> Any:
        return queue.SimpleQueue()


class DispatchedActor(pykka.Actor):
    """A pykka actor whose messages are handled on a ``Dispatcher`` (module doc): ``on_start`` on
    ``io_pool()`` before the first message, ``on_stop``/``on_failure`` as pykka's."""

    #: The dispatcher of this class's actors; None: ``default_dispatcher()``.
    dispatcher: ClassVar[Dispatcher | None] = None

    @staticmethod
    def _create_actor_inbox() -> Any:
        return _Mailbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor_inbox.owner = self

    def _dispatcher(self) -> Dispatcher:
        return type(self).dispatcher or default_dispatcher()

    def _start_actor_loop(self) -> None:
        mailbox: _Mailbox = self.actor_inbox
        with mailbox._lock:  # noqa: SLF001
            mailbox._scheduled = True  # noqa: SLF001 - no turn on the dispatcher before on_start is done
        io_pool().submit(self._start_elsewhere)

    def _start_elsewhere(self) -> None:
        """``on_start`` on the I/O pool (it may block on the network), then the first turn."""
        try:
            self._actor_loop_setup()
        finally:
            self._end_turn()

    def _run_slice(self, slice: int) -> None:
        mailbox: _Mailbox = self.actor_inbox
        items = mailbox._items  # noqa: SLF001
        for _ in range(slice):
            if self.actor_stopped.is_set() or not items:
                break
            self._handle_envelope(items.popleft())
        self._end_turn()

    def _end_turn(self) -> None:
        """Back in the ready queue if mail is waiting; idle (the next ``put`` submits) if not."""
        if self.actor_stopped.is_set():
            self._actor_loop_teardown()  # every ask still waiting is answered ActorDeadError
            return
        mailbox: _Mailbox = self.actor_inbox
        with mailbox._lock:  # noqa: SLF001
            again = bool(mailbox._items)  # noqa: SLF001
            mailbox._scheduled = again  # noqa: SLF001
        if again:
            self._dispatcher().submit(self)

    def _handle_envelope(self, envelope: Any) -> None:
        """One message, as pykka's ``_actor_loop_running`` handles it (pykka 4)."""
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                log.info(f"Exception returned from {self} to caller:", exc_info=sys.exc_info())
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:  # noqa: BLE001
                    self._handle_failure(*sys.exc_info())
        except BaseException:  # noqa: BLE001
            log.debug(f"{sys.exc_info()[1]!r} in {self}. Stopping all actors.")
            self._stop()
            pykka.ActorRegistry.stop_all()

