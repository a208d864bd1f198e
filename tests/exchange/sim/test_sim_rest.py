"""REST face of the simulator: envelope, authentication, rate limits, market data without look-ahead."""

from __future__ import annotations

import time
from decimal import Decimal as D

import httpx
import pytest

from exchange.sim.market import load_bars
from sim_builders import DATA, signed, step


def test_every_reply_uses_the_v5_envelope_with_the_replay_clock(sim):
    body = httpx.get(f"{sim.rest_url}/v5/market/time").json()
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert body["time"] == sim.clock_ms and body["result"]["timeNano"] == str(sim.clock_ms * 1_000_000)


def test_missing_auth_headers_is_http_401(sim):
    assert httpx.get(f"{sim.rest_url}/v5/order/realtime?category=linear&symbol=BTCUSDT").status_code == 401


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"key": "someone-else"}, 10003),
    ({"secret": "wrong-secret"}, 10004),
    ({"timestamp": -60_000}, 10002),   # offsets from now: older than recv_window
    ({"timestamp": +5_000}, 10002),    # from the future by more than 1 s
])
def test_authentication_failures_answer_with_bybit_codes(sim, kwargs, code):
    if "timestamp" in kwargs:
        kwargs = {"timestamp": int(time.time() * 1000) + kwargs["timestamp"]}
    res = signed(sim, "GET", "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"}, **kwargs)
    assert res.status_code == 200 and res.json()["retCode"] == code


def test_signature_covers_the_exact_body_bytes(sim):
    good = '{"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "5"}'
    res = signed(sim, "POST", "/v5/position/set-leverage", body=good)
    assert res.json()["retCode"] == 0
    import exchange.signing as signing
    ts = str(time.time_ns() // 1_000_000)
    tampered = good.replace('"5"', '"6"')
    headers = {signing.HEADER_API_KEY: sim.config.api_key, signing.HEADER_TIMESTAMP: ts,
               signing.HEADER_RECV_WINDOW: "5000",
               signing.HEADER_SIGN: signing.sign(sim.config.api_secret, ts, sim.config.api_key, "5000", good)}
    res = httpx.post(f"{sim.rest_url}/v5/position/set-leverage", content=tampered, headers=headers)
    assert res.json()["retCode"] == 10004 and "origin_string[" in res.json()["retMsg"]


def test_timestamp_synced_to_the_replay_clock_is_accepted_too(sim):
    res = signed(sim, "GET", "/v5/account/fee-rate", {"category": "linear", "symbol": "BTCUSDT"}, timestamp=sim.clock_ms)
    assert res.json()["retCode"] == 0
    assert res.json()["result"]["list"] == [{"symbol": "BTCUSDT", "takerFeeRate": "0.00055", "makerFeeRate": "0.0002"}]


def test_bad_json_body_is_10001_and_unknown_paths_are_404(sim):
    assert signed(sim, "POST", "/v5/order/create", body="{not json").json()["retCode"] == 10001
    assert httpx.get(f"{sim.rest_url}/v5/market/nothing").status_code == 404
    assert signed(sim, "GET", "/v5/order/create").status_code == 404


def test_get_with_a_body_is_forbidden(sim):
    res = httpx.request("GET", f"{sim.rest_url}/v5/market/time", content=b"{}")
    assert res.status_code == 403


def test_per_uid_rate_limit_answers_10006_with_the_limit_headers(sim, monkeypatch):
    """fee-rate allows 5 calls per rolling second of wall time. The window is held still, so the
    test counts calls whatever the speed of a loaded host."""
    frozen = int(time.time() * 1000)
    check = sim.rest.limiter.check
    monkeypatch.setattr(sim.rest.limiter, "check", lambda key, path, _now: check(key, path, frozen))
    params = {"category": "linear", "symbol": "BTCUSDT"}
    answers = [signed(sim, "GET", "/v5/account/fee-rate", params) for _ in range(6)]
    assert [a.json()["retCode"] for a in answers] == [0, 0, 0, 0, 0, 10006]
    assert [a.headers["X-Bapi-Limit-Status"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    assert answers[-1].json()["retMsg"] == "Too many visits!"
    assert int(answers[-1].headers["X-Bapi-Limit-Reset-Timestamp"]) == frozen + 1000


def test_order_endpoints_produce_their_documented_codes_over_the_wire(sim):
    base = {"category": "linear", "symbol": "BTCUSDT"}
    create = dict(base, side="Buy", orderType="Limit", qty="0.01", price="1000", orderLinkId="w-1")
    assert signed(sim, "POST", "/v5/order/create", create).json()["retCode"] == 0
    assert signed(sim, "POST", "/v5/order/create", create).json()["retCode"] == 110072
    assert signed(sim, "POST", "/v5/order/cancel", dict(base, orderLinkId="nope")).json()["retCode"] == 110001
    assert signed(sim, "POST", "/v5/order/create", dict(create, orderLinkId="w-2", positionIdx=1)).json()["retCode"] == 10001
    ts = dict(base, tpslMode="Full", positionIdx=0, stopLoss="1000")
    reply = signed(sim, "POST", "/v5/position/trading-stop", ts).json()
    assert (reply["retCode"], reply["retMsg"]) == (10001, "can not set tp/sl/ts for zero position")
    lev = dict(base, buyLeverage="10", sellLeverage="10")
    assert signed(sim, "POST", "/v5/position/set-leverage", lev).json()["retCode"] == 110043
    assert signed(sim, "POST", "/v5/position/switch-mode", dict(base, mode=0)).json()["retCode"] == 110025
    reply = signed(sim, "POST", "/v5/order/cancel-all", {"category": "linear"}).json()
    assert reply["retCode"] == 10001
    reply = signed(sim, "POST", "/v5/order/cancel-all", dict(base)).json()
    assert reply["result"]["list"][0]["orderLinkId"] == "w-1"


def test_null_values_count_as_absent(sim):
    req = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01",
           "price": "1000", "orderLinkId": None, "takeProfit": None}
    assert signed(sim, "POST", "/v5/order/create", req).json()["retCode"] == 0


def test_queries_page_with_opaque_cursors(sim):
    for i in range(3):
        signed(sim, "POST", "/v5/order/create", {"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                                                 "orderType": "Limit", "qty": "0.1", "price": "1000", "orderLinkId": f"p{i}"})
    first = signed(sim, "GET", "/v5/order/realtime", {"category": "linear", "settleCoin": "USDT", "limit": 2}).json()["result"]
    assert [o["orderLinkId"] for o in first["list"]] == ["p2", "p1"] and first["nextPageCursor"]
    rest = signed(sim, "GET", "/v5/order/realtime", {"category": "linear", "settleCoin": "USDT", "limit": 2,
                                                     "cursor": first["nextPageCursor"]}).json()["result"]
    assert [o["orderLinkId"] for o in rest["list"]] == ["p0"] and rest["nextPageCursor"] == ""
    assert signed(sim, "GET", "/v5/order/realtime", {"category": "linear"}).json()["retCode"] == 10001
    assert signed(sim, "GET", "/v5/order/realtime", {"category": "linear", "settleCoin": "USDT", "limit": 51}).json()["retCode"] == 10001


def test_position_list_by_settle_coin_shows_only_open_positions(sim):
    rows = signed(sim, "GET", "/v5/position/list", {"category": "linear", "settleCoin": "USDT"}).json()["result"]["list"]
    assert rows == []
    rows = signed(sim, "GET", "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"}).json()["result"]["list"]
    assert [(r["positionIdx"], r["side"], r["size"]) for r in rows] == [(0, "", "0.000")]


def test_instruments_carry_the_shipped_rules(sim):
    (btc,) = httpx.get(f"{sim.rest_url}/v5/market/instruments-info",
                       params={"category": "linear", "symbol": "BTCUSDT"}).json()["result"]["list"]
    assert btc["priceFilter"]["tickSize"] == "0.10" and btc["lotSizeFilter"]["qtyStep"] == "0.001"
    assert btc["lotSizeFilter"]["minNotionalValue"] == "5" and btc["priceScale"] == "2"
    every = httpx.get(f"{sim.rest_url}/v5/market/instruments-info", params={"category": "linear"}).json()["result"]["list"]
    assert [i["symbol"] for i in every] == ["BTCUSDT", "ETHUSDT"]


# --- klines and the clock -----------------------------------------------------------------------


def rest_klines(sim, **params):
    res = httpx.get(f"{sim.rest_url}/v5/market/kline", params={"category": "linear", "symbol": "BTCUSDT", **params})
    return res.json()


def test_kline_history_is_newest_first_and_matches_the_data_file(sim):
    rows = rest_klines(sim, interval="1", limit=5)["result"]["list"]
    starts = [int(r[0]) for r in rows]
    assert starts == [sim.clock_ms - i * 60_000 for i in range(5)]
    source = {b.start_ms: b for b in load_bars((DATA / "BTCUSDT-1m.csv.gz").resolve())}
    for row in rows[1:]:
        bar = source[int(row[0])]
        assert [D(x) for x in row[1:6]] == [bar.open, bar.high, bar.low, bar.close, bar.volume]


def test_kline_never_shows_what_the_replay_has_not_reached(sim):
    source = {b.start_ms: b for b in load_bars((DATA / "BTCUSDT-1m.csv.gz").resolve())}
    now = sim.clock_ms
    for interval in ("1", "15", "60"):
        rows = rest_klines(sim, interval=interval, limit=3, end=now + 10 * 3_600_000)["result"]["list"]
        newest = rows[0]
        assert int(newest[0]) <= now < int(newest[0]) + int(interval) * 60_000
    forming = rest_klines(sim, interval="1", limit=1)["result"]["list"][0]
    opening = source[now].open
    assert [D(x) for x in forming[1:5]] == [opening] * 4 and forming[5] == "0"
    step(sim)
    closed = rest_klines(sim, interval="1", limit=2)["result"]["list"][1]
    assert [D(x) for x in closed[1:5]] == [source[now].open, source[now].high, source[now].low, source[now].close]


def test_higher_timeframes_aggregate_the_one_minute_bars(sim):
    fifteen = rest_klines(sim, interval="15", limit=2)["result"]["list"][1]
    start = int(fifteen[0])
    ones = rest_klines(sim, interval="1", start=start, end=start + 14 * 60_000, limit=1000)["result"]["list"]
    assert len(ones) == 15
    assert D(fifteen[1]) == D(ones[-1][1]) and D(fifteen[4]) == D(ones[0][4])
    assert D(fifteen[2]) == max(D(r[2]) for r in ones) and D(fifteen[3]) == min(D(r[3]) for r in ones)
    assert D(fifteen[5]) == sum(D(r[5]) for r in ones)


def test_kline_parameter_errors(sim):
    assert rest_klines(sim, interval="7")["retCode"] == 10001
    assert rest_klines(sim, interval="1", limit=1001)["retCode"] == 10001
    assert rest_klines(sim, interval="1", symbol="NOPEUSDT")["retCode"] == 10001


def test_a_request_signed_on_the_replay_clock_just_before_it_jumps_a_minute_is_not_stale(sim):
    """A client signing with the replay clock (the embedded simulator's own) can be overtaken in
    flight by a boundary: the clock jumps a minute ahead of the paced time. That jump is not
    time the request spent, so the request is judged as a venue's moving clock would judge it."""
    signed_at = sim.clock_ms
    step(sim)
    assert sim.clock_ms - signed_at == 60_000  # far beyond the 5 s window
    res = signed(sim, "GET", "/v5/account/fee-rate", {"category": "linear", "symbol": "BTCUSDT"}, timestamp=signed_at)
    assert res.json()["retCode"] == 0


def test_a_replay_timestamp_older_than_the_window_is_still_refused_without_a_jump_to_excuse_it(sim):
    res = signed(sim, "GET", "/v5/account/fee-rate", {"category": "linear", "symbol": "BTCUSDT"},
                 timestamp=sim.clock_ms - 6_000)
    assert res.json()["retCode"] == 10002
