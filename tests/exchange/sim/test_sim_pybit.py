"""The official SDK, unmodified, trades and streams against a live SimServer over loopback.

pybit builds its URLs from constants (REST ``endpoint``, WS ``PUBLIC_WSS``/``PRIVATE_WSS``); the
tests point those at the simulator, exactly as a user would point them at a different host.
"""

from __future__ import annotations

from decimal import Decimal as D

import pybit.unified_trading as unified
import pytest
from pybit.unified_trading import HTTP, WebSocket

from sim_builders import step, wait_until


@pytest.fixture
def sim():
    """The venue as far away as Bybit's servers are from most users (tens of ms): pybit 5.17
    sends a subscribe before it records the req_id, and only a venue that answers at loopback
    speed beats it to that (pybit then drops the connection and waits for ever)."""
    from exchange.sim.config import SimConfig
    from exchange.sim.server import SimServer

    with SimServer(SimConfig(port=0, symbols=("BTCUSDT", "ETHUSDT"), paced=True, answer_latency_ms=40)) as server:
        yield server


@pytest.fixture
def session(sim):
    http = HTTP(api_key=sim.config.api_key, api_secret=sim.config.api_secret, max_retries=1)
    http.endpoint = sim.rest_url
    return http


@pytest.fixture
def pybit_ws_urls(sim, monkeypatch):
    monkeypatch.setattr(unified, "PUBLIC_WSS", sim.ws_public_url.replace("/linear", "/{CHANNEL_TYPE}"))
    monkeypatch.setattr(unified, "PRIVATE_WSS", sim.ws_private_url)


def test_pybit_trades_a_hedged_post_only_entry_with_stop_through_its_whole_life(sim, session):
    assert session.switch_position_mode(category="linear", symbol="BTCUSDT", mode=3)["retCode"] == 0
    last = D(session.get_tickers(category="linear", symbol="BTCUSDT")["result"]["list"][0]["lastPrice"])
    entry_price, stop = last - D("0.1"), last - D("400")
    ack = session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                              price=str(entry_price), timeInForce="PostOnly", positionIdx=1, orderLinkId="e-1",
                              stopLoss=str(stop), slTriggerBy="MarkPrice", tpslMode="Full", slOrderType="Market")
    assert ack["retCode"] == 0 and ack["result"]["orderLinkId"] == "e-1"
    (listed,) = session.get_open_orders(category="linear", symbol="BTCUSDT")["result"]["list"]
    assert (listed["orderStatus"], listed["timeInForce"], D(listed["stopLoss"])) == ("New", "PostOnly", stop)

    def filled():
        rows = session.get_open_orders(category="linear", symbol="BTCUSDT", orderLinkId="e-1")["result"]["list"]
        return rows[0]["orderStatus"] == "Filled"

    # Bounded by replayed minutes, not by wall time: a loaded host only makes each minute slower.
    for _ in range(240):
        step(sim)
        if filled():
            break
    else:
        pytest.fail("the entry did not fill within 240 replayed minutes")
    long_slot = next(p for p in session.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"]
                     if p["positionIdx"] == 1)
    assert (long_slot["side"], long_slot["size"], D(long_slot["avgPrice"]), D(long_slot["stopLoss"])) == (
        "Buy", "0.010", entry_price, stop)

    mark = D(long_slot["markPrice"])
    moved = min(entry_price, mark) - D("100")
    res = session.set_trading_stop(category="linear", symbol="BTCUSDT", tpslMode="Full", positionIdx=1,
                                   stopLoss=str(moved), slTriggerBy="MarkPrice")
    assert res["retCode"] == 0
    positions = session.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"]
    assert D(next(p for p in positions if p["positionIdx"] == 1)["stopLoss"]) == moved

    tp = session.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Limit", qty="0.01",
                             price=str(mark + 500), timeInForce="PostOnly", positionIdx=1, reduceOnly=True,
                             orderLinkId="tp-1")
    open_now = session.get_open_orders(category="linear", symbol="BTCUSDT")["result"]["list"]
    assert {(o["orderLinkId"], o["stopOrderType"]) for o in open_now} == {("tp-1", "UNKNOWN"), ("", "StopLoss")}
    assert session.cancel_order(category="linear", symbol="BTCUSDT", orderId=tp["result"]["orderId"])["retCode"] == 0

    (fill,) = session.get_executions(category="linear", symbol="BTCUSDT")["result"]["list"]
    assert (fill["orderLinkId"], fill["isMaker"], D(fill["execPrice"])) == ("e-1", True, entry_price)
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]
    assert D(wallet["totalWalletBalance"]) == D(10000) - D(fill["execFee"])


def test_pybit_sees_bybit_error_codes_as_exceptions(sim, session):
    from pybit.exceptions import InvalidRequestError

    session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                        price="1000", orderLinkId="dup")
    with pytest.raises(InvalidRequestError) as info:
        session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                            price="1000", orderLinkId="dup")
    assert info.value.status_code == 110072


def test_pybit_websocket_receives_in_progress_and_confirmed_klines(sim, pybit_ws_urls):
    frames = []
    ws = WebSocket(channel_type="linear", testnet=False)
    try:
        ws.kline_stream(interval=1, symbol="BTCUSDT", callback=frames.append)
        ws.kline_stream(interval=5, symbol="ETHUSDT", callback=frames.append)
        wait_until(lambda: len(ws.callback_directory) == 2 and sim.streams.subscribed_klines() == {
            (1, "BTCUSDT"), (5, "ETHUSDT")}, what="subscriptions")
        start = sim.clock_ms
        step(sim, 5)
        wait_until(lambda: any(f["topic"] == "kline.1.BTCUSDT" and f["data"][0]["start"] == start + 300_000
                               for f in frames), what="the forming candle after the fifth minute")
    finally:
        ws.exit()
    one_minute = [f["data"][0] for f in frames if f["topic"] == "kline.1.BTCUSDT"]
    confirmed = [k["start"] for k in one_minute if k["confirm"]]
    assert confirmed == [start + i * 60_000 for i in range(5)]
    forming = [k for k in one_minute if not k["confirm"]]
    assert [k["start"] for k in forming] == [start + i * 60_000 for i in range(1, 6)]
    five = [f["data"][0] for f in frames if f["topic"] == "kline.5.ETHUSDT"]
    assert all(k["interval"] == "5" and k["end"] == k["start"] + 299_999 for k in five)
    assert sum(k["confirm"] for k in five) == sum(1 for b in range(start + 60_000, start + 360_000, 60_000)
                                                  if b % 300_000 == 0)


def test_pybit_private_stream_authenticates_and_sees_the_order_lifecycle(sim, session, pybit_ws_urls):
    frames = []
    # pybit's default auth window is 1 s (a known pitfall on a loaded host: the venue refuses
    # the expired auth, and pybit then waits forever to subscribe); 10 s is the spec's advice.
    ws = WebSocket(channel_type="private", testnet=False, api_key=sim.config.api_key,
                   api_secret=sim.config.api_secret, private_auth_expire=10)
    try:
        ws.order_stream(callback=frames.append)
        ws.execution_stream(callback=frames.append)
        wait_until(lambda: any(c.authed and len(c.topics) == 2 for c in list(sim.streams.connections)), what="auth")
        session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01",
                            orderLinkId="m-1")
        wait_until(lambda: len(frames) >= 3, what="private pushes")
    finally:
        ws.exit()
    assert [(f["topic"], f["data"][0].get("orderStatus")) for f in frames[:3]] == [
        ("order", "New"), ("execution", None), ("order", "Filled")]
    assert all(isinstance(f["creationTime"], int) and f["data"][0]["orderLinkId"] == "m-1" for f in frames[:3])
