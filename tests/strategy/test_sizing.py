"""Prices on the tick grid, a size that solves for the real loss, and the sizing gates that REJECT before the wire.

The tables' costs: maker 0.02 %, taker 0.055 % (``[risk]``'s fallback), and the slippage allowance
of 2 bps rounded up to the instrument's 0.1 tick plus a tick of half spread: what the shipped venue
charges an ungapped stop, 0.2 near 100 (20 bps on this coarse grid). Their long: close 100.0, entry
100.0, stop 98.8 (swing low 99.0 less a 20 bps buffer), so a stop-out loses per unit
1.2 + 100.0 x 0.0002 + 0.2 + (98.8 + 0.2) x 0.00055 = 1.47445 (``market_builders.LONG_LOSS_PER_UNIT``).
"""

from decimal import Decimal

import msgspec
import pytest

from vocabulary.messages import Instrument
from market_builders import (
    INSTRUMENT, LONG_LOSS_PER_UNIT, LONG_QTY, context, long_cross, market, mirror_market, venue_stop_fill, with_risk,
    with_strategy,
)
from strategy.costs import Costs
from strategy.entry import evaluate_entry
from strategy.sizing import atr, plan_trade, stop_floor

D = Decimal
LOSS_PER_UNIT = LONG_LOSS_PER_UNIT
# The round trip at the entry 100.0: both fee rates and what the venue charges a stop there (a
# short's, the larger): 7.5 bps of fees and 2 ticks, 20 bps. The floor is 2 of them.
ROUND_TRIP = D("0.0002") + D("0.00055") + (venue_stop_fill(D("100.0"), -1) - D("100.0")) / D("100.0")
FLOOR = 2 * ROUND_TRIP * D("100.0")


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
    # net profit per unit 1.5 x 1.47445 at the target: (100.02 + 2.211675) / 0.9998 = 102.25... -> 102.2
    assert d.target_price == D("102.2")
    s = short()
    # the short's stop-out at 101.2 loses 1.47577 (its fee is on 101.4): (99.98 - 2.213655) / 1.0002 = 97.75... -> up
    assert s.target_price == D("97.8")


# --- fee-inclusive sizing ---------------------------------------------------------------------


def test_quantity_solves_for_the_budget_with_fees_and_slippage_allowance_rounded_down():
    d = take()
    assert d.qty == LONG_QTY == D("6.782")  # 10 / 1.47445 = 6.7822...
    assert d.loss_at_stop == LONG_QTY * LOSS_PER_UNIT <= D(10)
    assert take(ctx=with_risk(context(), risk_per_trade=0.5, risk_mode="pct")).qty == D("33.910")  # 50 / 1.47445 = 33.9109...


def test_a_stop_out_costs_the_budget_not_more_on_either_side():
    for d, qty, stop, entry in ((1, take().qty, D("98.8"), D("100.0")), (-1, short().qty, D("101.2"), D("100.0"))):
        fill = venue_stop_fill(stop, d)  # where the shipped venue fills a stop that did not gap
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
    d = take(ctx=with_risk(context(instrument=ins), risk_per_trade=1.2))  # 1.2 / 1.474 rounds to 0
    assert d.kind == "REJECT" and d.path == "cross_based"
    assert any(r.code == "cross_based.gate.size" and "minOrderQty" in r.value for r in d.reasons)


def test_notional_under_min_notional_is_rejected_and_just_above_is_taken():
    ins = msgspec.structs.replace(INSTRUMENT, min_notional=D("20"))
    assert take(ctx=with_risk(context(instrument=ins), risk_per_trade=0.2948)).kind == "REJECT"  # 0.199 x 100
    assert take(ctx=with_risk(context(instrument=ins), risk_per_trade=0.2949)).kind == "TAKE"  # 0.200 x 1.47445 = 0.29489


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
    assert found["size.round_trip_bps"] == float(ROUND_TRIP * 10_000) == 27.5
    assert found["size.stop_bps"] == 120.0 and found["size.floor_bps"] == float(FLOOR * 100) == 55.0


# --- the stop floor ----------------------------------------------------------------------------

# A swing low 0.1 under the close: the stop (buffer 0) is 10 bps away, inside 2 round trips (55 bps).
NEAR = dict(low_hist=(99.9,), low=99.9)
# One 0.6 under it: 60 bps, outside the floor of 2 round trips, inside that of 2.19.
CLEAR = dict(low_hist=(99.4,), low=99.4)


def near(ctx=None, d=1, swing=NEAR):
    ctx = with_strategy(ctx or context(), stop_buffer_bps=0.0)
    return take(long_cross(**swing), ctx) if d > 0 else short(ctx, **swing)


@pytest.mark.parametrize("d", [1, -1])
def test_a_stop_inside_the_cost_floor_is_widened_to_it_and_the_size_re_solved(d):
    decision = near(d=d)
    assert decision.kind == "TAKE"
    assert decision.stop_price == (D("99.4") if d > 0 else D("100.6"))  # 0.55 -> 6 ticks beyond the entry, away
    assert d * (decision.entry_price - decision.stop_price) >= FLOOR
    assert decision.loss_at_stop <= D(10)
    assert "cross_based.size.stop_widened_bps" in codes(decision) or "size.stop_widened_bps" in codes(decision)


@pytest.mark.parametrize("d", [1, -1])
def test_with_stop_floor_reject_a_stop_inside_the_floor_is_rejected_and_one_on_it_taken(d):
    ctx = with_risk(context(), stop_floor="reject")
    assert "cross_based.gate.stop_floor" in codes(near(ctx, d))
    # 60 bps: outside the floor of a 2.18-round-trip multiple (59.95 bps), inside that of 2.19 (60.225 bps)
    assert near(with_risk(ctx, min_stop_cost_multiple=2.18), d, CLEAR).kind == "TAKE"
    assert near(with_risk(ctx, min_stop_cost_multiple=2.19), d, CLEAR).kind == "REJECT"


def test_the_floor_is_the_larger_of_the_cost_multiple_and_the_atr_multiple():
    ctx = with_risk(context(), min_stop_atr=1.0, atr_bars=4)
    f = long_cross()  # high_hist (100.4, 100.2, 100.1, 100.3) over low_hist (99.6, 99.3, 99.0, 99.4): ranges 0.8 0.9 1.1 0.9
    assert atr(f, 4) == D("0.925")
    assert atr(f, 2) == D("1.0")
    assert stop_floor(D("100.0"), f, ctx) == D("0.925")
    assert stop_floor(D("100.0"), f, with_risk(ctx, min_stop_atr=0.1)) == FLOOR == D("0.55")  # 2 x 27.5 bps of 100


def test_the_round_trip_follows_the_venues_rates():
    # 15 bps of fees, and 5 bps of slippage is still one tick at 100 (with a tick of spread): 35 bps round trip
    dear = msgspec.structs.replace(context(), costs=Costs(D("0.0005"), D("0.001"), D("0.0005"), INSTRUMENT.tick_size, D(0)))
    decision = near(dear)
    assert decision.stop_price == D("99.3")  # 2 x 35 bps = 0.7


# --- the net reward-to-risk gate --------------------------------------------------------------


def decide(d, ctx):
    return take(ctx=ctx) if d > 0 else short(ctx)


@pytest.mark.parametrize(("d", "net"), [
    (1, 1.464655),   # (102.2 - 100.0 - 202.2 x 0.0002) / 1.47445
    (-1, 1.463941),  # (100.0 - 97.8 - 197.8 x 0.0002) / 1.47577 (the short's stop fee is on 101.4)
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
    free = msgspec.structs.replace(context(), costs=Costs(D(0), D(0), D(0), None, D(0)))  # no tick: no allowance
    d = take(long_cross(low_hist=(100.0,), low=100.0), with_strategy(free, stop_buffer_bps=0.0))
    assert d.kind == "REJECT" and "cross_based.gate.stop_at_entry" in codes(d)


def test_dec_gives_the_decimal_of_the_shortest_repr_whatever_was_converted_before():
    """Floats are remembered by value: a float gives the Decimal of its shortest repr every
    time, an int its own (1, not 1.0), each zero its own sign, whatever came first."""
    from strategy.sizing import _DECIMALS, dec

    values = [1.0, 1, 0.1, 0.0, -0.0, 97123.4, 1e-07, 3, 3.0, 0.1 + 0.2, 5e-324, float("nan"), float("inf"), -2.5]
    for order in (values, values[::-1]):
        _DECIMALS.clear()
        for _ in range(2):  # the second pass reads what the first remembered
            for x in order:
                assert str(dec(x)) == str(Decimal(str(x))), x
    f = long_cross(high_hist=(101.5, 102, 101.25), low_hist=(100.5, 101.0, 100))
    exact = sum((Decimal(str(h)) - Decimal(str(lo)) for h, lo in zip(f.high_hist, f.low_hist)), Decimal(0)) / 3
    assert str(atr(f, 3)) == str(exact)
