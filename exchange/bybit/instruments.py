"""Instrument rules from ``/v5/market/instruments-info`` (bybit-v5.md §2.2), and the last check
an order passes before the wire: prices on the tick grid, qty on the step grid, both rounded in
the direction that can only make the order safer, and sizes the venue would refuse stopped here.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from vocabulary.messages import Instrument, OrderIntent
from exchange.bybit.models import decimal_or_none


class PriceFilter(msgspec.Struct, frozen=True):
    tickSize: str | None = None
    minPrice: str | None = None
    maxPrice: str | None = None


class LotSizeFilter(msgspec.Struct, frozen=True):
    qtyStep: str | None = None
    minOrderQty: str | None = None
    maxOrderQty: str | None = None
    maxMktOrderQty: str | None = None
    minNotionalValue: str | None = None


class InstrumentRow(msgspec.Struct):
    symbol: str | None = None
    status: str | None = None
    contractType: str | None = None
    priceFilter: PriceFilter | None = PriceFilter()
    lotSizeFilter: LotSizeFilter | None = LotSizeFilter()
    isPreListing: bool | None = False


class InstrumentProblem(ValueError):
    """An instruments-info row the bot cannot trade from; the text names the symbol and field."""


def parse_instrument(row: InstrumentRow) -> Instrument:
    prices, lots = row.priceFilter or PriceFilter(), row.lotSizeFilter or LotSizeFilter()
    tick = decimal_or_none(prices.tickSize)
    step = decimal_or_none(lots.qtyStep)
    min_qty = decimal_or_none(lots.minOrderQty)
    for name, value in (("priceFilter.tickSize", tick), ("lotSizeFilter.qtyStep", step), ("lotSizeFilter.minOrderQty", min_qty)):
        if value is None or value <= 0:
            raise InstrumentProblem(f"{row.symbol or '?'}: {name} missing or not positive")
    return Instrument(
        symbol=row.symbol or "",
        tick_size=tick,  # type: ignore[arg-type]
        qty_step=step,  # type: ignore[arg-type]
        min_order_qty=min_qty,  # type: ignore[arg-type]
        max_order_qty=decimal_or_none(lots.maxOrderQty),
        min_notional=decimal_or_none(lots.minNotionalValue) or Decimal(0),
    )


def is_tradable(row: InstrumentRow) -> bool:
    return row.status == "Trading" and not row.isPreListing


class OrderCheck(msgspec.Struct, frozen=True):
    """The intent as it will go on the wire, or why it must not."""

    intent: OrderIntent
    problem: str | None = None


def prepare_intent(intent: OrderIntent, rules: Instrument) -> OrderCheck:
    """Round ``intent`` onto the instrument's grids and check its size.

    Directions (never more aggressive, never more risk than asked):
    - a limit price rounds away from the book: a Buy down, a Sell up (a PostOnly stays a maker);
    - an attached stop-loss rounds toward the entry (a Buy's stop up, a Sell's stop down);
    - an attached take-profit rounds toward the entry too (more likely to fill);
    - qty rounds down.
    For ``trading_stop`` the intent's ``side`` is the position's side; without a side the
    prices must already sit on the grid.
    """
    if intent.action not in ("create", "amend", "trading_stop"):
        return OrderCheck(intent)
    side = intent.side
    changes: dict[str, Decimal] = {}
    for field, buy_dir, sell_dir in (
        ("price", "down", "up"),
        ("stop_loss", "up", "down"),
        ("take_profit", "down", "up"),
    ):
        value: Decimal | None = getattr(intent, field)
        if value is None or (field == "price" and intent.order_type == "Market"):
            continue
        if value <= 0:
            if field != "price" and value == 0 and intent.action != "create":
                continue  # "0" cancels a TP/SL on amend and trading-stop (§5.4, §6.2)
            return OrderCheck(intent, f"{field} {value} is not positive")
        if side is None:
            if rules.round_price(value, "down") != value:
                return OrderCheck(intent, f"{field} {value} is not on the tick grid {rules.tick_size}")
            continue
        rounded = rules.round_price(value, buy_dir if side == "Buy" else sell_dir)
        if rounded <= 0:
            return OrderCheck(intent, f"{field} {value} rounds to {rounded}")
        changes[field] = rounded
    if intent.qty is not None:
        qty = rules.round_qty(intent.qty)
        if intent.action == "create":
            reference = changes.get("price", intent.price)
            if intent.order_type == "Limit" and reference is None:
                return OrderCheck(intent, "a Limit order needs a price")
            if reference is not None:
                problem = rules.order_problem(qty, reference)
                if problem is not None and not (intent.reduce_only and "notional" in problem):
                    # A close is never blocked on notional here: closing must stay possible,
                    # and the spec does not say the venue applies the minimum to reduce-only.
                    return OrderCheck(intent, problem)
            elif qty < rules.min_order_qty:
                return OrderCheck(intent, f"qty {qty} below minOrderQty {rules.min_order_qty}")
        elif qty <= 0:
            return OrderCheck(intent, f"qty {intent.qty} rounds to zero")
        changes["qty"] = qty
    return OrderCheck(msgspec.structs.replace(intent, **changes) if changes else intent)
