"""Level-triggered means convergent: do what plan_exits asks, ask again, and it asks for nothing."""

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabulary.messages import OrderIntent, OrderUpdate, PositionUpdate
from vocabulary.settings import RiskSettings, StrategySettings
from market_builders import INSTRUMENT, T0
from strategy.costs import fallback_costs
from strategy.exits import TradePlan, break_even_price, plan_exits
from strategy.orders import link_id, opposite, order_link_id

S = StrategySettings()
COSTS = fallback_costs(RiskSettings(), INSTRUMENT.tick_size)
D = Decimal


def apply(position: PositionUpdate, working: list[OrderUpdate], intent: OrderIntent) -> tuple[PositionUpdate, list[OrderUpdate]]:
    """What an exchange that accepts every request would then report."""
    if intent.action == "trading_stop":
        return msgspec.structs.replace(position, stop_loss=intent.stop_loss), working
    if intent.action == "cancel":
        return position, [o for o in working if o.order_link_id != intent.order_link_id]
    if intent.action == "amend":
        return position, [msgspec.structs.replace(o, qty=intent.qty) if o.order_link_id == intent.order_link_id else o
                          for o in working]
    assert intent.action == "create" and intent.reduce_only
    if intent.time_in_force == "IOC":
        return msgspec.structs.replace(position, size=D(0), side=None), working
    order = OrderUpdate(symbol=intent.symbol, order_id=intent.order_link_id, order_link_id=intent.order_link_id,
                        side=intent.side, status="New", order_type="Limit", time_in_force="PostOnly", price=intent.price,
                        qty=intent.qty, cum_exec_qty=D(0), avg_price=None, position_idx=intent.position_idx, reduce_only=True)
    return position, [*working, order]


@st.composite
def exchange_views(draw):
    side = draw(st.sampled_from(["Buy", "Sell"]))
    d = 1 if side == "Buy" else -1
    entry = D(draw(st.integers(900, 1100))) / 10
    risk = D(draw(st.integers(5, 20))) / 10
    size = D(draw(st.integers(1, 9000))) / 1000
    mark = entry + d * D(draw(st.integers(-25, 40))) / 10
    stop = draw(st.sampled_from([None, entry - d * risk, entry, entry + d * risk / 2]))
    idx = 1 if side == "Buy" else 2
    tps = []
    for n in range(draw(st.integers(0, 3))):
        qty = D(draw(st.integers(1, 9000))) / 1000
        filled = draw(st.sampled_from([D(0), qty / 2]))
        tps.append(OrderUpdate(
            symbol="SOLUSDT", order_id=f"o{n}", order_link_id=link_id("take_profit", "SOLUSDT", side, T0 + n),
            side=opposite(side), status="New", order_type="Limit", time_in_force="PostOnly",
            price=entry + d * 2 * risk, qty=INSTRUMENT.round_qty(qty), cum_exec_qty=INSTRUMENT.round_qty(filled), avg_price=None,
            position_idx=idx, reduce_only=True, updated_ms=T0 + n))
    plan = draw(st.sampled_from([None, TradePlan(
        symbol="SOLUSDT", side=side, path="pre_cross", entry=entry, stop=entry - d * risk, target=entry + d * 2 * risk,
        qty=size, risk_per_unit=risk, opened_ms=T0, order_link_id=order_link_id("SOLUSDT", T0, "pre_cross", side))]))
    position = PositionUpdate(symbol="SOLUSDT", position_idx=idx, side=side, size=size, avg_price=entry,
                              stop_loss=stop, mark_price=mark, updated_ms=T0)
    return position, tps, plan


@settings(max_examples=300, deadline=None)
@given(view=exchange_views())
def test_doing_what_plan_exits_asks_leaves_nothing_to_ask_and_the_position_protected(view):
    position, working, plan = view
    d = 1 if position.side == "Buy" else -1
    for cycle in range(3):
        intents = plan_exits(position, working, plan, INSTRUMENT, S, T0 + 60_000 * (cycle + 1), costs=COSTS)
        if not intents:
            break
        for intent in intents:
            if intent.action == "trading_stop":
                assert d * (position.mark_price - intent.stop_loss) > 0, "a stop must never be asked for through the mark"
            position, working = apply(position, working, intent)
    assert intents == [], f"still asking after {cycle + 1} cycles"
    if position.size == 0:
        assert working == []
        return
    assert position.stop_loss is not None
    [take_profit] = working
    assert take_profit.qty - take_profit.cum_exec_qty == position.size
    risk = plan.risk_per_unit if plan else position.avg_price * D(str(S.max_stop_pct))
    if d * (position.mark_price - position.avg_price) >= risk:
        assert d * (position.stop_loss - break_even_price(position.avg_price, d, INSTRUMENT, COSTS)) >= 0
