"""Simulator throughput: engine bars/s with resting orders, REST round-trip over loopback, and the
kline push rate one WebSocket client receives from a free-running replay.

Run: python bench/sim.py   (prints a table; the last line is one JSON object)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from exchange import signing  # noqa: E402
from exchange.sim.config import SimConfig  # noqa: E402
from exchange.sim.engine import Engine  # noqa: E402
from exchange.sim.market import load_store  # noqa: E402
from exchange.sim.server import SimServer  # noqa: E402

DATA = ROOT / "data" / "klines"
BARS = 20_000


def engine_bars_per_second(resting: int) -> float:
    store, rules = load_store(DATA, ("BTCUSDT",))
    engine = Engine(rules, SimConfig(initial_equity=1e9))
    series = store.bars["BTCUSDT"][:BARS]
    last = series[0].open
    engine.set_last_price("BTCUSDT", last)
    # Far from the market so they rest for the whole run: the cost measured is the scan, not fills.
    for i in range(resting):
        side, factor = ("Buy", Decimal("0.5")) if i % 2 else ("Sell", Decimal("2"))
        price = (last * factor).quantize(Decimal("0.1"))
        engine.place_order({"category": "linear", "symbol": "BTCUSDT", "side": side, "orderType": "Limit",
                            "qty": "0.001", "price": str(price), "timeInForce": "PostOnly"}, 0)
    started = time.perf_counter()
    for bar in series:
        engine.on_bar("BTCUSDT", bar, bar.start_ms + 60_000)
    elapsed = time.perf_counter() - started
    assert sum(o.is_open for o in engine.orders.values()) == resting
    return len(series) / elapsed


def rest_latency_ms(server: SimServer, signed: bool, n: int = 400) -> tuple[float, float]:
    samples = []
    with httpx.Client(base_url=server.rest_url) as client:
        for _ in range(n):
            if signed:
                ts, key, query = str(time.time_ns() // 1_000_000), server.config.api_key, "category=linear&symbol=BTCUSDT"
                headers = {signing.HEADER_API_KEY: key, signing.HEADER_TIMESTAMP: ts, signing.HEADER_RECV_WINDOW: "5000",
                           signing.HEADER_SIGN: signing.sign(server.config.api_secret, ts, key, "5000", query)}
                t0 = time.perf_counter()
                body = client.get(f"/v5/position/list?{query}", headers=headers).json()
            else:
                t0 = time.perf_counter()
                body = client.get("/v5/market/time").json()
            samples.append((time.perf_counter() - t0) * 1000)
            assert body["retCode"] == 0, body
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def kline_pushes_per_second(seconds: float = 3.0) -> tuple[float, float]:
    config = SimConfig(port=0, paced=True, rate_limits=False, answer_latency_ms=0)
    with SimServer(config) as server:
        topics = [f"kline.{i}.{s}" for s in server.venue.symbols for i in (1, 3, 5, 15)]
        with connect(server.ws_public_url, max_size=None) as ws:
            ws.send(json.dumps({"op": "subscribe", "args": topics}))
            assert json.loads(ws.recv(timeout=5))["success"]
            start_clock = server.clock_ms
            received = 0
            started = time.perf_counter()
            server.ack(10**15)  # release every minute at once: the replay now runs as fast as it can
            while time.perf_counter() - started < seconds:
                ws.recv(timeout=5)
                received += 1
            elapsed = time.perf_counter() - started
            minutes = (server.clock_ms - start_clock) / 60_000
    return received / elapsed, minutes / elapsed


def main() -> int:
    rows = []
    results = {}
    for n in (0, 10, 100):
        rate = engine_bars_per_second(n)
        results[f"engine_bars_per_s_{n}_resting"] = round(rate)
        rows.append((f"engine, {n} resting orders", f"{rate:,.0f} bars/s", ">= 20,000 bars/s" if n == 10 else ""))
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT",), paced=True, rate_limits=False, answer_latency_ms=0)) as server:
        p50, p99 = rest_latency_ms(server, signed=False)
        results.update(rest_public_p50_ms=round(p50, 3), rest_public_p99_ms=round(p99, 3))
        rows.append(("REST GET /v5/market/time", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", "p50 <= 5 ms"))
        p50, p99 = rest_latency_ms(server, signed=True)
        results.update(rest_signed_p50_ms=round(p50, 3), rest_signed_p99_ms=round(p99, 3))
        rows.append(("REST signed GET /v5/position/list", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", "p50 <= 5 ms"))
    pushes, minutes = kline_pushes_per_second()
    results.update(ws_kline_pushes_per_s=round(pushes), ws_replay_minutes_per_s=round(minutes))
    rows.append(("WS kline pushes to one client (7 symbols x 4 tf)", f"{pushes:,.0f} pushes/s", ">= 5,000 pushes/s"))
    rows.append(("  replayed minutes while pushing", f"{minutes:,.0f} min/s", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':<28}  target")
    for name, figure, target in rows:
        print(f"{name:<{width}}  {figure:<28}  {target}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
