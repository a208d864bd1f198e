"""Dispatched actors keep the actor contract on shared threads: one message at a time per actor,
in the order each sender sent them; ``on_start`` before the first message (and off the
dispatcher, so a slow one holds nobody else); failures, stops and asks as pykka's; and a flood
to one actor does not starve the others. Every wait is on an answer or an event."""

from __future__ import annotations

import random
import threading

import pykka
import pytest

from actors.dispatch import DispatchedActor, Dispatcher

WAIT_S = 30

TWO_THREADS = Dispatcher("test-two", threads=2, slice=8)


class Log(DispatchedActor):
    """Keeps what it handled, and notices if it ever handles two messages at once."""

    dispatcher = TWO_THREADS

    def __init__(self, started: threading.Event | None = None) -> None:
        super().__init__()
        self.seen: list = []
        self.overlaps = 0
        self._busy = False
        self._started = started
        self.events: list[str] = []

    def on_start(self) -> None:
        if self._started is not None:
            self._started.wait(WAIT_S)
        self.events.append("started")

    def on_receive(self, message):
        if self._busy:
            self.overlaps += 1
        self._busy = True
        try:
            if message == "report":
                return list(self.seen), self.overlaps, list(self.events)
            if message == "boom":
                raise RuntimeError("boom")
            self.seen.append(message)
            return len(self.seen)
        finally:
            self._busy = False

    def on_stop(self) -> None:
        self.events.append("stopped")

    def on_failure(self, *exc_info) -> None:
        self.events.append("failed")


@pytest.fixture(autouse=True)
def stop_everything():
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=WAIT_S)


def test_each_actor_handles_one_message_at_a_time_in_each_senders_order():
    actors = [Log.start() for _ in range(12)]
    senders = 4

    def send(sender: int) -> None:
        rng = random.Random(sender)
        for n in range(400):
            rng.choice(actors).tell((sender, n))

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    total = 0
    for ref in actors:
        seen, overlaps, events = ref.ask("report", timeout=WAIT_S)
        assert overlaps == 0
        assert events == ["started"]
        for sender in range(senders):
            mine = [n for s, n in seen if s == sender]
            assert mine == sorted(mine), "a sender's messages are handled in the order it sent them"
        total += len(seen)
    assert total == senders * 400


def test_on_start_runs_before_the_first_message_and_holds_no_other_actor():
    gate = threading.Event()
    slow = Log.start(started=gate)
    slow.tell("early")
    answer = slow.ask("report", block=False)
    other = Log.start()
    assert other.ask("hello", timeout=WAIT_S) == 1, "another actor answers while one is still starting"
    with pytest.raises(pykka.Timeout):
        answer.get(timeout=0)  # not answered while on_start runs
    gate.set()
    seen, _, events = answer.get(timeout=WAIT_S)
    assert events == ["started"] and seen == ["early"]


def test_a_failed_handler_stops_its_actor_and_answers_its_waiting_asks_dead():
    gate = threading.Event()
    failing = Log.start(started=gate)
    failing.tell("boom")
    pending = failing.ask("report", block=False)
    gate.set()
    with pytest.raises(pykka.ActorDeadError):
        pending.get(timeout=WAIT_S)
    assert not failing.is_alive()
    healthy = Log.start()
    assert healthy.ask("still here", timeout=WAIT_S) == 1


def test_a_stopped_actor_ran_on_stop_and_refuses_later_messages():
    actor = Log.start()
    proxy_events = actor.proxy().events
    actor.ask("one", timeout=WAIT_S)
    events = proxy_events.get(timeout=WAIT_S)
    actor.stop(timeout=WAIT_S)
    assert events == ["started", "stopped"]
    with pytest.raises(pykka.ActorDeadError):
        actor.tell("late")


ONE_THREAD = Dispatcher("test-one", threads=1, slice=8)


class Turns(DispatchedActor):
    """On one thread: appends its name to a shared record per message; ``hold`` blocks the
    thread until released (to line the ready queue up)."""

    dispatcher = ONE_THREAD

    def __init__(self, name: str, record: list, release: threading.Event) -> None:
        super().__init__()
        self.name, self.record, self.release = name, record, release

    def on_receive(self, message):
        if message == "hold":
            self.release.wait(WAIT_S)
            return None
        if message == "ping":
            return None
        self.record.append(self.name)
        return len(self.record)


def test_a_flood_to_one_actor_does_not_starve_another_on_the_same_thread():
    record: list[str] = []
    release = threading.Event()
    holder = Turns.start("holder", record, release)
    flooded, other = Turns.start("flooded", record, release), Turns.start("other", record, release)
    for ref in (holder, flooded, other):
        ref.ask("ping", timeout=WAIT_S)  # started, idle: each goes to the ready queue with its next message
    held = holder.ask("hold", block=False)  # the thread is busy: what follows only queues up
    for _ in range(20_000):
        flooded.tell("x")
    answer = other.ask("x", block=False)
    release.set()
    held.get(timeout=WAIT_S)
    assert answer.get(timeout=WAIT_S) == 9, "one slice of the flood (8), then the other actor's turn"
    assert flooded.ask("x", timeout=WAIT_S) == 20_002


def test_a_dispatcher_needs_a_thread():
    with pytest.raises(ValueError, match="at least one thread"):
        Dispatcher("none", threads=0)
