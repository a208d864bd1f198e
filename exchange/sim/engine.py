"""The venue's matching engine: a pure core driven by V5 request dicts and by 1m bars.

No threads, sockets or clocks: every call receives ``now_ms``, and ``on_bar`` moves the market.
Same calls in the same order give the same orders, ids, fills and events (ids come from a seed
and counters). Fill model, in brief (details in ``intrabar.py``): full fills only (no partials,
no volume cap); a crossing order takes at the last price; resting limits fill as maker at their
price once the bar's path trades through them; stops fill at their trigger (or at the price the
path jumped to, if it opened beyond). Every state change is queued in ``events`` as
``(topic, data)`` for the private stream, in the order of bybit-v5.md §4.8.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from exchange.sim.config import SimConfig
from exchange.sim.intrabar import bar_path, walk_segment
from exchange.sim.market import Bar, InstrumentRules
from exchange.sim.orders import ZERO, Order, Position, V5Error, text

LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")
MAX_ACTIVE_ORDERS = 500
MAX_CONDITIONAL = 10
PRICE_BAND = Decimal("0.1")
DAY_MS = 86_400_000
USDT_PRECISION = Decimal("1e-8")


def money(value: Decimal) -> Decimal:
    """USDT amounts (PnL, fees) carry 8 decimals, so the wallet is an exact sum of its records."""
    return value.quantize(USDT_PRECISION)


def _dec(req: Mapping[str, Any], key: str, *, required: bool = False) -> Decimal | None:
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


def _bool(req: Mapping[str, Any], key: str) -> bool:
    raw = req.get(key)
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    raise V5Error(10001, f"params error: {key} invalid")


def _int(req: Mapping[str, Any], key: str, default: int) -> int:
    raw = req.get(key)
    if raw is None or raw == "":
        return default
    try:
        if isinstance(raw, bool):
            raise ValueError
        return int(raw)
    except (TypeError, ValueError):
        raise V5Error(10001, f"params error: {key} invalid") from None


class Engine:
    """One UNIFIED account trading USDT perpetuals against replayed bars."""

    def __init__(self, instruments: Mapping[str, InstrumentRules], config: SimConfig = SimConfig()):
        self.rules = dict(instruments)
        self.config = config
        self.maker_fee = Decimal(str(config.maker_fee))
        self.taker_fee = Decimal(str(config.taker_fee))
        self.mm_rate = Decimal(str(config.maintenance_margin_rate))
        self.initial_equity = Decimal(str(config.initial_equity))
        self.wallet = self.initial_equity
        self.last_price: dict[str, Decimal] = {}
        self.hedge: dict[str, bool] = {s: False for s in self.rules}
        self.orders: dict[str, Order] = {}
        self._live: dict[str, dict[str, Order]] = {}
        self.by_link: dict[str, Order] = {}
        self.positions: dict[tuple[str, int], Position] = {}
        self.leverage: dict[str, Decimal] = {s: Decimal(config.default_leverage) for s in self.rules}
        self.executions: list[dict] = []
        self.closed_pnl: list[dict] = []
        self.events: list[tuple[str, dict]] = []
        self.now_ms = 0
        self._seq = 0
        self._ids = 0

    # --- identities -------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_id(self, kind: int) -> str:
        self._ids += 1
        return str(uuid.UUID(int=(self.config.order_id_seed & 0xFFFFFFFF) << 96 | kind << 64 | self._ids))

    def drain_events(self) -> list[tuple[str, dict]]:
        """Private-stream events since the last drain, oldest first."""
        events, self.events = self.events, []
        return events

    # --- market -----------------------------------------------------------------------------

    def set_last_price(self, symbol: str, price: Decimal) -> None:
        """Seed the market before the first bar (the close of the last warm-up bar)."""
        self.last_price[symbol] = price

    def mark(self, symbol: str) -> Decimal:
        return self.last_price.get(symbol, ZERO)

    def on_bar(self, symbol: str, bar: Bar, now_ms: int) -> None:
        """Match everything resting on ``symbol`` against the closed 1m ``bar`` (§ module doc)."""
        self.now_ms = now_ms
        if symbol not in self.rules:
            return
        last = self.last_price.get(symbol, bar.open)
        suppressed_tp = self._tps_losing_to_sl(symbol, bar)
        points = [last, *bar_path(bar, self.config.intrabar_path)]
        for a, b in zip(points, points[1:]):
            walk_segment(self, symbol, a, b, suppressed_tp)
        self.last_price[symbol] = bar.close
        self._check_liquidation(symbol)

    def _tps_losing_to_sl(self, symbol: str, bar: Bar) -> set[str]:
        """Take-profits that share a bar with their position's stop-loss: the stop wins (conservative)."""
        if not self.config.sl_before_tp:
            return set()
        out = set()
        for (sym, _), pos in self.positions.items():
            if sym != symbol or not pos.size or not (pos.take_profit and pos.stop_loss):
                continue
            if bar.low <= pos.stop_loss <= bar.high and bar.low <= pos.take_profit <= bar.high:
                tp_id = pos.tpsl_order_ids.get("TakeProfit")
                if tp_id:
                    out.add(tp_id)
        return out

    def _register(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self._live.setdefault(order.symbol, {})[order.order_id] = order

    def resting(self, symbol: str) -> list[Order]:
        """Open orders of ``symbol`` by creation; closed ones leave the index here, lazily, so a
        long replay never rescans its whole order history on every bar."""
        live = self._live.get(symbol, {})
        closed = [oid for oid, o in live.items() if not o.is_open]
        for oid in closed:
            del live[oid]
        return list(live.values())

    def open_orders(self) -> list[Order]:
        return [o for symbol in list(self._live) for o in self.resting(symbol)]

    # --- account math -----------------------------------------------------------------------

    def _position(self, symbol: str, idx: int) -> Position:
        key = (symbol, idx)
        pos = self.positions.get(key)
        if pos is None:
            pos = Position(symbol, idx, self.leverage[symbol], created_ms=self.now_ms)
            self.positions[key] = pos
        return pos

    def unrealised(self) -> Decimal:
        return sum((p.unrealised(self.mark(p.symbol)) for p in self.positions.values() if p.size), ZERO)

    def position_im(self) -> Decimal:
        return sum((p.avg_price * p.size / p.leverage for p in self.positions.values() if p.size), ZERO)

    def position_mm(self) -> Decimal:
        return sum((p.avg_price * p.size * self.mm_rate for p in self.positions.values() if p.size), ZERO)

    def order_im(self) -> Decimal:
        total = ZERO
        for o in self.open_orders():
            if not o.is_conditional and not o.reduce_only and not self._is_closing(o):
                total += o.leaves_qty * o.price / self.leverage[o.symbol]
        return total

    def available(self) -> Decimal:
        return self.wallet + self.unrealised() - self.position_im() - self.order_im()

    def _is_closing(self, order: Order) -> bool:
        """In hedge mode the side opposite to the slot closes it (Buy on idx 2, Sell on idx 1)."""
        return (order.position_idx == 1 and order.side == "Sell") or (order.position_idx == 2 and order.side == "Buy")

    # --- commands ---------------------------------------------------------------------------

    def _rules_for(self, req: Mapping[str, Any]) -> InstrumentRules:
        category = req.get("category")
        if category != "linear":
            raise V5Error(10001, "params error: category only support linear" if category else "params error: category is required")
        symbol = req.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise V5Error(10001, "params error: symbol is required")
        rules = self.rules.get(symbol)
        if rules is None:
            raise V5Error(10001, f"params error: symbol invalid: {symbol}")
        return rules

    def _check_idx(self, symbol: str, idx: int) -> None:
        if idx not in (0, 1, 2) or (idx == 0) == self.hedge[symbol]:
            raise V5Error(10001, "position idx not match position mode")

    def place_order(self, req: Mapping[str, Any], now_ms: int) -> dict:
        """POST /v5/order/create, validated in the order of bybit-v5.md §5.1."""
        self.now_ms = now_ms
        rules = self._rules_for(req)
        symbol = rules.symbol
        side, order_type = req.get("side"), req.get("orderType")
        if side not in ("Buy", "Sell"):
            raise V5Error(10001, "params error: side invalid")
        if order_type not in ("Limit", "Market"):
            raise V5Error(10001, "params error: orderType invalid")
        tif = req.get("timeInForce") or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise V5Error(10001, "params error: timeInForce invalid")
        if order_type == "Market":
            if tif == "PostOnly":
                raise V5Error(10001, "params error: Market order cannot be PostOnly")
            tif = "IOC"
        qty = _dec(req, "qty", required=True)
        reduce_only = _bool(req, "reduceOnly")
        close_on_trigger = _bool(req, "closeOnTrigger")
        idx = _int(req, "positionIdx", 0)
        link = req.get("orderLinkId") or ""
        if not isinstance(link, str) or (link and not LINK_ID.match(link)):
            raise V5Error(10001, "params error: orderLinkId invalid (at most 36 of [A-Za-z0-9_-])")
        self._check_idx(symbol, idx)
        last = self.mark(symbol)
        if qty == 0 and reduce_only and close_on_trigger:
            qty = self._reducible(symbol, side, idx) or rules.min_order_qty
        if not rules.on_step(qty):
            raise V5Error(10001, f"params error: qty must be a multiple of qtyStep {text(rules.qty_step)}")
        if qty < rules.min_order_qty:
            raise V5Error(10001, "The number of contracts exceeds minimum limit allowed")
        max_qty = rules.max_mkt_order_qty if order_type == "Market" else rules.max_order_qty
        if qty > max_qty:
            raise V5Error(10001, "The number of contracts exceeds maximum limit allowed")
        if order_type == "Limit":
            price = _dec(req, "price", required=True)
            if not rules.on_tick(price):
                raise V5Error(10001, f"params error: price must be a multiple of tickSize {text(rules.tick_size)}")
            if not rules.min_price <= price <= rules.max_price:
                raise V5Error(10001, "params error: price out of range")
            if last and ((side == "Buy" and price > last * (1 + PRICE_BAND))
                         or (side == "Sell" and price < last * (1 - PRICE_BAND))):
                raise V5Error(110003, "Order price is out of permissible range")
        else:
            price = last
        if not reduce_only and not self._is_closing_params(side, idx) and qty * (price or last) < rules.min_notional:
            raise V5Error(110094, f"Order value below minNotionalValue {text(rules.min_notional)}")
        tp, sl = _dec(req, "takeProfit"), _dec(req, "stopLoss")
        tp, sl = tp or ZERO, sl or ZERO
        trigger_price = _dec(req, "triggerPrice") or ZERO
        if (tp or sl) and reduce_only:
            raise V5Error(10001, "params error: TP/SL cannot be set on a reduce-only order")
        tpsl_mode = req.get("tpslMode") or ("Full" if (tp or sl) else "")
        if tpsl_mode not in ("", "Full"):
            raise V5Error(10001, "params error: only tpslMode Full is supported by the simulator")
        tp_by = req.get("tpTriggerBy") or ("LastPrice" if tp else "")
        sl_by = req.get("slTriggerBy") or ("LastPrice" if sl else "")
        for by in (tp_by, sl_by):
            if by and by not in TRIGGER_BY:
                raise V5Error(10001, "params error: triggerBy invalid")
        base = trigger_price or price or last
        self._check_tpsl_side(side, base, tp, sl, rules)
        direction = _int(req, "triggerDirection", 0)
        if trigger_price:
            if direction not in (1, 2):
                raise V5Error(10001, "params error: triggerDirection is required with triggerPrice")
            if direction == 1 and trigger_price <= last:
                raise V5Error(110092, f"expect Rising, but trigger_price[{text(trigger_price)}] <= current[{text(last)}]??LastPrice")
            if direction == 2 and trigger_price >= last:
                raise V5Error(110093, f"expect Falling, but trigger_price[{text(trigger_price)}] >= current[{text(last)}]??LastPrice")
        if link and link in self.by_link:
            raise V5Error(110072, "OrderLinkedID is duplicate")
        closing = self._is_closing_params(side, idx)
        if reduce_only or closing:
            reducible = self._reducible(symbol, side, idx)
            if reducible == 0:
                pos = self._position(symbol, idx)
                msg = ("reduce-only order has same side with current position" if pos.size and pos.side == side
                       else "current position is zero, cannot fix reduce-only order qty")
                raise V5Error(110017, msg)
        active = self.resting(symbol)
        if len(active) >= MAX_ACTIVE_ORDERS:
            raise V5Error(110020, "Too many active orders")
        if trigger_price and sum(1 for o in active if o.is_conditional and not o.is_position_tpsl) >= MAX_CONDITIONAL:
            raise V5Error(110009, "The number of stop orders exceeds maximum limit allowed")
        if not (reduce_only or closing or trigger_price):
            cost = qty * (price or last) / self.leverage[symbol] + qty * (price or last) * self.taker_fee
            if cost > self.available():
                raise V5Error(110007, "ab not enough for new order")

        order = Order(
            order_id=self._new_id(1), order_link_id=link, symbol=symbol, side=side, order_type=order_type,
            price=price, qty=qty, time_in_force=tif, position_idx=idx, seq=self._next_seq(), created_ms=now_ms,
            reduce_only=reduce_only, close_on_trigger=close_on_trigger, take_profit=tp, stop_loss=sl,
            tp_trigger_by=tp_by, sl_trigger_by=sl_by, tpsl_mode=tpsl_mode, last_price_on_created=last,
            trigger_price=trigger_price, trigger_direction=direction if trigger_price else 0,
            trigger_by=(req.get("triggerBy") or "LastPrice") if trigger_price else "",
            stop_order_type="Stop" if trigger_price else "",
        )
        if order.trigger_by and order.trigger_by not in TRIGGER_BY:
            raise V5Error(10001, "params error: triggerBy invalid")
        self._register(order)
        if link:
            self.by_link[link] = order
        if trigger_price:
            order.status = "Untriggered"
            self._emit_order(order)
        else:
            self._activate(order, now_ms)
        self._emit_position(symbol, idx)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _is_closing_params(self, side: str, idx: int) -> bool:
        return (idx == 1 and side == "Sell") or (idx == 2 and side == "Buy")

    def _check_tpsl_side(self, side: str, base: Decimal, tp: Decimal, sl: Decimal, rules: InstrumentRules) -> None:
        scale = rules.price_text
        if side == "Buy":
            if sl and sl >= base:
                raise V5Error(10001, f"sl:{scale(sl)} set for Buy position should lower than base_price:{scale(base)}??LastPrice")
            if tp and tp <= base:
                raise V5Error(10001, f"tp:{scale(tp)} set for Buy position should greater than base_price:{scale(base)}??LastPrice")
        else:
            if sl and sl <= base:
                raise V5Error(10001, f"sl:{scale(sl)} set for Sell position should greater base_price:{scale(base)}??LastPrice")
            if tp and tp >= base:
                raise V5Error(10001, f"tp:{scale(tp)} set for Sell position should lower than base_price:{scale(base)}??LastPrice")
        for value in (tp, sl):
            if value and not rules.on_tick(value):
                raise V5Error(10001, f"params error: TP/SL must be a multiple of tickSize {text(rules.tick_size)}")

    def _reducible(self, symbol: str, side: str, idx: int) -> Decimal:
        """How much an order of ``side`` on slot ``idx`` can close right now."""
        pos = self._position(symbol, idx)
        if pos.size and pos.side != side:
            return pos.size
        return ZERO

    def _crosses(self, order: Order, at: Decimal) -> bool:
        """The venue has no book: the last price stands for both touches (bybit-v5.md §2.3 tickers)."""
        return (order.side == "Buy" and order.price >= at) or (order.side == "Sell" and order.price <= at)

    def _activate(self, order: Order, now_ms: int, at: Decimal | None = None) -> None:
        """A new (or just triggered) order meets the market at price ``at`` (default: last price)."""
        at = self.mark(order.symbol) if at is None else at
        if order.order_type == "Market":
            self._emit_order(order, created=True)
            self.fill(order, at, is_maker=False)
            return
        if self._crosses(order, at):
            if order.time_in_force == "PostOnly":
                order.status, order.reject_reason = "Cancelled", "EC_PostOnlyWillTakeLiquidity"
                order.updated_ms = now_ms
                self._emit_order(order)
                return
            self._emit_order(order, created=True)
            self.fill(order, at, is_maker=False)
            return
        if order.time_in_force in ("IOC", "FOK"):
            order.status, order.cancel_type = "Cancelled", "UNKNOWN"
            order.reject_reason = "EC_NoImmediateQtyToFill" if order.time_in_force == "IOC" else "EC_FOKCanNotFillImmediately"
            order.updated_ms = now_ms
            self._emit_order(order)
            return
        order.status = "New"
        self._emit_order(order)

    def trigger(self, order: Order, at: Decimal) -> None:
        """A conditional reached its trigger while the path stood at ``at``."""
        order.updated_ms = self.now_ms
        if order.is_position_tpsl:
            pos = self._position(order.symbol, order.position_idx)
            order.status = "Triggered"
            order.qty = pos.size
            order.price = at
            order.create_type = "CreateByStopLoss" if order.stop_order_type == "StopLoss" else "CreateByTakeProfit"
            self._emit_order(order)
            if not pos.size:
                self._finish(order, "Deactivated", "CancelByTpSlTsClear")
                return
            self.fill(order, at, is_maker=False)
            return
        order.status = "Triggered"
        self._emit_order(order)
        if order.reduce_only or self._is_closing(order):
            if not self._reducible(order.symbol, order.side, order.position_idx):
                self._finish(order, "Cancelled", "CancelByReduceOnly")
                return
        order.status = "New"
        if order.order_type == "Market":
            order.price = at
        self._activate(order, self.now_ms, at)

    def fill(self, order: Order, price: Decimal, *, is_maker: bool, exec_type: str = "Trade") -> None:
        """Execute the whole remaining qty of ``order`` at ``price`` and book it on the account."""
        symbol, rules = order.symbol, self.rules[order.symbol]
        pos = self._position(symbol, order.position_idx)
        qty = order.qty - order.cum_exec_qty
        if order.reduce_only or self._is_closing(order) or order.is_position_tpsl:
            qty = min(qty, pos.size if pos.side and pos.side != order.side else ZERO)
            if qty <= 0:
                self._finish(order, "Cancelled", "CancelByReduceOnly")
                return
            order.qty = order.cum_exec_qty + qty
        rate = self.maker_fee if is_maker else self.taker_fee
        value = price * qty
        fee = money(value * rate)
        closed = min(qty, pos.size) if pos.side and pos.side != order.side else ZERO
        opened = qty - closed
        pnl = ZERO
        if closed:
            pnl = money((price - pos.avg_price) * closed * pos.sign)
            open_fee = money(pos.open_fee * closed / pos.size)
            close_fee = money(fee * closed / qty)
            pos.open_fee -= open_fee
            entry_value = pos.avg_price * closed
            self.closed_pnl.append({
                "symbol": symbol, "orderId": order.order_id, "side": order.side, "qty": rules.qty_text(order.qty),
                "orderPrice": rules.price_text(order.price), "orderType": order.order_type, "execType": exec_type,
                "closedSize": rules.qty_text(closed), "cumEntryValue": text(entry_value),
                "avgEntryPrice": text(pos.avg_price), "cumExitValue": text(price * closed),
                "avgExitPrice": text(price), "closedPnl": text(pnl - open_fee - close_fee), "fillCount": "1",
                "leverage": text(pos.leverage), "openFee": text(open_fee), "closeFee": text(close_fee),
                "createdTime": str(order.created_ms), "updatedTime": str(self.now_ms),
            })
            pos.size -= closed
            if not pos.size:
                pos.side, pos.avg_price, pos.open_fee = "", ZERO, ZERO
        if opened:
            if not pos.size:
                pos.side, pos.avg_price, pos.cur_realised = order.side, ZERO, ZERO
                pos.created_ms = self.now_ms
            pos.avg_price = (pos.avg_price * pos.size + price * opened) / (pos.size + opened)
            pos.size += opened
            pos.open_fee += money(fee * opened / qty)
        self.wallet += pnl - fee
        pos.cur_realised += pnl - fee
        pos.cum_realised += pnl - fee
        pos.updated_ms = self.now_ms
        pos.seq = self._next_seq()
        order.cum_exec_qty += qty
        order.cum_exec_value += value
        order.cum_exec_fee += fee
        order.closed_pnl += pnl
        order.status = "Filled"
        order.updated_ms = self.now_ms
        execution = {
            "category": "linear", "symbol": symbol, "orderId": order.order_id, "orderLinkId": order.order_link_id,
            "side": order.side, "orderPrice": rules.price_text(order.price), "orderQty": rules.qty_text(order.qty),
            "leavesQty": "0", "createType": order.create_type, "orderType": order.order_type,
            "stopOrderType": order.stop_order_type or "UNKNOWN", "execId": self._new_id(2),
            "execPrice": rules.price_text(price), "execQty": rules.qty_text(qty), "execValue": text(value),
            "execFee": text(fee), "feeRate": text(rate), "execType": exec_type, "execTime": str(self.now_ms),
            "isMaker": is_maker, "execPnl": text(pnl), "closedSize": rules.qty_text(closed),
            "markPrice": rules.price_text(price), "indexPrice": "", "underlyingPrice": "", "blockTradeId": "",
            "tradeIv": "", "markIv": "", "seq": pos.seq, "feeCurrency": "USDT", "extraFees": "", "isLeverage": "0",
            "marketUnit": "",
        }
        self.executions.append(execution)
        self.events.append(("execution", execution))
        self._emit_order(order)
        if opened and (order.take_profit or order.stop_loss):
            self._attach_tpsl(pos, order.take_profit, order.stop_loss, order.tp_trigger_by, order.sl_trigger_by,
                              parent=order.order_link_id)
        if not pos.size:
            self._clear_position_orders(pos)
        self._emit_position(symbol, order.position_idx)
        self._emit_wallet()

    def _attach_tpsl(self, pos: Position, tp: Decimal, sl: Decimal, tp_by: str, sl_by: str, parent: str = "") -> None:
        for kind, value, by in (("TakeProfit", tp, tp_by), ("StopLoss", sl, sl_by)):
            if not value:
                continue
            self._set_tpsl_order(pos, kind, value, by or "LastPrice", parent)

    def _set_tpsl_order(self, pos: Position, kind: str, value: Decimal, by: str, parent: str = "") -> None:
        """Position-level TP/SL (Full mode): one Untriggered conditional per kind that follows the size."""
        if kind == "TakeProfit":
            pos.take_profit, pos.tp_trigger_by = value, by
        else:
            pos.stop_loss, pos.sl_trigger_by = value, by
        old_id = pos.tpsl_order_ids.pop(kind, None)
        old = self.orders.get(old_id) if old_id else None
        if old is not None and old.is_open:
            self._finish(old, "Deactivated", "CancelByUser")
        if not value:
            return
        close_side = "Sell" if pos.side == "Buy" else "Buy"
        rising = (pos.side == "Buy") == (kind == "TakeProfit")
        order = Order(
            order_id=self._new_id(1), order_link_id="", symbol=pos.symbol, side=close_side, order_type="Market",
            price=ZERO, qty=ZERO, time_in_force="IOC", position_idx=pos.position_idx, seq=self._next_seq(),
            created_ms=self.now_ms, status="Untriggered", reduce_only=True, close_on_trigger=True,
            stop_order_type=kind, trigger_price=value, trigger_direction=1 if rising else 2, trigger_by=by,
            tpsl_mode="Full", last_price_on_created=self.mark(pos.symbol), parent_order_link_id=parent,
        )
        self._register(order)
        pos.tpsl_order_ids[kind] = order.order_id
        self._emit_order(order)

    def _clear_position_orders(self, pos: Position) -> None:
        """A flat position takes its TP/SL and its reduce-only orders with it (§5.10)."""
        pos.take_profit = pos.stop_loss = ZERO
        pos.tp_trigger_by = pos.sl_trigger_by = ""
        for kind in list(pos.tpsl_order_ids):
            order = self.orders.get(pos.tpsl_order_ids.pop(kind))
            if order is not None and order.is_open:
                self._finish(order, "Deactivated", "CancelByTpSlTsClear")
        for order in self.resting(pos.symbol):
            if (order.position_idx == pos.position_idx
                    and not order.is_conditional and (order.reduce_only or self._is_closing(order))):
                self._finish(order, "Cancelled", "CancelByReduceOnly")

    def _finish(self, order: Order, status: str, cancel_type: str, reason: str = "EC_NoError") -> None:
        order.status, order.cancel_type, order.reject_reason = status, cancel_type, reason
        order.updated_ms = self.now_ms
        self._emit_order(order)

    def _check_liquidation(self, symbol: str) -> None:
        """Cross margin: when equity falls below total maintenance margin, every position is closed at mark."""
        if not any(p.size for p in self.positions.values()):
            return
        if self.wallet + self.unrealised() >= self.position_mm():
            return
        for pos in list(self.positions.values()):
            if not pos.size:
                continue
            order = Order(
                order_id=self._new_id(1), order_link_id="", symbol=pos.symbol,
                side="Sell" if pos.side == "Buy" else "Buy", order_type="Market", price=self.mark(pos.symbol),
                qty=pos.size, time_in_force="IOC", position_idx=pos.position_idx, seq=self._next_seq(),
                created_ms=self.now_ms, reduce_only=True, create_type="CreateByLiq",
            )
            self._register(order)
            self.fill(order, self.mark(pos.symbol), is_maker=False, exec_type="BustTrade")

    # --- amend / cancel ---------------------------------------------------------------------

    def _find(self, req: Mapping[str, Any], rules: InstrumentRules) -> Order:
        order_id, link = req.get("orderId"), req.get("orderLinkId")
        if not order_id and not link:
            raise V5Error(10001, "params error: orderId or orderLinkId is required")
        order = self.orders.get(order_id) if order_id else self.by_link.get(link)
        if order is None or order.symbol != rules.symbol or not order.is_open or order.is_position_tpsl:
            raise V5Error(110001, "Order does not exist")
        return order

    def amend_order(self, req: Mapping[str, Any], now_ms: int) -> dict:
        self.now_ms = now_ms
        rules = self._rules_for(req)
        order = self._find(req, rules)
        qty, price = _dec(req, "qty"), _dec(req, "price")
        trigger = _dec(req, "triggerPrice")
        tp, sl = _dec(req, "takeProfit"), _dec(req, "stopLoss")
        if qty is not None:
            if not rules.on_step(qty) or qty < rules.min_order_qty:
                raise V5Error(10001, "params error: qty invalid")
            if qty <= order.cum_exec_qty:
                raise V5Error(110064, "The modified contract quantity cannot be less than or equal to the filled quantity")
        if price is not None and order.order_type == "Limit":
            if not rules.on_tick(price) or not rules.min_price <= price <= rules.max_price:
                raise V5Error(10001, "params error: price invalid")
        new = (qty if qty is not None else order.qty, price if price is not None else order.price,
               trigger if trigger is not None else order.trigger_price,
               tp if tp is not None else order.take_profit, sl if sl is not None else order.stop_loss)
        if new == (order.qty, order.price, order.trigger_price, order.take_profit, order.stop_loss):
            raise V5Error(10001, "order not modified")
        self._check_tpsl_side(order.side, new[2] or new[1], new[3], new[4], rules)
        order.qty, order.price, order.trigger_price, order.take_profit, order.stop_loss = new
        for key, attr in (("tpTriggerBy", "tp_trigger_by"), ("slTriggerBy", "sl_trigger_by")):
            if req.get(key):
                setattr(order, attr, req[key])
        if (order.take_profit or order.stop_loss) and not order.tpsl_mode:
            order.tpsl_mode = "Full"
        order.updated_ms = now_ms
        if order.status != "Untriggered" and self._crosses(order, self.mark(order.symbol)):
            if order.time_in_force == "PostOnly":
                # [SIM] bybit-v5.md §5.4: amending a PostOnly across the market cancels it; the amend itself succeeds.
                self._finish(order, "Cancelled", "UNKNOWN", "EC_PostOnlyWillTakeLiquidity")
            else:
                self.fill(order, self.mark(order.symbol), is_maker=False)
        else:
            self._emit_order(order)
        self._emit_position(order.symbol, order.position_idx)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def cancel_order(self, req: Mapping[str, Any], now_ms: int) -> dict:
        self.now_ms = now_ms
        rules = self._rules_for(req)
        order = self._find(req, rules)
        self._finish(order, "Deactivated" if order.is_conditional else "Cancelled", "CancelByUser", "EC_PerCancelRequest")
        self._emit_position(order.symbol, order.position_idx)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def cancel_all(self, req: Mapping[str, Any], now_ms: int) -> dict:
        self.now_ms = now_ms
        if req.get("category") != "linear":
            raise V5Error(10001, "params error: category only support linear")
        symbol, base, settle = req.get("symbol"), req.get("baseCoin"), req.get("settleCoin")
        if not (symbol or base or settle):
            raise V5Error(10001, "params error: symbol, baseCoin or settleCoin is required")
        if symbol and symbol not in self.rules:
            raise V5Error(10001, f"params error: symbol invalid: {symbol}")
        if not symbol and settle and settle != "USDT":
            raise V5Error(10001, "params error: settleCoin invalid")
        flt = req.get("orderFilter")
        if flt not in (None, "", "Order", "StopOrder", "OpenOrder"):
            raise V5Error(10001, "params error: orderFilter invalid")
        stop_type = req.get("stopOrderType")
        done = []
        for order in sorted(self.open_orders(), key=lambda o: o.seq):
            if symbol and order.symbol != symbol:
                continue
            if not symbol and base and self.rules[order.symbol].base_coin != base:
                continue
            if flt in ("Order", "OpenOrder") and order.is_conditional:
                continue
            if flt == "StopOrder" and not order.is_conditional:
                continue
            if stop_type == "Stop" and order.is_position_tpsl:
                continue
            if order.is_position_tpsl:
                pos = self._position(order.symbol, order.position_idx)
                kind = order.stop_order_type
                pos.tpsl_order_ids.pop(kind, None)
                if kind == "TakeProfit":
                    pos.take_profit = ZERO
                else:
                    pos.stop_loss = ZERO
            self._finish(order, "Deactivated" if order.is_conditional else "Cancelled", "CancelByUser",
                         "EC_PerCancelRequest")
            done.append({"orderId": order.order_id, "orderLinkId": order.order_link_id})
            if len(done) == MAX_ACTIVE_ORDERS:
                break
        for sym, idx in sorted({(self.orders[d["orderId"]].symbol, self.orders[d["orderId"]].position_idx) for d in done}):
            self._emit_position(sym, idx)
        return {"list": done, "success": "1"}

    # --- positions --------------------------------------------------------------------------

    def set_trading_stop(self, req: Mapping[str, Any], now_ms: int) -> dict:
        """POST /v5/position/trading-stop, Full mode (bybit-v5.md §6.2)."""
        self.now_ms = now_ms
        rules = self._rules_for(req)
        mode = req.get("tpslMode")
        if not mode:
            raise V5Error(10001, "params error: tpslMode is required")
        if mode != "Full":
            raise V5Error(10001, "params error: only tpslMode Full is supported by the simulator")
        if req.get("positionIdx") is None:
            raise V5Error(10001, "params error: positionIdx is required")
        idx = _int(req, "positionIdx", 0)
        self._check_idx(rules.symbol, idx)
        tp, sl = _dec(req, "takeProfit"), _dec(req, "stopLoss")
        if _dec(req, "trailingStop"):
            raise V5Error(10001, "params error: trailingStop is not supported by the simulator")
        pos = self._position(rules.symbol, idx)
        if not pos.size:
            raise V5Error(10001, "can not set tp/sl/ts for zero position")
        for by in (req.get("tpTriggerBy"), req.get("slTriggerBy")):
            if by and by not in TRIGGER_BY:
                raise V5Error(10001, "params error: triggerBy invalid")
        changes = []
        if tp is not None and tp != pos.take_profit:
            changes.append(("TakeProfit", tp, req.get("tpTriggerBy") or pos.tp_trigger_by or "LastPrice"))
        if sl is not None and sl != pos.stop_loss:
            changes.append(("StopLoss", sl, req.get("slTriggerBy") or pos.sl_trigger_by or "LastPrice"))
        if not changes:
            raise V5Error(34040, "not modified")
        last = self.mark(rules.symbol)
        self._check_tpsl_side(pos.side, last, *(
            (dict((k, v) for k, v, _ in changes).get("TakeProfit", ZERO)),
            (dict((k, v) for k, v, _ in changes).get("StopLoss", ZERO)),
        ), rules)
        for kind, value, by in changes:
            self._set_tpsl_order(pos, kind, value, by)
        pos.updated_ms = now_ms
        self._emit_position(rules.symbol, idx)
        return {}

    def set_leverage(self, req: Mapping[str, Any], now_ms: int) -> dict:
        self.now_ms = now_ms
        rules = self._rules_for(req)
        buy, sell = _dec(req, "buyLeverage", required=True), _dec(req, "sellLeverage", required=True)
        if buy != sell:
            raise V5Error(10001, "params error: buyLeverage must equal sellLeverage under cross margin")
        if not Decimal(1) <= buy <= rules.max_leverage or buy % Decimal("0.01"):
            raise V5Error(10001, f"params error: leverage must be within [1, {text(rules.max_leverage)}]")
        if buy == self.leverage[rules.symbol]:
            raise V5Error(110043, "Set leverage has not been modified.")
        self.leverage[rules.symbol] = buy
        for (sym, _), pos in self.positions.items():
            if sym == rules.symbol:
                pos.leverage = buy
        return {}

    def switch_mode(self, req: Mapping[str, Any], now_ms: int) -> dict:
        self.now_ms = now_ms
        if req.get("category") != "linear":
            raise V5Error(10001, "params error: category only support linear")
        mode = _int(req, "mode", -1)
        if mode not in (0, 3):
            raise V5Error(10001, "params error: mode must be 0 or 3")
        symbol, coin = req.get("symbol"), req.get("coin")
        if symbol:
            if symbol not in self.rules:
                raise V5Error(10001, f"params error: symbol invalid: {symbol}")
            targets = [symbol]
        elif coin == "USDT":
            targets = list(self.rules)
        else:
            raise V5Error(10001, "params error: symbol or coin is required")
        hedge = mode == 3
        changing = [s for s in targets if self.hedge[s] != hedge]
        if not changing:
            if symbol:
                raise V5Error(110025, "Position mode is not modified")
            return {}
        if symbol:
            if any(p.size for (s, _), p in self.positions.items() if s == symbol):
                raise V5Error(110024, "You have existing positions, so position mode cannot be switched")
            if any(o.is_open for o in self.orders.values() if o.symbol == symbol):
                raise V5Error(110028, "You have existing open orders, so position mode cannot be switched")
        for s in changing:
            busy = any(p.size for (ps, _), p in self.positions.items() if ps == s) or any(
                o.is_open for o in self.orders.values() if o.symbol == s)
            if not busy:
                self.hedge[s] = hedge
        return {}

    # --- private events ---------------------------------------------------------------------

    def _emit_order(self, order: Order, created: bool = False) -> None:
        if created:
            # The venue acknowledges an order as New before it fills, as the live stream does.
            saved = order.status
            order.status = "New"
            self.events.append(("order", order.to_v5(self.rules[order.symbol])))
            order.status = saved
            return
        self.events.append(("order", order.to_v5(self.rules[order.symbol])))

    def _emit_position(self, symbol: str, idx: int) -> None:
        pos = self._position(symbol, idx)
        self.events.append(("position", pos.to_v5(self.rules[symbol], self.mark(symbol), self.mm_rate, ws=True)))

    def _emit_wallet(self) -> None:
        self.events.append(("wallet", self.wallet_row()))

    def wallet_row(self) -> dict:
        upl, im, mm, oim = self.unrealised(), self.position_im(), self.position_mm(), self.order_im()
        equity = self.wallet + upl
        cum = sum((p.cum_realised for p in self.positions.values()), ZERO)
        return {
            "accountType": "UNIFIED",
            "accountIMRate": text((im + oim) / equity) if equity > 0 else "0",
            "accountMMRate": text(mm / equity) if equity > 0 else "0",
            "totalEquity": text(equity), "totalWalletBalance": text(self.wallet),
            "totalMarginBalance": text(equity), "totalAvailableBalance": text(equity - im - oim),
            "totalPerpUPL": text(upl), "totalInitialMargin": text(im + oim), "totalMaintenanceMargin": text(mm),
            "accountLTV": "0",
            "coin": [{
                "coin": "USDT", "equity": text(equity), "usdValue": text(equity), "walletBalance": text(self.wallet),
                "locked": "0", "spotHedgingQty": "0", "borrowAmount": "0", "accruedInterest": "0",
                "totalOrderIM": text(oim), "totalPositionIM": text(im), "totalPositionMM": text(mm),
                "unrealisedPnl": text(upl), "cumRealisedPnl": text(cum), "bonus": "0", "marginCollateral": True,
                "collateralSwitch": True, "spotBorrow": "0", "availableToWithdraw": "", "availableToBorrow": "",
                "free": "",
            }],
        }
