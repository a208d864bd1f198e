"""A closed round trip from its fills: exact PnL in USDT, PnL in R, and how it ended."""

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


def fill(side, price, qty, fee, at, link=ENTRY_ID, maker=True):
    return ExecutionUpdate(symbol="SOLUSDT", exec_id=f"x{at}", order_id=link or "by-exchange", order_link_id=link,
                           side=side, price=D(price), qty=D(qty), fee=D(fee), is_maker=maker, exec_ms=T0 + at)


TP_ID = link_id("take_profit", "SOLUSDT", "Buy", T0 + 5)


def test_a_long_closed_at_its_target_makes_exit_minus_entry_minus_fees_and_its_r():
    fills = [fill("Buy", "100.0", "1.5", "0.03", 1), fill("Buy", "100.0", "0.5", "0.01", 2),
             fill("Sell", "101.8", "2", "0.04072", 9, link=TP_ID)]
    trade = trade_closed("Buy", fills, PLAN)
    assert trade.pnl_usdt == D("3.6") - D("0.08072")
    assert trade.pnl_r == pytest.approx(float((D("3.6") - D("0.08072")) / D("2.4")))
    assert (trade.entry_price, trade.exit_price, trade.qty, trade.fees) == (D("100.0"), D("101.8"), D("2"), D("0.08072"))
    assert (trade.exit_reason, trade.path, trade.entry_ms, trade.exit_ms, trade.order_link_id) == ("target", "cross_based", T0 + 1, T0 + 9, ENTRY_ID)


def test_prices_are_volume_weighted_over_partial_fills():
    fills = [fill("Buy", "100.0", "1", "0", 1), fill("Buy", "99.0", "1", "0", 2),
             fill("Sell", "101.0", "0.5", "0", 8, link=TP_ID), fill("Sell", "102.0", "1.5", "0", 9, link=TP_ID)]
    trade = trade_closed("Buy", fills, PLAN)
    assert (trade.entry_price, trade.exit_price) == (D("99.5"), D("101.75"))
    assert trade.pnl_usdt == D("4.5")


def test_a_short_gains_when_price_falls_and_a_maker_rebate_adds_to_it():
    plan = TradePlan(symbol="SOLUSDT", side="Sell", path="pre_cross", entry=D("100.0"), stop=D("101.0"), target=D("98.5"),
                     qty=D("1"), risk_per_unit=D("1.0"), opened_ms=T0, order_link_id=order_link_id("SOLUSDT", T0, "pre_cross", "Sell"))
    fills = [fill("Sell", "100.0", "1", "-0.01", 1, link=plan.order_link_id),
             fill("Buy", "98.5", "1", "0.05", 9, link=link_id("take_profit", "SOLUSDT", "Sell", T0 + 5))]
    trade = trade_closed("Sell", fills, plan)
    assert trade.pnl_usdt == D("1.46") and trade.pnl_r == pytest.approx(1.46)
    assert trade.side == "Sell" and trade.exit_reason == "target"


@pytest.mark.parametrize(("exit_price", "link", "reason"), [
    ("98.8", "", "stop"),                   # the exchange's stop: no id of ours, below the entry
    ("100.1", "", "break_even"),            # the moved stop: at or above the entry
    ("99.0", link_id("close", "SOLUSDT", "Buy", T0 + 5), "stop"),  # our crossed-stop close
])
def test_the_exit_reason_comes_from_our_order_id_or_from_the_price_against_the_entry(exit_price, link, reason):
    fills = [fill("Buy", "100.0", "2", "0", 1), fill("Sell", exit_price, "2", "0", 9, link=link, maker=False)]
    assert trade_closed("Buy", fills, PLAN).exit_reason == reason


def test_a_round_trip_without_a_plan_has_no_r_and_takes_its_path_from_the_entry_id():
    fills = [fill("Buy", "100.0", "2", "0", 1), fill("Sell", "98.8", "2", "0", 9, link="")]
    trade = trade_closed("Buy", fills)
    assert (trade.pnl_r, trade.path, trade.exit_reason) == (None, "cross_based", "unknown")
    assert trade_closed("Buy", [fill("Buy", "100.0", "2", "0", 1, link="by-hand"), fill("Sell", "99", "2", "0", 9, link="")]).path is None


def test_fills_that_do_not_close_the_position_are_not_a_round_trip():
    with pytest.raises(ValueError, match="round trip"):
        trade_closed("Buy", [fill("Buy", "100.0", "2", "0", 1), fill("Sell", "101", "1", "0", 9, link=TP_ID)], PLAN)
    with pytest.raises(ValueError):
        trade_closed("Buy", [], PLAN)
