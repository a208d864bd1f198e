"""The bridge between the asyncio streams and the pykka actors: one daemon thread runs one
event loop hosting the streams; frames leave it only through each stream's ``deliver`` (an
actor's thread-safe ``tell``), and the actors reach into it only through the thread-safe
methods here. Nothing in an actor ever waits on this loop (STYLE.md, pykka facts).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from exchange.bybit.ws_conn import V5Socket
from exchange.bybit.ws_public import PublicStream

log = logging.getLogger(__name__)


class StreamThread:
    """Runs ``streams`` (``PublicStream``, ``PrivateStream``) until ``stop``."""

    def __init__(self, streams: Sequence[V5Socket], *, name: str = "bybit-streams") -> None:
        if not streams:
            raise ValueError("no streams to run")
        self.streams = tuple(streams)
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("StreamThread already started")
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        self._started.wait()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._run_all())
        except BaseException as exc:  # recorded for the supervisor; the thread must end cleanly
            self.error = exc
            log.exception("stream thread ended with an error", extra={"thread": self.name})
        finally:
            self._started.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _run_all(self) -> None:
        tasks = [asyncio.ensure_future(s.run()) for s in self.streams]
        self._started.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for stream, result in zip(self.streams, results):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("stream ended with an error", extra={"stream": stream.name, "error": repr(result)})
                self.error = self.error or result

    def _call(self, fn, *args) -> bool:
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed between the check and the call
            return False
        return True

    def reconnect_public(self, reason: str = "data watchdog") -> bool:
        """Thread-safe: drop and reopen every public stream (the owner will get FeedGaps)."""
        publics = [s for s in self.streams if isinstance(s, PublicStream)]
        return all(self._call(s.request_reconnect, reason) for s in publics) and bool(publics)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Close the sockets, end the loop and join the thread; True when nothing is left running."""
        thread = self._thread
        if thread is None:
            return True
        for stream in self.streams:
            self._call(stream.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.error("stream thread did not stop in time", extra={"thread": self.name, "timeout_s": timeout})
            self._call(self._cancel_all)
            thread.join(1.0)
        return not thread.is_alive()

    @staticmethod
    def _cancel_all() -> None:
        for task in asyncio.all_tasks():
            task.cancel()
