"""Builders for simulator tests: the shipped instrument rules, hand-made bars and a tiny market driver."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from exchange.sim.config import SimConfig
from exchange.sim.engine import Engine
from exchange.sim.market import Bar, load_instruments

DATA = Path(__file__).resolve().parents[3] / "data" / "klines"
T0 = 1_700_000_040_000 - 1_700_000_040_000 % 900_000
D = Decimal


def make_bar(start_ms: int, o, h, low, c, v="1") -> Bar:
    return Bar(start_ms, D(str(o)), D(str(h)), D(str(low)), D(str(c)), D(str(v)))


class Market:
    """An engine plus a minute counter, so a test reads as 'place, then this bar trades'."""

    def __init__(self, engine: Engine, symbol: str = "BTCUSDT", last="30000"):
        self.engine = engine
        self.symbol = symbol
        self.t = T0
        engine.set_last_price(symbol, D(last))
        engine.now_ms = T0

    def bar(self, o, h, low, c) -> None:
        self.engine.on_bar(self.symbol, make_bar(self.t, o, h, low, c), self.t + 60_000)
        self.t += 60_000

    def order(self, **fields) -> dict:
        req = {"category": "linear", "symbol": self.symbol, **fields}
        return self.engine.place_order(req, self.t)

    def get(self, result: dict):
        return self.engine.orders[result["orderId"]]

    def position(self, idx: int = 0):
        return self.engine._position(self.symbol, idx)


def btc_engine(**config) -> Engine:
    rules = load_instruments(DATA / "instruments-bybit-linear.csv")
    return Engine({"BTCUSDT": rules["BTCUSDT"]}, SimConfig(**config))


# --- talking to a live SimServer ----------------------------------------------------------------

import json as _json  # noqa: E402
import time as _time  # noqa: E402

import httpx  # noqa: E402

from exchange import signing  # noqa: E402


def signed(server, method: str, path: str, params: dict | None = None, *, key=None, secret=None,
           timestamp=None, recv_window="5000", body: str | None = None, timeout=5.0) -> httpx.Response:
    """One V5 request signed the way bybit-v5.md §1.3 says, with every part overridable."""
    key = key or server.config.api_key
    secret = secret or server.config.api_secret
    ts = str(timestamp if timestamp is not None else _time.time_ns() // 1_000_000)
    if method == "GET":
        payload = "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        url = f"{server.rest_url}{path}" + (f"?{payload}" if payload else "")
        content = None
    else:
        payload = body if body is not None else _json.dumps(params or {})
        url, content = f"{server.rest_url}{path}", payload
    headers = {signing.HEADER_API_KEY: key, signing.HEADER_TIMESTAMP: ts, signing.HEADER_RECV_WINDOW: recv_window,
               signing.HEADER_SIGN: signing.sign(secret, ts, key, recv_window, payload),
               "Content-Type": "application/json"}
    return httpx.request(method, url, headers=headers, content=content, timeout=timeout)


def wait_until(predicate, timeout=30.0, what="condition"):
    """Poll until ``predicate`` holds. It returns the moment it does; the deadline is only how long
    a loaded 2-core host may take before the test calls it a failure."""
    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        _time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def step(server, minutes: int = 1) -> int:
    """Release ``minutes`` paced minutes, one at a time, and wait for each to be published."""
    for _ in range(minutes):
        before = server.clock_ms
        server.ack(before)
        wait_until(lambda: server.clock_ms > before, what=f"the minute after {before}")
    return server.clock_ms
