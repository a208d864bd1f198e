"""The matching engine, specified through the V5 calls a bot makes and the bars that follow."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exchange.sim.orders import V5Error
from sim_builders import T0, Market, btc_engine


def post_only_buy(m: Market, price, qty="0.01", **extra):
    return m.order(side="Buy", orderType="Limit", qty=qty, price=str(price), timeInForce="PostOnly", **extra)


def rejected(call) -> V5Error:
    with pytest.raises(V5Error) as info:
        call()
    return info.value


# --- PostOnly, limits, fees -------------------------------------------------------------------


def test_post_only_entry_that_would_cross_is_accepted_then_cancelled_without_a_fill(market):
    ack = post_only_buy(market, "30000", orderLinkId="cross-1")
    order = market.get(ack)
    assert ack == {"orderId": order.order_id, "orderLinkId": "cross-1"}
    assert (order.status, order.reject_reason, order.cancel_type) == ("Cancelled", "EC_PostOnlyWillTakeLiquidity", "UNKNOWN")
    assert order.cum_exec_qty == 0 and market.engine.executions == []
    assert market.engine.wallet == D(10000)


def test_resting_limit_fills_as_maker_only_when_the_bar_trades_one_tick_through_it(market):
    order = market.get(post_only_buy(market, "29990"))
    market.bar(30000, 30010, "29990", 30005)
    assert order.status == "New"
    market.bar(30005, 30006, "29989.9", 30000)
    assert order.status == "Filled"
    (fill,) = market.engine.executions
    assert fill["execPrice"] == "29990.00" and fill["isMaker"] is True
    assert D(fill["execFee"]) == D("29990") * D("0.01") * D("0.0002")
    assert market.engine.wallet == D(10000) - D("0.05998")


def test_fill_through_ticks_zero_fills_on_a_touch():
    m = Market(btc_engine(fill_through_ticks=0))
    order = m.get(post_only_buy(m, "29990"))
    m.bar(30000, 30010, "29990", 30005)
    assert order.status == "Filled"


def test_market_order_takes_at_the_last_price_and_pays_the_taker_fee(market):
    order = market.get(market.order(side="Buy", orderType="Market", qty="0.01"))
    assert order.status == "Filled" and order.time_in_force == "IOC"
    (fill,) = market.engine.executions
    assert fill["execPrice"] == "30000.00" and fill["isMaker"] is False
    assert D(fill["execFee"]) == D("0.165") and fill["feeRate"] == "0.00055"


def test_crossing_gtc_limit_takes_at_the_last_price(market):
    order = market.get(market.order(side="Sell", orderType="Limit", qty="0.01", price="29900"))
    assert order.status == "Filled"
    assert market.engine.executions[0]["execPrice"] == "30000.00"
    assert market.position().side == "Sell"


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
def test_immediate_orders_that_cannot_fill_are_cancelled(market, tif):
    order = market.get(market.order(side="Buy", orderType="Limit", qty="0.01", price="29000", timeInForce=tif))
    assert order.status == "Cancelled" and order.cum_exec_qty == 0


# --- intrabar path ----------------------------------------------------------------------------


@pytest.mark.parametrize(("bar", "first_side"), [
    ((30000, 30100, 29900, 30080), "Buy"),   # up bar: O→L→H→C, the low comes first
    ((30000, 30100, 29900, 29950), "Sell"),  # down bar: O→H→L→C, the high comes first
])
def test_bar_direction_decides_whether_the_low_or_the_high_trades_first(market, bar, first_side):
    post_only_buy(market, "29950")
    market.order(side="Sell", orderType="Limit", qty="0.01", price="30050", timeInForce="PostOnly")
    market.bar(*bar)
    assert [e["side"] for e in market.engine.executions] == [first_side, "Sell" if first_side == "Buy" else "Buy"]
    assert market.position().size == 0


def test_fixed_path_model_overrides_bar_direction():
    m = Market(btc_engine(intrabar_path="OHLC"))
    post_only_buy(m, "29950")
    m.order(side="Sell", orderType="Limit", qty="0.01", price="30050", timeInForce="PostOnly")
    m.bar(30000, 30100, 29900, 30080)
    assert [e["side"] for e in m.engine.executions] == ["Sell", "Buy"]


# --- attached stop-loss and take-profit -------------------------------------------------------


def open_long_with_stops(m: Market, sl="29900", tp=None):
    extra = {"stopLoss": sl, "slTriggerBy": "MarkPrice", "tpslMode": "Full"}
    if tp:
        extra["takeProfit"] = tp
    entry = m.get(post_only_buy(m, "29990", orderLinkId="entry", **extra))
    m.bar(30000, 30005, 29980, 29995)
    assert entry.status == "Filled"
    return entry


def test_attached_stop_loss_becomes_an_untriggered_position_stop_when_the_entry_fills(market):
    open_long_with_stops(market)
    pos = market.position()
    assert (pos.side, pos.size, pos.avg_price, pos.stop_loss) == ("Buy", D("0.01"), D("29990"), D("29900"))
    (stop,) = [o for o in market.engine.orders.values() if o.stop_order_type == "StopLoss"]
    assert (stop.status, stop.side, stop.trigger_price, stop.trigger_by) == ("Untriggered", "Sell", D("29900"), "MarkPrice")
    assert stop.reduce_only and stop.close_on_trigger and stop.parent_order_link_id == "entry"


def test_stop_loss_triggers_and_books_pnl_and_both_fees(market):
    open_long_with_stops(market)
    market.bar(29995, 29996, 29850, 29860)
    pos = market.position()
    assert pos.size == 0 and pos.side == "" and pos.stop_loss == 0
    close = market.engine.executions[-1]
    assert (close["side"], close["execPrice"], close["isMaker"], close["createType"]) == ("Sell", "29900.00", False, "CreateByStopLoss")
    open_fee, close_fee = D("29990") * D("0.01") * D("0.0002"), D("29900") * D("0.01") * D("0.00055")
    gross = (D("29900") - D("29990")) * D("0.01")
    assert D(market.engine.closed_pnl[-1]["closedPnl"]) == gross - open_fee - close_fee
    assert market.engine.wallet == D(10000) + gross - open_fee - close_fee


def test_stop_gapped_through_fills_at_the_price_the_path_jumped_to(market):
    open_long_with_stops(market)
    market.engine.set_last_price("BTCUSDT", D("29800"))
    market.bar(29800, 29810, 29700, 29750)
    assert market.engine.executions[-1]["execPrice"] == "29800.00"


@pytest.mark.parametrize(("sl_before_tp", "exit_price"), [(True, "29900.00"), (False, "30100.00")])
def test_when_stop_and_target_share_a_bar_the_stop_wins_by_default(sl_before_tp, exit_price):
    m = Market(btc_engine(sl_before_tp=sl_before_tp))
    open_long_with_stops(m, sl="29900", tp="30100")
    m.bar(29995, 30150, 29850, 29900)  # down bar: the path visits the high (target) first
    assert m.engine.executions[-1]["execPrice"] == exit_price
    assert m.position().size == 0
    leftover = [o for o in m.engine.orders.values() if o.is_position_tpsl and o.status == "Deactivated"]
    assert [o.cancel_type for o in leftover] == ["CancelByTpSlTsClear"]


def test_tp_sl_on_the_wrong_side_of_the_entry_is_rejected(market):
    err = rejected(lambda: post_only_buy(market, "29990", stopLoss="30100"))
    assert err.code == 10001 and "sl:30100.00 set for Buy position" in err.msg
    assert rejected(lambda: post_only_buy(market, "29990", takeProfit="29000")).code == 10001


def test_tp_sl_cannot_ride_on_a_reduce_only_order(market):
    market.order(side="Buy", orderType="Market", qty="0.01")
    err = rejected(lambda: market.order(side="Sell", orderType="Limit", qty="0.01", price="30100",
                                        reduceOnly=True, stopLoss="30500"))
    assert err.code == 10001


# --- reduce-only, one-way and hedge mode ------------------------------------------------------


def test_reduce_only_take_profit_closes_at_most_the_position_and_never_flips(market):
    market.order(side="Buy", orderType="Market", qty="0.01")
    tp = market.get(market.order(side="Sell", orderType="Limit", qty="0.02", price="30100",
                                 timeInForce="PostOnly", reduceOnly=True))
    market.bar(30000, 30200, 29990, 30150)
    assert tp.status == "Filled" and tp.cum_exec_qty == D("0.01")
    assert market.position().size == 0 and market.position().side == ""


def test_reduce_only_without_a_position_is_refused(market):
    err = rejected(lambda: market.order(side="Sell", orderType="Limit", qty="0.01", price="30100", reduceOnly=True))
    assert (err.code, err.msg) == (110017, "current position is zero, cannot fix reduce-only order qty")


def test_reduce_only_on_the_same_side_as_the_position_is_refused(market):
    market.order(side="Buy", orderType="Market", qty="0.01")
    err = rejected(lambda: market.order(side="Buy", orderType="Limit", qty="0.01", price="29000", reduceOnly=True))
    assert err.code == 110017


def test_resting_reduce_only_order_is_cancelled_when_the_position_closes(market):
    market.order(side="Buy", orderType="Market", qty="0.01")
    tp = market.get(market.order(side="Sell", orderType="Limit", qty="0.01", price="30500", reduceOnly=True))
    market.order(side="Sell", orderType="Market", qty="0.01")
    assert (tp.status, tp.cancel_type) == ("Cancelled", "CancelByReduceOnly")


def test_one_way_order_larger_than_the_position_flips_it(market):
    market.order(side="Buy", orderType="Market", qty="0.01")
    market.engine.set_last_price("BTCUSDT", D("30100"))
    market.order(side="Sell", orderType="Market", qty="0.03")
    pos = market.position()
    assert (pos.side, pos.size, pos.avg_price) == ("Sell", D("0.02"), D("30100"))
    assert D(market.engine.executions[-1]["execPnl"]) == D("1.00")


def test_a_flip_ends_the_old_positions_stop_and_reduce_only_orders(market):
    open_long_with_stops(market)
    tp = market.get(market.order(side="Sell", orderType="Limit", qty="0.01", price="30500", reduceOnly=True))
    market.order(side="Sell", orderType="Market", qty="0.03")
    pos = market.position()
    assert (pos.side, pos.size, pos.stop_loss) == ("Sell", D("0.02"), 0)
    assert [(o.stop_order_type, o.status, o.cancel_type) for o in market.engine.orders.values() if o.is_position_tpsl] == [
        ("StopLoss", "Deactivated", "CancelByTpSlTsClear")]
    assert (tp.status, tp.cancel_type) == ("Cancelled", "CancelByReduceOnly")


def test_hedge_mode_keeps_a_long_and_a_short_apart(hedge_market):
    m = hedge_market
    assert rejected(lambda: m.order(side="Buy", orderType="Market", qty="0.01")).code == 10001
    m.order(side="Buy", orderType="Market", qty="0.01", positionIdx=1)
    m.order(side="Sell", orderType="Market", qty="0.02", positionIdx=2)
    assert (m.position(1).side, m.position(1).size) == ("Buy", D("0.01"))
    assert (m.position(2).side, m.position(2).size) == ("Sell", D("0.02"))
    m.order(side="Sell", orderType="Market", qty="0.01", positionIdx=1)
    assert m.position(1).size == 0 and m.position(2).size == D("0.02")


def test_hedge_mode_close_side_on_an_empty_slot_is_refused(hedge_market):
    err = rejected(lambda: hedge_market.order(side="Sell", orderType="Market", qty="0.01", positionIdx=1))
    assert err.code == 110017


# --- trading-stop -----------------------------------------------------------------------------


def test_trading_stop_needs_a_position(market):
    err = rejected(lambda: market.engine.set_trading_stop(
        {"category": "linear", "symbol": "BTCUSDT", "tpslMode": "Full", "positionIdx": 0, "stopLoss": "29000"}, T0))
    assert (err.code, err.msg) == (10001, "can not set tp/sl/ts for zero position")


def test_trading_stop_moves_the_stop_and_answers_34040_when_unchanged(market):
    open_long_with_stops(market)
    req = {"category": "linear", "symbol": "BTCUSDT", "tpslMode": "Full", "positionIdx": 0, "stopLoss": "29990"}
    assert market.engine.set_trading_stop(req, market.t) == {}
    assert market.position().stop_loss == D("29990")
    stops = [o for o in market.engine.orders.values() if o.stop_order_type == "StopLoss"]
    assert [o.status for o in stops] == ["Deactivated", "Untriggered"]
    assert rejected(lambda: market.engine.set_trading_stop(req, market.t)).code == 34040


def test_trading_stop_on_the_wrong_side_of_the_market_is_rejected(market):
    open_long_with_stops(market)
    err = rejected(lambda: market.engine.set_trading_stop(
        {"category": "linear", "symbol": "BTCUSDT", "tpslMode": "Full", "positionIdx": 0, "stopLoss": "30500"}, market.t))
    assert err.code == 10001 and market.position().stop_loss == D("29900")


def test_trading_stop_requires_tpsl_mode_and_matching_position_idx(hedge_market):
    m = hedge_market
    m.order(side="Buy", orderType="Market", qty="0.01", positionIdx=1)
    base = {"category": "linear", "symbol": "BTCUSDT", "stopLoss": "29000"}
    assert rejected(lambda: m.engine.set_trading_stop(dict(base, positionIdx=1), m.t)).code == 10001
    err = rejected(lambda: m.engine.set_trading_stop(dict(base, tpslMode="Full", positionIdx=0), m.t))
    assert (err.code, err.msg) == (10001, "position idx not match position mode")
    assert m.engine.set_trading_stop(dict(base, tpslMode="Full", positionIdx=1), m.t) == {}


def test_trading_stop_take_profit_closes_the_position(market):
    market.order(side="Buy", orderType="Market", qty="0.01")
    market.engine.set_trading_stop({"category": "linear", "symbol": "BTCUSDT", "tpslMode": "Full",
                                    "positionIdx": 0, "takeProfit": "30200"}, market.t)
    market.bar(30000, 30300, 29990, 30250)
    assert market.position().size == 0
    assert market.engine.executions[-1]["createType"] == "CreateByTakeProfit"


# --- amend, cancel, ids -----------------------------------------------------------------------


def test_order_link_id_is_unique_forever(market):
    ack = post_only_buy(market, "29000", orderLinkId="once")
    market.engine.cancel_order({"category": "linear", "symbol": "BTCUSDT", "orderId": ack["orderId"]}, T0)
    err = rejected(lambda: post_only_buy(market, "29000", orderLinkId="once"))
    assert (err.code, err.msg) == (110072, "OrderLinkedID is duplicate")


def test_order_link_id_longer_than_36_characters_is_refused(market):
    assert rejected(lambda: post_only_buy(market, "29000", orderLinkId="x" * 37)).code == 10001


def test_cancel_of_a_filled_or_unknown_order_is_110001(market):
    ack = market.order(side="Buy", orderType="Market", qty="0.01", orderLinkId="mkt")
    for ref in ({"orderId": ack["orderId"]}, {"orderLinkId": "nope"}):
        err = rejected(lambda: market.engine.cancel_order({"category": "linear", "symbol": "BTCUSDT", **ref}, T0))
        assert err.code == 110001


def test_cancel_by_user_reports_the_reason(market):
    order = market.get(post_only_buy(market, "29000", orderLinkId="c1"))
    market.engine.cancel_order({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "c1"}, T0)
    assert (order.status, order.cancel_type, order.reject_reason) == ("Cancelled", "CancelByUser", "EC_PerCancelRequest")


def test_amend_moves_a_resting_order_and_a_crossing_post_only_amend_cancels_it(market):
    order = market.get(post_only_buy(market, "29000", orderLinkId="a1"))
    base = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a1"}
    market.engine.amend_order(dict(base, price="29500", qty="0.02"), T0)
    assert (order.price, order.qty, order.status) == (D("29500"), D("0.02"), "New")
    assert rejected(lambda: market.engine.amend_order(dict(base, price="29500"), T0)).msg == "order not modified"
    market.engine.amend_order(dict(base, price="30000"), T0)
    assert (order.status, order.reject_reason) == ("Cancelled", "EC_PostOnlyWillTakeLiquidity")
    assert rejected(lambda: market.engine.amend_order(dict(base, price="29000"), T0)).code == 110001


def test_amend_checks_the_band_the_trigger_side_and_reduce_only_stops(market):
    base = {"category": "linear", "symbol": "BTCUSDT"}
    post_only_buy(market, "29000", orderLinkId="lim")
    assert rejected(lambda: market.engine.amend_order(dict(base, orderLinkId="lim", price="34000"), T0)).code == 110003
    assert rejected(lambda: market.engine.amend_order(dict(base, orderLinkId="lim", triggerPrice="31000"), T0)).code == 10001
    market.order(side="Buy", orderType="Market", qty="0.01", triggerPrice="30500", triggerDirection=1, orderLinkId="cond")
    assert rejected(lambda: market.engine.amend_order(dict(base, orderLinkId="cond", triggerPrice="29500"), T0)).code == 110092
    market.engine.amend_order(dict(base, orderLinkId="cond", triggerPrice="30600"), T0)
    assert market.engine.by_link["cond"].trigger_price == D("30600")
    market.order(side="Buy", orderType="Market", qty="0.01")
    market.order(side="Sell", orderType="Limit", qty="0.01", price="30500", reduceOnly=True, orderLinkId="ro")
    assert rejected(lambda: market.engine.amend_order(dict(base, orderLinkId="ro", stopLoss="31000"), T0)).code == 10001


def test_cancel_all_with_order_filter_keeps_the_position_stop(market):
    open_long_with_stops(market)
    post_only_buy(market, "29000")
    res = market.engine.cancel_all({"category": "linear", "symbol": "BTCUSDT", "orderFilter": "Order"}, market.t)
    assert len(res["list"]) == 1 and res["success"] == "1"
    assert market.position().stop_loss == D("29900")
    res = market.engine.cancel_all({"category": "linear", "settleCoin": "USDT"}, market.t)
    assert len(res["list"]) == 1 and market.position().stop_loss == 0


def test_conditional_order_waits_for_its_trigger_then_trades(market):
    order = market.get(market.order(side="Buy", orderType="Market", qty="0.01", triggerPrice="30100", triggerDirection=1))
    assert order.status == "Untriggered" and order.stop_order_type == "Stop"
    market.bar(30000, 30050, 29990, 30040)
    assert order.status == "Untriggered"
    market.bar(30040, 30200, 30030, 30150)
    assert order.status == "Filled" and market.engine.executions[-1]["execPrice"] == "30100.00"


# --- validation codes -------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "code"), [
    ({"qty": "0.0015"}, 10001),                     # not on qtyStep
    ({"qty": "0"}, 10001),                          # below minOrderQty
    ({"price": "29000.05"}, 10001),                 # not on tickSize
    ({"side": "Hold"}, 10001),
    ({"timeInForce": "GTD"}, 10001),
    ({"symbol": "NOPEUSDT"}, 10001),
    ({"category": "spot"}, 10001),
    ({"price": "34000"}, 110003),                   # beyond the price band
    ({"qty": "10"}, 110007),                        # 300k notional on 10k equity at 10x
    ({"triggerPrice": "29000", "triggerDirection": 1}, 110092),
    ({"triggerPrice": "31000", "triggerDirection": 2}, 110093),
])
def test_create_order_rejections_carry_bybit_codes(market, fields, code):
    req = {"side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "29000", **fields}
    assert rejected(lambda: market.order(**req)).code == code
    assert all(not o.is_open for o in market.engine.orders.values())


def test_notional_below_min_notional_is_110094(rules=None):
    m = Market(btc_engine(), last="3000")
    assert rejected(lambda: m.order(side="Buy", orderType="Limit", qty="0.001", price="2990")).code == 110094


def test_market_post_only_is_refused(market):
    assert rejected(lambda: market.order(side="Buy", orderType="Market", qty="0.01", timeInForce="PostOnly")).code == 10001


def test_more_than_ten_conditionals_is_110009(market):
    for _ in range(10):
        market.order(side="Buy", orderType="Market", qty="0.01", triggerPrice="31000", triggerDirection=1)
    err = rejected(lambda: market.order(side="Buy", orderType="Market", qty="0.01", triggerPrice="31000", triggerDirection=1))
    assert err.code == 110009


def test_more_than_500_active_orders_is_110020():
    m = Market(btc_engine(initial_equity=1e9))
    for _ in range(500):
        post_only_buy(m, "29000", qty="0.001")
    assert rejected(lambda: post_only_buy(m, "29000", qty="0.001")).code == 110020


def test_leverage_and_mode_idempotency_codes(market):
    e = market.engine
    lev = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "10", "sellLeverage": "10"}
    assert rejected(lambda: e.set_leverage(lev, T0)).code == 110043
    assert e.set_leverage(dict(lev, buyLeverage="5", sellLeverage="5"), T0) == {}
    assert rejected(lambda: e.set_leverage(dict(lev, buyLeverage="101", sellLeverage="101"), T0)).code == 10001
    mode = {"category": "linear", "symbol": "BTCUSDT", "mode": 0}
    assert rejected(lambda: e.switch_mode(mode, T0)).code == 110025
    post_only_buy(market, "29000")
    assert rejected(lambda: e.switch_mode(dict(mode, mode=3), T0)).code == 110028
    e.cancel_all({"category": "linear", "symbol": "BTCUSDT"}, T0)
    market.order(side="Buy", orderType="Market", qty="0.01")
    assert rejected(lambda: e.switch_mode(dict(mode, mode=3), T0)).code == 110024


# --- money, liquidation, determinism ----------------------------------------------------------


def test_margin_shortfall_liquidates_every_position_at_the_mark(market):
    e = market.engine
    e.set_leverage({"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "100", "sellLeverage": "100"}, T0)
    market.order(side="Buy", orderType="Market", qty="3")
    market.bar(30000, 30010, 26000, 26500)
    assert market.position().size == 0
    assert e.executions[-1]["execType"] == "BustTrade" and e.executions[-1]["execPrice"] == "26500.00"


def script(m: Market) -> list:
    post_only_buy(m, "29950", stopLoss="29800", takeProfit="30300", orderLinkId="s1")
    m.order(side="Sell", orderType="Limit", qty="0.005", price="30100", timeInForce="GTC")
    for bar in [(30000, 30120, 29900, 30100), (30100, 30350, 30050, 30300), (30300, 30310, 29700, 29750)]:
        m.bar(*bar)
    return m.engine.drain_events()


def test_same_calls_and_bars_give_the_same_ids_fills_and_events():
    first, second = script(Market(btc_engine())), script(Market(btc_engine()))
    assert first == second and len(first) > 10
    third = script(Market(btc_engine(order_id_seed=7)))
    assert [e[1].get("orderId") for e in third] != [e[1].get("orderId") for e in first]


def test_private_events_follow_execution_order_position_wallet(market):
    market.engine.drain_events()
    market.order(side="Buy", orderType="Market", qty="0.01")
    topics = [t for t, _ in market.engine.drain_events()]
    assert topics == ["order", "execution", "order", "position", "wallet", "position"]
