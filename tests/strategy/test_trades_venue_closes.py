"""Every way a position closes is a trade: the venue's own closes (liquidation, ADL, delivery) name
the exit, and funding paid while open is booked into the result without being a fill."""

from decimal import Decimal

import pytest

from vocabulary.messages import ExecutionUpdate
from market_builders import T0
from strategy.exits import TradePlan
from strategy.orders import link_id, order_link_id
from strategy.trades import trade_closed

D = Decimal
ENTRY_ID = order_link_id("SOLUSDT", T0, "cross_based", "Buy")
PLAN = TradePlan(symbol="SOLUSDT", side="Buy", path="cross_based", entry=D("100.0"), stop=D("98.8"), target=D("101.8"),
                 qty=D("2"), risk_per_unit=D("1.2"), opened_ms=T0, order_link_id=ENTRY_ID)


def execution(side, price, qty, fee, at, link=ENTRY_ID, exec_type="Trade"):
    return ExecutionUpdate(symbol="SOLUSDT", exec_id=f"x{at}", order_id=link or "by-venue", order_link_id=link, side=side,
                           price=D(price), qty=D(qty), fee=D(fee), is_maker=False, exec_ms=T0 + at, exec_type=exec_type)


@pytest.mark.parametrize(("exec_type", "reason"), [("BustTrade", "liquidation"), ("AdlTrade", "adl"), ("Delivery", "delivery")])
def test_a_close_by_the_venue_is_a_trade_with_its_own_exit_reason(exec_type, reason):
    fills = [execution("Buy", "100.0", "2", "0.04", 1), execution("Sell", "99.0", "2", "0.11", 9, link="", exec_type=exec_type)]
    trade = trade_closed("Buy", fills, PLAN)
    assert (trade.exit_reason, trade.exit_price, trade.qty) == (reason, D("99.0"), D("2"))
    assert trade.pnl_usdt == D("-2.0") - D("0.15") and trade.pnl_r == pytest.approx(-2.15 / 2.4)


def test_a_position_partly_closed_by_us_then_liquidated_is_a_liquidation():
    tp = link_id("take_profit", "SOLUSDT", "Buy", T0 + 5)
    fills = [execution("Buy", "100.0", "2", "0", 1), execution("Sell", "101.0", "1", "0", 5, link=tp),
             execution("Sell", "90.0", "1", "0", 9, link="", exec_type="BustTrade")]
    trade = trade_closed("Buy", fills, PLAN)
    assert (trade.exit_reason, trade.pnl_usdt) == ("liquidation", D("1.0") - D("10.0"))


def test_funding_is_booked_into_the_result_and_is_not_a_fill():
    # Bybit's funding execFee: positive when paid, negative when received; execQty is the
    # position and execPrice the mark, neither a traded quantity.
    fills = [execution("Buy", "100.0", "2", "0.04", 1), execution("Buy", "100.5", "2", "0.0201", 4, link="", exec_type="Funding"),
             execution("Sell", "100.5", "2", "0.02", 6, link="", exec_type="Funding"),
             execution("Sell", "101.8", "2", "0.04072", 9, link=link_id("take_profit", "SOLUSDT", "Buy", T0 + 5))]
    trade = trade_closed("Buy", fills, PLAN)
    assert (trade.qty, trade.entry_price, trade.exit_price, trade.exit_reason) == (D("2"), D("100.0"), D("101.8"), "target")
    assert trade.funding_usdt == D("0.0401")
    assert trade.fees == D("0.08072")
    assert trade.pnl_usdt == D("3.6") - D("0.08072") - D("0.0401")


def test_received_funding_raises_the_result():
    fills = [execution("Buy", "100.0", "2", "0", 1), execution("Buy", "100", "2", "-0.5", 4, link="", exec_type="Funding"),
             execution("Sell", "100.0", "2", "0", 9, link="")]
    trade = trade_closed("Buy", fills, PLAN)
    assert (trade.pnl_usdt, trade.funding_usdt, trade.exit_reason) == (D("0.5"), D("-0.5"), "break_even")
