"""What a TAKE becomes on the wire, and orderLinkIds that can never double an order."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vocabulary.messages import Decision
from market_builders import LONG_LOSS_PER_UNIT, LONG_QTY, T0, context, long_cross, market, mirror_market
from strategy.entry import evaluate_entry
from strategy.exits import entry_intent, order_link_id, trade_plan
from strategy.orders import link_id, parse_link_id

D = Decimal


def test_a_long_take_becomes_a_post_only_buy_limit_with_its_stop_on_hedge_index_1():
    decision = evaluate_entry(market(long_cross()), context())
    intent = entry_intent(decision)
    assert (intent.action, intent.side, intent.order_type, intent.time_in_force) == ("create", "Buy", "Limit", "PostOnly")
    assert (intent.price, intent.qty, intent.stop_loss, intent.take_profit) == (D("100.0"), LONG_QTY, D("98.8"), None)
    assert (intent.position_idx, intent.reduce_only, intent.tick_ms) == (1, False, T0)
    assert intent.order_link_id == order_link_id("SOLUSDT", T0, "cross_based", "Buy")


def test_a_short_take_uses_hedge_index_2():
    intent = entry_intent(evaluate_entry(mirror_market(market(long_cross()), centre=1000), context()))
    assert (intent.side, intent.position_idx, intent.stop_loss) == ("Sell", 2, D("101.2"))


def test_the_same_decision_always_gives_the_same_order_link_id_and_different_bars_paths_or_sides_never_do():
    decision = evaluate_entry(market(long_cross()), context())
    assert entry_intent(decision).order_link_id == entry_intent(decision).order_link_id
    ids = {order_link_id("SOLUSDT", t, p, s) for t in (T0, T0 + 60_000)
           for p in ("cross_based", "pre_cross", "ha_reversal") for s in ("Buy", "Sell")}
    assert len(ids) == 12


@given(stem=st.from_regex(r"[A-Z0-9]{2,20}", fullmatch=True), stamp=st.integers(0, 2**42),
       path=st.sampled_from(["cross_based", "pre_cross", "ha_reversal"]), side=st.sampled_from(["Buy", "Sell"]))
def test_every_order_link_id_fits_bybits_rule_and_parses_back(stem, stamp, path, side):
    text = order_link_id(stem + "USDT", stamp, path, side)
    assert len(text) <= 36 and re.fullmatch(r"[A-Za-z0-9_-]+", text)
    parsed = parse_link_id(text)
    assert (parsed.kind, parsed.path, parsed.side, parsed.symbol_stem, parsed.stamp_ms) == ("entry", path, side, stem, stamp)


def test_ids_we_did_not_make_are_not_ours():
    for text in ("", "manual-order-1", "t-BTC-abc", "eL-BTC-abc", "tcL-BTC-abc", "ecL-btc-abc"):
        assert parse_link_id(text) is None


def test_a_symbol_too_long_for_the_id_is_refused_rather_than_truncated():
    with pytest.raises(ValueError, match="36 characters"):
        link_id("take_profit", "A" * 30 + "USDT", "Buy", T0)


def test_only_a_complete_take_has_a_plan():
    with pytest.raises(ValueError):
        trade_plan(Decision(tick_ms=T0, symbol="SOLUSDT", kind="REJECT", path="pre_cross", side="Buy"))
    decision = evaluate_entry(market(long_cross()), context())
    plan = trade_plan(decision)
    assert (plan.entry, plan.stop, plan.target, plan.opened_ms) == (D("100.0"), D("98.8"), D("102.2"), T0)
    # 1 R per unit is what a unit loses at the stop, fees and slippage allowance included: a stop-out is -1 R.
    assert plan.risk_per_unit * plan.qty == decision.loss_at_stop
    assert plan.risk_per_unit == LONG_LOSS_PER_UNIT
