"""One writer per journal, enforced by the OS: an exclusive ``flock`` on ``<journal>.lock``.

Not a pid file: the kernel drops the lock when its process dies (kill -9 included), so it can
never go stale, and a second process that asks for it is refused at once. SQLite's own locks
are POSIX record locks on the database file, independent of this one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class JournalBusy(RuntimeError):
    """Another process (or another writer in this one) holds the journal for writing."""


class JournalLock:
    """``acquire()`` or raise ``JournalBusy``; ``release()`` is idempotent."""

    def __init__(self, journal_path: str | Path) -> None:
        self.journal_path = Path(journal_path)
        self.path = self.journal_path.with_name(self.journal_path.name + ".lock")
        self._fd: int | None = None

    @property
    def is_held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> JournalLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalBusy(f"{self.journal_path} is open for writing by another smtbot process: "
                              "stop it first, or set [journal] path to another file") from None
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> JournalLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
