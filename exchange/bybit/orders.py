"""An ``OrderIntent`` as a V5 request body (bybit-v5.md §5.1, §5.4–§5.6, §6.2): which endpoint,
which fields, in the venue's spelling; or, before the wire, why it cannot be sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from vocabulary.messages import OrderIntent

CATEGORY = "linear"


def decimal_text(value: Decimal) -> str:
    # str(Decimal) may give "1E+1"; the venue wants plain digits.
    return format(value, "f")


def order_request(intent: OrderIntent, trigger_by: str) -> tuple[dict[str, Any] | str, str]:
    """The request body of one intent, or a string saying why it cannot be sent."""
    base: dict[str, Any] = {"category": CATEGORY, "symbol": intent.symbol}
    action = intent.action
    if action == "cancel_all":
        # orderFilter=Order keeps the position's TP/SL: without it cancel-all removes the stop (§5.6).
        return {**base, "orderFilter": "Order"}, "/v5/order/cancel-all"
    if action == "trading_stop":
        if intent.stop_loss is None and intent.take_profit is None:
            return "trading_stop needs stop_loss or take_profit", ""
        return {**base, "tpslMode": "Full", "positionIdx": intent.position_idx, **_tpsl(intent, trigger_by)}, "/v5/position/trading-stop"
    if not intent.order_link_id:
        if action != "create":
            return f"{action} needs order_link_id", ""
    if action == "cancel":
        return {**base, "orderLinkId": intent.order_link_id}, "/v5/order/cancel"
    if action == "amend":
        body = {**base, "orderLinkId": intent.order_link_id}
        if intent.qty is not None:
            body["qty"] = decimal_text(intent.qty)
        if intent.price is not None:
            body["price"] = decimal_text(intent.price)
        body.update(_tpsl(intent, trigger_by))
        if len(body) == 3:
            return "amend changes nothing", ""
        return body, "/v5/order/amend"
    if intent.side is None or intent.qty is None:
        return "create needs side and qty", ""
    if intent.reduce_only and (intent.stop_loss is not None or intent.take_profit is not None):
        return "a reduce-only order cannot carry TP/SL (§5.1)", ""
    body = {**base, "side": intent.side, "orderType": intent.order_type, "qty": decimal_text(intent.qty)}
    if intent.order_type == "Limit":
        if intent.price is None:
            return "a Limit order needs a price", ""
        body["price"] = decimal_text(intent.price)
        body["timeInForce"] = intent.time_in_force
    body["positionIdx"] = intent.position_idx
    if intent.order_link_id:
        body["orderLinkId"] = intent.order_link_id
    if intent.reduce_only:
        body["reduceOnly"] = True
    tpsl = _tpsl(intent, trigger_by)
    if tpsl:
        body.update(tpsl)
        body["tpslMode"] = "Full"
        if "stopLoss" in tpsl:
            body["slOrderType"] = "Market"
        if "takeProfit" in tpsl:
            body["tpOrderType"] = "Market"
    return body, "/v5/order/create"


def _tpsl(intent: OrderIntent, trigger_by: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if intent.stop_loss is not None:
        out["stopLoss"] = decimal_text(intent.stop_loss)
        out["slTriggerBy"] = trigger_by
    if intent.take_profit is not None:
        out["takeProfit"] = decimal_text(intent.take_profit)
        out["tpTriggerBy"] = trigger_by
    return out
