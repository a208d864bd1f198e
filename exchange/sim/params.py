"""Reading V5 request parameters: strings, numbers and JSON types as Bybit accepts them, and the
10001 answer when a value is malformed (bybit-v5.md §1.1)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from exchange.sim.orders import V5Error

LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")


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
    if not value.is_finite() or value < 0:
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
    except (TypeError, ValueError):
        raise V5Error(10001, f"params error: {key} invalid") from None
