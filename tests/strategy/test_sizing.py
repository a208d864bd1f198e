"""Prices on the tick grid, size from the risk budget, and the sizing gates that REJECT before the wire."""

from decimal import Decimal

import msgspec
import pytest

from actors.messages import Instrument
from market_builders import INSTRUMENT, context, long_cross, market, mirror_market, with_risk, with_strategy
from strategy.entry import evaluate_entry
from strategy.sizing import plan_trade

D = Decimal


def take(one=None, ctx=None):
    return evaluate_entry(market(one or long_cross()), ctx or context())


def test_entry_rounds_down_for_a_buy_and_up_for_a_sell_so_it_never_pays_more_than_the_close():
    d = take(long_cross(close=100.04))
    assert d.entry_price == D("100.0")
    short = evaluate_entry(mirror_market(market(long_cross()), centre=1000), context())
    assert short.side == "Sell" and short.entry_price == D("100.0")  # 200.0 - 100.0, on the grid


def test_entry_offset_ticks_rests_the_entry_behind_the_close_on_both_sides():
    d = take(long_cross(close=100.04), with_strategy(context(), entry_offset_ticks=2))
    assert d.entry_price == D("99.8")  # 100.04 - 0.2, rounded down
    short = evaluate_entry(mirror_market(market(long_cross()), centre=1000), with_strategy(context(), entry_offset_ticks=2))
    assert short.side == "Sell" and short.entry_price == D("100.2")


def test_stop_sits_beyond_the_lowest_low_of_the_lookback_plus_the_buffer():
    d = take(long_cross(low_hist=(95.0, 99.6, 99.3, 99.2, 99.4)), with_strategy(context(), swing_lookback=4))
    assert d.stop_price == D("99.0")  # 95.0 is five bars back, outside the lookback of 4
    d = take(long_cross(low_hist=(95.0, 99.6, 99.3, 99.2, 99.4)), with_strategy(context(), swing_lookback=4, stop_buffer_ticks=0))
    assert d.stop_price == D("99.2")


def test_stop_between_ticks_rounds_further_away():
    d = take(long_cross(low_hist=(99.05,)), with_strategy(context(), stop_buffer_ticks=0))
    assert d.stop_price == D("99.0")


def test_target_is_rr_times_the_risk_rounded_toward_the_entry():
    d = take(long_cross(low_hist=(99.1,)), with_strategy(context(), stop_buffer_ticks=0, rr=1.55))
    # risk 0.9, 1.55 R = 1.395 -> 101.3 (101.4 would ask for more than 1.55 R)
    assert d.target_price == D("101.3")


def test_quantity_is_the_budget_over_the_stop_distance_rounded_down():
    assert take().qty == D("8.333")  # 10 / 1.2 = 8.3333...
    assert take(ctx=with_risk(context(), risk_per_trade=0.5, risk_mode="pct")).qty == D("41.666")  # 50 / 1.2


def test_quantity_is_capped_by_what_the_equity_carries_at_leverage():
    ctx = with_risk(context(equity=D("50")), leverage=2)
    assert take(ctx=ctx).qty == D("1.000")  # 50 x 2 / 100.0


@pytest.mark.parametrize(("min_stop_ticks", "kind"), [(12, "TAKE"), (13, "REJECT")])
def test_stop_distance_below_min_stop_ticks_is_rejected(min_stop_ticks, kind):
    d = take(ctx=with_strategy(context(), min_stop_ticks=min_stop_ticks))
    assert d.kind == kind
    assert (kind == "REJECT") == ("gate.stop_too_close" in [r.code for r in d.reasons])


@pytest.mark.parametrize(("max_stop_pct", "kind"), [(0.012, "TAKE"), (0.0119, "REJECT")])
def test_stop_distance_beyond_max_stop_pct_is_rejected(max_stop_pct, kind):
    d = take(ctx=with_strategy(context(), max_stop_pct=max_stop_pct))
    assert d.kind == kind
    assert (kind == "REJECT") == ("gate.stop_too_wide" in [r.code for r in d.reasons])


def test_quantity_under_min_order_qty_after_rounding_is_rejected():
    ins = msgspec.structs.replace(INSTRUMENT, qty_step=D("1"), min_order_qty=D("1"))
    d = take(ctx=with_risk(context(instrument=ins), risk_per_trade=1.1))  # 1.1 / 1.2 rounds to 0
    assert d.kind == "REJECT" and d.path == "cross_based"
    assert any(r.code == "gate.size" and "minOrderQty" in r.value for r in d.reasons)


def test_notional_under_min_notional_is_rejected_and_just_above_is_taken():
    ins = msgspec.structs.replace(INSTRUMENT, min_notional=D("20"))
    assert take(ctx=with_risk(context(instrument=ins), risk_per_trade=0.23)).kind == "REJECT"  # 0.191 x 100 = 19.1
    assert take(ctx=with_risk(context(instrument=ins), risk_per_trade=0.24)).kind == "TAKE"  # 0.2 x 100 = 20.0


def test_quantity_is_capped_at_max_order_qty():
    ins = Instrument(symbol="SOLUSDT", tick_size=D("0.1"), qty_step=D("0.001"), min_order_qty=D("0.001"), max_order_qty=D("5"))
    assert take(ctx=context(instrument=ins)).qty == D("5.000")


def test_no_equity_means_no_size():
    d = take(ctx=context(equity=D("0")))
    assert d.kind == "REJECT" and any(r.code == "gate.size" for r in d.reasons)


def test_plan_trade_reports_the_stop_distance_it_measured():
    prices, facts = plan_trade(long_cross(), 1, context())
    assert prices is not None and prices.risk_per_unit == D("1.2")
    assert {r.code: r.value for r in facts}["size.stop_ticks"] == 12
