"""Prices on the tick grid, a size that solves for the real loss, and the sizing gates that REJECT before the wire.

The tables' costs: maker 0.02 %, taker 0.055 %, slippage allowance 2 bps (``[risk]``'s fallback).
Their long: close 100.0, entry 100.0, stop 98.8 (swing low 99.0 less a 20 bps buffer), so a
stop-out loses per unit 1.2 + 100.0 x 0.0002 + 98.8 x 0.0002 + 98.8 x 1.0002 x 0.00055 = 1.294110868.
"""

from decimal import Decimal

import msgspec
import pytest

from vocabulary.messages import Instrument
from market_builders import INSTRUMENT, context, long_cross, market, mirror_market, with_risk, with_strategy
from strategy.costs import Costs
from strategy.entry import evaluate_entry
from strategy.sizing import atr, plan_trade, stop_floor

D = Decimal
LOSS_PER_UNIT = D("1.2") + D("100.0") * D("0.0002") + D("98.8") * D("0.0002") + D("98.8") * D("1.0002") * D("0.00055")


def take(one=None, ctx=None):
    return evaluate_entry(market(one or long_cross()), ctx or context())


def short(ctx=None, **over):
    """The mirror of ``take``: every price reflected around 100.0 (centre 1000 ticks)."""
    return evaluate_entry(mirror_market(market(long_cross(**over)), centre=1000), ctx or context())


def codes(decision):
    return [r.code for r in decision.reasons]


# --- prices ------------------------------------------------------------------------------------


def test_entry_rounds_down_for_a_buy_and_up_for_a_sell_so_it_never_pays_more_than_the_close():
    d = take(long_cross(close=100.04))
    assert d.entry_price == D("100.0")
    s = short()
    assert s.side == "Sell" and s.entry_price == D("100.0")  # 200.0 - 100.0, on the grid


@pytest.mark.parametrize(("bps", "entry", "short_entry"), [(15.0, "99.8", "100.2"), (20.0, "99.8", "100.2"), (20.1, "99.7", "100.3")])
def test_entry_offset_bps_rests_the_entry_whole_ticks_behind_the_close_on_both_sides(bps, entry, short_entry):
    # 15 bps of 100.04 = 0.15006 -> 2 ticks up; 20 bps of 100.0 = 0.2 exactly; 20.1 bps = 0.201 -> 3 ticks
    d = take(long_cross(close=100.04) if bps == 15.0 else long_cross(), with_strategy(context(), entry_offset_bps=bps))
    assert d.entry_price == D(entry)
    assert short(with_strategy(context(), entry_offset_bps=bps)).entry_price == D(short_entry)


def test_stop_sits_beyond_the_lowest_low_of_the_lookback_plus_the_buffer_in_bps():
    d = take(long_cross(low_hist=(95.0, 99.6, 99.3, 99.2, 99.4)), with_strategy(context(), swing_lookback=4))
    assert d.stop_price == D("99.0")  # 95.0 is five bars back; 99.2 less 20 bps of the entry (0.2)
    d = take(long_cross(low_hist=(95.0, 99.6, 99.3, 99.2, 99.4)), with_strategy(context(), swing_lookback=4, stop_buffer_bps=0.0))
    assert d.stop_price == D("99.2")


def test_stop_between_ticks_rounds_further_away():
    d = take(long_cross(low_hist=(99.05,)), with_strategy(context(), stop_buffer_bps=0.0))
    assert d.stop_price == D("99.0")


def test_target_is_rr_R_net_of_both_maker_fees_rounded_toward_the_entry():
    d = take()
    # net profit per unit 1.5 x 1.294110868 at the target: (100.02 + 1.941166302) / 0.9998 = 101.98... -> 101.9
    assert d.target_price == D("101.9")
    s = short()
    assert s.target_price == D("98.1")  # (99.98 - 1.941166302) / 1.0002 = 98.02... -> up


# --- fee-inclusive sizing ---------------------------------------------------------------------


def test_quantity_solves_for_the_budget_with_fees_and_slippage_allowance_rounded_down():
    d = take()
    assert d.qty == D("7.727")  # 10 / 1.294110868 = 7.7273...
    assert d.loss_at_stop == D("7.727") * LOSS_PER_UNIT <= D(10)
    assert take(ctx=with_risk(context(), risk_per_trade=0.5, risk_mode="pct")).qty == D("38.636")  # 50 / 1.2941


def test_a_stop_out_costs_the_budget_not_more_on_either_side():
    for d, qty, stop, entry in ((1, take().qty, D("98.8"), D("100.0")), (-1, short().qty, D("101.2"), D("100.0"))):
        fill = stop * (1 - d * D("0.0002"))  # the stop filled the whole slippage allowance beyond its trigger
        loss = qty * (d * (entry - fill)) + qty * entry * D("0.0002") + qty * fill * D("0.00055")
        assert loss <= D(10)


def test_quantity_is_capped_by_what_the_equity_carries_at_leverage():
    ctx = with_risk(context(equity=D("50")), leverage=2)
    assert take(ctx=ctx).qty == D("1.000")  # 50 x 2 / 100.0


@pytest.mark.parametrize(("max_stop_pct", "kind"), [(0.012, "TAKE"), (0.0119, "REJECT")])
def test_stop_distance_beyond_max_stop_pct_is_rejected(max_stop_pct, kind):
    d = take(ctx=with_strategy(context(), max_stop_pct=max_stop_pct))
    assert d.kind == kind
    assert (kind == "REJECT") == ("cross_based.gate.stop_too_wide" in codes(d))


def test_quantity_under_min_order_qty_after_rounding_is_rejected():
    ins = msgspec.structs.replace(INSTRUMENT, qty_step=D("1"), min_order_qty=D("1"))
    d = take(ctx=with_risk(context(instrument=ins), risk_per_trade=1.2))  # 1.2 / 1.294 rounds to 0
    assert d.kind == "REJECT" and d.path == "cross_based"
    assert any(r.code == "cross_based.gate.size" and "minOrderQty" in r.value for r in d.reasons)


def test_notional_under_min_notional_is_rejected_and_just_above_is_taken():
    ins = msgspec.structs.replace(INSTRUMENT, min_notional=D("20"))
    assert take(ctx=with_risk(context(instrument=ins), risk_per_trade=0.258)).kind == "REJECT"  # 0.199 x 100
    assert take(ctx=with_risk(context(instrument=ins), risk_per_trade=0.259)).kind == "TAKE"  # 0.200 x 100


def test_quantity_is_capped_at_max_order_qty():
    ins = Instrument(symbol="SOLUSDT", tick_size=D("0.1"), qty_step=D("0.001"), min_order_qty=D("0.001"), max_order_qty=D("5"))
    assert take(ctx=context(instrument=ins)).qty == D("5.000")


def test_no_equity_means_no_size():
    d = take(ctx=context(equity=D("0")))
    assert d.kind == "REJECT" and "cross_based.gate.size" in codes(d)


def test_plan_trade_reports_the_stop_and_floor_it_measured_in_bps():
    prices, facts = plan_trade(long_cross(), 1, context())
    assert prices is not None and prices.risk_per_unit == D("1.2") and prices.loss_at_stop == prices.qty * LOSS_PER_UNIT
    found = {r.code: r.value for r in facts}
    assert found["size.stop_bps"] == 120.0 and found["size.floor_bps"] == 19.0 and found["size.round_trip_bps"] == 9.5


# --- the stop floor ----------------------------------------------------------------------------

# A swing low 0.1 under the close: the stop (buffer 0) is 10 bps away, inside 2 round trips (19 bps).
NEAR = dict(low_hist=(99.9,), low=99.9)


def near(ctx=None, d=1):
    ctx = with_strategy(ctx or context(), stop_buffer_bps=0.0)
    return take(long_cross(**NEAR), ctx) if d > 0 else short(ctx, **NEAR)


@pytest.mark.parametrize("d", [1, -1])
def test_a_stop_inside_the_cost_floor_is_widened_to_it_and_the_size_re_solved(d):
    decision = near(d=d)
    assert decision.kind == "TAKE"
    assert decision.stop_price == (D("99.8") if d > 0 else D("100.2"))  # 0.19 -> 2 ticks beyond the entry, away
    assert d * (decision.entry_price - decision.stop_price) >= D("0.19")
    assert decision.loss_at_stop <= D(10)
    assert "cross_based.size.stop_widened_bps" in codes(decision) or "size.stop_widened_bps" in codes(decision)


@pytest.mark.parametrize("d", [1, -1])
def test_with_stop_floor_reject_a_stop_inside_the_floor_is_rejected_and_one_on_it_taken(d):
    ctx = with_risk(context(), stop_floor="reject")
    assert "cross_based.gate.stop_floor" in codes(near(ctx, d))
    # 10 bps: on the floor of a 1.05-round-trip multiple (9.975 bps), under the floor of 1.1 (10.45 bps)
    assert near(with_risk(ctx, min_stop_cost_multiple=1.05), d).kind == "TAKE"
    assert near(with_risk(ctx, min_stop_cost_multiple=1.1), d).kind == "REJECT"


def test_the_floor_is_the_larger_of_the_cost_multiple_and_the_atr_multiple():
    ctx = with_risk(context(), min_stop_atr=1.0, atr_bars=4)
    f = long_cross()  # high_hist (100.4, 100.2, 100.1, 100.3) over low_hist (99.6, 99.3, 99.0, 99.4): ranges 0.8 0.9 1.1 0.9
    assert atr(f, 4) == D("0.925")
    assert atr(f, 2) == D("1.0")
    assert stop_floor(D("100.0"), f, ctx) == D("0.925")
    assert stop_floor(D("100.0"), f, with_risk(ctx, min_stop_atr=0.1)) == D("0.19")  # 2 x 9.5 bps of 100


def test_the_round_trip_follows_the_venues_rates():
    dear = msgspec.structs.replace(context(), costs=Costs(D("0.0005"), D("0.001"), D("0.0005")))  # 20 bps round trip
    decision = near(dear)
    assert decision.stop_price == D("99.6")  # 2 x 20 bps = 0.4


# --- the net reward-to-risk gate --------------------------------------------------------------


def decide(d, ctx):
    return take(ctx=ctx) if d > 0 else short(ctx)


@pytest.mark.parametrize(("d", "net"), [
    (1, 1.436987),   # (101.9 - 100.0 - 201.9 x 0.0002) / 1.294110868
    (-1, 1.435577),  # (100.0 - 98.1 - 198.1 x 0.0002) / 1.295911... (the short's stop fee is on 101.2)
])
def test_a_net_reward_to_risk_under_min_net_rr_is_rejected_as_edge_net_rr(d, net):
    at = decide(d, context())
    assert next(r.value for r in at.reasons if r.code == "size.net_rr") == pytest.approx(net, abs=1e-6)
    rejected = decide(d, with_strategy(context(), min_net_rr=net + 1e-6))
    assert rejected.kind == "REJECT" and "cross_based.edge.net_rr" in codes(rejected)
    assert decide(d, with_strategy(context(), min_net_rr=net - 1e-6)).kind == "TAKE"


# --- the day's loss with the candidate's own ---------------------------------------------------


@pytest.mark.parametrize("d", [1, -1])
def test_a_candidate_whose_loss_at_its_stop_would_cross_the_daily_limit_is_rejected(d):
    loss = decide(d, context()).loss_at_stop  # just under 10
    room = context(realised_pnl_today=D(-50), open_risk=D(100) - D(50) - loss)  # lands exactly on -100: allowed
    assert decide(d, room).kind == "TAKE"
    over = context(realised_pnl_today=D(-50), open_risk=D(100) - D(50) - loss + D("0.0001"))
    rejected = decide(d, over)
    assert rejected.kind == "REJECT" and "cross_based.gate.daily_loss_at_stop" in codes(rejected)


def test_a_stop_at_the_entry_is_rejected_when_nothing_floors_it():
    free = msgspec.structs.replace(context(), costs=Costs(D(0), D(0), D(0)))
    d = take(long_cross(low_hist=(100.0,), low=100.0), with_strategy(free, stop_buffer_bps=0.0))
    assert d.kind == "REJECT" and "cross_based.gate.stop_at_entry" in codes(d)
