"""Read endpoints of the account (bybit-v5.md §5.7-5.9, §6.1, §6.5, §7): filters, pages and cursors
over the engine's records. Cursors are opaque strings (an offset here); "" means no more pages."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from exchange.sim.engine import Engine
from exchange.sim.params import checked, int_param
from exchange.sim.orders import Order, V5Error

WEEK_MS = 7 * 86_400_000
DAY_MS = 86_400_000


def _category(req: Mapping[str, Any]) -> None:
    if req.get("category") != "linear":
        raise V5Error(10001, "params error: category only support linear")


def _limit(req: Mapping[str, Any], default: int, maximum: int) -> int:
    limit = int_param(req, "limit", default)
    if not 1 <= limit <= maximum:
        raise V5Error(10001, f"params error: limit must be within [1, {maximum}]")
    return limit


def _page(rows: Sequence[Any], req: Mapping[str, Any], default: int, maximum: int) -> tuple[list, str]:
    limit = _limit(req, default, maximum)
    cursor = req.get("cursor") or "0"
    if not str(cursor).isdigit():
        raise V5Error(10001, "params error: cursor invalid")
    start = int(cursor)
    page = list(rows[start:start + limit])
    return page, (str(start + limit) if start + limit < len(rows) else "")


def _window(req: Mapping[str, Any], now_ms: int) -> tuple[int, int]:
    start, end = req.get("startTime"), req.get("endTime")
    end_ms = int_param(req, "endTime", now_ms)
    start_ms = int_param(req, "startTime", end_ms - WEEK_MS)
    if start is not None and end is None:
        end_ms = start_ms + WEEK_MS
    if end_ms < start_ms or end_ms - start_ms > WEEK_MS:
        raise V5Error(10001, "params error: the time range between startTime and endTime must be <= 7 days")
    return start_ms, end_ms


def _scope(engine: Engine, req: Mapping[str, Any], *, required: bool = True) -> Callable[[str], bool]:
    """Which symbols a request covers: symbol > baseCoin > settleCoin (one is required for linear)."""
    symbol, base, settle = req.get("symbol"), req.get("baseCoin"), req.get("settleCoin")
    if symbol:
        if symbol not in engine.rules:
            raise V5Error(10001, f"params error: symbol invalid: {symbol}")
        return lambda s: s == symbol
    if base:
        return lambda s: engine.rules[s].base_coin == base
    if settle:
        if settle != "USDT":
            raise V5Error(10001, "params error: settleCoin invalid")
        return lambda s: True
    if required:
        raise V5Error(10001, "params error: symbol, baseCoin or settleCoin is required")
    return lambda s: True


def _by_id(engine: Engine, req: Mapping[str, Any]) -> Order | None | bool:
    order_id, link = req.get("orderId"), req.get("orderLinkId")
    if order_id:
        return engine.orders.get(order_id)
    if link:
        return engine.by_link.get(link)
    return False


def _filter_kind(order: Order, flt: Any) -> bool:
    if flt in (None, ""):
        return True
    if flt == "Order":
        return not order.stop_order_type
    if flt == "StopOrder":
        return bool(order.stop_order_type)
    raise V5Error(10001, "params error: orderFilter invalid")


def open_orders(engine: Engine, req: Mapping[str, Any]) -> dict:
    """GET /v5/order/realtime: open orders, or (openOnly=1) the last 500 closed; lookup by id finds both."""
    req = checked(req)
    _category(req)
    found = _by_id(engine, req)
    if found is not False:
        rows = [found] if found is not None else []
    else:
        in_scope = _scope(engine, req)
        closed = req.get("openOnly") in (1, "1")
        rows = [o for o in engine.orders.values() if in_scope(o.symbol) and o.is_open != closed
                and _filter_kind(o, req.get("orderFilter"))]
        rows.sort(key=lambda o: o.seq, reverse=True)
        if closed:
            rows = rows[:500]
    page, cursor = _page(rows, req, 20, 50)
    return {"category": "linear", "list": [o.to_v5(engine.rules[o.symbol]) for o in page], "nextPageCursor": cursor}


def order_history(engine: Engine, req: Mapping[str, Any], now_ms: int) -> dict:
    """GET /v5/order/history: 7-day window; cancelled/rejected/deactivated orders kept 24 hours."""
    req = checked(req)
    _category(req)
    start_ms, end_ms = _window(req, now_ms)
    found = _by_id(engine, req)
    if found is not False:
        rows = [found] if found is not None else []
    else:
        in_scope = _scope(engine, req, required=False)
        status = req.get("orderStatus")
        rows = []
        for o in engine.orders.values():
            if not in_scope(o.symbol) or not _filter_kind(o, req.get("orderFilter")):
                continue
            if status and o.status != status:
                continue
            if not start_ms <= o.created_ms <= end_ms:
                continue
            if o.status in ("Cancelled", "Rejected", "Deactivated") and not o.cum_exec_qty and now_ms - o.updated_ms > DAY_MS:
                continue
            rows.append(o)
        rows.sort(key=lambda o: o.seq, reverse=True)
    page, cursor = _page(rows, req, 20, 50)
    return {"category": "linear", "list": [o.to_v5(engine.rules[o.symbol]) for o in page], "nextPageCursor": cursor}


def executions(engine: Engine, req: Mapping[str, Any], now_ms: int) -> dict:
    req = checked(req)
    _category(req)
    start_ms, end_ms = _window(req, now_ms)
    in_scope = _scope(engine, req, required=False)
    order_id, link, exec_type = req.get("orderId"), req.get("orderLinkId"), req.get("execType")
    rows = [e for e in reversed(engine.executions)
            if in_scope(e["symbol"]) and start_ms <= int(e["execTime"]) <= end_ms
            and (not order_id or e["orderId"] == order_id) and (not link or e["orderLinkId"] == link)
            and (not exec_type or e["execType"] == exec_type)]
    page, cursor = _page(rows, req, 50, 100)
    return {"category": "linear", "list": page, "nextPageCursor": cursor}


def positions(engine: Engine, req: Mapping[str, Any]) -> dict:
    """GET /v5/position/list: with a symbol every slot of it (flat ones too), else only open positions."""
    req = checked(req)
    _category(req)
    symbol = req.get("symbol")
    in_scope = _scope(engine, req)
    rows = []
    for sym in engine.rules:
        if not in_scope(sym):
            continue
        slots = (1, 2) if engine.hedge[sym] else (0,)
        for idx in slots:
            pos = engine.positions.get((sym, idx))
            if pos is None:
                if not symbol:
                    continue
                pos = engine._position(sym, idx)
            if not symbol and not pos.size:
                continue
            rows.append(pos)
    page, cursor = _page(rows, req, 20, 200)
    return {"category": "linear", "list": [p.to_v5(engine.rules[p.symbol], engine.mark(p.symbol), engine.mm_rate,
                                                   liq_price=engine.liq_price(p.symbol))
                                           for p in page], "nextPageCursor": cursor}


def closed_pnl(engine: Engine, req: Mapping[str, Any], now_ms: int) -> dict:
    req = checked(req)
    _category(req)
    start_ms, end_ms = _window(req, now_ms)
    symbol = req.get("symbol")
    if symbol and symbol not in engine.rules:
        raise V5Error(10001, f"params error: symbol invalid: {symbol}")
    rows = [r for r in reversed(engine.closed_pnl)
            if (not symbol or r["symbol"] == symbol) and start_ms <= int(r["updatedTime"]) <= end_ms]
    page, cursor = _page(rows, req, 50, 100)
    return {"category": "linear", "list": page, "nextPageCursor": cursor}


def wallet_balance(engine: Engine, req: Mapping[str, Any]) -> dict:
    req = checked(req)
    if req.get("accountType") != "UNIFIED":
        raise V5Error(10001, "params error: accountType only support UNIFIED")
    coins = req.get("coin")
    row = engine.wallet_row()
    if coins and "USDT" not in str(coins).split(","):
        row = dict(row, coin=[])
    return {"list": [row]}


def fee_rates(engine: Engine, req: Mapping[str, Any]) -> dict:
    req = checked(req)
    _category(req)
    symbol = req.get("symbol")
    if symbol and symbol not in engine.rules:
        raise V5Error(10001, f"params error: symbol invalid: {symbol}")
    symbols = [symbol] if symbol else list(engine.rules)
    return {"list": [{"symbol": s, "takerFeeRate": str(engine.taker_fee), "makerFeeRate": str(engine.maker_fee)}
                     for s in symbols]}
