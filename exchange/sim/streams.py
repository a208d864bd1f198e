"""The two WebSocket faces of the venue: public klines (bybit-v5.md §3) and the private account
stream (§4), with their acks, pongs, subscribe rules, idle cut-off and stall/drop faults."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from exchange import signing
from exchange.sim.rest import wall_ms

if TYPE_CHECKING:
    from exchange.sim.server import SimServer

log = logging.getLogger(__name__)

PUSH_INTERVALS = (1, 3, 5, 15, 30, 60)
KLINE_TOPIC = re.compile(r"^kline\.(\d+)\.([A-Z0-9]+)$")
PRIVATE_TOPICS = {"order", "execution", "position", "wallet"}
CATEGORISED_TOPICS = {"order.linear", "execution.linear", "position.linear"}
MAX_ARGS_CHARS = 21_000
AUTH_HORIZON_MS = 3_600_000


def _max_active_s(text: str | None, default: float) -> float:
    """``max_active_time`` query of the private stream: 30s..600s or 1m..10m (§4.1)."""
    if not text:
        return default
    m = re.fullmatch(r"(\d+)([sm])", text)
    if not m:
        return default
    seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
    return float(min(600, max(30, seconds)))


class Connection:
    def __init__(self, ws: WebSocket, stream: str, conn_id: str, idle_s: float):
        self.ws = ws
        self.stream = stream
        self.conn_id = conn_id
        self.idle_s = idle_s
        self.topics: set[str] = set()
        self.authed = False
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        async with self._lock:
            await self.ws.send_text(text)

    async def pump(self, hub: "Streams") -> None:
        """Push loop: queued stream data goes out in order, held while a stall fault is active."""
        while True:
            text = await self.queue.get()
            wait = hub.stall_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.send(text)


class Streams:
    def __init__(self, server: "SimServer"):
        self.server = server
        self.connections: set[Connection] = set()
        self.stall_until = 0.0
        self._conn_seq = 0
        self.pushes_sent = 0
        self._push_seq = 0

    def _conn_id(self) -> str:
        self._conn_seq += 1
        return str(uuid.UUID(int=0x5_1_7 << 100 | self._conn_seq))

    # --- publishing -------------------------------------------------------------------------

    def subscribed_klines(self) -> set[tuple[int, str]]:
        out = set()
        # Copies: tests and admin code may call this from outside the server loop.
        for conn in list(self.connections):
            if conn.stream == "public":
                for topic in list(conn.topics):
                    _, interval, symbol = topic.split(".")
                    out.add((int(interval), symbol))
        return out

    def publish_public(self, topic: str, payload: dict) -> None:
        if topic in self.server.faults.plan.silent_topics:
            return
        text = json.dumps(payload, separators=(",", ":"))
        for conn in self.connections:
            if conn.stream == "public" and topic in conn.topics:
                conn.queue.put_nowait(text)
                self.pushes_sent += 1

    def publish_private(self, events: list[tuple[str, dict]], now_ms: int) -> None:
        for topic, data in events:
            for conn in self.connections:
                if conn.stream != "private" or not conn.authed:
                    continue
                name = topic if topic in conn.topics else f"{topic}.linear" if f"{topic}.linear" in conn.topics else None
                if name is None:
                    continue
                self._push_seq += 1
                conn.queue.put_nowait(json.dumps({"id": f"{conn.conn_id}-{self._push_seq}", "topic": name,
                                                  "creationTime": now_ms, "data": [data]}, separators=(",", ":")))

    async def drop(self, stream: str = "all") -> int:
        """Close matching connections at once, the way a network drop looks to a client."""
        victims = [c for c in self.connections if stream in ("all", c.stream)]
        for conn in victims:
            conn.closed = True
            try:
                await conn.ws.close(code=1011)
            except Exception:  # already gone: a drop of a dead socket is what we wanted anyway
                pass
        return len(victims)

    # --- endpoints --------------------------------------------------------------------------

    async def public_endpoint(self, ws: WebSocket) -> None:
        await self._serve(ws, "public", self.server.config.idle_timeout_s)

    async def private_endpoint(self, ws: WebSocket) -> None:
        idle = _max_active_s(ws.query_params.get("max_active_time"), self.server.config.idle_timeout_s)
        await self._serve(ws, "private", min(idle, self.server.config.idle_timeout_s))

    async def _serve(self, ws: WebSocket, stream: str, idle_s: float) -> None:
        await ws.accept()
        conn = Connection(ws, stream, self._conn_id(), idle_s)
        self.connections.add(conn)
        pump = asyncio.create_task(conn.pump(self))
        try:
            while not conn.closed:
                # Idle cut-off: a client that sends nothing (no JSON ping) for idle_s is dropped (§3.4).
                text = await asyncio.wait_for(ws.receive_text(), timeout=idle_s)
                await self._on_frame(conn, text)
        except (WebSocketDisconnect, asyncio.TimeoutError, RuntimeError):
            pass
        finally:
            self.connections.discard(conn)
            pump.cancel()
            if not conn.closed:
                try:
                    await ws.close()
                except Exception:  # the peer may already be gone
                    pass

    async def _on_frame(self, conn: Connection, text: str) -> None:
        # Every op answer crosses the network first; an SDK that sends before it is ready to
        # hear the answer meets the same delay here as on Bybit.
        await self.server.answer_latency()
        try:
            frame = json.loads(text)
            if not isinstance(frame, dict):
                raise ValueError
        except ValueError:
            await conn.send({"success": False, "ret_msg": "error:invalid json", "conn_id": conn.conn_id,
                             "req_id": "", "op": ""})
            return
        op = frame.get("op")
        req_id = frame.get("req_id") or ""
        args = frame.get("args") or []
        if op == "ping":
            if conn.stream == "public":
                await conn.send({"success": True, "ret_msg": "pong", "conn_id": conn.conn_id, "req_id": req_id, "op": "ping"})
            else:
                await conn.send({"req_id": req_id, "op": "pong", "args": [str(wall_ms())], "conn_id": conn.conn_id})
            return
        if op == "auth" and conn.stream == "private":
            conn.authed = self._auth_ok(args)
            ack = {"success": conn.authed, "ret_msg": "" if conn.authed else "Params Error", "op": "auth",
                   "conn_id": conn.conn_id}
            if req_id:
                ack["req_id"] = req_id
            await conn.send(ack)
            return
        if op in ("subscribe", "unsubscribe") and isinstance(args, list):
            error = self._check_topics(conn, op, args)
            ack = {"success": error is None, "ret_msg": error or "", "conn_id": conn.conn_id, "req_id": req_id, "op": op}
            if error is None:
                if op == "subscribe":
                    conn.topics.update(args)
                else:
                    conn.topics.difference_update(args)
            await conn.send(ack)
            return
        await conn.send({"success": False, "ret_msg": f"error:unknown op {op}", "conn_id": conn.conn_id,
                         "req_id": req_id, "op": op if isinstance(op, str) else ""})

    def _auth_ok(self, args: Any) -> bool:
        cfg = self.server.config
        if not isinstance(args, list) or len(args) != 3:
            return False
        key, expires, signature = args
        if key != cfg.api_key or not isinstance(signature, str):
            return False
        try:
            expires = int(expires)
        except (TypeError, ValueError):
            return False
        # Judged against the wall clock (pybit) or the replay clock (a client synced to
        # /v5/market/time), but never so far ahead of either that a stale value passes.
        if not any(now < expires <= now + AUTH_HORIZON_MS for now in (wall_ms(), self.server.now_ms())):
            return False
        expected = signing.sign_ws_auth(cfg.api_secret, expires)
        return expected == signature.lower()

    def _check_topics(self, conn: Connection, op: str, args: list) -> str | None:
        if not all(isinstance(a, str) for a in args) or not args:
            return "error:args must be a non-empty list of topics"
        if sum(len(a) for a in args) + sum(len(t) for t in conn.topics) >= MAX_ARGS_CHARS:
            return f"error:args size >{MAX_ARGS_CHARS}"
        if conn.stream == "private":
            if not conn.authed:
                return "Request not authorized"
            kinds = {a in CATEGORISED_TOPICS for a in args}
            for topic in args:
                if topic not in PRIVATE_TOPICS and topic not in CATEGORISED_TOPICS:
                    return f"error:handler not found,topic:{topic}"
            if len(kinds) > 1:
                return "error:all-in-one and categorised topics cannot be mixed"
        else:
            for topic in args:
                m = KLINE_TOPIC.match(topic)
                if not m or int(m.group(1)) not in PUSH_INTERVALS or m.group(2) not in self.server.venue.engine.rules:
                    return f"error:handler not found,topic:{topic}"
        for topic in args:
            if op == "subscribe" and topic in conn.topics:
                return f"error:already subscribed,topic:{topic}"
            if op == "unsubscribe" and topic not in conn.topics:
                return f"error:not subscribed,topic:{topic}"
        return None
