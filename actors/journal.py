"""JournalActor: the thread that owns the journal's write connection.

A thin shell around ``journal.writer.JournalWriter``: every message goes to the writer's
``record`` (which holds the batching policy); ``Flush`` commits everything in hand; a
``WriteAhead`` is answered with ``Durable`` to the router once its intent is committed.
Once a tick's cycle has closed (its decisions committed), the actor tells itself to write the
tick's bars (``WriteBars``) and, when due, to checkpoint the WAL (``Checkpoint``): both queue
behind whatever already waits in the mailbox (an order's write-ahead), never inside a commit
someone is waiting for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import msgspec

from actors.dispatch import ThreadActor
from vocabulary.messages import CycleDone, Durable, Message, WriteAhead
from journal.lock import JournalLock
from journal.runs import RunInfo
from journal.writer import JournalWriter

log = logging.getLogger("smtbot.journal")


class Flush(msgspec.Struct, frozen=True, kw_only=True):
    """Commit everything in hand now, the held bars included (the supervisor before shutdown;
    a test or a bench that reads the file next). ``tick_ms`` names the tick, for the log."""

    tick_ms: int | None = None


class WriteBars(msgspec.Struct, frozen=True):
    """Write the bars held for the tick at ``through_ms`` (``JournalWriter.write_bars``): told
    to itself by the actor once that tick's decisions are committed."""

    through_ms: int


class Checkpoint(msgspec.Struct, frozen=True):
    """Copy the WAL back into the database now: the actor tells itself this once a tick's cycle
    has closed, so it queues behind whatever the tick still has in the mailbox."""


class JournalActor(ThreadActor):
    """Answers every message (``tell`` or ``ask``) with the journal's last seq, so an
    ``ask`` returns only once the message is handled and, for orders, committed."""

    def __init__(self, path: str | Path, deliver: Callable[[str, Message], None] | None = None, *,
                 run: RunInfo | None = None, lock: JournalLock | None = None) -> None:
        super().__init__()
        self.path = path
        self._run = run  # the run this bot writes for; the lock, when the supervisor took it already
        self._lock = lock
        self.writer: JournalWriter | None = None
        self._checkpoint_queued = False
        # Where ``Durable`` answers go: the router sends an intent only once it is committed.
        self._deliver = deliver

    def on_start(self) -> None:
        # SQLite connections belong to the thread that opened them: the actor's, not ours.
        self.writer = JournalWriter(self.path, self._run, lock=self._lock)
        self.writer.own_checkpoints()
        log.info("journal open", extra={"path": str(self.path), "last_seq": self.writer.last_seq, "run": self.writer.run_id})

    def on_receive(self, message: object) -> int:
        assert self.writer is not None
        if isinstance(message, Flush):
            self.writer.write_bars()
        elif isinstance(message, WriteBars):
            self.writer.write_bars(message.through_ms)
        elif isinstance(message, Checkpoint):
            self._checkpoint_queued = False
            self.writer.checkpoint()
        else:
            self.writer.record(message)
            if isinstance(message, WriteAhead) and self._deliver is not None:
                self._deliver("router", Durable(intent=message.intent))
            elif isinstance(message, CycleDone):
                # Off the tick's path: the next bars are a minute away.
                if self.writer.bars_held:
                    self.actor_ref.tell(WriteBars(through_ms=message.boundary_ms))
                if self.writer.checkpoint_due and not self._checkpoint_queued:
                    self._checkpoint_queued = True
                    self.actor_ref.tell(Checkpoint())
        return self.writer.last_seq

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, exception_type: object, exception_value: object, traceback: object) -> None:
        log.error("journal actor failed", extra={"error": repr(exception_value), "path": str(self.path)})
        self._close()

    def _close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        pending = writer.pending
        try:
            writer.close()
        except Exception as exc:
            # Nowhere left to journal this; the log is the last witness.
            log.error("journal close lost rows", extra={"rows": pending, "error": repr(exc)})
        else:
            log.info("journal closed", extra={"path": str(self.path), "last_seq": writer.last_seq})
