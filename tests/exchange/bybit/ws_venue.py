"""Real WebSocket servers on 127.0.0.1 (port 0) that speak enough V5 to script faults: acks,
pongs, kline pushes, auth, private pushes, dropped connections, silence and malformed frames."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection, serve

from exchange.signing import sign_ws_auth


def kline_frame(symbol: str, interval: int, start: int, row: list[str], confirm: bool, ts: int = 0) -> str:
    step = interval * 60_000
    return json.dumps({
        "topic": f"kline.{interval}.{symbol}", "type": "snapshot", "ts": ts or start + step,
        "data": [{"start": start, "end": start + step - 1, "interval": str(interval), "open": row[1], "high": row[2],
                  "low": row[3], "close": row[4], "volume": row[5], "turnover": row[6], "confirm": confirm,
                  "timestamp": start + step - 1}],
    })


class WsVenue:
    """One server; ``refuse`` names topics the venue does not know; ``silent`` stops all output."""

    def __init__(self, *, refuse: frozenset[str] = frozenset(), key: str = "", secret: str = "",
                 now_ms: Callable[[], int] | None = None) -> None:
        self.refuse = refuse
        self.key, self.secret = key, secret
        self.now_ms = now_ms
        self.silent = False
        self.conns: dict[ServerConnection, set[str]] = {}
        self.received: list[dict] = []
        self.connections = 0
        self.authed: set[ServerConnection] = set()
        self._server = None
        self.subscribed = asyncio.Event()

    async def __aenter__(self) -> WsVenue:
        # The venue's own frame log would show the client's auth frame: keep it out of captures.
        quiet = logging.getLogger("tests.ws_venue.wire")
        quiet.setLevel(logging.INFO)
        self._server = await serve(self._handler, "127.0.0.1", 0, logger=quiet)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v5/public/linear"

    async def _handler(self, conn: ServerConnection) -> None:
        self.connections += 1
        self.conns[conn] = set()
        try:
            async for raw in conn:
                msg = json.loads(raw)
                self.received.append(msg)
                if self.silent:
                    continue
                await self._answer(conn, msg)
        except Exception:
            pass
        finally:
            self.conns.pop(conn, None)
            self.authed.discard(conn)

    async def _answer(self, conn: ServerConnection, msg: dict) -> None:
        op, req_id = msg.get("op"), msg.get("req_id", "")
        if op == "ping":
            if self.key:
                await conn.send(json.dumps({"req_id": req_id, "op": "pong", "args": ["1"], "conn_id": "c"}))
            else:
                await conn.send(json.dumps({"success": True, "ret_msg": "pong", "conn_id": "c", "req_id": req_id, "op": "ping"}))
        elif op == "auth":
            key, expires, signature = msg["args"]
            ok = key == self.key and signature == sign_ws_auth(self.secret, expires) and (self.now_ms is None or self.now_ms() <= expires)
            if ok:
                self.authed.add(conn)
            await conn.send(json.dumps({"success": ok, "ret_msg": "" if ok else "Params Error", "op": "auth", "conn_id": "c"}))
        elif op == "subscribe":
            args = msg["args"]
            bad = [t for t in args if t in self.refuse or (self.key and conn not in self.authed)]
            if bad:
                await conn.send(json.dumps({"success": False, "ret_msg": f"error:handler not found,topic:{bad[0]}",
                                            "conn_id": "c", "req_id": req_id, "op": "subscribe"}))
                return
            self.conns[conn].update(args)
            await conn.send(json.dumps({"success": True, "ret_msg": "", "conn_id": "c", "req_id": req_id, "op": "subscribe"}))
            self.subscribed.set()

    async def push(self, topic: str, frame: str) -> int:
        """Send ``frame`` to every connection subscribed to ``topic``; returns how many got it."""
        if self.silent:
            return 0
        sent = 0
        for conn, topics in list(self.conns.items()):
            if topic in topics:
                try:
                    await conn.send(frame)
                    sent += 1
                except Exception:
                    pass
        return sent

    async def send_raw(self, frame: str | bytes) -> None:
        for conn in list(self.conns):
            await conn.send(frame)

    async def drop(self, abrupt: bool = False) -> None:
        """Cut every connection: a clean close, or a TCP abort with no close frame."""
        for conn in list(self.conns):
            if abrupt:
                conn.transport.abort()
            else:
                await conn.close()
            self.conns.pop(conn, None)


async def until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.005) -> None:
    """Poll ``predicate`` until it holds; fail the test at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(step)


class VenueThread:
    """A ``WsVenue`` on its own loop in its own thread, for tests of code that runs its own loop."""

    def __init__(self, **venue_options) -> None:
        import threading

        self._options = venue_options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-venue", daemon=True)
        self.venue: WsVenue | None = None

    def __enter__(self) -> WsVenue:
        self._thread.start()
        self.venue = self.call(self._open())
        return self.venue

    async def _open(self) -> WsVenue:
        return await WsVenue(**self._options).__aenter__()

    def call(self, coro, timeout: float = 5.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        self.call(self.venue.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
