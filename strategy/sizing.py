"""Entry, stop, target and quantity of a trade, exact on the instrument's tick and qty grids.

Every price is rounded once, here, toward the side that costs the trader nothing it
did not agree to: the entry toward a cheaper fill that stays maker, the stop further
beyond the swing, the target toward the entry, the quantity down.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from vocabulary.messages import FrameState, Instrument, Reason
from strategy.context import EntryContext

BPS = Decimal(10_000)


class TradePrices(msgspec.Struct, frozen=True):
    entry: Decimal
    stop: Decimal
    target: Decimal
    qty: Decimal
    risk_per_unit: Decimal  # the stop's distance from the entry
    loss_at_stop: Decimal  # what the stop-out costs in USDT, fees and slippage allowance included (1 R)


def dec(x: float | int) -> Decimal:
    """A settings float as the decimal it was written as (``0.1`` stays ``0.1``): the Decimal of
    its shortest repr, remembered by value (``_DECIMALS``)."""
    known = _DECIMALS.get(x) if type(x) is float else None
    if known is not None:
        return known
    made = Decimal(str(x))
    if type(x) is float and x and x == x:
        if len(_DECIMALS) >= _DECIMALS_KEPT:
            _DECIMALS.clear()
        _DECIMALS[x] = made
    return made


# ``dec`` of a float, remembered by value: a candidate's sizing converts a dozen settings and
# 2 x 14 bar highs and lows (its ATR: two fifths of the sizing), and consecutive minutes' ATRs,
# or one minute's in every tuning trial, share them. Exact: equal floats have one shortest repr.
# Only floats (an int equal to a float has another Decimal: 1 is not 1.0), never a zero (0.0 and
# -0.0 are equal keys, unequal Decimals) nor a NaN (never equal to itself). Emptied when full.
_DECIMALS: dict[float, Decimal] = {}
_DECIMALS_KEPT = 1 << 16  # ~14 MB at most


def safe_rounding(d: int) -> Literal["down", "up"]:
    """Every price of a long rounds down, of a short up: for entry, stop and target alike
    that is the safe side (cheaper maker entry, stop beyond the swing, target nearer)."""
    return "down" if d > 0 else "up"


def swing_extreme(frame: FrameState, d: int, lookback: int) -> float:
    """The lowest low (long) or highest high (short) of the last ``lookback`` bars, the signal bar included."""
    if d > 0:
        return min(frame.low_hist[-lookback:] or (frame.low,))
    return max(frame.high_hist[-lookback:] or (frame.high,))


def atr(frame: FrameState, bars: int) -> Decimal:
    """The 1m ATR over the last ``bars`` bars as the simple mean of their high-low ranges.

    A Bybit 1m bar opens at the previous close (every bar of the shipped month does), so its
    true range is its high-low range; the state carries highs and lows, not closes."""
    highs, lows = frame.high_hist[-bars:] or (frame.high,), frame.low_hist[-bars:] or (frame.low,)
    return sum((dec(h) - dec(lo) for h, lo in zip(highs, lows)), Decimal(0)) / len(highs)


def bps_distance(price: Decimal, bps: float, instrument: Instrument) -> Decimal:
    """``bps`` basis points of ``price`` as a distance on the tick grid, rounded up to whole ticks."""
    return instrument.round_price(price * dec(bps) / BPS, "up")


def risk_budget(ctx: EntryContext) -> Decimal:
    """USDT a stop-out costs, fees and slippage allowance included: fixed, or a percentage of equity."""
    if ctx.risk.risk_mode == "usdt":
        return dec(ctx.risk.risk_per_trade)
    return ctx.equity * dec(ctx.risk.risk_per_trade) / 100


def size(budget: Decimal, loss_per_unit: Decimal, entry: Decimal, ctx: EntryContext) -> Decimal:
    """The quantity whose stop-out costs ``budget`` (``loss_per_unit`` includes fees and slippage),
    capped by the margin the equity carries at the configured leverage and by maxOrderQty,
    rounded down to the qty step: never more than the budget."""
    ins = ctx.instrument
    qty = budget / loss_per_unit
    qty = min(qty, max(ctx.equity, Decimal(0)) * ctx.risk.leverage / entry)
    if ins.max_order_qty is not None:
        qty = min(qty, ins.max_order_qty)
    return ins.round_qty(qty)


def stop_floor(entry: Decimal, frame: FrameState, ctx: EntryContext) -> Decimal:
    """The closest a stop may be to the entry: ``min_stop_cost_multiple`` round-trip costs (the
    slippage allowance in the symbol's whole ticks, at the entry) or ``min_stop_atr`` 1m ATRs, the
    larger; a stop inside its own costs can only lose."""
    return _stop_floor(entry, ctx.costs.round_trip(entry), frame, ctx)


def _stop_floor(entry: Decimal, round_trip: Decimal, frame: FrameState, ctx: EntryContext) -> Decimal:
    r = ctx.risk
    by_cost = dec(r.min_stop_cost_multiple) * round_trip * entry
    by_atr = dec(r.min_stop_atr) * atr(frame, r.atr_bars)
    return max(by_cost, by_atr)


def plan_trade(frame: FrameState, d: int, ctx: EntryContext) -> tuple[TradePrices | None, tuple[Reason, ...]]:
    """The trade's prices and size from the 1m signal frame, or None with the gate that failed.

    Entry is a PostOnly limit at the signal bar's close, moved ``entry_offset_bps`` (rounded up to
    whole ticks) away from the market: MarketState carries no order book, and a limit behind the last
    close is the price most likely to rest as maker. The stop sits ``stop_buffer_bps`` beyond the
    swing extreme; closer than the floor (``stop_floor``) it is widened out to the floor
    (``stop_floor = "widen"``: the size is solved for the wider stop, so the risk is unchanged) or
    the candidate is rejected (``"reject"``, reason ``gate.stop_floor``). The size solves for
    ``risk_per_trade`` with fees and slippage included; the target is ``rr`` R net of fees; a
    candidate whose net reward-to-risk on the rounded prices is under ``min_net_rr`` is rejected
    (``edge.net_rr``), and so is one whose loss at its stop would take the day beyond
    ``daily_loss_limit`` (``gate.daily_loss_at_stop``).
    """
    s, ins, costs = ctx.strategy, ctx.instrument, ctx.costs
    close = dec(frame.close)
    entry = ins.round_price(close - d * bps_distance(close, s.entry_offset_bps, ins), safe_rounding(d))
    extreme = dec(swing_extreme(frame, d, s.swing_lookback))
    # Distances in bps are of the entry, one price for every distance of the trade, so a short
    # mirrors its long exactly.
    stop = ins.round_price(extreme - d * bps_distance(entry, s.stop_buffer_bps, ins), safe_rounding(d))
    round_trip = costs.round_trip(entry)  # the floor's and the facts': made once
    floor = _stop_floor(entry, round_trip, frame, ctx)
    facts: tuple[Reason, ...] = (Reason("size.stop_bps", _bps(d * (entry - stop), entry)),
                                 Reason("size.floor_bps", _bps(floor, entry)))
    if d * (entry - stop) < floor:
        if ctx.risk.stop_floor == "reject":
            return None, (*facts, Reason("gate.stop_floor", _bps(floor, entry)))
        stop = ins.round_price(entry - d * floor, safe_rounding(d))
        facts += (Reason("size.stop_widened_bps", _bps(d * (entry - stop), entry)),)
    distance = d * (entry - stop)
    if distance / entry > dec(s.max_stop_pct):
        return None, (*facts, Reason("gate.stop_too_wide", s.max_stop_pct))
    loss_per_unit = costs.loss_per_unit(entry, stop, d)
    if distance <= 0 or loss_per_unit <= 0:
        # Only a floor of zero (no costs, no ATR floor) lets a stop sit at the entry: nothing to size for.
        return None, (*facts, Reason("gate.stop_at_entry", float(distance)))
    target = ins.round_price(costs.target_for(entry, d, dec(s.rr) * loss_per_unit), safe_rounding(d))
    net_rr = costs.profit_per_unit(entry, target, d) / loss_per_unit
    facts += (Reason("size.round_trip_bps", float(round_trip * BPS)),
              Reason("size.net_rr", round(float(net_rr), 6)))
    if net_rr < dec(s.min_net_rr):
        return None, (*facts, Reason("edge.net_rr", s.min_net_rr))
    qty = size(risk_budget(ctx), loss_per_unit, entry, ctx)
    problem = ins.order_problem(qty, entry)
    if problem is not None:
        return None, (*facts, Reason("gate.size", problem))
    loss = qty * loss_per_unit
    if ctx.realised_pnl_today - ctx.open_risk - loss < -dec(ctx.risk.daily_loss_limit):
        return None, (*facts, Reason("gate.daily_loss_at_stop", float(ctx.realised_pnl_today - ctx.open_risk - loss)))
    return TradePrices(entry, stop, target, qty, distance, loss), facts


def _bps(distance: Decimal, price: Decimal) -> float:
    return round(float(distance / price * BPS), 4)
