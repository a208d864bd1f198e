"""The reconnect discipline both V5 WebSocket streams share: connect, open the session (auth,
subscribe), send the JSON heartbeat, treat silence as death, and reconnect with jittered
backoff for as long as the owner wants the stream (bybit-v5.md §3.3, §3.4, §3.5, pitfalls 7, 8).

Reconnects are normal operation here, not errors: a socket can die silently, so only the frames
that actually arrive prove it is alive. Everything runs on one asyncio loop; ``deliver`` is
called on that loop's thread and must not block (an actor's ``tell`` does not).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlparse

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection, connect

from vocabulary.messages import JournalEvent, Message
from exchange.bybit import models

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, the private auth frame (API key, signature) included;
# the connections log through this logger, pinned at INFO, so no logging setup can surface them.
wire_log = logging.getLogger("exchange.bybit.wire")
wire_log.setLevel(logging.INFO)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class V5Socket(ABC):
    """Base of ``PublicStream`` and ``PrivateStream``: owns one connection at a time."""

    def __init__(
        self,
        url: str,
        deliver: Callable[[Message], None],
        *,
        ping_interval_s: float = 20.0,
        silence_timeout_s: float = 45.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        open_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        name: str = "bybit-ws",
    ) -> None:
        if silence_timeout_s <= ping_interval_s:
            raise ValueError("silence_timeout_s must exceed ping_interval_s, or every quiet spell is a death")
        self.url = url
        self.name = name
        self._deliver_to = deliver
        self._ping_interval_s = ping_interval_s
        self._silence_timeout_s = silence_timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._open_timeout_s = open_timeout_s
        self._clock = clock
        self._req_ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._end_reason: str | None = None
        self._logged: set[str] = set()
        self.healthy = False  # the current session finished its opening (auth, subscriptions)
        self.connections = 0
        self.stats: Counter[str] = Counter()

    # --- owner's controls (call on the loop's thread) ---------------------------------------

    def request_reconnect(self, reason: str = "requested") -> None:
        """Drop the current connection; the run loop reconnects and reopens the session."""
        self._end_session(reason)

    def stop(self) -> None:
        """Close the connection and make ``run`` return."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        self._end_session("stopping")

    @property
    def is_connected(self) -> bool:
        return self._ws is not None

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        self._wake = asyncio.Event()
        attempt = 0
        while not self._stopping:
            self._end_reason = None
            self.healthy = False
            try:
                async with connect(
                    self.url,
                    open_timeout=self._open_timeout_s,
                    # Protocol pings catch a dead TCP path; Bybit itself needs the JSON ping below.
                    ping_interval=self._ping_interval_s,
                    ping_timeout=self._silence_timeout_s,
                    close_timeout=1.0,
                    proxy=None if urlparse(self.url).hostname in _LOOPBACK else True,
                    max_queue=1024,
                    logger=wire_log,
                ) as ws:
                    self._ws = ws
                    self.connections += 1
                    self.stats["connects"] += 1
                    await self._session(ws)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                self.stats["disconnects"] += 1
                if not self._stopping:
                    log.warning("stream connection lost", extra={"stream": self.name, "error": f"{type(exc).__name__}: {exc}"})
            except Exception:
                # A bug in a frame handler must not end the feed for good: log it, reconnect.
                self.stats["session_errors"] += 1
                log.exception("stream session failed", extra={"stream": self.name})
            finally:
                self._ws = None
                if self.healthy and not self._stopping:
                    self._on_session_lost()
            if self._stopping:
                break
            if self._end_reason and self._end_reason != "stopping":
                log.warning("stream reconnecting", extra={"stream": self.name, "reason": self._end_reason})
            if self.healthy:
                attempt = 0
            delay = min(self._backoff_max_s, self._backoff_initial_s * (2**attempt)) * (0.5 + random.random() / 2)
            attempt += 1
            self.stats["reconnect_waits"] += 1
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
        self.healthy = False

    async def _session(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        last_rx = loop.time()
        next_ping = last_rx + self._ping_interval_s
        await self._open_session(ws)
        while self._end_reason is None:
            now = loop.time()
            deadline = min(next_ping, last_rx + self._silence_timeout_s)
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.0, deadline - now))
            except TimeoutError:
                now = loop.time()
                if now >= last_rx + self._silence_timeout_s:
                    self.stats["silences"] += 1
                    self._end_reason = f"silent for {self._silence_timeout_s:g} s"
                    return
                if now >= next_ping:
                    await ws.send(self._ping_frame())
                    self.stats["pings"] += 1
                    next_ping = now + self._ping_interval_s
                continue
            last_rx = loop.time()
            self.stats["frames"] += 1
            await self._handle_frame(ws, raw)

    def _end_session(self, reason: str) -> None:
        if self._end_reason is None:
            self._end_reason = reason
        ws = self._ws
        if ws is not None:
            # Closing wakes the pending recv() with ConnectionClosed; the run loop takes over.
            asyncio.get_running_loop().create_task(ws.close())

    # --- for subclasses ---------------------------------------------------------------------

    def next_req_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._req_ids)}"

    def _ping_frame(self) -> str:
        return msgspec.json.encode({"req_id": self.next_req_id("ping"), "op": "ping"}).decode()

    def _on_session_lost(self) -> None:
        """A session that had finished its opening just ended (before the reconnect)."""

    @abstractmethod
    async def _open_session(self, ws: ClientConnection) -> None:
        """Subscribe (public) or authenticate and subscribe (private) on a fresh connection."""

    @abstractmethod
    async def _handle_frame(self, ws: ClientConnection, raw: str | bytes) -> None:
        """One frame of this stream's kind."""

    def deliver(self, message: Message) -> None:
        """Hand one message to the owner; a failing owner is counted, never fatal to the stream."""
        try:
            self._deliver_to(message)
            self.stats["delivered"] += 1
        except Exception as exc:  # the owner's failure (a dead actor) must not kill the feed
            self.stats["deliver_errors"] += 1
            self.log_once(f"deliver:{type(exc).__name__}", "delivering a stream message failed", error=f"{type(exc).__name__}: {exc}")

    def malformed(self, kind: str, detail: str, raw: str | bytes = "") -> None:
        """A frame or row we cannot use: counted every time, logged once per kind, and journaled
        with its raw text (scrubbed) once per kind and problem, so it is never skipped silently."""
        self.stats["malformed"] += 1
        self.log_once(f"malformed:{kind}", "malformed frame skipped", kind=kind, detail=detail[:200])
        key = f"journaled:{kind}:{detail[:120]}"
        if key in self._logged:
            return
        self._logged.add(key)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self.deliver(JournalEvent(
            ts_ms=int(self._clock() * 1000), kind="venue_row_undecodable", source=self.name, level="WARNING",
            message=self.scrub(f"{kind}: {detail}")[:300],
            data=(("stream", self.name), ("kind", kind), ("error", self.scrub(detail)[:500]), ("raw", self.scrub(text)[:2000])),
        ))

    def unknown_values(self, topic: str, row: msgspec.Struct) -> None:
        """Enum values the V5 docs do not list: the row is used all the same; journaled once."""
        for field, value in models.unknown_values(row):
            self.stats["unknown_values"] += 1
            key = f"enum:{field}:{value}"
            if key in self._logged:
                continue
            self.log_once(key, "value not in the V5 docs", field=field, value=value)
            self.deliver(JournalEvent(
                ts_ms=int(self._clock() * 1000), kind="venue_unknown_value", source=self.name, level="WARNING",
                message=f"{topic}: {field}={value!r} is not in the V5 docs",
                data=(("topic", topic), ("field", field), ("value", value), ("raw", self.scrub(msgspec.json.encode(row).decode())[:2000])),
            ))

    def scrub(self, text: str) -> str:
        """Venue text as it may be journaled; the private stream removes its credentials."""
        return text

    def log_once(self, key: str, message: str, **extra: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, extra={"stream": self.name, **extra})
