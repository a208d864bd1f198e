"""Entry, stop, target and quantity of a trade, exact on the instrument's tick and qty grids.

Every price is rounded once, here, toward the side that costs the trader nothing it
did not agree to: the entry toward a cheaper fill that stays maker, the stop further
beyond the swing, the target toward the entry, the quantity down.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from actors.messages import FrameState, Instrument, Reason
from strategy.context import EntryContext


class TradePrices(msgspec.Struct, frozen=True):
    entry: Decimal
    stop: Decimal
    target: Decimal
    qty: Decimal
    risk_per_unit: Decimal


def dec(x: float | int) -> Decimal:
    """A settings float as the decimal it was written as (``0.1`` stays ``0.1``)."""
    return Decimal(str(x))


def safe_rounding(d: int) -> Literal["down", "up"]:
    """Every price of a long rounds down, of a short up: for entry, stop and target alike
    that is the safe side (cheaper maker entry, stop beyond the swing, target nearer)."""
    return "down" if d > 0 else "up"


def swing_extreme(frame: FrameState, d: int, lookback: int) -> float:
    """The lowest low (long) or highest high (short) of the last ``lookback`` bars, the signal bar included."""
    if d > 0:
        return min(frame.low_hist[-lookback:] or (frame.low,))
    return max(frame.high_hist[-lookback:] or (frame.high,))


def risk_budget(ctx: EntryContext) -> Decimal:
    """USDT lost if the stop is hit: fixed, or a percentage of equity."""
    if ctx.risk.risk_mode == "usdt":
        return dec(ctx.risk.risk_per_trade)
    return ctx.equity * dec(ctx.risk.risk_per_trade) / 100


def size(budget: Decimal, risk_per_unit: Decimal, entry: Decimal, ctx: EntryContext) -> Decimal:
    """Budget / stop distance, capped by the margin the equity carries at the configured
    leverage and by maxOrderQty, rounded down to the qty step."""
    ins = ctx.instrument
    qty = budget / risk_per_unit
    qty = min(qty, max(ctx.equity, Decimal(0)) * ctx.risk.leverage / entry)
    if ins.max_order_qty is not None:
        qty = min(qty, ins.max_order_qty)
    return ins.round_qty(qty)


def plan_trade(frame: FrameState, d: int, ctx: EntryContext) -> tuple[TradePrices | None, tuple[Reason, ...]]:
    """The trade's prices and size from the 1m signal frame, or None with the hard gate that failed.

    Entry is a PostOnly limit at the signal bar's close, rounded away from the market
    (down for a buy, up for a sell): MarketState carries no order book, and a limit at or
    behind the last close is the price most likely to rest as maker; ``entry_offset_ticks``
    moves it further behind, where a venue quoting one price for both touches still lets it rest.
    """
    s, ins = ctx.strategy, ctx.instrument
    entry = ins.round_price(dec(frame.close) - d * s.entry_offset_ticks * ins.tick_size, safe_rounding(d))
    extreme = dec(swing_extreme(frame, d, s.swing_lookback))
    stop = ins.round_price(extreme - d * s.stop_buffer_ticks * ins.tick_size, safe_rounding(d))
    distance = d * (entry - stop)
    ticks = int(distance / ins.tick_size)
    facts = (Reason("size.stop_ticks", ticks), Reason("size.stop_pct", float(distance / entry)))
    if ticks < s.min_stop_ticks:
        return None, (*facts, Reason("gate.stop_too_close", s.min_stop_ticks))
    if distance / entry > dec(s.max_stop_pct):
        return None, (*facts, Reason("gate.stop_too_wide", s.max_stop_pct))
    target = ins.round_price(entry + d * dec(s.rr) * distance, safe_rounding(d))
    qty = size(risk_budget(ctx), distance, entry, ctx)
    problem = ins.order_problem(qty, entry)
    if problem is not None:
        return None, (*facts, Reason("gate.size", problem))
    return TradePrices(entry, stop, target, qty, distance), facts
