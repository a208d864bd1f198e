"""The REST client against a scripted V5 venue: signing, time sync, retries that are safe,
typed errors, lenient decoding and the order round trips the router relies on."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from bybit_venue import INSTRUMENT, KEY, MINUTE, SECRET, Fault, FakeRestVenue
from pybit.unified_trading import HTTP as PybitHTTP

from vocabulary.messages import OrderIntent
from vocabulary.settings import Credentials, Secret
from exchange.bybit import errors
from exchange.bybit.rest import BASE_URLS, BybitRest

CREDS = Credentials(Secret(KEY), Secret(SECRET))


def make(venue: FakeRestVenue, **kw) -> tuple[BybitRest, list[float]]:
    sleeps: list[float] = []
    clock = kw.pop("clock", lambda: venue.now_ms / 1000.0)
    rest = BybitRest("http://venue.test", CREDS, clock=clock, transport=venue.transport(), sleep=sleeps.append, **kw)
    return rest, sleeps


def entry(link: str | None = "smt-BTC-1-e1", **kw) -> OrderIntent:
    fields = dict(action="create", symbol="BTCUSDT", order_link_id=link, side="Buy", qty=Decimal("0.010"),
                  price=Decimal("37000.00"), stop_loss=Decimal("36800.00"))
    fields.update(kw)
    return OrderIntent(**fields)


def test_base_urls_cover_every_live_venue():
    assert BASE_URLS == {
        "mainnet": "https://api.bybit.com",
        "testnet": "https://api-testnet.bybit.com",
        "demo": "https://api-demo.bybit.com",
    }


def test_signatures_equal_the_ones_pybit_computes_for_the_same_bytes():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.open_orders("BTCUSDT")
    rest.execute(entry())
    get, post = venue.requests[-3], venue.requests[-1]  # realtime GET; instruments GET; create POST
    assert get.method == "GET" and post.method == "POST"
    pybit = PybitHTTP(api_key=KEY, api_secret=SECRET, testnet=True)  # offline: it only signs here
    for request, payload in ((get, get.url.query.decode()), (post, post.content.decode())):
        h = request.headers
        assert h["x-bapi-sign"] == pybit._auth(payload, int(h["x-bapi-recv-window"]), int(h["x-bapi-timestamp"]))
        assert h["x-bapi-api-key"] == KEY and h["x-bapi-sign-type"] == "2"


def test_post_body_is_the_exact_bytes_signed_and_carries_post_only_and_the_stop():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    ack = rest.execute(entry())
    assert ack.outcome == "ok" and ack.order_id == venue.orders["smt-BTC-1-e1"]["orderId"]
    body = json.loads(venue.requests[-1].content)
    assert body == {
        "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.010",
        "price": "37000.00", "timeInForce": "PostOnly", "positionIdx": 0, "orderLinkId": "smt-BTC-1-e1",
        "stopLoss": "36800.00", "slTriggerBy": "MarkPrice", "tpslMode": "Full", "slOrderType": "Market",
    }


def test_klines_are_ascending_and_exclude_the_forming_bar():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    bars = rest.klines("BTCUSDT", 1, limit=5)
    starts = [b.start_ms for b in bars]
    forming = (venue.server_ms() // MINUTE) * MINUTE
    assert starts == [forming - 4 * MINUTE, forming - 3 * MINUTE, forming - 2 * MINUTE, forming - MINUTE]
    assert all(b.confirmed and b.interval == 1 and b.symbol == "BTCUSDT" for b in bars)
    assert bars[0].high == bars[0].open + 2


def test_klines_range_pages_backwards_and_returns_exactly_the_half_open_range():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    closed = venue.bars_closed()
    start, end = closed[10], closed[-3]
    bars = rest.klines_range("BTCUSDT", 1, start, end)
    assert [b.start_ms for b in bars] == [s for s in closed if start <= s < end]
    assert len(bars) > 2000  # three pages of 1000
    assert sum(1 for r in venue.requests if r.url.path == "/v5/market/kline") == 3


def test_instruments_are_parsed_into_exact_rules():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rules = rest.instruments(["BTCUSDT", "NOPEUSDT"])
    assert list(rules) == ["BTCUSDT"]
    btc = rules["BTCUSDT"]
    assert (btc.tick_size, btc.qty_step, btc.min_order_qty, btc.min_notional) == (
        Decimal("0.10"), Decimal("0.001"), Decimal("0.001"), Decimal("5"))


def test_prices_round_in_the_safe_direction_and_small_orders_never_reach_the_wire():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    buy = rest.execute(entry("b-1", price=Decimal("37000.07"), stop_loss=Decimal("36800.03"), qty=Decimal("0.0109")))
    sell = rest.execute(entry("s-1", side="Sell", price=Decimal("37000.01"), stop_loss=Decimal("37200.09")))
    assert (buy.intent.price, buy.intent.stop_loss, buy.intent.qty) == (Decimal("37000.00"), Decimal("36800.10"), Decimal("0.010"))
    assert (sell.intent.price, sell.intent.stop_loss) == (Decimal("37000.10"), Decimal("37200.00"))
    sent = len(venue.requests)
    tiny = rest.execute(entry("t-1", qty=Decimal("0.0001")))
    cheap = rest.execute(entry("t-2", qty=Decimal("0.001"), price=Decimal("1000")))
    assert tiny.outcome == "rejected" and "minOrderQty" in tiny.ret_msg
    assert cheap.outcome == "rejected" and "minNotionalValue" in cheap.ret_msg
    assert len(venue.requests) == sent


def test_a_timeout_after_the_venue_accepted_a_create_yields_exactly_one_order():
    venue = FakeRestVenue()
    rest, sleeps = make(venue)
    rest.instruments(["BTCUSDT"])
    venue.faults.append(Fault("/v5/order/create", timeout_after_accept=True))
    ack = rest.execute(entry())
    creates = [r for r in venue.requests if r.url.path == "/v5/order/create"]
    assert len(creates) == 2
    assert {json.loads(r.content)["orderLinkId"] for r in creates} == {"smt-BTC-1-e1"}
    assert len(venue.orders) == 1
    assert ack.outcome == "ok" and ack.ret_code == 110072
    assert ack.order_id == venue.orders["smt-BTC-1-e1"]["orderId"]
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 4.0


def test_a_create_that_timed_out_after_acceptance_is_looked_up_when_every_resend_is_rate_limited():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.instruments(["BTCUSDT"])
    venue.faults.append(Fault("/v5/order/create", timeout_after_accept=True))
    venue.faults += [Fault("/v5/order/create", ret_code=10006, ret_msg="Too many visits!")] * 8
    ack = rest.execute(entry())
    assert len(venue.orders) == 1
    assert ack.outcome == "ok" and "order found" in ack.ret_msg, "the order exists: never journal it as failed"
    assert ack.order_id == venue.orders["smt-BTC-1-e1"]["orderId"]


def test_a_timeout_before_the_venue_saw_the_create_is_resent_and_creates_once():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    venue.faults.append(Fault("/v5/order/create", timeout_before=True))
    ack = rest.execute(entry())
    assert ack.outcome == "ok" and ack.ret_code == 0 and len(venue.orders) == 1


def test_a_create_without_order_link_id_is_never_resent():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.instruments(["BTCUSDT"])
    venue.faults.append(Fault("/v5/order/create", timeout_after_accept=True))
    ack = rest.execute(entry(link=None))
    assert ack.outcome == "failed"
    assert sum(1 for r in venue.requests if r.url.path == "/v5/order/create") == 1


def test_a_duplicate_of_an_order_that_was_refused_post_only_is_reported_as_would_take():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.execute(entry())
    venue.orders["smt-BTC-1-e1"].update(orderStatus="Cancelled", rejectReason="EC_PostOnlyWillTakeLiquidity")
    ack = rest.execute(entry())
    assert ack.outcome == "would_take" and ack.ret_code == 110072


@pytest.mark.parametrize("skew_ms", [10_000, -10_000])
def test_a_skewed_venue_clock_costs_one_resync_and_the_call_succeeds(skew_ms):
    venue = FakeRestVenue(skew_ms=skew_ms)
    rest, _ = make(venue)
    assert rest.open_orders() == []
    assert rest.stats["recv_window_errors"] == 1 and rest.stats["time_syncs"] == 1
    assert abs(rest.offset_ms - skew_ms) <= 1
    assert rest.execute(entry()).outcome == "ok"
    assert rest.stats["recv_window_errors"] == 1


def test_sync_time_measures_the_offset_from_time_nano():
    venue = FakeRestVenue(skew_ms=-2_345)
    rest, _ = make(venue)
    assert rest.sync_time() == -2_345
    assert rest.now_ms() == venue.server_ms()


@pytest.mark.parametrize(
    ("fault", "exc_type"),
    [
        (Fault("/v5/order/realtime", ret_code=10001, ret_msg="params error"), errors.RejectedError),
        (Fault("/v5/order/realtime", ret_code=10003, ret_msg="API key is invalid."), errors.FatalError),
        (Fault("/v5/order/realtime", ret_code=10005), errors.FatalError),
        (Fault("/v5/order/realtime", ret_code=110001), errors.ResyncError),
        (Fault("/v5/order/realtime", status=403, body=b"access too frequent"), errors.IpBannedError),
        (Fault("/v5/order/realtime", status=401, body=b"Unauthorized"), errors.FatalError),
        (Fault("/v5/order/realtime", status=404, body=b"Not Found"), errors.FatalError),
    ],
)
def test_each_error_class_raises_its_typed_exception(fault, exc_type):
    venue = FakeRestVenue()
    rest, _ = make(venue)
    venue.faults.append(fault)
    with pytest.raises(exc_type) as info:
        rest.open_orders()
    assert info.value.ret_code in (fault.ret_code, fault.status)
    assert len(venue.requests) == 1  # none of these is retried


@pytest.mark.parametrize("code", [10000, 10016, 110079])
def test_retryable_read_errors_are_retried_with_backoff_then_raised(code):
    venue = FakeRestVenue()
    rest, sleeps = make(venue, max_attempts=3, backoff_base_s=0.2, backoff_cap_s=0.3)
    venue.faults += [Fault("/v5/order/realtime", ret_code=code)] * 3
    with pytest.raises(errors.RetryableError) as info:
        rest.open_orders()
    assert info.value.ret_code == code and len(venue.requests) == 3
    assert len(sleeps) == 2 and 0.1 <= sleeps[0] <= 0.2 and 0.15 <= sleeps[1] <= 0.3


def test_a_server_error_on_a_read_is_retried_until_it_succeeds():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    venue.faults += [Fault("/v5/position/list", status=502, body=b"<html>bad gateway</html>"), Fault("/v5/position/list", ret_code=10016)]
    assert rest.positions() == []
    assert len(venue.requests) == 3


def test_a_server_side_timeout_on_cancel_all_is_resent_because_it_is_idempotent():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.execute(entry())
    venue.faults.append(Fault("/v5/order/cancel-all", ret_code=10000))
    ack = rest.execute(OrderIntent(action="cancel_all", symbol="BTCUSDT"))
    assert ack.outcome == "ok" and venue.orders["smt-BTC-1-e1"]["orderStatus"] == "Cancelled"
    assert json.loads(venue.requests[-1].content)["orderFilter"] == "Order"


def test_venue_rejections_come_back_as_acks_not_exceptions():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    venue.faults.append(Fault("/v5/order/create", ret_code=110007, ret_msg="ab not enough for new order"))
    ack = rest.execute(entry())
    assert (ack.outcome, ack.ret_code, ack.ret_msg) == ("rejected", 110007, "ab not enough for new order")


def test_amend_cancel_and_a_cancel_that_races_a_fill():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.execute(entry())
    amend = rest.execute(OrderIntent(action="amend", symbol="BTCUSDT", order_link_id="smt-BTC-1-e1", side="Buy", price=Decimal("36999.95")))
    assert amend.outcome == "ok" and venue.orders["smt-BTC-1-e1"]["price"] == "36999.90"
    cancel = OrderIntent(action="cancel", symbol="BTCUSDT", order_link_id="smt-BTC-1-e1")
    assert rest.execute(cancel).outcome == "ok"
    again = rest.execute(cancel)
    assert (again.outcome, again.ret_code) == ("rejected", 110001)


def test_a_cancel_whose_answer_was_lost_is_confirmed_by_looking_the_order_up():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.execute(entry())
    venue.faults.append(Fault("/v5/order/cancel", timeout_after_accept=True))
    ack = rest.execute(OrderIntent(action="cancel", symbol="BTCUSDT", order_link_id="smt-BTC-1-e1"))
    assert ack.outcome == "ok" and ack.ret_code == 110001 and venue.orders["smt-BTC-1-e1"]["orderStatus"] == "Cancelled"


def test_trading_stop_is_idempotent():
    venue = FakeRestVenue()
    venue.positions.append({"symbol": "BTCUSDT", "positionIdx": 0, "side": "Buy", "size": "0.010", "avgPrice": "37000", "stopLoss": "36800.00"})
    rest, _ = make(venue)
    move = OrderIntent(action="trading_stop", symbol="BTCUSDT", side="Buy", stop_loss=Decimal("37000.01"))
    first, second = rest.execute(move), rest.execute(move)
    assert (first.outcome, first.ret_code) == ("ok", 0)
    assert (second.outcome, second.ret_code) == ("ok", 34040)
    body = json.loads(venue.requests[-1].content)
    assert body == {"category": "linear", "symbol": "BTCUSDT", "tpslMode": "Full", "positionIdx": 0, "stopLoss": "37000.10", "slTriggerBy": "MarkPrice"}


def test_reads_decode_leniently_and_skip_only_unusable_rows(caplog):
    venue = FakeRestVenue()
    venue.positions += [
        {"symbol": "BTCUSDT", "positionIdx": 1, "side": "Buy", "size": "0.5", "avgPrice": "37000", "stopLoss": "0.00"},
        {"symbol": "ETHUSDT", "size": "2", "brandNewField": {"x": 1}},
        {"positionIdx": 2, "size": "1"},
        {"symbol": "SOLUSDT", "positionIdx": "not-an-int"},
    ]
    rest, _ = make(venue)
    with caplog.at_level(logging.ERROR):
        got = rest.positions()
    assert [(p.symbol, p.side, p.size, p.avg_price, p.stop_loss) for p in got] == [
        ("BTCUSDT", "Buy", Decimal("0.5"), Decimal("37000"), None),
        ("ETHUSDT", None, Decimal("2"), None, None),
    ]
    assert rest.stats["row_problems"] == 2 and len(caplog.records) == 2


def test_open_orders_follow_the_cursor_across_pages():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    for i in range(120):
        rest.execute(entry(f"o-{i}"))
    orders = rest.open_orders("BTCUSDT")
    assert sorted(o.order_link_id for o in orders) == sorted(f"o-{i}" for i in range(120))
    assert orders[0].price == Decimal("37000.00") and orders[0].stop_loss == Decimal("36800.00")
    assert b"cursor=page%3D100" in venue.requests[-1].url.query  # the venue's cursor went back verbatim


def test_order_lookup_finds_closed_orders_in_history():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.execute(entry())
    venue.orders["smt-BTC-1-e1"]["orderStatus"] = "Filled"
    venue.extra_routes["/v5/order/realtime"] = lambda p: {"list": [], "nextPageCursor": ""}
    found = rest.order("BTCUSDT", "smt-BTC-1-e1")
    assert found is not None and found.status == "Filled"
    assert rest.order("BTCUSDT", "never-sent") is None


def test_wallet_equity_and_executions():
    venue = FakeRestVenue()
    venue.executions += [
        {"symbol": "BTCUSDT", "execId": "e2", "orderId": "o", "orderLinkId": "l", "side": "Sell", "execPrice": "37010.5",
         "execQty": "0.010", "execFee": "0.2", "execType": "Trade", "isMaker": True, "execTime": "1700000002000"},
        {"symbol": "BTCUSDT", "execId": "f1", "side": "Buy", "execPrice": "1", "execQty": "1", "execType": "Funding", "execTime": "1"},
        {"symbol": "BTCUSDT", "execId": "e1", "orderId": "o", "orderLinkId": "l", "side": "Sell", "execPrice": "37000",
         "execQty": "0.005", "execFee": "0.1", "execType": "Trade", "isMaker": False, "execTime": "1700000001000"},
    ]
    rest, _ = make(venue)
    assert rest.wallet_equity() == Decimal("9999.5")
    fills = rest.executions("BTCUSDT")
    # Funding flows too, marked as such: the trade accounting books it, it fills no order.
    assert [(f.exec_id, f.price, f.is_maker, f.exec_type) for f in fills] == [
        ("f1", Decimal("1"), False, "Funding"), ("e1", Decimal("37000"), False, "Trade"), ("e2", Decimal("37010.5"), True, "Trade")]


def test_rate_limit_headers_make_the_next_call_wait_and_10006_waits_for_the_reset():
    venue = FakeRestVenue()
    clock = [venue.now_ms / 1000.0]
    rest, sleeps = make(venue, clock=lambda: clock[0])
    reset = venue.server_ms() + 700
    venue.faults.append(Fault("/v5/order/realtime", ret_code=10006, ret_msg="Too many visits!",
                              headers={"X-Bapi-Limit": "50", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(reset)}))
    assert rest.open_orders() == []
    assert sleeps and abs(sleeps[0] - 0.7) < 0.01
    assert rest.stats["rate_limited"] == 1 and len(venue.requests) == 2


def test_secrets_never_reach_exceptions_acks_reprs_or_logs(caplog):
    venue = FakeRestVenue()
    rest, _ = make(venue)
    venue.faults.append(Fault("/v5/order/create", ret_code=10004, ret_msg=f"error sign! origin_string[1700000000000{KEY}5000{{}}]"))
    with caplog.at_level(logging.DEBUG):
        ack = rest.execute(entry())
        venue.faults.append(Fault("/v5/order/realtime", ret_code=10004, ret_msg=f"error sign! origin_string[{KEY}]"))
        with pytest.raises(errors.FatalError) as info:
            rest.open_orders()
    texts = [ack.ret_msg, str(ack), str(info.value), repr(info.value), repr(rest), caplog.text]
    assert ack.outcome == "rejected" and "***" in ack.ret_msg
    assert not any(KEY in t or SECRET in t for t in texts)


def test_instrument_row_missing_filters_is_not_tradable_and_orders_for_it_are_refused():
    venue = FakeRestVenue()
    broken = dict(INSTRUMENT, symbol="ETHUSDT", priceFilter={})
    venue.extra_routes["/v5/market/instruments-info"] = lambda p: {"list": [broken] if p["symbol"] == "ETHUSDT" else [], "nextPageCursor": ""}
    rest, _ = make(venue)
    assert rest.instruments(["ETHUSDT"]) == {}
    ack = rest.execute(entry(symbol="ETHUSDT"))
    assert ack.outcome == "rejected" and "ETHUSDT" in ack.ret_msg
    assert not any(r.url.path == "/v5/order/create" for r in venue.requests)


def test_an_http_403_pauses_every_rest_call_without_touching_the_venue():
    venue = FakeRestVenue()
    clock = [venue.now_ms / 1000.0]
    rest, _ = make(venue, clock=lambda: clock[0])
    venue.faults.append(Fault("/v5/order/realtime", status=403, body=b"access too frequent"))
    with pytest.raises(errors.IpBannedError):
        rest.open_orders()
    ack = rest.execute(entry())
    assert ack.outcome == "rejected" and ack.ret_code == 403 and "paused" in ack.ret_msg
    assert len(venue.requests) == 1
    clock[0] += 601
    assert rest.execute(entry()).outcome == "ok"


def test_a_second_process_spending_the_same_key_is_noticed(caplog):
    venue = FakeRestVenue()
    rest, _ = make(venue)
    venue.limit_headers = {"X-Bapi-Limit": "50", "X-Bapi-Limit-Status": "49"}
    rest.open_orders()
    assert rest.stats["foreign_usage"] == 0
    venue.limit_headers = {"X-Bapi-Limit": "50", "X-Bapi-Limit-Status": "41"}  # we made 2 calls this second, not 9
    with caplog.at_level(logging.WARNING):
        rest.open_orders()
        # 3 of ours and the 7 foreign calls already heard of make 10: the venue's 10 is nothing new.
        venue.limit_headers = {"X-Bapi-Limit": "50", "X-Bapi-Limit-Status": "40"}
        rest.open_orders()
        assert rest.stats["foreign_usage"] == 1
        venue.limit_headers = {"X-Bapi-Limit": "50", "X-Bapi-Limit-Status": "30"}  # 11 ours and known; 20 counted
        rest.open_orders()
    assert rest.stats["foreign_usage"] == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == ["another process seems to spend this API key's rate limit"]


def test_a_result_of_an_unexpected_shape_is_a_transport_error_not_a_crash():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    venue.extra_routes["/v5/order/realtime"] = lambda p: None
    with pytest.raises(errors.TransportError, match="unexpected result shape"):
        rest.open_orders()
    venue.extra_routes["/v5/order/create"] = lambda p: None
    ack = rest.execute(entry())
    assert ack.outcome == "ok" and ack.order_id is None


def test_a_request_is_signed_after_its_rate_limit_wait_not_before():
    venue = FakeRestVenue()
    clock = [venue.now_ms / 1000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        venue.now_ms = int(clock[0] * 1000)

    rest = BybitRest("http://venue.test", CREDS, clock=lambda: clock[0], transport=venue.transport(), sleep=sleep)
    venue.faults.append(Fault("/v5/order/realtime", ret_code=10006, headers={"X-Bapi-Limit-Reset-Timestamp": str(venue.server_ms() + 4_000)}))
    rest.open_orders()
    first, second = (int(r.headers["x-bapi-timestamp"]) for r in venue.requests)
    assert second - first == 4_000
