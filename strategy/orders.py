"""Order identities and the entry order: what a TAKE becomes on the wire, and how to recognise it later.

Every orderLinkId is derived from values, never from a counter or a clock read here, so a
retry after a timeout sends the same id and Bybit answers 110072 instead of placing a
second order (bybit-v5.md §5.3). The id also says what the order is for, which lets the
exit planner tell our entries and take-profits from anything placed by hand.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

import msgspec

from vocabulary.messages import Decision, EntryPath, OrderIntent, Side

LinkKind = Literal["entry", "take_profit", "requoted_take_profit", "close"]

MAX_LINK_ID = 36  # Bybit: at most 36 characters of [A-Za-z0-9_-]
_KIND_LETTER: dict[LinkKind, str] = {"entry": "e", "take_profit": "t", "requoted_take_profit": "q", "close": "x"}
_PATH_LETTER: dict[EntryPath, str] = {"cross_based": "c", "pre_cross": "p", "ha_reversal": "h"}
_LINK = re.compile(r"^([etqx])([cph]?)([LS])-([A-Z0-9]+)-([0-9a-z]+)$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class LinkId(msgspec.Struct, frozen=True):
    """What one of our orderLinkIds says: its kind, the position side, symbol, stamp and (entries) path."""

    kind: LinkKind
    side: Side
    symbol_stem: str
    stamp_ms: int
    path: EntryPath | None = None


def _base36(n: int) -> str:
    text = ""
    while True:
        n, digit = divmod(n, 36)
        text = _DIGITS[digit] + text
        if n == 0:
            return text


def _stem(symbol: str) -> str:
    return symbol[:-4] if symbol.endswith("USDT") else symbol


def link_id(kind: LinkKind, symbol: str, side: Side, stamp_ms: int, path: EntryPath | None = None) -> str:
    """``<kind><path?><L|S>-<symbol without USDT>-<stamp in base 36>``; ``side`` is the position's side.

    A 20-character symbol stem and a millisecond stamp fit in 33 characters.
    """
    head = _KIND_LETTER[kind] + (_PATH_LETTER[path] if path is not None else "") + ("L" if side == "Buy" else "S")
    text = f"{head}-{_stem(symbol)}-{_base36(stamp_ms)}"
    if len(text) > MAX_LINK_ID or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError(f"orderLinkId {text!r} breaks Bybit's rule of at most 36 characters of [A-Za-z0-9_-]")
    return text


def order_link_id(symbol: str, tick_ms: int, path: EntryPath, side: Side) -> str:
    """The entry's orderLinkId: one per (symbol, signal bar, path, side), so it can never be doubled."""
    return link_id("entry", symbol, side, tick_ms, path)


def parse_link_id(text: str) -> LinkId | None:
    """The parts of one of our orderLinkIds; None for an id we did not make (an order placed by hand)."""
    match = _LINK.match(text)
    if match is None:
        return None
    kind_letter, path_letter, side_letter, stem, stamp = match.groups()
    kind = next(k for k, v in _KIND_LETTER.items() if v == kind_letter)
    path = next((p for p, v in _PATH_LETTER.items() if v == path_letter), None)
    if (kind == "entry") != (path is not None):
        return None
    return LinkId(kind, "Buy" if side_letter == "L" else "Sell", stem, int(stamp, 36), path)


def position_idx(side: Side) -> Literal[1, 2]:
    """Hedge mode: 1 holds the long side, 2 the short side (bybit-v5.md §5.1)."""
    return 1 if side == "Buy" else 2


def opposite(side: Side) -> Side:
    return "Sell" if side == "Buy" else "Buy"


class TradePlan(msgspec.Struct, frozen=True, kw_only=True):
    """What a TAKE decided, kept by the router so exits can be planned from it."""

    symbol: str
    side: Side
    path: EntryPath
    entry: Decimal
    stop: Decimal
    target: Decimal
    qty: Decimal
    risk_per_unit: Decimal  # 1 R per unit: what a stop-out loses per unit, fees and slippage allowance included
    opened_ms: int
    order_link_id: str


def trade_plan(decision: Decision) -> TradePlan:
    """The plan carried by a TAKE decision; anything else has no plan.

    Its R is the decision's ``loss_at_stop`` per unit (fees and slippage allowance included), so
    a stop-out is -1 R; a decision without one (recorded before it existed) falls back to the
    stop's distance."""
    if (decision.kind != "TAKE" or decision.path is None or decision.side is None or decision.entry_price is None
            or decision.stop_price is None or decision.target_price is None or decision.qty is None):
        raise ValueError(f"only a complete TAKE decision has a trade plan, not {decision.kind}")
    return TradePlan(
        symbol=decision.symbol, side=decision.side, path=decision.path, entry=decision.entry_price,
        stop=decision.stop_price, target=decision.target_price, qty=decision.qty,
        risk_per_unit=_risk_per_unit(decision), opened_ms=decision.tick_ms,
        order_link_id=order_link_id(decision.symbol, decision.tick_ms, decision.path, decision.side),
    )


def _risk_per_unit(decision: Decision) -> Decimal:
    assert decision.entry_price is not None and decision.stop_price is not None and decision.qty is not None
    if decision.loss_at_stop is not None and decision.qty > 0:
        return decision.loss_at_stop / decision.qty
    return abs(decision.entry_price - decision.stop_price)


def entry_intent(decision: Decision) -> OrderIntent:
    """A TAKE as the order that opens it: a PostOnly limit at the entry price with the stop attached.

    The router adds the wire fields OrderIntent does not carry: ``tpslMode=Full``,
    ``slTriggerBy=MarkPrice``, ``slOrderType=Market`` (bybit-v5.md §5.1, smtbot's entry shape).
    No take-profit rides on the entry: it is placed as its own PostOnly reduce-only order
    once there is a position to reduce.
    """
    plan = trade_plan(decision)
    return OrderIntent(
        action="create", symbol=plan.symbol, order_link_id=plan.order_link_id, side=plan.side,
        order_type="Limit", time_in_force="PostOnly", qty=plan.qty, price=plan.entry,
        position_idx=position_idx(plan.side), reduce_only=False, stop_loss=plan.stop,
        tick_ms=decision.tick_ms, reason=f"entry {plan.path}",
    )
