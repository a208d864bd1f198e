"""The private stream against a real WebSocket server on 127.0.0.1: auth with the shared signer,
typed order / execution / position / wallet messages, lenient rows, and the reconcile signal."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

from ws_venue import WsVenue, until

from vocabulary.messages import ExecutionUpdate, JournalEvent, OrderUpdate, PositionUpdate
from vocabulary.settings import Credentials, Secret
from exchange.bybit.ws_private import AUTH_EXPIRES_MARGIN_MS, PrivateStream

KEY, SECRET = "Wk7PqZ3mR9tLx2VbNc", "ws-secret-xyz-9f8e7d6c5b4a39281706"  # real keys are 18 characters
FAST = dict(ping_interval_s=0.1, silence_timeout_s=0.4, backoff_initial_s=0.01, backoff_max_s=0.05, open_timeout_s=2.0)
NOW = 1_700_000_060_000

ORDER = {"category": "linear", "symbol": "BTCUSDT", "orderId": "oid-1", "orderLinkId": "smt-BTC-1-e1", "side": "Buy",
         "orderType": "Limit", "timeInForce": "PostOnly", "price": "37000.00", "qty": "0.010", "positionIdx": 0,
         "orderStatus": "Cancelled", "rejectReason": "EC_PostOnlyWillTakeLiquidity", "avgPrice": "", "cumExecQty": "0.000",
         "stopLoss": "36800.00", "takeProfit": "", "reduceOnly": False, "updatedTime": "1700000060120"}
FILL = {"category": "linear", "symbol": "BTCUSDT", "execId": "x-1", "orderId": "oid-2", "orderLinkId": "smt-BTC-1-tp",
        "side": "Sell", "execPrice": "37100.5", "execQty": "0.010", "execFee": "0.0742", "execType": "Trade",
        "isMaker": True, "execTime": "1700000070000"}
POSITION = {"positionIdx": 0, "symbol": "BTCUSDT", "side": "Buy", "size": "0.010", "entryPrice": "37000", "stopLoss": "36800.00",
            "takeProfit": "0", "markPrice": "37015.02", "unrealisedPnl": "0.1502", "updatedTime": "1700000060500"}
WALLET = {"accountType": "UNIFIED", "totalEquity": "10000.0762", "totalAvailableBalance": "9962.8762",
          "coin": [{"coin": "USDT", "equity": "10000.0762", "walletBalance": "9999.926"}]}


def push(topic: str, *rows: dict) -> str:
    return json.dumps({"id": "p-1", "topic": topic, "creationTime": NOW, "data": list(rows)})


def make(venue: WsVenue, got: list, secret: str = SECRET, **kw) -> PrivateStream:
    creds = Credentials(Secret(KEY), Secret(secret))
    options = {**FAST, "clock": lambda: (NOW - 2_000) / 1000, **kw}
    return PrivateStream(venue.url.replace("public/linear", "private"), creds, got.append, server_time_ms=lambda: NOW, **options)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_auth_then_subscribe_then_typed_updates():
    got: list = []

    async def scenario():
        async with WsVenue(key=KEY, secret=SECRET, now_ms=lambda: NOW) as venue:
            stream = make(venue, got)
            task = asyncio.create_task(stream.run())
            await until(lambda: stream.healthy)
            await venue.send_raw(push("order", ORDER))
            await venue.send_raw(push("execution", FILL, dict(FILL, execId="f-1", execType="Funding")))
            await venue.send_raw(push("position", POSITION))
            await venue.send_raw(push("wallet", WALLET))
            await until(lambda: len(got) == 5)
            stream.stop()
            await task
            return venue

    venue = run(scenario())
    auth = next(m for m in venue.received if m["op"] == "auth")
    assert auth["args"][0] == KEY and auth["args"][1] == NOW + AUTH_EXPIRES_MARGIN_MS
    sub = next(m for m in venue.received if m["op"] == "subscribe")
    assert sub["args"] == ["order", "execution", "position", "wallet"]
    order, fill, funding, position, wallet = got
    assert isinstance(order, OrderUpdate) and order.status == "Cancelled" and order.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    assert (order.price, order.stop_loss, order.avg_price, order.take_profit) == (Decimal("37000.00"), Decimal("36800.00"), None, None)
    assert isinstance(fill, ExecutionUpdate) and (fill.exec_id, fill.price, fill.fee, fill.is_maker, fill.exec_type) == (
        "x-1", Decimal("37100.5"), Decimal("0.0742"), True, "Trade")
    # Funding is money the position cost: it reaches the owner, marked as funding.
    assert isinstance(funding, ExecutionUpdate) and (funding.exec_id, funding.exec_type) == ("f-1", "Funding")
    assert isinstance(position, PositionUpdate) and (position.avg_price, position.take_profit, position.size) == (Decimal("37000"), None, Decimal("0.010"))
    assert isinstance(wallet, JournalEvent) and wallet.kind == "wallet" and ("total_equity", "10000.0762") in wallet.data


def test_a_wrong_secret_is_reported_retried_with_backoff_and_never_logged(caplog):
    got: list = []

    async def scenario():
        async with WsVenue(key=KEY, secret=SECRET) as venue:
            stream = make(venue, got, secret="not-the-secret")
            task = asyncio.create_task(stream.run())
            await until(lambda: stream.stats["auth_failures"] >= 3)
            stream.stop()
            await task
            return venue, stream

    with caplog.at_level(logging.DEBUG):
        venue, stream = run(scenario())
    failures = [m for m in got if isinstance(m, JournalEvent)]
    assert failures and all(m.kind == "private_auth_failed" and m.message == "Params Error" for m in failures)
    assert not stream.healthy and venue.connections >= 3
    assert not any(m["op"] == "subscribe" for m in venue.received)
    texts = caplog.text + repr(stream) + "".join(str(m) for m in got)
    # websockets logs frames at DEBUG (the auth frame too): not even a prefix may surface.
    assert "not-the-secret" not in texts and KEY[:6] not in texts


def test_after_a_reconnect_the_owner_is_told_to_reconcile_and_bad_rows_are_skipped():
    got: list = []

    async def scenario():
        async with WsVenue(key=KEY, secret=SECRET) as venue:
            stream = make(venue, got)
            task = asyncio.create_task(stream.run())
            await until(lambda: stream.healthy)
            assert got == []  # the first connection is not a reconnect
            await venue.drop(abrupt=True)
            await until(lambda: any(getattr(m, "kind", "") == "private_reconnect" for m in got))
            await venue.send_raw(push("order", dict(ORDER, side=""), {"symbol": "BTCUSDT"}, dict(ORDER, orderStatus="New", rejectReason="EC_NoError")))
            await venue.send_raw(push("position", {"symbol": "BTCUSDT", "size": "0"}))
            await venue.send_raw('{"topic":"order","data":"oops"}')
            await until(lambda: len([m for m in got if not _is_bad_row(m)]) == 4 and len(got) == 7)
            stream.stop()
            await task
            return stream

    stream = run(scenario())
    bad = [m for m in got if _is_bad_row(m)]
    lost, reconnect, order, flat = [m for m in got if not _is_bad_row(m)]
    assert lost.kind == "private_disconnected" and lost.level == "WARNING"
    assert reconnect.kind == "private_reconnect" and reconnect.level == "WARNING"
    assert isinstance(order, OrderUpdate) and order.status == "New" and order.reject_reason is None
    assert isinstance(flat, PositionUpdate) and flat.size == 0 and flat.side is None and flat.avg_price is None
    assert stream.stats["malformed"] == 3
    # Each unusable row is journaled with the venue's own text, never skipped silently.
    assert [dict(m.data)["kind"] for m in bad] == ["order row", "order row", "order data"]
    assert json.loads(dict(bad[0].data)["raw"])["orderId"] == "oid-1" and json.loads(dict(bad[1].data)["raw"]) == {"symbol": "BTCUSDT"}
    assert dict(bad[2].data)["raw"] == '"oops"'


def _is_bad_row(message) -> bool:
    return isinstance(message, JournalEvent) and message.kind == "venue_row_undecodable"
