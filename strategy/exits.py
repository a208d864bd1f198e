"""The exit doctrine as pure planners: from what the exchange reports, the orders that make it right.

``plan_exits`` is level-triggered: the router runs it every cycle for every position the
exchange reports, with the exchange's own stop and working orders, and it returns only
the difference between that and the doctrine (a stop on the exchange, exactly one
PostOnly reduce-only take-profit for the current size, the break-even lock once due).
A second call on an unchanged exchange returns nothing, so restarts and reconnects
neither forget nor double anything. Prices round once, on the side that protects.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from vocabulary.messages import Instrument, OrderIntent, OrderUpdate, PositionUpdate
from vocabulary.settings import StrategySettings
from strategy.context import BAR_MS
from strategy.costs import Costs
from strategy.orders import (
    LinkId, TradePlan, entry_intent, link_id, opposite, order_link_id, parse_link_id, trade_plan,
)
from strategy.sizing import dec, safe_rounding

__all__ = [
    "TradePlan", "trade_plan", "entry_intent", "order_link_id", "plan_exits", "stale_entries",
    "requote_take_profit", "break_even_price", "maker_exit_price",
]

OPEN_STATUSES = ("New", "PartiallyFilled")
TAKE_PROFIT_KINDS = ("take_profit", "requoted_take_profit")
CROSSED_CLOSE = "stop_crossed_close"


def _direction(position: PositionUpdate) -> int:
    return 1 if position.side == "Buy" else -1


def _stop_rounding(d: int) -> Literal["down", "up"]:
    """A long's stop rounds up (a little less loss, never below break-even), a short's down."""
    return "up" if d > 0 else "down"


def break_even_price(entry: Decimal, d: int, instrument: Instrument, costs: Costs) -> Decimal:
    """The stop price at which a stop-out loses nothing: entry ± the maker entry fee, the taker
    stop fee and the slippage allowance in the symbol's whole ticks, at the venue's rates
    (``strategy.costs``: already on the grid when ``costs`` know the tick), rounded so it never
    exits below it."""
    return instrument.round_price(costs.break_even(entry, d), _stop_rounding(d))


def maker_exit_price(reference: Decimal, d: int, instrument: Instrument) -> Decimal:
    """The nearest price at which an exit of a ``d`` position rests as maker: one tick above the best
    bid for a long's sell, one below the best ask for a short's buy (``reference`` is that book
    side, or the mark when the book is unknown)."""
    return instrument.round_price(reference, "up" if d > 0 else "down") + d * instrument.tick_size


def _ours(order: OrderUpdate) -> LinkId | None:
    return parse_link_id(order.order_link_id) if order.order_link_id else None


def _is_our_take_profit(order: OrderUpdate) -> bool:
    ours = _ours(order)
    return ours is not None and ours.kind in TAKE_PROFIT_KINDS


def _take_profits(position: PositionUpdate, working: Sequence[OrderUpdate]) -> list[OrderUpdate]:
    """Resting reduce-only limits that close this position; ours first, then the oldest."""
    exit_side = opposite(position.side) if position.side else None
    found = [o for o in working
             if o.symbol == position.symbol and o.position_idx == position.position_idx and o.reduce_only
             and o.side == exit_side and o.order_type == "Limit" and o.status in OPEN_STATUSES]
    return sorted(found, key=lambda o: (_ours(o) is None, o.updated_ms, o.order_id))


def _cancel(order: OrderUpdate, reason: str) -> OrderIntent:
    return OrderIntent(action="cancel", symbol=order.symbol, order_link_id=order.order_link_id,
                       side=order.side, position_idx=order.position_idx, reason=reason)


def _matching_plan(position: PositionUpdate, plan: TradePlan | None) -> TradePlan | None:
    if plan is None or plan.symbol != position.symbol or plan.side != position.side:
        return None
    return plan


def _risk_per_unit(entry: Decimal, plan: TradePlan | None, s: StrategySettings) -> Decimal:
    """The plan's 1 R per unit, or for an adopted position the widest stop the strategy would take."""
    return plan.risk_per_unit if plan is not None else entry * dec(s.max_stop_pct)


def _profit_per_unit(position: PositionUpdate, entry: Decimal, d: int) -> Decimal | None:
    if position.mark_price is not None:
        return d * (position.mark_price - entry)
    if position.unrealised_pnl is not None:
        return position.unrealised_pnl / position.size
    return None


def _is_crossed(stop: Decimal, mark: Decimal | None, d: int) -> bool:
    """A stop at or through the mark cannot be set: Bybit rejects a trigger on the wrong side
    (110092/110093, ``expect Falling``). The stop triggers on MarkPrice, so the mark decides."""
    return mark is not None and d * (mark - stop) <= 0


def _stop_plan(position: PositionUpdate, entry: Decimal, plan: TradePlan | None, instrument: Instrument,
               s: StrategySettings, costs: Costs, now_ms: int) -> list[OrderIntent]:
    d = _direction(position)
    risk = _risk_per_unit(entry, plan, s)
    if plan is not None:
        stop, why = plan.stop, "protective_stop"
    else:
        stop, why = instrument.round_price(entry - d * risk, _stop_rounding(d)), "protective_stop_adopted"
    profit = _profit_per_unit(position, entry, d)
    if profit is not None and profit >= dec(s.be_trigger_r) * risk:
        stop, why = break_even_price(entry, d, instrument, costs), "break_even"
        if position.stop_loss is not None and d * (position.stop_loss - stop) >= 0:
            return []
    elif position.stop_loss is not None:
        return []
    if not _is_crossed(stop, position.mark_price, d):
        return [OrderIntent(action="trading_stop", symbol=position.symbol, side=position.side,
                            position_idx=position.position_idx, stop_loss=stop, reason=why)]
    if position.stop_loss is not None:
        return []  # the stop already on the exchange still protects; the break-even level passed by
    return [_close(position, instrument, s, now_ms)]


def _close(position: PositionUpdate, instrument: Instrument, s: StrategySettings, now_ms: int) -> OrderIntent:
    """The explicit fallback for a position that is through the stop it should have: a reduce-only
    IOC limit at the mark minus (long) / plus (short) ``close_slippage_pct``. IOC takes what the
    book has down to that bound and leaves nothing resting; whatever stays open is seen again
    next cycle, still crossed, and closed again. It is never a market order: the bound is ours."""
    d = _direction(position)
    assert position.mark_price is not None and position.side is not None
    bound = instrument.round_price(position.mark_price * (1 - d * dec(s.close_slippage_pct)), safe_rounding(d))
    return OrderIntent(
        action="create", symbol=position.symbol, side=opposite(position.side), order_type="Limit",
        time_in_force="IOC", qty=position.size, price=bound, position_idx=position.position_idx,
        reduce_only=True, order_link_id=link_id("close", position.symbol, position.side, now_ms),
        reason=CROSSED_CLOSE,
    )


def _take_profit_plan(position: PositionUpdate, entry: Decimal, working: Sequence[OrderUpdate], plan: TradePlan | None,
                      instrument: Instrument, s: StrategySettings, now_ms: int) -> list[OrderIntent]:
    d = _direction(position)
    resting = _take_profits(position, working)
    intents = [_cancel(extra, "take_profit_duplicate") for extra in resting[1:] if extra.order_link_id]
    if resting:
        keep = resting[0]
        if keep.qty - keep.cum_exec_qty != position.size and keep.order_link_id:
            # Bybit's amend qty is the new total, filled part included (bybit-v5.md §5.4).
            intents.append(OrderIntent(
                action="amend", symbol=position.symbol, order_link_id=keep.order_link_id, side=keep.side,
                qty=keep.cum_exec_qty + position.size, position_idx=position.position_idx,
                reason="take_profit_size"))
        return intents
    if plan is not None:
        target = plan.target
    else:
        target = instrument.round_price(entry + d * dec(s.rr) * _risk_per_unit(entry, plan, s), safe_rounding(d))
    if position.mark_price is not None and d * (position.mark_price - target) >= 0:
        target = maker_exit_price(position.mark_price, d, instrument)  # the market is through it: rest beyond
    assert position.side is not None
    intents.append(OrderIntent(
        action="create", symbol=position.symbol, side=opposite(position.side), order_type="Limit",
        time_in_force="PostOnly", qty=position.size, price=target, position_idx=position.position_idx,
        reduce_only=True, order_link_id=link_id("take_profit", position.symbol, position.side, now_ms),
        reason="take_profit"))
    return intents


def plan_exits(position: PositionUpdate, working: Sequence[OrderUpdate], plan: TradePlan | None,
               instrument: Instrument, settings: StrategySettings, now_ms: int, *, costs: Costs) -> list[OrderIntent]:
    """What must change on the exchange for ``position`` to follow the exit doctrine; [] when nothing.

    ``working`` is every open order the exchange reports (any symbol); ``plan`` the TAKE that
    opened the position, or None for a position the router adopted (the fallback stop is
    ``max_stop_pct`` from the entry, the target ``rr`` times that). Stops come first.
    ``costs`` are the symbol's fee rates and slippage allowance at its tick: they place the break-even lock.
    A flat position leaves no take-profit of ours behind.
    """
    if position.size <= 0 or position.side is None:
        return [_cancel(o, "position_flat") for o in working
                if o.symbol == position.symbol and o.position_idx == position.position_idx
                and o.status in OPEN_STATUSES and _is_our_take_profit(o)]
    plan = _matching_plan(position, plan)
    entry = position.avg_price if position.avg_price is not None else (plan.entry if plan is not None else None)
    if entry is None:
        return []
    stops = _stop_plan(position, entry, plan, instrument, settings, costs, now_ms)
    if stops and stops[0].reason == CROSSED_CLOSE:
        return stops  # the whole position is being closed: no take-profit to place for it
    return stops + _take_profit_plan(position, entry, working, plan, instrument, settings, now_ms)


def stale_entries(working: Sequence[OrderUpdate], now_ms: int, settings: StrategySettings) -> list[OrderIntent]:
    """Cancels for our entries still working ``entry_ttl_bars`` bars after their signal bar.

    The age comes from the signal bar in the orderLinkId, so it survives restarts; orders
    placed by hand are not ours to cancel.
    """
    stale = []
    for order in working:
        ours = _ours(order)
        if (ours is not None and ours.kind == "entry" and order.status in OPEN_STATUSES and not order.reduce_only
                and now_ms - ours.stamp_ms >= settings.entry_ttl_bars * BAR_MS):
            stale.append(_cancel(order, "entry_ttl"))
    return stale


def requote_take_profit(rejected: OrderUpdate, position: PositionUpdate, reference: Decimal,
                        instrument: Instrument, now_ms: int) -> OrderIntent | None:
    """A take-profit cancelled by PostOnly (the price was already through) placed again at the
    nearest maker price, sized to the current position; never a market exit.

    ``reference`` is the best bid for a long's take-profit, the best ask for a short's (or the
    mark when the book is unknown). It re-prices once: a re-priced order that is refused
    again returns None, and the next cycle's ``plan_exits`` places a fresh one.
    """
    ours = _ours(rejected)
    if ours is not None and ours.kind == "requoted_take_profit":
        return None
    if position.size <= 0 or position.side is None or rejected.side != opposite(position.side):
        return None
    d = _direction(position)
    price = maker_exit_price(reference, d, instrument)
    if rejected.price is not None and d * (rejected.price - price) > 0:
        price = rejected.price
    return OrderIntent(
        action="create", symbol=position.symbol, side=rejected.side, order_type="Limit", time_in_force="PostOnly",
        qty=position.size, price=price, position_idx=position.position_idx, reduce_only=True,
        order_link_id=link_id("requoted_take_profit", position.symbol, position.side, now_ms),
        reason="take_profit_requote")
