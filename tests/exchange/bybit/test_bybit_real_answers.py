"""Answers and pushes captured from the real V5 API (Bybit's documentation examples and another
adapter's recorded test data, tests/data/bybit/README.md) go through the production decode path —
``BybitRest`` over ``httpx.MockTransport``, the streams' frame handlers — and map to the fields the
bot reads. Every optional field is also tried as ``null``, ``""`` and absent."""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from vocabulary.messages import ExecutionUpdate, JournalEvent, Kline, OrderIntent, OrderUpdate, PositionUpdate
from vocabulary.settings import Credentials, Secret
from exchange.bybit.rest import BybitRest
from exchange.bybit.ws_private import PrivateStream
from exchange.bybit.ws_public import PublicStream

DATA = Path(__file__).parents[2] / "data" / "bybit"
CREDS = Credentials(Secret("real-answer-key-1234"), Secret("real-answer-secret-5678"))
EMPTY_PAGE = {"retCode": 0, "retMsg": "OK", "result": {"list": [], "nextPageCursor": ""}, "retExtInfo": {}, "time": 1}


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def rest_answering(answers: dict[str, dict], requests: list[httpx.Request] | None = None) -> BybitRest:
    """A client whose venue answers each path with one recorded answer; a request for a further
    page (a cursor) gets an empty page, as the venue's last page looks."""

    def handle(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        params = dict(parse_qsl(request.url.query.decode()))
        answer = EMPTY_PAGE if params.get("cursor") else answers.get(request.url.path, EMPTY_PAGE)
        return httpx.Response(200, json=answer)

    return BybitRest("http://venue.test", CREDS, clock=lambda: 1_700_000_000.0,
                     transport=httpx.MockTransport(handle), sleep=lambda _s: None)


def private_stream(got: list) -> PrivateStream:
    return PrivateStream("ws://127.0.0.1:9/v5/private", CREDS, got.append, clock=lambda: 1_700_000_000.0)


def feed(stream, frame: dict | str) -> None:
    """One frame through the stream's own handler (pushes and refusals need no socket)."""
    raw = frame if isinstance(frame, str) else json.dumps(frame)
    asyncio.run(stream._handle_frame(None, raw))


# --- REST: orders -----------------------------------------------------------------------------


def test_open_orders_with_a_null_avg_price_are_listed_not_dropped():
    """Live answers carry ``"avgPrice": null`` on open and conditional orders; such a row once
    failed to decode and reconciliation saw no orders at all."""
    rest = rest_answering({"/v5/order/realtime": load("nautilus/http_get_orders_realtime_tp_sl.json")})
    tp, sl = rest.open_orders("BTCUSDT", conditional=True)
    assert (tp.order_id, tp.order_link_id, tp.status, tp.avg_price, tp.reduce_only) == (
        "tp-order-001", "client-tp-001", "Untriggered", None, True)
    assert (sl.price, sl.qty, sl.stop_loss, sl.take_profit) == (Decimal("47500.00"), Decimal("0.500"), None, None)
    assert rest.drain_events() == []

    rest = rest_answering({"/v5/order/realtime": load("nautilus/http_get_orders_realtime.json")})
    assert [(o.symbol, o.status, o.price, o.avg_price, o.reject_reason) for o in rest.open_orders("ETHUSDT")] == [
        ("ETHUSDT", "New", Decimal("3930.41"), None, None), ("ETHUSDT", "New", Decimal("3940.42"), None, None)]


def test_the_documented_open_order_maps_every_field_the_router_reads():
    rest = rest_answering({"/v5/order/realtime": load("docs/rest_order_realtime.json")})
    (order,) = rest.open_orders()
    assert order == OrderUpdate(
        symbol="ETHUSDT", order_id="fd4300ae-7847-404e-b947-b46980a4d140", order_link_id="test-000005", side="Buy",
        status="New", order_type="Limit", time_in_force="GTC", price=Decimal("1600.00"), qty=Decimal("0.10"),
        cum_exec_qty=Decimal("0.00"), avg_price=None, position_idx=1, reduce_only=False,
        stop_loss=Decimal("1500.00"), take_profit=Decimal("2500.00"), reject_reason=None, updated_ms=1684738540561)


def test_an_order_found_only_in_history_is_the_post_only_refusal_it_was():
    rest = rest_answering({"/v5/order/history": load("docs/rest_order_history.json")})
    found = rest.order("BTCUSDT", "YLxaWKMiHU")
    assert found is not None and (found.status, found.reject_reason, found.avg_price, found.time_in_force) == (
        "Cancelled", "EC_PostOnlyWillTakeLiquidity", None, "PostOnly")
    history = load("nautilus/http_get_orders_history.json")
    link = history["result"]["list"][0]["orderLinkId"]
    found = rest_answering({"/v5/order/history": history}).order("BTCUSDT", link)
    assert found is not None and found.order_link_id == link


def test_a_partly_filled_then_rejected_order_keeps_its_fill_and_reason():
    found = rest_answering({"/v5/order/history": load("nautilus/http_get_order_partially_filled_rejected.json")}).order(
        "BTCUSDT", "O-20251001-164609-APEX-000-49")
    assert found is not None and (found.status, found.reject_reason, found.cum_exec_qty, found.avg_price) == (
        "Rejected", "INSUFFICIENT_MARGIN", Decimal("0.005"), Decimal("30000"))


def test_a_create_answer_gives_the_ack_its_order_id():
    answers = {"/v5/order/create": load("docs/rest_order_create.json"), "/v5/market/instruments-info": load("docs/rest_instruments_linear.json")}
    ack = rest_answering(answers).execute(OrderIntent(
        action="create", symbol="BTCUSDT", order_link_id="spot-test-postonly", side="Buy", qty=Decimal("0.010"),
        price=Decimal("37000.00"), stop_loss=Decimal("36800.00")))
    assert (ack.outcome, ack.order_id, ack.ret_msg) == ("ok", "1321003749386327552", "OK")


# --- REST: positions, fills, money --------------------------------------------------------------


def test_positions_map_entry_stop_target_and_flat_rows():
    rest = rest_answering({"/v5/position/list": load("nautilus/http_get_positions.json")})
    long, short, flat = rest.positions()
    assert (long.symbol, long.side, long.size, long.avg_price, long.stop_loss, long.take_profit, long.mark_price) == (
        "BTCUSDT", "Buy", Decimal("0.5"), Decimal("50000.00"), Decimal("48000.00"), Decimal("55000.00"), Decimal("50500.00"))
    assert (short.side, short.unrealised_pnl, short.updated_ms) == ("Sell", Decimal("250.00"), 1697673700112)
    assert (flat.side, flat.size, flat.avg_price, flat.stop_loss) == (None, 0, None, None)
    (documented,) = rest_answering({"/v5/position/list": load("docs/rest_position_list.json")}).positions()
    assert (documented.symbol, documented.stop_loss, documented.take_profit, documented.avg_price) == (
        "BTCUSD", None, None, Decimal("27464.50441675"))


def test_executions_keep_their_type_trades_and_funding_alike():
    rest = rest_answering({"/v5/execution/list": load("docs/rest_execution_list.json")})
    (fill,) = rest.executions()
    assert (fill.exec_id, fill.order_link_id, fill.price, fill.qty, fill.fee, fill.is_maker, fill.exec_ms, fill.exec_type) == (
        "e0cbe81d-0f18-5866-9415-cf319b5dab3b", "", Decimal("1190.15"), Decimal("0.1"), Decimal("0.071409"), False,
        1672282722429, "Trade")
    (funding,) = rest_answering({"/v5/execution/list": load("docs/rest_execution_funding.json")}).executions()
    assert (funding.exec_type, funding.fee, funding.qty, funding.price) == ("Funding", Decimal("0.6364003"), Decimal("0.011"), Decimal("28399.90"))
    fills = rest_answering({"/v5/execution/list": load("nautilus/http_get_executions.json")}).executions()
    assert [(f.symbol, f.side, f.is_maker, f.exec_type) for f in fills] == [
        ("BTCUSDT", "Buy", True, "Trade"), ("ETHUSDT", "Sell", False, "Trade")]


def test_wallet_fee_rates_closed_pnl_tickers_klines_and_time():
    assert rest_answering({"/v5/account/wallet-balance": load("docs/rest_wallet_balance.json")}).wallet_equity() == Decimal("3.31216591")
    assert rest_answering({"/v5/account/wallet-balance": load("nautilus/http_get_wallet_balance.json")}).wallet_equity() > 0
    rates = rest_answering({"/v5/account/fee-rate": load("docs/rest_fee_rate.json")}).fee_rates()
    assert (rates["ETHUSDT"].maker, rates["ETHUSDT"].taker) == (Decimal("0.0001"), Decimal("0.0006"))
    assert rest_answering({"/v5/account/fee-rate": load("nautilus/http_get_fee_rate.json")}).fee_rates()
    (closed,) = rest_answering({"/v5/position/closed-pnl": load("docs/rest_closed_pnl.json")}).closed_pnl()
    assert (closed.closed_pnl, closed.closed_size, closed.avg_exit_price, closed.open_fee) == (
        Decimal("-47.4065323"), Decimal("3"), Decimal("1180.59833333"), None)
    ticker = rest_answering({"/v5/market/tickers": load("docs/rest_tickers_inverse.json")}).ticker("BTCUSD")
    assert (ticker.last_price, ticker.mark_price, ticker.index_price) == (Decimal("120635.50"), Decimal("114898.43"), Decimal("114890.92"))
    rest = rest_answering({"/v5/market/kline": load("docs/rest_kline.json")})
    bars = rest.klines("BTCUSD", 60)
    assert [b.start_ms for b in bars] == [1670601600000, 1670605200000, 1670608800000]
    assert isinstance(bars[-1], Kline) and (bars[-1].close, bars[-1].turnover) == (17055.5, 15.74462667)
    rest = rest_answering({"/v5/market/time": load("docs/rest_time.json")})
    assert rest.sync_time() == 1688639403423 - 1_700_000_000_000


# --- REST: instruments --------------------------------------------------------------------------


def test_instruments_with_a_null_page_cursor_load():
    """``"nextPageCursor": null`` on instruments-info once failed the call, and the bot could not start."""
    rules = rest_answering({"/v5/market/instruments-info": load("nautilus/http_get_instruments_linear.json")}).instruments(["BTCUSDT"])
    assert (rules["BTCUSDT"].tick_size, rules["BTCUSDT"].qty_step, rules["BTCUSDT"].min_notional) == (
        Decimal("0.5"), Decimal("0.001"), Decimal("5"))


def test_documented_instruments_give_the_rules_and_a_pre_listing_is_not_traded():
    rules = rest_answering({"/v5/market/instruments-info": load("docs/rest_instruments_linear.json")}).instruments(["BTCUSDT"])
    assert (rules["BTCUSDT"].tick_size, rules["BTCUSDT"].min_order_qty, rules["BTCUSDT"].max_order_qty) == (
        Decimal("0.10"), Decimal("0.001"), Decimal("1190.000"))
    assert rest_answering({"/v5/market/instruments-info": load("docs/rest_instruments_prelisting.json")}).instruments(["BIOUSDT"]) == {}


# --- private stream -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "exec_type"), [
    ("docs/ws_execution_push.json", "Trade"), ("nautilus/ws_account_execution.json", "Trade"),
    ("nautilus/ws_account_execution_adl.json", "AdlTrade"),
])
def test_execution_pushes_become_typed_executions(name, exec_type):
    got: list = []
    frame = load(name)
    feed(private_stream(got), frame)
    (fill,) = got
    row = frame["data"][0]
    assert isinstance(fill, ExecutionUpdate) and fill.exec_type == exec_type
    assert (fill.exec_id, fill.price, fill.qty, fill.fee, fill.side) == (
        row["execId"], Decimal(row["execPrice"]), Decimal(row["execQty"]), Decimal(row["execFee"]), row["side"])


def test_order_pushes_with_empty_prices_map_to_none():
    got: list = []
    stream = private_stream(got)
    for name in ("docs/ws_order_push.json", "nautilus/ws_account_order.json", "nautilus/ws_account_order_filled.json",
                 "nautilus/ws_account_order_stop_loss.json", "nautilus/ws_account_order_take_profit.json",
                 "nautilus/ws_account_order_partially_filled_rejected.json"):
        feed(stream, load(name))
    assert len(got) == 6 and all(isinstance(o, OrderUpdate) for o in got)
    documented, _, filled, stop, _, _ = got
    assert (documented.status, documented.avg_price, documented.qty) == ("Filled", Decimal("75"), Decimal("1"))
    assert (filled.avg_price, filled.cum_exec_qty) == (Decimal("30000.50"), Decimal("0.100"))
    assert (stop.status, stop.price, stop.avg_price, stop.stop_loss, stop.reduce_only) == ("Untriggered", None, None, None, True)


def test_position_and_wallet_pushes():
    got: list = []
    stream = private_stream(got)
    for name in ("docs/ws_position_push.json", "nautilus/ws_account_position.json", "nautilus/ws_account_position_short.json",
                 "docs/ws_wallet_push.json", "nautilus/ws_account_wallet.json"):
        feed(stream, load(name))
    flat, short, _, wallet, _ = got
    assert isinstance(flat, PositionUpdate) and (flat.position_idx, flat.side, flat.size, flat.avg_price) == (2, None, 0, None)
    assert (short.side, short.avg_price, short.mark_price, short.stop_loss) == ("Sell", Decimal("3641.075"), Decimal("3641.33"), None)
    assert isinstance(wallet, JournalEvent) and ("total_equity", "10262.91335023") in wallet.data


def test_an_auth_refusal_in_the_camel_case_shape_keeps_its_reason():
    got: list = []
    stream = private_stream(got)
    feed(stream, load("nautilus/ws_auth_failure.json"))
    (event,) = got
    assert (event.kind, event.message) == ("private_auth_failed", "10003: Invalid apikey")
    got.clear()
    feed(stream, {"success": False, "ret_msg": "Params Error", "op": "auth", "conn_id": "x"})
    assert got[0].message == "Params Error"


def test_documented_op_answers_are_understood_never_reported_malformed():
    got: list = []
    stream = private_stream(got)
    for answer in load("docs/ws_op_answers.json"):
        if answer.get("op") not in ("auth", "subscribe"):
            feed(stream, answer)
    assert stream.stats["malformed"] == 0 and stream.stats["pongs"] >= 3 and got == []


# --- public stream ------------------------------------------------------------------------------


def public_stream(got: list) -> PublicStream:
    return PublicStream("ws://127.0.0.1:9/v5/public/linear", ["BTCUSDT"], [5], got.append, clock=lambda: 1_672_325_000.0)


@pytest.mark.parametrize("name", ["docs/ws_kline_push.json", "nautilus/ws_kline.json"])
def test_kline_pushes_become_bars(name):
    got: list = []
    feed(public_stream(got), load(name))
    (bar,) = got
    assert (bar.symbol, bar.interval, bar.start_ms, bar.open, bar.close, bar.volume, bar.turnover, bar.confirmed) == (
        "BTCUSDT", 5, 1672324800000, 16649.5, 16677.0, 2.081, 34666.4005, False)


def test_subscribe_acks_are_matched_by_req_id_or_answer_the_only_pending_request():
    got: list = []
    stream = public_stream(got)
    stream._pending = {"sub-orderbook-1": ["kline.5.BTCUSDT"], "sub-2": ["kline.5.ETHUSDT"]}
    feed(stream, load("nautilus/ws_subscription_ack.json"))
    assert list(stream._pending) == ["sub-2"] and not stream.healthy
    documented_without_id = next(a for a in load("docs/ws_op_answers.json") if a.get("op") == "subscribe" and "req_id" not in a)
    feed(stream, documented_without_id)
    assert stream._pending == {} and stream.healthy


def test_a_refusal_without_req_id_still_names_its_topic():
    got: list = []
    stream = PublicStream("ws://127.0.0.1:9/v5/public/linear", ["BTCUSDT", "ETHUSDT"], [5], got.append)
    stream._subs["invalid.topic.BTCUSDT"] = ("BTCUSDT", 5)
    feed(stream, load("nautilus/ws_subscription_failure.json"))
    assert "invalid.topic.BTCUSDT" in stream.refused_topics
    assert got[0].kind == "subscribe_refused" and got[0].message == "Invalid topic: invalid.topic.BTCUSDT"


# --- every optional field as null, "" and absent ------------------------------------------------

ABSENT = object()


def variant(row: dict, field: str, value: object) -> dict:
    changed = copy.deepcopy(row)
    if value is ABSENT:
        changed.pop(field, None)
    else:
        changed[field] = value
    return changed


ORDER = load("docs/rest_order_realtime.json")["result"]["list"][0]
FILL = load("docs/ws_execution_push.json")["data"][0]
POSITION = load("nautilus/http_get_positions.json")["result"]["list"][0]
# Fields a row is unusable without: the update would have no identity or no quantity.
REQUIRED = {"symbol", "orderId", "side", "execId", "execPrice", "execQty"}
# The field of the update each optional venue field maps to, where "unset" means None.
UNSET_IS_NONE = {"price": "price", "avgPrice": "avg_price", "stopLoss": "stop_loss", "takeProfit": "take_profit",
                 "rejectReason": "reject_reason", "markPrice": "mark_price", "unrealisedPnl": "unrealised_pnl"}


def _optional(row: dict) -> list[str]:
    return sorted(set(row) - REQUIRED)


@pytest.mark.parametrize("field", _optional(ORDER))
def test_an_order_row_survives_each_optional_field_null_empty_or_absent(field):
    for value in (None, "", ABSENT):
        answer = load("docs/rest_order_realtime.json")
        answer["result"]["list"] = [variant(ORDER, field, value)]
        rest = rest_answering({"/v5/order/realtime": answer})
        (order,) = rest.open_orders()
        assert order.order_id == ORDER["orderId"]
        if field in UNSET_IS_NONE:
            assert getattr(order, UNSET_IS_NONE[field]) is None
        got: list = []
        feed(private_stream(got), {"topic": "order", "creationTime": 1, "data": [variant(ORDER, field, value)]})
        assert [o.order_id for o in got] == [ORDER["orderId"]]


@pytest.mark.parametrize("field", _optional(FILL))
def test_an_execution_row_survives_each_optional_field_null_empty_or_absent(field):
    for value in (None, "", ABSENT):
        answer = {"retCode": 0, "retMsg": "OK", "result": {"list": [variant(FILL, field, value)], "nextPageCursor": None}, "time": 1}
        (fill,) = rest_answering({"/v5/execution/list": answer}).executions()
        assert fill.exec_id == FILL["execId"]
        if field == "execFee":
            assert fill.fee == 0
        if field == "execType":
            assert fill.exec_type == "Trade"
        got: list = []
        feed(private_stream(got), {"topic": "execution", "creationTime": 1, "data": [variant(FILL, field, value)]})
        assert [f.exec_id for f in got] == [FILL["execId"]]


@pytest.mark.parametrize("field", _optional(POSITION))
def test_a_position_row_survives_each_optional_field_null_empty_or_absent(field):
    for value in (None, "", ABSENT):
        answer = {"retCode": 0, "retMsg": "OK", "result": {"list": [variant(POSITION, field, value)], "nextPageCursor": None}, "time": 1}
        (position,) = rest_answering({"/v5/position/list": answer}).positions()
        assert position.symbol == "BTCUSDT"
        if field in UNSET_IS_NONE:
            assert getattr(position, UNSET_IS_NONE[field]) is None


@pytest.mark.parametrize("field", ["avgPrice", "nextPageCursor", "list", "retMsg", "time"])
def test_envelope_and_page_fields_may_be_null(field):
    answer = load("nautilus/http_get_orders_realtime_tp_sl.json")
    if field in ("nextPageCursor", "list"):
        answer["result"][field] = None
    elif field == "avgPrice":
        for row in answer["result"]["list"]:
            row.pop("avgPrice")
    else:
        answer[field] = None
    orders = rest_answering({"/v5/order/realtime": answer}).open_orders(conditional=True)
    assert len(orders) == (0 if field == "list" else 2)
