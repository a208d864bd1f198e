"""Where a closed trade's money went: net = gross - fees - slippage - funding, each part from the
fills the venue reported (a taker fill's distance from its order's price is slippage; funding
rows are payments, not fills)."""

from decimal import Decimal

import msgspec

from vocabulary.messages import ExecutionUpdate
from strategy.trades import trade_closed
from test_trades import ENTRY_ID, PLAN, TP_ID, fill

D = Decimal


def stop_fill(price, qty, fee, at, trigger, side="Sell"):
    return msgspec.structs.replace(fill(side, price, qty, fee, at, link="", maker=False), order_price=D(trigger))


def funding(fee, at, side="Buy", qty="2"):
    return msgspec.structs.replace(fill(side, "100.5", qty, fee, at, link=""), is_maker=False, exec_type="Funding")


def test_a_slipped_stop_splits_into_gross_at_the_trigger_fees_and_slippage():
    trade = trade_closed("Buy", [fill("Buy", "100.0", "2", "0.04", 1), stop_fill("98.7", "2", "0.10857", 9, "98.8")], PLAN)
    assert trade.gross_usdt == D("-2.4")  # (98.8 - 100.0) x 2: the plan's loss at the stop
    assert trade.slippage_usdt == D("0.2")  # 0.1 below the trigger on 2
    assert trade.fees == D("0.14857") and trade.funding_usdt == 0
    assert trade.pnl_usdt == trade.gross_usdt - trade.fees - trade.slippage_usdt - trade.funding_usdt == D("-2.74857")
    assert (trade.exit_reason, trade.stop_price) == ("stop", D("98.8"))


def test_funding_rows_are_payments_not_fills_and_come_off_the_net():
    fills = [fill("Buy", "100.0", "2", "0.04", 1), funding("0.0201", 5), funding("-0.005", 6),
             fill("Sell", "101.8", "2", "0.04072", 9, link=TP_ID)]
    trade = trade_closed("Buy", fills, PLAN)
    assert (trade.qty, trade.exit_price, trade.exit_reason) == (D("2"), D("101.8"), "target")
    assert trade.funding_usdt == D("0.0151")
    assert trade.pnl_usdt == D("3.6") - D("0.08072") - D("0.0151")
    assert trade.gross_usdt == D("3.6") and trade.slippage_usdt == 0


def test_a_short_slips_upwards():
    plan = msgspec.structs.replace(PLAN, side="Sell", stop=D("101.2"), target=D("98.2"))
    sell = msgspec.structs.replace(fill("Sell", "100.0", "2", "0.04", 1), order_link_id=ENTRY_ID)
    trade = trade_closed("Sell", [sell, stop_fill("101.3", "2", "0.11143", 9, "101.2", side="Buy")], plan)
    assert (trade.gross_usdt, trade.slippage_usdt, trade.exit_reason) == (D("-2.4"), D("0.2"), "stop")


def test_a_break_even_stop_that_slipped_below_the_entry_is_still_a_break_even_exit():
    trade = trade_closed("Buy", [fill("Buy", "100.0", "2", "0.04", 1), stop_fill("99.9", "2", "0.1", 9, "100.1")], PLAN)
    assert trade.exit_reason == "break_even" and trade.slippage_usdt == D("0.4")


def test_fills_without_an_order_price_have_no_slippage():
    trade = trade_closed("Buy", [fill("Buy", "100.0", "2", "0.04", 1), fill("Sell", "98.7", "2", "0.1", 9, link="", maker=False)], PLAN)
    assert trade.slippage_usdt == 0 and trade.gross_usdt == D("-2.6")


def test_an_exec_update_row_parses_exec_type_and_order_price():
    from exchange.bybit import models

    row = models.ExecutionRow(symbol="SOLUSDT", execId="e1", side="Buy", execPrice="100.5", execQty="2", execFee="0.0201",
                              execType="Funding", orderPrice="0", execTime="5")
    update = models.execution_update(row)
    assert isinstance(update, ExecutionUpdate)
    assert (update.exec_type, update.order_price) == ("Funding", None)
    stop = models.execution_update(msgspec.structs.replace(row, execType="Trade", orderPrice="98.8"))
    assert (stop.exec_type, stop.order_price, stop.stop_order_type) == ("Trade", D("98.8"), "")
    loss = models.execution_update(msgspec.structs.replace(row, execType="Trade", stopOrderType="StopLoss"))
    assert loss.stop_order_type == "StopLoss"


def test_a_stop_loss_fill_is_measured_from_the_stop_given_and_a_hand_close_from_its_own_price():
    # Bybit reports a stop-market's protection bound as orderPrice (1 % through the trigger here).
    loss = msgspec.structs.replace(stop_fill("98.7", "2", "0.10857", 9, "97.81"), stop_order_type="StopLoss")
    trade = trade_closed("Buy", [fill("Buy", "100.0", "2", "0.04", 1), loss], PLAN, stop=D("98.8"))
    assert (trade.gross_usdt, trade.slippage_usdt, trade.exit_reason) == (D("-2.4"), D("0.2"), "stop")
    by_hand = msgspec.structs.replace(stop_fill("98.7", "2", "0.10857", 9, "98.6"), stop_order_type="UNKNOWN")
    trade = trade_closed("Buy", [fill("Buy", "100.0", "2", "0.04", 1), by_hand], PLAN, stop=D("98.8"))
    assert trade.slippage_usdt == D("-0.2"), "a market close by hand is not the stop: measured from its own price"
