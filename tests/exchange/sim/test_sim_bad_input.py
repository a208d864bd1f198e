"""Bad input never breaks the venue: any request body gets a V5 answer, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.sim import queries
from exchange.sim.orders import V5Error
from sim_builders import T0, Market, btc_engine

KEYS = ["category", "symbol", "side", "orderType", "qty", "price", "timeInForce", "positionIdx", "orderLinkId",
        "orderId", "reduceOnly", "closeOnTrigger", "triggerPrice", "triggerDirection", "triggerBy", "takeProfit",
        "stopLoss", "tpTriggerBy", "slTriggerBy", "tpslMode", "buyLeverage", "sellLeverage", "mode", "coin",
        "settleCoin", "baseCoin", "orderFilter", "stopOrderType", "openOnly", "limit", "cursor", "startTime",
        "endTime", "accountType", "trailingStop", "execType", "orderStatus"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["linear", "BTCUSDT", "Buy", "Sell", "Limit", "Market", "PostOnly", "GTC", "Full", "0", "1", "2",
                     "3", "0.001", "30000", "29000.5", "1e30", "-1", "NaN", "Infinity", "1e-30", "", "USDT", "x" * 40]),
    st.text(max_size=8),
)
values = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=3), scalars, max_size=2))
requests = st.dictionaries(st.sampled_from(KEYS), values, max_size=10).map(
    lambda d: {"category": "linear", "symbol": "BTCUSDT", **d} if d.get("category") is None else d)


def calls(engine):
    return [
        lambda r: engine.place_order(r, T0), lambda r: engine.amend_order(r, T0), lambda r: engine.cancel_order(r, T0),
        lambda r: engine.cancel_all(r, T0), lambda r: engine.set_trading_stop(r, T0),
        lambda r: engine.set_leverage(r, T0), lambda r: engine.switch_mode(r, T0),
        lambda r: queries.open_orders(engine, r), lambda r: queries.order_history(engine, r, T0),
        lambda r: queries.executions(engine, r, T0), lambda r: queries.positions(engine, r),
        lambda r: queries.closed_pnl(engine, r, T0), lambda r: queries.wallet_balance(engine, r),
        lambda r: queries.fee_rates(engine, r),
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 13), requests), min_size=1, max_size=8))
def test_any_request_gets_a_result_or_a_v5_error(script):
    m = Market(btc_engine())
    m.order(side="Buy", orderType="Market", qty="0.01")
    m.order(side="Sell", orderType="Limit", qty="0.01", price="30500", orderLinkId="resting")
    table = calls(m.engine)
    for which, req in script:
        try:
            table[which](req)
        except V5Error as err:
            assert isinstance(err.code, int) and err.code != 0 and err.msg
    m.bar(30000, 30600, 29500, 30200)
    for order in m.engine.orders.values():
        m.engine.rules["BTCUSDT"].price_text(order.price)


@pytest.mark.parametrize("fields", [
    {"qty": "1e30"}, {"price": "1e30"}, {"qty": "1e-30"}, {"price": "NaN"}, {"qty": "-0.01"},
    {"stopLoss": "Infinity"}, {"qty": ["0.01"]}, {"symbol": ["BTCUSDT"]}, {"orderLinkId": {"a": 1}},
])
def test_absurd_numbers_and_wrong_types_are_10001(fields):
    m = Market(btc_engine())
    req = {"side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "29000", **fields}
    with pytest.raises(V5Error) as info:
        m.order(**req)
    assert info.value.code == 10001
