"""Reading V5 request parameters: strings, numbers and JSON types as Bybit accepts them, and the
10001 answer when a value is malformed (bybit-v5.md §1.1)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from exchange.sim.orders import V5Error

LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")
MAX_NUMBER = Decimal("1e15")


def decimal_param(req: Mapping[str, Any], key: str, *, required: bool = False) -> Decimal | None:
    raw = req.get(key)
    if raw is None or raw == "":
        if required:
            raise V5Error(10001, f"params error: {key} is required")
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise V5Error(10001, f"params error: {key} invalid")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise V5Error(10001, f"params error: {key} invalid") from None
    # Far beyond any price or qty Bybit accepts; bounding it keeps every later Decimal step exact.
    if not value.is_finite() or value < 0 or value >= MAX_NUMBER or value.as_tuple().exponent < -18:
        raise V5Error(10001, f"params error: {key} invalid")
    return value


def bool_param(req: Mapping[str, Any], key: str) -> bool:
    raw = req.get(key)
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    raise V5Error(10001, f"params error: {key} invalid")


def int_param(req: Mapping[str, Any], key: str, default: int) -> int:
    raw = req.get(key)
    if raw is None or raw == "":
        return default
    try:
        if isinstance(raw, bool):
            raise ValueError
        return int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON number read as inf
        raise V5Error(10001, f"params error: {key} invalid") from None


STRING_KEYS = frozenset({
    "category", "symbol", "side", "orderType", "timeInForce", "orderLinkId", "orderId", "settleCoin", "baseCoin",
    "coin", "orderFilter", "stopOrderType", "tpslMode", "triggerBy", "tpTriggerBy", "slTriggerBy", "accountType",
    "execType", "orderStatus", "cursor", "tpOrderType", "slOrderType", "smpType",
})


def checked(req: Any) -> Mapping[str, Any]:
    """The request itself, once every text field is text: a list or an object where Bybit expects a
    string is a 10001, never a crash further in."""
    if not isinstance(req, Mapping):
        raise V5Error(10001, "params error: request must be a JSON object")
    for key in STRING_KEYS.intersection(req):
        if req[key] is not None and not isinstance(req[key], str):
            raise V5Error(10001, f"params error: {key} must be a string")
    return req
