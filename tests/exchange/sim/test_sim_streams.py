"""WebSocket faces, the paced replay clock, admin routes and fault injection."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from starlette.requests import Request
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from exchange import signing
from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultPlan, RestFault
from exchange.sim.market import MINUTE_MS
from exchange.sim.server import SimServer
from sim_builders import signed, step, wait_until


def ask(ws, frame: dict) -> dict:
    ws.send(json.dumps(frame))
    return json.loads(ws.recv(timeout=5))


def test_public_subscribe_ping_and_refusals_use_the_linear_shapes(sim):
    with connect(sim.ws_public_url) as ws:
        ack = ask(ws, {"req_id": "s1", "op": "subscribe", "args": ["kline.1.BTCUSDT", "kline.15.ETHUSDT"]})
        assert {k: ack[k] for k in ("success", "ret_msg", "req_id", "op")} == {
            "success": True, "ret_msg": "", "req_id": "s1", "op": "subscribe"} and ack["conn_id"]
        pong = ask(ws, {"op": "ping"})
        assert (pong["success"], pong["ret_msg"], pong["op"]) == (True, "pong", "ping")
        bad = ask(ws, {"op": "subscribe", "args": ["kline.1.ETHUSDT", "kline.1.NOPEUSDT"]})
        assert (bad["success"], bad["ret_msg"]) == (False, "error:handler not found,topic:kline.1.NOPEUSDT")
        again = ask(ws, {"op": "subscribe", "args": ["kline.1.BTCUSDT"]})
        assert again["ret_msg"] == "error:already subscribed,topic:kline.1.BTCUSDT"
        assert ask(ws, {"op": "unsubscribe", "args": ["kline.15.ETHUSDT"]})["success"] is True
        wait_until(lambda: sim.streams.subscribed_klines() == {(1, "BTCUSDT")}, what="one topic left")
        step(sim)
        pushes = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
    assert [(p["topic"], p["data"][0]["confirm"]) for p in pushes] == [("kline.1.BTCUSDT", True), ("kline.1.BTCUSDT", False)]


def test_private_stream_needs_a_valid_auth_before_topics(sim):
    with connect(sim.ws_private_url) as ws:
        refused = ask(ws, {"op": "subscribe", "args": ["order"]})
        assert refused["success"] is False
        expired = int(time.time() * 1000) - 1000
        fail = ask(ws, {"op": "auth", "args": [sim.config.api_key, expired, signing.sign_ws_auth(sim.config.api_secret, expired)]})
        assert (fail["success"], fail["ret_msg"], fail["op"]) == (False, "Params Error", "auth")
        bad_sig = ask(ws, {"op": "auth", "args": [sim.config.api_key, expired + 60_000, "00" * 32]})
        assert bad_sig["success"] is False
        expires = int(time.time() * 1000) + 10_000
        ok = ask(ws, {"op": "auth", "args": [sim.config.api_key, expires, signing.sign_ws_auth(sim.config.api_secret, expires)]})
        assert ok["success"] is True
        mixed = ask(ws, {"op": "subscribe", "args": ["order", "execution.linear"]})
        assert mixed["success"] is False
        assert ask(ws, {"op": "subscribe", "args": ["order", "position", "wallet"]})["success"] is True
        pong = ask(ws, {"req_id": "p", "op": "ping"})
        assert (pong["op"], pong["req_id"]) == ("pong", "p") and pong["args"][0].isdigit()
        signed(sim, "POST", "/v5/order/create", {"category": "linear", "symbol": "BTCUSDT", "side": "Buy",
                                                 "orderType": "Market", "qty": "0.01"})
        topics = [json.loads(ws.recv(timeout=5))["topic"] for _ in range(5)]
    # execution is not subscribed; the rest arrive in the §4.8 order
    assert topics == ["order", "order", "position", "wallet", "position"]


def test_silent_connections_are_cut_after_the_idle_timeout():
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT",), paced=True, idle_timeout_s=0.3)) as server:
        with connect(server.ws_public_url) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)


def test_paced_replay_waits_for_the_ack_and_the_fills_precede_the_kline(sim):
    before = sim.clock_ms
    time.sleep(0.1)
    assert sim.clock_ms == before
    res = httpx.post(f"{sim.rest_url}/sim/clock/ack", json={"through_ms": before})
    assert res.json()["acked_through_ms"] == before
    wait_until(lambda: sim.clock_ms == before + MINUTE_MS, what="one minute")
    time.sleep(0.05)
    assert sim.clock_ms == before + MINUTE_MS
    signed(sim, "POST", "/v5/order/create", {"category": "linear", "symbol": "BTCUSDT", "side": "Buy",
                                             "orderType": "Limit", "qty": "0.01", "price": "999999",
                                             "timeInForce": "GTC"})
    assert httpx.get(f"{sim.rest_url}/sim/clock").json()["clock_ms"] == sim.clock_ms


def test_free_running_replay_stops_at_the_end_of_the_data_unless_looping():
    probe = SimServer(SimConfig(port=0, symbols=("BTCUSDT",)))
    minutes_left = 5
    warmup = (probe.venue.store.end_ms - probe.venue.store.first_ms) // MINUTE_MS - minutes_left
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT",), warmup_minutes=warmup)) as server:
        assert server.finished.wait(5)
        assert server.clock_ms == server.venue.store.end_ms
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT",), warmup_minutes=warmup, loop=True, paced=True)) as server:
        step(server, minutes_left + 3)
        assert not server.finished.is_set() and server.clock_ms > server.venue.store.end_ms
        store = server.venue.store
        lap = store.bar_at("BTCUSDT", store.first_ms + store.span_ms)
        assert (lap.start_ms, lap.open) == (store.first_ms + store.span_ms, store.bar_at("BTCUSDT", store.first_ms).open)


def test_admin_routes_refuse_clients_that_are_not_on_loopback(sim):
    def from_host(host: str, method: str = "GET") -> Request:
        return Request({"type": "http", "method": method, "path": "/sim/clock", "headers": [], "query_string": b"",
                        "client": (host, 40000)})

    assert asyncio.run(sim._admin_clock(from_host("10.1.2.3"))).status_code == 403
    assert asyncio.run(sim._admin_faults(from_host("192.168.0.9", "DELETE"))).status_code == 403
    assert asyncio.run(sim._admin_clock(from_host("127.0.0.1"))).status_code == 200


def test_orders_are_counted_by_order_link_id(sim):
    req = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01",
           "price": "1000", "orderLinkId": "retry-1"}
    signed(sim, "POST", "/v5/order/create", req)
    signed(sim, "POST", "/v5/order/create", req)
    counted = httpx.get(f"{sim.rest_url}/sim/orders", params={"orderLinkId": "retry-1"}).json()
    assert (counted["count"], counted["createRequests"]) == (1, 2)
    assert sim.orders_by_link_id("retry-1")["count"] == 1


def test_rest_faults_fire_on_the_nth_call_then_stop(sim):
    plan = {"rest": [{"kind": "10006", "nth": [2]}, {"kind": "http503", "path_prefix": "/v5/market/time", "nth": [3]}]}
    assert httpx.post(f"{sim.rest_url}/sim/faults", json=plan).status_code == 200
    codes = []
    for _ in range(4):
        res = httpx.get(f"{sim.rest_url}/v5/market/time")
        codes.append(res.status_code if res.status_code != 200 else res.json()["retCode"])
    assert codes == [0, 10006, 503, 0]
    assert httpx.delete(f"{sim.rest_url}/sim/faults").json()["plan"]["rest"] == []


def test_every_rest_fault_kind_answers_like_bybit_would(sim):
    sim.set_faults(FaultPlan(rest=(
        RestFault(kind="http403", nth=(1,)), RestFault(kind="http500", nth=(2,)), RestFault(kind="http429", nth=(3,)),
        RestFault(kind="10002", nth=(4,)), RestFault(kind="10016", nth=(5,)),
        RestFault(kind="timeout_before", nth=(6,), stall_s=0.05),
    )))
    answers = [httpx.get(f"{sim.rest_url}/v5/market/time") for _ in range(7)]
    assert [(a.status_code, a.text if a.status_code == 403 else None) for a in answers[:3]] == [
        (403, "access too frequent"), (500, None), (429, None)]
    assert [a.json()["retCode"] for a in answers[3:]] == [10002, 10016, 10000, 0]
    assert httpx.get(f"{sim.rest_url}/sim/faults").json()["injected"] == 6


def test_multiplied_speed_advances_the_clock_on_its_own():
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT",), speed=1200.0, close_delay_ms=0)) as server:
        start = server.clock_ms
        wait_until(lambda: server.clock_ms >= start + 3 * MINUTE_MS, what="three replayed minutes")
        body = httpx.get(f"{server.rest_url}/v5/market/time").json()
        assert server.clock_ms - MINUTE_MS <= body["time"] < server.clock_ms + 2 * MINUTE_MS


def test_realtime_replay_moves_the_forming_candle_inside_the_minute():
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT",), speed=600.0, close_delay_ms=0)) as server:
        with connect(server.ws_public_url) as ws:
            ask(ws, {"op": "subscribe", "args": ["kline.1.BTCUSDT"]})
            frames = [json.loads(ws.recv(timeout=5))["data"][0] for _ in range(12)]
    closed = {k["start"]: k for k in frames if k["confirm"]}
    by_start: dict[int, list[dict]] = {}
    for k in frames:
        if not k["confirm"]:
            by_start.setdefault(k["start"], []).append(k)
    complete = [start for start, forming in by_start.items() if start in closed and len(forming) == 3]
    assert complete, "no minute seen whole: its three in-progress pushes and its close"
    for start in complete:
        final, forming = closed[start], by_start[start]
        assert [f["open"] for f in forming] == [final["open"]] * 3
        assert float(forming[0]["high"]) == float(forming[0]["low"]) == float(final["open"])
        for f in forming:
            assert float(final["low"]) <= float(f["low"]) <= float(f["high"]) <= float(final["high"])
        assert float(forming[1]["high"]) <= float(forming[2]["high"]) and float(forming[1]["low"]) >= float(forming[2]["low"])


def test_timeout_after_processing_leaves_the_order_in_place(sim):
    sim.set_faults(FaultPlan(rest=(RestFault(kind="timeout_after", path_prefix="/v5/order/create", nth=(1,), stall_s=1.0),)))
    req = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01",
           "price": "1000", "orderLinkId": "slow-1"}
    with pytest.raises(httpx.TimeoutException):
        signed(sim, "POST", "/v5/order/create", req, timeout=0.2)
    assert sim.orders_by_link_id("slow-1")["count"] == 1
    assert signed(sim, "POST", "/v5/order/create", req).json()["retCode"] == 110072


def test_fault_rate_is_seeded_and_reproducible(sim):
    def run() -> list[int]:
        sim.set_faults(FaultPlan(rest=(RestFault(kind="10016", rate=0.5),), seed=3))
        return [httpx.get(f"{sim.rest_url}/v5/market/time").json()["retCode"] for _ in range(12)]
    first, second = run(), run()
    assert first == second and set(first) == {0, 10016}


def test_dropped_connections_and_skipped_confirms(sim):
    with connect(sim.ws_public_url) as ws:
        ask(ws, {"op": "subscribe", "args": ["kline.1.BTCUSDT"]})
        sim.set_faults(FaultPlan(skip_confirm_rate=1.0))
        step(sim)
        assert json.loads(ws.recv(timeout=5))["data"][0]["confirm"] is False
        assert httpx.post(f"{sim.rest_url}/sim/ws/drop", json={"stream": "public"}).json()["dropped"] == 1
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_duplicated_confirms_and_silent_topics(sim):
    with connect(sim.ws_public_url) as ws:
        ask(ws, {"op": "subscribe", "args": ["kline.1.BTCUSDT", "kline.1.ETHUSDT"]})
        sim.set_faults(FaultPlan(duplicate_confirm_rate=1.0, silent_topics=("kline.1.ETHUSDT",)))
        step(sim)
        pushes = [json.loads(ws.recv(timeout=5)) for _ in range(3)]
        assert [(p["topic"], p["data"][0]["confirm"]) for p in pushes] == [
            ("kline.1.BTCUSDT", True), ("kline.1.BTCUSDT", True), ("kline.1.BTCUSDT", False)]
        assert ask(ws, {"op": "ping"})["ret_msg"] == "pong"


def test_stalled_stream_still_answers_pings(sim):
    with connect(sim.ws_public_url) as ws:
        ask(ws, {"op": "subscribe", "args": ["kline.1.BTCUSDT"]})
        sim.set_faults(FaultPlan(ws_stall_s=0.5))
        step(sim)
        started = time.monotonic()
        assert ask(ws, {"op": "ping"})["ret_msg"] == "pong"
        assert time.monotonic() - started < 0.3
        assert json.loads(ws.recv(timeout=5))["data"][0]["confirm"] is True
        assert time.monotonic() - started >= 0.3
