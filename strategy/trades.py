"""A closed round trip, from its executions: what it made in USDT and in R, and why it ended.

Every way a position closes is a trade: our own orders, and the venue's own closes, told apart
by Bybit's ``execType`` — ``BustTrade`` (liquidation), ``AdlTrade`` (auto-deleveraging),
``Delivery`` (delisting). ``Funding`` executions are not fills: their fee is money the position
cost (or earned) while open, booked into the trade's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from vocabulary.messages import ExecutionUpdate, Side, TradeClosed
from strategy.orders import TradePlan, opposite, parse_link_id

ExitReason = Literal["stop", "target", "break_even", "liquidation", "adl", "delivery", "unknown"]

# execType of the closes the venue makes without an order of ours, and the exit reason each means.
VENUE_CLOSES: dict[str, ExitReason] = {"BustTrade": "liquidation", "AdlTrade": "adl", "Delivery": "delivery"}
FUNDING = "Funding"


def _vwap(fills: Sequence[ExecutionUpdate]) -> Decimal:
    return sum((f.price * f.qty for f in fills), Decimal(0)) / sum((f.qty for f in fills), Decimal(0))


# Bybit's stopOrderType of a position's stop (Full or Partial mode, or trailing).
STOP_LOSS_TYPES = ("StopLoss", "PartialStopLoss", "TrailingStop")


def _is_exchange_stop(fill: ExecutionUpdate, side: Side) -> bool:
    """An exit fill of the position's stop-loss, triggered on the exchange: its stopOrderType says
    so; a fill that does not report one counts when it is a taker exit of no order of ours."""
    if fill.side != opposite(side) or fill.is_maker or fill.exec_type != "Trade":
        return False
    if fill.stop_order_type:
        return fill.stop_order_type in STOP_LOSS_TYPES
    return parse_link_id(fill.order_link_id or "") is None


def _reference(fill: ExecutionUpdate, side: Side, stop: Decimal | None) -> Decimal | None:
    """The price a fill's slippage is measured from: for the exchange's stop the trigger the router
    set, when it knows it (on Bybit a stop-market's ``orderPrice`` is the market order's protection
    bound, far beyond the trigger, not the trigger); else the order's price as reported."""
    if stop is not None and _is_exchange_stop(fill, side):
        return stop
    return fill.order_price


def _exit_reason(exits: Sequence[ExecutionUpdate], exit_price: Decimal, side: Side, plan: TradePlan | None,
                 stop: Decimal | None) -> ExitReason:
    """A close by the venue (liquidation, ADL, delivery) names the trade, even when an order of
    ours took part of it; our own exit orders say what they were; a fill without our id came from
    the exchange's stop (or a hand), so where the stop stood relative to the entry (the trigger
    the router set, else the venue's reported order price: slippage must not turn a break-even
    exit into a stop) tells a stop from a break-even exit."""
    venue = [VENUE_CLOSES[f.exec_type] for f in exits if f.exec_type in VENUE_CLOSES]
    if venue:
        return venue[-1]
    last_exit = exits[-1]
    ours = parse_link_id(last_exit.order_link_id) if last_exit.order_link_id else None
    if ours is not None and ours.kind in ("take_profit", "requoted_take_profit"):
        return "target"
    if ours is not None and ours.kind == "close":
        return "stop"
    if plan is None:
        return "unknown"
    stood = _reference(last_exit, side, stop) or exit_price
    return "stop" if (1 if side == "Buy" else -1) * (stood - plan.entry) < 0 else "break_even"


def _slippage(fill: ExecutionUpdate, side: Side, stop: Decimal | None) -> Decimal:
    """What a taker fill paid beyond its reference price (a maker fill is at its price)."""
    reference = _reference(fill, side, stop)
    if fill.is_maker or not reference:
        return Decimal(0)
    return (fill.price - reference) * fill.qty * (1 if fill.side == "Buy" else -1)


def trade_closed(side: Side, fills: Sequence[ExecutionUpdate], plan: TradePlan | None = None,
                 stop: Decimal | None = None) -> TradeClosed:
    """The round trip of a ``side`` position made of ``fills`` (entries on ``side``, exits opposite).

    ``stop`` is the trigger of the position's stop-loss as the router last set or saw it (the
    entry's attached stop, or the break-even lock): a stop-out's slippage is measured from it.

    ``pnl_usdt`` is exact: exit value minus entry value (mirrored for shorts) minus every fee
    (a maker rebate is a negative fee) minus the funding paid while open (``funding``; Bybit's
    funding ``execFee`` is positive when paid, negative when received). ``pnl_r`` divides it by
    the plan's risk for the traded size; an adopted position without a plan has no R.
    """
    funding = sum((f.fee for f in fills if f.exec_type == FUNDING), Decimal(0))
    fills = [f for f in fills if f.exec_type != FUNDING]
    entries = sorted((f for f in fills if f.side == side), key=lambda f: f.exec_ms)
    exits = sorted((f for f in fills if f.side == opposite(side)), key=lambda f: f.exec_ms)
    qty = sum((f.qty for f in entries), Decimal(0))
    if not entries or qty != sum((f.qty for f in exits), Decimal(0)):
        raise ValueError("not a closed round trip: the exit fills do not add up to the entry fills")
    d = 1 if side == "Buy" else -1
    fees = sum((f.fee for f in fills), Decimal(0))
    gross = d * sum((f.price * f.qty for f in exits), Decimal(0)) - d * sum((f.price * f.qty for f in entries), Decimal(0))
    slippage = sum((_slippage(f, side, stop) for f in fills), Decimal(0))
    pnl = gross - fees - funding
    exit_price = _vwap(exits)
    first = parse_link_id(entries[0].order_link_id) if entries[0].order_link_id else None
    path = plan.path if plan is not None else (first.path if first is not None else None)
    risk = plan.risk_per_unit * qty if plan is not None else Decimal(0)
    return TradeClosed(
        symbol=entries[0].symbol, side=side, path=path, entry_ms=entries[0].exec_ms, exit_ms=exits[-1].exec_ms,
        entry_price=_vwap(entries), exit_price=exit_price, qty=qty, fees=fees, pnl_usdt=pnl,
        pnl_r=float(pnl / risk) if risk > 0 else None,
        exit_reason=_exit_reason(exits, exit_price, side, plan, stop),
        order_link_id=entries[0].order_link_id,
        gross_usdt=gross + slippage, slippage_usdt=slippage, funding_usdt=funding,
        stop_price=plan.stop if plan is not None else None,
    )
