"""The exit planner: every cycle, for every position, only what the exchange lacks."""

from decimal import Decimal

import pytest

from vocabulary.messages import OrderUpdate, PositionUpdate
from vocabulary.settings import RiskSettings, StrategySettings
from market_builders import INSTRUMENT, T0, venue_stop_fill
from strategy.costs import Costs, fallback_costs
from strategy.exits import TradePlan, break_even_price, plan_exits, requote_take_profit, stale_entries
from strategy.orders import link_id, order_link_id, parse_link_id

D = Decimal
S = StrategySettings()
# maker 0.02 %, taker 0.055 %, slippage allowance 2 bps rounded up to the instrument's 0.1 tick, plus a tick of spread
COSTS = fallback_costs(RiskSettings(), INSTRUMENT.tick_size)
BE_LONG, BE_SHORT = (break_even_price(D("100.0"), d, INSTRUMENT, COSTS) for d in (1, -1))  # pinned below
NOW = T0 + 120_000
# The exit planner reads a plan's prices and its 1 R per unit whatever sized them: round numbers here.
PLAN = TradePlan(symbol="SOLUSDT", side="Buy", path="cross_based", entry=D("100.0"), stop=D("98.8"),
                 target=D("101.8"), qty=D("8.333"), risk_per_unit=D("1.2"), opened_ms=T0,
                 order_link_id=order_link_id("SOLUSDT", T0, "cross_based", "Buy"))
SHORT_PLAN = TradePlan(symbol="SOLUSDT", side="Sell", path="cross_based", entry=D("100.0"), stop=D("101.2"),
                       target=D("98.2"), qty=D("8.333"), risk_per_unit=D("1.2"), opened_ms=T0,
                       order_link_id=order_link_id("SOLUSDT", T0, "cross_based", "Sell"))


def long_position(**over) -> PositionUpdate:
    values = dict(symbol="SOLUSDT", position_idx=1, side="Buy", size=D("8.333"), avg_price=D("100.0"),
                  stop_loss=D("98.8"), mark_price=D("100.2"), updated_ms=NOW)
    values.update(over)
    return PositionUpdate(**values)


def short_position(**over) -> PositionUpdate:
    values = dict(position_idx=2, side="Sell", stop_loss=D("101.2"), mark_price=D("99.8"))
    values.update(over)
    return long_position(**values)


def tp(qty="8.333", cum="0", price="101.8", side="Sell", idx=1, link=None, order_id="tp-1", updated_ms=NOW, **over) -> OrderUpdate:
    values = dict(symbol="SOLUSDT", order_id=order_id, side=side, status="New", order_type="Limit",
                  time_in_force="PostOnly", price=D(price), qty=D(qty), cum_exec_qty=D(cum), avg_price=None,
                  position_idx=idx, reduce_only=True, updated_ms=updated_ms,
                  order_link_id=link if link is not None else link_id("take_profit", "SOLUSDT", "Buy" if side == "Sell" else "Sell", T0 + 60_000))
    values.update(over)
    return OrderUpdate(**values)


def plan(position, working=(), trade=PLAN, settings=S):
    return plan_exits(position, list(working), trade, INSTRUMENT, settings, NOW, costs=COSTS)


def summary(intents):
    return [(i.action, i.reason, i.price, i.stop_loss, i.qty) for i in intents]


# --- the protective stop -----------------------------------------------------------------------


def test_a_position_with_its_stop_and_take_profit_in_place_needs_nothing():
    assert plan(long_position(), [tp()]) == []


def test_a_position_without_a_stop_gets_the_plans_stop_first_then_its_take_profit():
    intents = plan(long_position(stop_loss=None))
    assert summary(intents) == [
        ("trading_stop", "protective_stop", None, D("98.8"), None),
        ("create", "take_profit", D("101.8"), None, D("8.333")),
    ]
    assert (intents[0].position_idx, intents[0].side) == (1, "Buy")


def test_an_adopted_position_gets_the_widest_stop_and_its_rr_target():
    intents = plan(long_position(stop_loss=None), trade=None)
    # 100.0 less max_stop_pct 2 % = 98.0; target 100.0 + 1.5 x 2.0
    assert summary(intents) == [
        ("trading_stop", "protective_stop_adopted", None, D("98.0"), None),
        ("create", "take_profit", D("103.0"), None, D("8.333")),
    ]


def test_a_plan_for_the_other_side_is_not_used():
    assert plan(long_position(stop_loss=None), trade=SHORT_PLAN)[0].reason == "protective_stop_adopted"


def test_the_adopted_stop_rounds_toward_the_entry_so_the_loss_stays_inside_max_stop_pct():
    intents = plan(long_position(stop_loss=None, avg_price=D("100.03")), [tp()], trade=None)
    assert intents[0].stop_loss == D("98.1")  # 100.03 x 0.98 = 98.0294


def test_a_short_without_a_stop_gets_it_above_on_hedge_index_2():
    intents = plan(short_position(stop_loss=None), [tp(side="Buy", idx=2, price="98.2")], trade=SHORT_PLAN)
    assert summary(intents) == [("trading_stop", "protective_stop", None, D("101.2"), None)]
    assert intents[0].position_idx == 2


# --- crossed trigger ---------------------------------------------------------------------------


@pytest.mark.parametrize("mark", ["98.8", "98.7"])
def test_a_stop_the_mark_is_already_through_becomes_a_reduce_only_ioc_close(mark):
    intents = plan(long_position(stop_loss=None, mark_price=D(mark)), [tp()])
    assert len(intents) == 1
    close = intents[0]
    assert (close.action, close.side, close.order_type, close.time_in_force, close.reduce_only) == ("create", "Sell", "Limit", "IOC", True)
    assert close.qty == D("8.333") and close.position_idx == 1
    assert close.price == INSTRUMENT.round_price(D(mark) * D("0.995"), "down")
    assert parse_link_id(close.order_link_id).kind == "close"


def test_a_stop_one_tick_inside_the_mark_is_placed_normally():
    assert plan(long_position(stop_loss=None, mark_price=D("98.9")), [tp()])[0].action == "trading_stop"


def test_a_short_through_its_stop_is_closed_with_a_buy_no_higher_than_mark_plus_slippage():
    close = plan(short_position(stop_loss=None, mark_price=D("101.3")), trade=SHORT_PLAN)[0]
    assert (close.side, close.time_in_force, close.price) == ("Buy", "IOC", D("101.9"))  # 101.3 x 1.005 = 101.8065 -> up


# --- break-even lock ---------------------------------------------------------------------------


def venue_net(entry, stop, d):
    """What one unit nets when the shipped venue fills its stop at ``stop`` (no gap), both fees paid."""
    fill = venue_stop_fill(stop, d)
    return d * (fill - entry) - entry * COSTS.maker - fill * COSTS.taker


@pytest.mark.parametrize("d", [1, -1])
def test_break_even_is_the_stop_nearest_the_entry_whose_fill_at_the_venue_loses_nothing(d):
    # The venue fills a stop near 100 a tick of slippage (2 bps of 100, rounded up to the 0.1 tick)
    # and a tick of half spread beyond it: two ticks are 0.2 % here, so the lock sits 3 ticks out.
    level = break_even_price(D("100.0"), d, INSTRUMENT, COSTS)
    assert level == D("100.0") + d * 3 * INSTRUMENT.tick_size
    assert venue_net(D("100.0"), level, d) >= 0 > venue_net(D("100.0"), level - d * INSTRUMENT.tick_size, d)
    no_fees = Costs(D(0), D(0), COSTS.slippage, INSTRUMENT.tick_size, D(0))  # the allowance alone: slippage and spread
    assert break_even_price(D("100.0"), d, INSTRUMENT, no_fees) == D("100.0") + d * 2 * INSTRUMENT.tick_size
    assert break_even_price(D("100.0"), d, INSTRUMENT, Costs(D(0), D(0), D(0), None, D(0))) == D("100.0")


@pytest.mark.parametrize("d", [1, -1])
def test_without_a_tick_a_stop_out_at_the_unrounded_break_even_costs_nothing_at_any_rates(d):
    flat = fallback_costs(RiskSettings(), None)
    for costs in (flat, Costs(D("-0.0001"), D("0.0006"), D("0.0005"), None, D(0)),
                  Costs(D("0.0004"), D("0.001"), D(0), None, D(0))):
        level = costs.break_even(D("2517.37"), d)
        assert abs(costs.loss_per_unit(D("2517.37"), level, d)) < D("1e-20")
        assert d * (level - D("2517.37")) > 0


@pytest.mark.parametrize(("mark", "moves"), [("101.2", True), ("101.1", False)])
def test_break_even_lock_fires_at_be_trigger_r(mark, moves):
    intents = plan(long_position(mark_price=D(mark)), [tp()])
    assert summary(intents) == ([("trading_stop", "break_even", None, BE_LONG, None)] if moves else [])


def test_break_even_lock_moves_the_stop_once_and_the_second_call_makes_no_request():
    first = plan(long_position(mark_price=D("101.5")), [tp()])
    assert len(first) == 1 and first[0].stop_loss == BE_LONG
    after = long_position(mark_price=D("101.5"), stop_loss=first[0].stop_loss)
    assert plan(after, [tp()]) == []


def test_break_even_lock_leaves_a_stop_already_beyond_break_even_alone():
    assert plan(long_position(mark_price=D("101.5"), stop_loss=D("100.6")), [tp()]) == []
    assert plan(short_position(mark_price=D("98.5"), stop_loss=D("99.4")), [tp(side="Buy", idx=2, price="98.2")], trade=SHORT_PLAN) == []


def test_a_short_locks_break_even_below_its_entry():
    intents = plan(short_position(mark_price=D("98.8")), [tp(side="Buy", idx=2, price="98.2")], trade=SHORT_PLAN)
    assert summary(intents) == [("trading_stop", "break_even", None, BE_SHORT, None)]


def test_a_position_in_profit_without_any_stop_gets_break_even_directly():
    assert plan(long_position(stop_loss=None, mark_price=D("101.5")), [tp()])[0].stop_loss == BE_LONG


def test_break_even_reads_the_exchanges_unrealised_pnl_when_no_mark_is_given():
    due = long_position(mark_price=None, unrealised_pnl=D("10.0"))      # 1.2 per unit = 1 R
    early = long_position(mark_price=None, unrealised_pnl=D("9.99"))
    assert plan(due, [tp()])[0].reason == "break_even"
    assert plan(early, [tp()]) == []


# --- take-profit -------------------------------------------------------------------------------


def test_a_grown_position_amends_the_take_profit_to_its_size():
    intents = plan(long_position(size=D("8.333")), [tp(qty="5.000")])
    assert summary(intents) == [("amend", "take_profit_size", None, None, D("8.333"))]
    assert intents[0].order_link_id == tp().order_link_id


def test_a_partly_filled_take_profit_that_still_covers_the_position_is_kept():
    assert plan(long_position(size=D("5.333")), [tp(qty="8.333", cum="3.000", status="PartiallyFilled")]) == []


def test_amending_a_partly_filled_take_profit_counts_its_filled_part_in_the_new_total():
    intents = plan(long_position(size=D("4.000")), [tp(qty="8.333", cum="3.000", status="PartiallyFilled")])
    assert summary(intents) == [("amend", "take_profit_size", None, None, D("7.000"))]


def test_a_second_take_profit_is_cancelled_and_ours_is_kept():
    manual = tp(link="by-hand-1", order_id="tp-0", updated_ms=NOW - 1)
    newer = tp(order_id="tp-2", link=link_id("take_profit", "SOLUSDT", "Buy", T0 + 120_000), updated_ms=NOW + 1)
    intents = plan(long_position(), [newer, manual, tp()])
    assert [(i.action, i.order_link_id) for i in intents] == [("cancel", newer.order_link_id), ("cancel", "by-hand-1")]


@pytest.mark.parametrize("other", [
    dict(symbol="BTCUSDT"), dict(idx=2), dict(side="Buy"), dict(reduce_only=False), dict(status="Cancelled"),
    dict(order_type="Market"),
])
def test_orders_that_do_not_close_this_position_are_not_its_take_profit(other):
    intents = plan(long_position(), [tp(**other)])
    assert summary(intents) == [("create", "take_profit", D("101.8"), None, D("8.333"))]


def test_a_take_profit_the_market_already_passed_is_placed_one_tick_beyond_the_mark():
    intents = plan(long_position(mark_price=D("102.04"), stop_loss=BE_LONG))
    assert summary(intents) == [("create", "take_profit", D("102.2"), None, D("8.333"))]  # 102.04 -> 102.1, + 1 tick


def test_the_take_profit_is_a_post_only_reduce_only_limit_on_the_closing_side():
    create = plan(short_position(), trade=SHORT_PLAN)[0]
    assert (create.side, create.time_in_force, create.reduce_only, create.position_idx, create.price) == ("Buy", "PostOnly", True, 2, D("98.2"))
    assert parse_link_id(create.order_link_id).kind == "take_profit"


def test_a_flat_position_leaves_none_of_our_take_profits_behind():
    manual = tp(link="by-hand-1", order_id="tp-0")
    intents = plan(long_position(size=D("0"), side=None), [tp(), manual])
    assert [(i.action, i.order_link_id, i.reason) for i in intents] == [("cancel", tp().order_link_id, "position_flat")]


def test_a_position_without_any_entry_price_is_left_to_the_next_report():
    assert plan(long_position(avg_price=None, stop_loss=None), trade=None) == []


# --- stale entries -----------------------------------------------------------------------------


def entry_order(tick_ms=T0, **over) -> OrderUpdate:
    values = dict(symbol="SOLUSDT", order_id="e-1", order_link_id=order_link_id("SOLUSDT", tick_ms, "cross_based", "Buy"),
                  side="Buy", status="New", order_type="Limit", time_in_force="PostOnly", price=D("100.0"),
                  qty=D("8.333"), cum_exec_qty=D("0"), avg_price=None, position_idx=1, reduce_only=False, stop_loss=D("98.8"))
    values.update(over)
    return OrderUpdate(**values)


@pytest.mark.parametrize(("age_ms", "cancelled"), [(3 * 60_000 - 1, False), (3 * 60_000, True)])
def test_an_entry_is_cancelled_entry_ttl_bars_after_its_signal_bar(age_ms, cancelled):
    intents = stale_entries([entry_order()], T0 + age_ms, S)
    assert [(i.action, i.order_link_id, i.reason) for i in intents] == ([("cancel", entry_order().order_link_id, "entry_ttl")] if cancelled else [])


def test_a_partly_filled_entry_is_cancelled_too_and_its_position_keeps_the_stop():
    assert len(stale_entries([entry_order(status="PartiallyFilled", cum_exec_qty=D("1"))], T0 + 10 * 60_000, S)) == 1


@pytest.mark.parametrize("order", [
    entry_order(order_link_id="by-hand"), entry_order(order_link_id=""), entry_order(status="Filled"),
    tp(),
])
def test_only_our_working_entries_expire(order):
    assert stale_entries([order], T0 + 60 * 60_000, S) == []


# --- PostOnly take-profit refused ---------------------------------------------------------------


def test_a_take_profit_refused_by_post_only_is_placed_again_one_tick_above_the_best_bid():
    refused = tp(status="Cancelled", reject_reason="EC_PostOnlyWillTakeLiquidity")
    again = requote_take_profit(refused, long_position(size=D("5.000")), D("102.0"), INSTRUMENT, NOW)
    assert (again.action, again.side, again.time_in_force, again.reduce_only) == ("create", "Sell", "PostOnly", True)
    assert (again.price, again.qty, again.position_idx) == (D("102.1"), D("5.000"), 1)
    assert parse_link_id(again.order_link_id).kind == "requoted_take_profit"


def test_a_short_take_profit_is_requoted_one_tick_below_the_best_ask():
    refused = tp(side="Buy", idx=2, price="98.2", status="Cancelled")
    again = requote_take_profit(refused, short_position(), D("98.0"), INSTRUMENT, NOW)
    assert (again.side, again.price) == ("Buy", D("97.9"))


def test_a_requote_never_asks_less_than_the_original_take_profit():
    refused = tp(price="103.0", status="Cancelled")
    assert requote_take_profit(refused, long_position(), D("102.0"), INSTRUMENT, NOW).price == D("103.0")


def test_a_requoted_take_profit_refused_again_is_not_chased():
    once = requote_take_profit(tp(status="Cancelled"), long_position(), D("102.0"), INSTRUMENT, NOW)
    refused_again = tp(status="Cancelled", link=once.order_link_id, price=str(once.price))
    assert requote_take_profit(refused_again, long_position(), D("102.3"), INSTRUMENT, NOW + 1000) is None


def test_no_requote_for_a_position_that_is_gone():
    assert requote_take_profit(tp(status="Cancelled"), long_position(size=D("0"), side=None), D("102.0"), INSTRUMENT, NOW) is None
