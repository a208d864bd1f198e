"""SimServer: the venue on one loopback port (REST ``/v5/...``, ``/v5/public/linear``,
``/v5/private``, admin ``/sim/...``), run by uvicorn in a background thread with its own loop.

The replay task owns the clock. Each minute it (1) lets the engine match the closing bar,
(2) publishes the private events, (3) publishes confirmed klines closing at that boundary and a
``confirm:false`` snapshot of each forming candle. With ``paced`` it then waits for ``ack(B)``.

Admin routes (loopback clients only; anything else gets 403):
- ``GET /sim/clock`` → ``{clock_ms, acked_through_ms, finished, paced, speed}``
- ``POST /sim/clock/ack`` ``{"through_ms": B}`` → releases the minute after B (paced mode)
- ``GET /sim/orders?orderLinkId=X`` → ``{orderLinkId, count, createRequests, orders}``
- ``GET|POST|DELETE /sim/faults`` → read, replace (a ``FaultPlan`` JSON) or clear fault injection
  (``{"deliver": ["ETHUSDT"]}`` delivers that contract at the next minute)
- ``POST /sim/ws/drop`` ``{"stream": "public"|"private"|"all"}`` → close those WS connections now
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultPlan, FaultState
from exchange.sim.market import MINUTE_MS, Bar, load_store
from exchange.sim.rest import RestApi
from exchange.sim.streams import Streams
from exchange.sim.venue import Venue

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def kline_push(topic: str, interval: int, bar: Bar, confirm: bool, now_ms: int) -> dict:
    """One public-stream kline frame (bybit-v5.md §3.3); the in-process venue hands out the same."""
    end = bar.start_ms + interval * MINUTE_MS - 1
    return {
        "topic": topic, "type": "snapshot", "ts": now_ms,
        "data": [{"start": bar.start_ms, "end": end, "interval": str(interval),
                  "open": format(bar.open, "f"), "close": format(bar.close, "f"),
                  "high": format(bar.high, "f"), "low": format(bar.low, "f"),
                  "volume": format(bar.volume, "f"),
                  "turnover": format(bar.turnover, "f") if bar.turnover is not None else "0",
                  "confirm": confirm, "timestamp": min(end, now_ms)}],
    }


class SimServer:
    def __init__(self, config: SimConfig):
        self.config = config
        store, rules = load_store(Path(config.data_dir), config.symbols, config.loop, config.kline_cache)
        self.venue = Venue(store, rules, config)
        self.faults = FaultState()
        self.finished = threading.Event()
        self._advanced = threading.Condition()  # notified at every boundary (wait_clock_past)
        self.acked_through_ms = 0
        self.rest = RestApi(self)
        self.streams = Streams(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._ack_event: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._boundary_wall = time.monotonic()
        # When the replay clock jumped to a boundary ahead of the paced time, and by how much
        # (``jumped_within``): the last few are enough.
        self._jumps: deque[tuple[float, int]] = deque(maxlen=256)
        self._port = config.port
        self.app = Starlette(routes=[
            WebSocketRoute("/v5/public/linear", self.streams.public_endpoint),
            WebSocketRoute("/v5/private", self.streams.private_endpoint),
            Route("/sim/clock", self._admin_clock, methods=["GET"]),
            Route("/sim/clock/ack", self._admin_ack, methods=["POST"]),
            Route("/sim/orders", self._admin_orders, methods=["GET"]),
            Route("/sim/faults", self._admin_faults, methods=["GET", "POST", "DELETE"]),
            Route("/sim/ws/drop", self._admin_drop, methods=["POST"]),
            *self.rest.routes(),
        ])

    # --- public interface -------------------------------------------------------------------

    @property
    def clock_ms(self) -> int:
        return self.venue.clock_ms

    @property
    def port(self) -> int:
        return self._port

    @property
    def rest_url(self) -> str:
        return f"http://{self.config.host}:{self._port}"

    @property
    def ws_public_url(self) -> str:
        return f"ws://{self.config.host}:{self._port}/v5/public/linear"

    @property
    def ws_private_url(self) -> str:
        return f"ws://{self.config.host}:{self._port}/v5/private"

    def start(self) -> "SimServer":
        """Bind, serve and start the replay; returns once the port is listening."""
        # proto=IPPROTO_TCP matters: asyncio only disables Nagle on accepted sockets that say they
        # are TCP, and with Nagle on every two-write HTTP answer waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        self._port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,), name=f"sim-server-{self._port}", daemon=True)
        self._thread.start()
        self._started.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("simulator failed to start") from self._error
        if not self._started.is_set():
            raise RuntimeError("simulator did not start within 30 s")
        return self

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "SimServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait_clock_past(self, ms: int, timeout_s: float = 60.0) -> int:
        """Block until the replay clock is past ``ms`` (or the replay ended); the clock then. An
        in-process driver of a paced replay waits here for the minute its ``ack`` released."""
        with self._advanced:
            self._advanced.wait_for(lambda: self.venue.clock_ms > ms or self.finished.is_set(), timeout_s)
        return self.venue.clock_ms

    def ack(self, through_ms: int) -> None:
        """The consumer has processed everything up to boundary ``through_ms`` (paced mode)."""
        self.acked_through_ms = max(self.acked_through_ms, int(through_ms))
        if self._loop is not None and self._ack_event is not None:
            self._loop.call_soon_threadsafe(self._ack_event.set)

    async def answer_latency(self) -> None:
        """Wait the configured answer latency (REST answers, WS op answers) on the server loop."""
        if self.config.answer_latency_ms > 0:
            await asyncio.sleep(self.config.answer_latency_ms / 1000)

    def set_faults(self, plan: FaultPlan) -> None:
        self._call(lambda: self.faults.set_plan(plan))
        if plan.ws_stall_s:
            self.streams.stall_until = time.monotonic() + plan.ws_stall_s

    def drop_connections(self, stream: str = "all") -> int:
        """Close WS connections of ``stream`` now (in-process twin of ``POST /sim/ws/drop``)."""
        future = asyncio.run_coroutine_threadsafe(self.streams.drop(stream), self._loop)
        return future.result(timeout=10)

    def orders_by_link_id(self, order_link_id: str) -> dict:
        """How many orders exist and how many create requests arrived for one orderLinkId."""
        return self._call(lambda: self._orders_by_link(order_link_id))

    def now_ms(self) -> int:
        """Replay time: the last boundary, plus elapsed wall time scaled by speed when not "max"."""
        speed = self._speed()
        if speed is None or self.venue.is_finished:
            return self.venue.clock_ms
        elapsed = int((time.monotonic() - self._boundary_wall) * 1000 * speed)
        return self.venue.clock_ms + min(max(elapsed, 0), MINUTE_MS - 1)

    def jumped_within(self, seconds: float) -> int:
        """How far the replay clock jumped ahead in the last ``seconds`` of wall time: a boundary
        reached before its paced time (at speed "max", a whole minute each cycle) is a jump, not
        time a request in flight could have spent."""
        since = time.monotonic() - seconds
        return sum(jump for at, jump in list(self._jumps) if at >= since)  # list(): one C call, safe beside the loop

    # --- internals --------------------------------------------------------------------------

    def _call(self, fn):
        """Run ``fn`` on the server loop (the engine's only thread) and return its result."""
        if self._loop is None or not self._loop.is_running():
            return fn()

        async def run():
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def _speed(self) -> float | None:
        speed = self.config.speed
        if speed == "max":
            return None
        return 1.0 if speed == "realtime" else float(speed)

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as exc:  # surfaced to start(); the thread must not die silently
            self._error = exc
            log.exception("simulator server stopped with an error")
            self._started.set()

    async def _main(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._ack_event = asyncio.Event()
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", ws_ping_interval=None,
                                ws_max_size=1 << 20, access_log=False)
        self._uvicorn = uvicorn.Server(config)
        serving = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started and not serving.done():
            await asyncio.sleep(0.005)
        self._boundary_wall = time.monotonic()
        replay = asyncio.create_task(self._replay())
        self._started.set()
        try:
            await serving
        finally:
            replay.cancel()
            try:
                await replay
            except (asyncio.CancelledError, Exception):
                pass

    async def _replay(self) -> None:
        try:
            while not self.venue.is_finished:
                await self._wait_for_next_minute()
                self._step()
            self.finished.set()
            with self._advanced:
                self._advanced.notify_all()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulator replay stopped")
            self.finished.set()
            with self._advanced:
                self._advanced.notify_all()

    async def _wait_for_next_minute(self) -> None:
        if self.config.paced:
            while self.acked_through_ms < self.venue.clock_ms:
                self._ack_event.clear()
                await self._ack_event.wait()
        speed = self._speed()
        if speed is None:
            # Yield so REST and WS keep flowing even when the replay runs free.
            await asyncio.sleep(0)
            return
        minute_s = MINUTE_MS / 1000 / speed
        # Two in-progress updates inside the minute (at 1/3 and 2/3), then the boundary.
        for points in (1, 2, 3):
            delay = self._boundary_wall + minute_s * points / 3 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if points < 3 and not self.venue.is_finished:
                self.venue.reveal(points)
                self._push_forming(self.now_ms())
        if self.config.close_delay_ms:
            await asyncio.sleep(self.config.close_delay_ms / 1000 / max(speed, 1.0))

    def _step(self) -> None:
        before = self.now_ms()
        boundary = self.venue.advance()
        self._boundary_wall = time.monotonic()
        if self.venue.clock_ms > before:
            self._jumps.append((self._boundary_wall, self.venue.clock_ms - before))
        with self._advanced:
            self._advanced.notify_all()
        for symbol in self.faults.take_deliveries():
            self.venue.engine.deliver(symbol, boundary)
        self.publish_private()
        wanted = self.streams.subscribed_klines()
        if not wanted:
            return
        now = boundary
        for interval, symbol in sorted(wanted):
            topic = f"kline.{interval}.{symbol}"
            span = interval * MINUTE_MS
            if boundary % span == 0:
                closed = self.venue.candle(symbol, interval, boundary - span)
                if closed is not None and not self.faults.skip_confirm():
                    self._push_kline(topic, interval, closed[0], True, now)
                    if self.faults.duplicate_confirm():
                        self._push_kline(topic, interval, closed[0], True, now)
        self._push_forming(now)

    def _push_forming(self, now_ms: int) -> None:
        clock = self.venue.clock_ms
        for interval, symbol in sorted(self.streams.subscribed_klines()):
            span = interval * MINUTE_MS
            forming = self.venue.candle(symbol, interval, clock - clock % span)
            if forming is not None and not forming[1]:
                self._push_kline(f"kline.{interval}.{symbol}", interval, forming[0], False, now_ms)

    def _push_kline(self, topic: str, interval: int, bar, confirm: bool, now_ms: int) -> None:
        self.streams.publish_public(topic, kline_push(topic, interval, bar, confirm, now_ms))

    def publish_private(self) -> None:
        events = self.venue.engine.drain_events()
        if events:
            self.streams.publish_private(events, self.now_ms())

    def _orders_by_link(self, link: str) -> dict:
        engine = self.venue.engine
        order = engine.by_link.get(link)
        rows = [order.to_v5(engine.rules[order.symbol])] if order else []
        return {"orderLinkId": link, "count": len(rows), "createRequests": self.rest.create_requests[link], "orders": rows}

    # --- admin routes -----------------------------------------------------------------------

    @staticmethod
    def _loopback(request: Request) -> bool:
        return request.client is not None and request.client.host in LOOPBACK

    @staticmethod
    async def _json(request: Request) -> dict:
        body = await request.body()
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return data

    def _forbidden(self) -> JSONResponse:
        return JSONResponse({"error": "admin routes answer loopback clients only"}, status_code=403)

    async def _admin_clock(self, request: Request) -> JSONResponse:
        if not self._loopback(request):
            return self._forbidden()
        return JSONResponse({"clock_ms": self.clock_ms, "acked_through_ms": self.acked_through_ms,
                             "finished": self.finished.is_set(), "paced": self.config.paced,
                             "speed": self.config.speed})

    async def _admin_ack(self, request: Request) -> JSONResponse:
        if not self._loopback(request):
            return self._forbidden()
        try:
            through = int((await self._json(request))["through_ms"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'expected {"through_ms": <boundary ms>}'}, status_code=400)
        self.ack(through)
        return JSONResponse({"acked_through_ms": self.acked_through_ms, "clock_ms": self.clock_ms})

    async def _admin_orders(self, request: Request) -> JSONResponse:
        if not self._loopback(request):
            return self._forbidden()
        link = request.query_params.get("orderLinkId")
        if not link:
            return JSONResponse({"error": "orderLinkId is required"}, status_code=400)
        return JSONResponse(self._orders_by_link(link))

    async def _admin_faults(self, request: Request) -> JSONResponse:
        if not self._loopback(request):
            return self._forbidden()
        if request.method == "POST":
            try:
                plan = msgspec.json.decode(await request.body() or b"{}", type=FaultPlan)
            except msgspec.ValidationError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            except msgspec.DecodeError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            self.faults.set_plan(plan)
            self.streams.stall_until = time.monotonic() + plan.ws_stall_s if plan.ws_stall_s else 0.0
        elif request.method == "DELETE":
            self.faults.set_plan(FaultPlan())
            self.streams.stall_until = 0.0
        return JSONResponse({"plan": msgspec.to_builtins(self.faults.plan), "injected": self.faults.injected})

    async def _admin_drop(self, request: Request) -> JSONResponse:
        if not self._loopback(request):
            return self._forbidden()
        try:
            stream = (await self._json(request)).get("stream", "all")
        except ValueError:
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        if stream not in ("public", "private", "all"):
            return JSONResponse({"error": "stream must be public, private or all"}, status_code=400)
        return JSONResponse({"dropped": await self.streams.drop(stream)})


# --- command line ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="listen port (default: [sim] port; 0 = any free port)")
    parser.add_argument("--speed", default=None, help='"realtime", a multiplier such as 60, or "max" (default: [sim] speed)')
    parser.add_argument("--paced", action="store_true", help="with --speed max, wait for POST /sim/clock/ack each minute")


def _parse_speed(text: str) -> str | float:
    if text in ("realtime", "max"):
        return text
    value = float(text)
    if value <= 0:
        raise ValueError
    return value


def main(args: argparse.Namespace, settings: Any, credentials: Any) -> int:
    overrides: dict[str, Any] = {}
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    if getattr(args, "speed", None) is not None:
        try:
            overrides["speed"] = _parse_speed(args.speed)
        except ValueError:
            print(f'run.py sim: --speed must be "realtime", "max" or a positive number, not {args.speed!r}', file=sys.stderr)
            return 2
    if getattr(args, "paced", False):
        overrides["paced"] = True
    config = SimConfig.from_settings(settings.sim, **overrides)
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    # Ctrl-C and SIGTERM stop it whatever the parent left them as: a shell's background job
    # (`run.py sim &`) inherits SIGINT ignored, where Python would install no KeyboardInterrupt,
    # and a service manager stops with SIGTERM.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    server = SimServer(config)
    server.start()
    print(f"smtbot simulator listening\n  REST        {server.rest_url}\n  public WS   {server.ws_public_url}\n"
          f"  private WS  {server.ws_private_url}\n  replay from {server.clock_ms} ms, speed {config.speed}", flush=True)
    try:
        announced = False
        while not stop.wait(0.5):
            if server.finished.is_set() and not announced:
                announced = True
                print(f"replay finished at {server.clock_ms} ms; still serving, Ctrl-C to stop", flush=True)
    finally:
        server.stop()
    return 0
