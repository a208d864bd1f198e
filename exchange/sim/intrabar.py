"""How a 1m bar is walked: the price path through O/H/L/C and the order in which resting
orders and triggers along it are met. Kept apart from the engine so the model is easy to read."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from exchange.sim.market import Bar

if TYPE_CHECKING:
    from exchange.sim.engine import Engine
    from exchange.sim.orders import Order

T = TypeVar("T", Decimal, int)

# Priority among events met at the same price: stops before take-profits before limits,
# the pessimistic reading of an ambiguous bar.
_STOP, _OTHER_TRIGGER, _TAKE_PROFIT, _LIMIT = 0, 1, 2, 3


def bar_path(bar: Bar, model: str) -> list[Decimal]:
    """The bar's price points in the order the model assumes they traded (see ``path_points``)."""
    return path_points(bar.open, bar.high, bar.low, bar.close, model)


def path_points(open_: T, high: T, low: T, close: T, model: str) -> list[T]:
    """O/H/L/C in the order the model assumes they traded; any ordered numbers (Decimal prices
    here, integer ticks in the tuning trials, which must walk bars exactly as the venue does).

    "direction" (default): an up bar (close ≥ open) goes O→L→H→C, a down bar O→H→L→C: the
    extreme against the bar's direction comes first, which is the usual conservative guess.
    """
    if model == "OHLC":
        return [open_, high, low, close]
    if model == "OLHC":
        return [open_, low, high, close]
    if close >= open_:
        return [open_, low, high, close]
    return [open_, high, low, close]


def _touch(engine: "Engine", order: "Order", falling: bool, suppressed: set[str]) -> tuple[Decimal, int] | None:
    """Where on a falling (or rising) segment ``order`` is hit, and its priority; None if never."""
    if order.status == "Untriggered":
        if order.order_id in suppressed:
            return None
        if falling != (order.trigger_direction == 2):
            return None
        kind = order.stop_order_type
        priority = _STOP if kind == "StopLoss" else _TAKE_PROFIT if kind == "TakeProfit" else _OTHER_TRIGGER
        return order.trigger_price, priority
    if order.status in ("New", "PartiallyFilled") and order.order_type == "Limit":
        ticks = engine.fill_offset[order.symbol]
        if falling and order.side == "Buy":
            return order.price - ticks, _LIMIT
        if not falling and order.side == "Sell":
            return order.price + ticks, _LIMIT
    return None


def falling_of(order: "Order") -> bool:
    """A trigger met by a falling price (a long's stop, a short's take-profit)."""
    return order.trigger_direction == 2


def can_meet_any(engine: "Engine", orders: list["Order"], low: Decimal, high: Decimal) -> bool:
    """Whether any of ``orders`` would be met by a path that stays within [low, high]."""
    for order in orders:
        for falling in (True, False):
            hit = _touch(engine, order, falling, set())
            if hit is not None and (hit[0] >= low if falling else hit[0] <= high):
                return True
    return False


def walk_segment(engine: "Engine", symbol: str, a: Decimal, b: Decimal, suppressed: set[str],
                 bar: Bar | None = None, first: bool = False) -> None:
    """Move the price monotonically from ``a`` to ``b``, executing every event met on the way,
    nearest first. Executing one event can create others (a fill attaches its stop-loss), so the
    candidates are recomputed after each one.

    ``first``: the segment from the last close to ``bar``'s open, where nothing trades; a trigger
    met there with the open beyond it, or one the path already stood beyond, was gapped through,
    and the trigger is told the first price traded beyond it: the open on the first segment (nothing
    traded before it), else where the path stood."""
    # A flat segment (e.g. the open after an unchanged close) still settles whatever the price
    # already stands beyond, in either direction.
    directions = (b < a,) if a != b else (True, False)
    done: set[str] = set()
    while True:
        best = None
        for order in engine.resting(symbol):
            if order.order_id in done:
                continue
            for falling in directions:
                hit = _touch(engine, order, falling, suppressed)
                if hit is None:
                    continue
                price, priority = hit
                reached = price >= b if falling else price <= b
                if not reached:
                    continue
                distance = max(Decimal(0), (a - price) if falling else (price - a))
                key = (distance, priority, order.seq)
                if best is None or key < best[0]:
                    best = (key, order, price)
        if best is None:
            return
        (distance, _, _), order, price = best
        done.add(order.order_id)
        # A trigger already passed at the segment start fills where the path stood (a gap).
        here = a if distance == 0 else price
        if distance:
            a = price
        if order.status == "Untriggered":
            gapped = bar is not None and (here != price or (first and (b < price if falling_of(order) else b > price)))
            engine.trigger(order, here, (b if first else here) if gapped else None)
        else:
            engine.fill(order, order.price, is_maker=True)
