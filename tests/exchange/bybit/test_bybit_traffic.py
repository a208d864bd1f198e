"""What the real venue sends and how the client answers it: Bybit's "system busy" codes are
retried when resending is safe, long execution spans are read a week at a time, and rows or
values the decoder cannot use become journal events with the venue's own (scrubbed) text."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from bybit_venue import KEY, SECRET, Fault, FakeRestVenue

from vocabulary.messages import JournalEvent, OrderIntent
from actors.router import RouterIO
from vocabulary.settings import Credentials, Secret
from exchange.bybit.rest import MAX_SPAN_MS, BybitRest, week_windows

CREDS = Credentials(Secret(KEY), Secret(SECRET))
DAY = 86_400_000


def make(venue: FakeRestVenue) -> tuple[BybitRest, list[float]]:
    sleeps: list[float] = []
    rest = BybitRest("http://venue.test", CREDS, clock=lambda: venue.now_ms / 1000.0, transport=venue.transport(), sleep=sleeps.append)
    return rest, sleeps


def entry(link: str | None) -> OrderIntent:
    return OrderIntent(action="create", symbol="BTCUSDT", order_link_id=link, side="Buy", qty=Decimal("0.010"),
                       price=Decimal("37000.00"), stop_loss=Decimal("36800.00"))


# --- system busy: 10429 and the UTA body 429 ---------------------------------------------------


@pytest.mark.parametrize("code", [10429, 429])
def test_a_busy_venue_is_asked_again_with_backoff_for_reads(code):
    venue = FakeRestVenue()
    venue.faults += [Fault("/v5/position/list", ret_code=code, ret_msg="System busy, please retry")] * 2
    rest, sleeps = make(venue)
    assert rest.positions() == []
    assert rest.last_attempts == 3 and rest.stats["busy"] == 2 and len(sleeps) == 2 and all(s > 0 for s in sleeps)


@pytest.mark.parametrize("code", [10429, 429])
def test_a_stop_refused_as_busy_is_resent_within_the_same_call(code):
    venue = FakeRestVenue()
    venue.positions.append({"symbol": "BTCUSDT", "positionIdx": 1, "side": "Buy", "size": "0.01", "stopLoss": "0"})
    venue.faults.append(Fault("/v5/position/trading-stop", ret_code=code, ret_msg="System busy"))
    rest, _ = make(venue)
    ack = rest.execute(OrderIntent(action="trading_stop", symbol="BTCUSDT", position_idx=1, stop_loss=Decimal("36000.0")))
    assert ack.outcome == "ok" and rest.last_attempts == 2 and venue.positions[0]["stopLoss"] == "36000.0"


def test_a_create_under_its_order_link_id_is_resent_and_lands_once():
    venue = FakeRestVenue()
    venue.faults.append(Fault("/v5/order/create", ret_code=10429, ret_msg="System busy"))
    rest, _ = make(venue)
    ack = rest.execute(entry("smt-BTC-1-e1"))
    assert ack.outcome == "ok" and rest.last_attempts == 2 and list(venue.orders) == ["smt-BTC-1-e1"]


def test_a_busy_create_that_never_gets_through_is_settled_by_looking_it_up():
    venue = FakeRestVenue()
    venue.faults += [Fault("/v5/order/create", ret_code=429, ret_msg="System busy")] * 4
    rest, _ = make(venue)
    ack = rest.execute(entry("smt-BTC-1-e1"))
    # Every attempt was refused before processing: the lookup finds nothing, the entry failed.
    creates = sum(r.url.path == "/v5/order/create" for r in venue.requests)
    assert (ack.outcome, ack.ret_code, creates, venue.orders) == ("failed", 429, 4, {})
    assert any(r.url.path == "/v5/order/history" for r in venue.requests)


@pytest.mark.parametrize("code", [10429, 10000, 10016, 110079])
def test_a_create_without_order_link_id_is_never_resent(code):
    # 110079 "order is being processed" says the first one arrived: a resend would double it.
    venue = FakeRestVenue()
    venue.faults.append(Fault("/v5/order/create", ret_code=code, ret_msg="refused or unclear"))
    rest, _ = make(venue)
    ack = rest.execute(entry(None))
    assert (ack.outcome, ack.ret_code, rest.last_attempts) == ("failed", code, 1)
    assert sum(r.url.path == "/v5/order/create" for r in venue.requests) == 1


# --- executions a week at a time ----------------------------------------------------------------


def test_spans_longer_than_seven_days_are_cut_into_weeks():
    assert week_windows(None, None, 5) == [(None, None)]
    assert week_windows(0, 3 * DAY, 99) == [(0, 3 * DAY)]
    assert week_windows(0, 7 * DAY, 99) == [(0, 7 * DAY)]
    assert week_windows(0, 15 * DAY, 99) == [(0, 7 * DAY), (7 * DAY + 1, 14 * DAY + 1), (14 * DAY + 2, 15 * DAY)]
    assert week_windows(10, None, 10 + 8 * DAY) == [(10, 10 + MAX_SPAN_MS), (11 + MAX_SPAN_MS, 10 + 8 * DAY)]


def test_executions_over_three_weeks_ask_three_times_and_keep_each_fill_once():
    venue = FakeRestVenue()
    venue.executions += [
        {"symbol": "BTCUSDT", "execId": "e1", "side": "Buy", "execPrice": "100", "execQty": "1", "execType": "Trade", "execTime": "5"},
        {"symbol": "BTCUSDT", "execId": "e2", "side": "Sell", "execPrice": "90", "execQty": "1", "execType": "BustTrade", "execTime": "9"},
    ]
    rest, _ = make(venue)
    fills = rest.executions("BTCUSDT", start_ms=0, end_ms=20 * DAY)
    asked = [dict(parse_qsl(r.url.query.decode())) for r in venue.requests if r.url.path == "/v5/execution/list"]
    assert [(int(a["startTime"]), int(a["endTime"])) for a in asked] == week_windows(0, 20 * DAY, 0)
    assert all(int(a["endTime"]) - int(a["startTime"]) <= MAX_SPAN_MS for a in asked)
    assert [(f.exec_id, f.exec_type) for f in fills] == [("e1", "Trade"), ("e2", "BustTrade")]


# --- what the decoder cannot use is journaled ---------------------------------------------------


def test_an_unknown_exec_type_flows_and_is_journaled_once():
    venue = FakeRestVenue()
    row = {"symbol": "BTCUSDT", "execId": "n1", "side": "Sell", "execPrice": "100", "execQty": "1", "execType": "Rebalance", "execTime": "5"}
    venue.executions += [row, dict(row, execId="n2")]
    rest, _ = make(venue)
    assert [f.exec_type for f in rest.executions("BTCUSDT")] == ["Rebalance", "Rebalance"]
    rest.executions("BTCUSDT")
    (event,) = rest.drain_events()
    assert (event.kind, event.level, dict(event.data)["field"], dict(event.data)["value"]) == (
        "venue_unknown_value", "WARNING", "execType", "Rebalance")
    assert json.loads(dict(event.data)["raw"])["execId"] == "n1"
    assert rest.drain_events() == []


def test_an_unknown_order_status_keeps_the_order_and_is_journaled():
    venue = FakeRestVenue()
    rest, _ = make(venue)
    rest.execute(entry("smt-BTC-1-e1"))
    venue.orders["smt-BTC-1-e1"]["orderStatus"] = "Frozen"
    venue.orders["smt-BTC-1-e2"] = dict(venue.orders["smt-BTC-1-e1"], orderLinkId="smt-BTC-1-e2", orderStatus="New")
    assert [o.order_link_id for o in rest.open_orders("BTCUSDT")] == ["smt-BTC-1-e2"]
    found = rest.order("BTCUSDT", "smt-BTC-1-e1")
    assert found is not None and found.status == "Frozen"
    assert [(e.kind, dict(e.data)["value"]) for e in rest.drain_events()] == [("venue_unknown_value", "Frozen")]


def test_a_row_that_cannot_be_decoded_is_journaled_with_its_scrubbed_text_never_skipped_silently():
    venue = FakeRestVenue()
    good = {"symbol": "BTCUSDT", "positionIdx": 1, "side": "Buy", "size": "0.01", "avgPrice": "37000"}
    bad = {"symbol": "BTCUSDT", "positionIdx": {"nested": True}, "size": "0.01", "note": f"key {KEY} echoed"}
    venue.positions += [bad, good]
    rest, _ = make(venue)
    assert [p.size for p in rest.positions()] == [Decimal("0.01")]
    (event,) = rest.drain_events()
    assert (event.kind, event.level, dict(event.data)["path"]) == ("venue_row_undecodable", "ERROR", "/v5/position/list")
    raw = dict(event.data)["raw"]
    assert "nested" in raw and KEY not in raw and "***" in raw


def test_a_row_without_its_identity_is_journaled_too():
    venue = FakeRestVenue()
    venue.executions.append({"symbol": "BTCUSDT", "execId": "", "side": "Buy", "execPrice": "1", "execQty": "1"})
    rest, _ = make(venue)
    assert rest.executions("BTCUSDT") == []
    (event,) = rest.drain_events()
    assert event.kind == "venue_row_undecodable" and "without execId" in dict(event.data)["error"]


def test_the_router_io_hands_the_clients_events_to_the_journal():
    venue = FakeRestVenue()
    venue.positions.append({"symbol": "BTCUSDT", "positionIdx": "x", "size": []})
    rest, _ = make(venue)
    io = RouterIO(rest)
    io.snapshot(0)
    events = io.venue_events()
    assert [type(e) for e in events] == [JournalEvent] and events[0].kind == "venue_row_undecodable"
    assert io.venue_events() == []
