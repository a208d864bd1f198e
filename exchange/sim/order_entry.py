"""The order half of the engine: create (validated in the order of bybit-v5.md §5.1), amend,
cancel and cancel-all, and how a new order first meets the market."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from exchange.sim.market import InstrumentRules
from exchange.sim.orders import ZERO, Order, V5Error, text
from exchange.sim.params import LINK_ID, TRIGGER_BY, bool_param, checked, decimal_param, int_param

MAX_ACTIVE_ORDERS = 500
MAX_CONDITIONAL = 10
PRICE_BAND = Decimal("0.1")


class OrderEntry:
    """Mixed into ``Engine``; relies on its state (rules, orders, positions) and its fill path."""

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
        req = checked(req)
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
        qty = decimal_param(req, "qty", required=True)
        reduce_only = bool_param(req, "reduceOnly")
        close_on_trigger = bool_param(req, "closeOnTrigger")
        idx = int_param(req, "positionIdx", 0)
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
            price = decimal_param(req, "price", required=True)
            if not rules.on_tick(price):
                raise V5Error(10001, f"params error: price must be a multiple of tickSize {text(rules.tick_size)}")
            if not rules.min_price <= price <= rules.max_price:
                raise V5Error(10001, "params error: price out of range")
            self._check_band(side, price, last)
        else:
            price = last
        if not reduce_only and not self._is_closing_params(side, idx) and qty * (price or last) < rules.min_notional:
            raise V5Error(110094, f"Order value below minNotionalValue {text(rules.min_notional)}")
        tp, sl = decimal_param(req, "takeProfit"), decimal_param(req, "stopLoss")
        tp, sl = tp or ZERO, sl or ZERO
        trigger_price = decimal_param(req, "triggerPrice") or ZERO
        closing = self._is_closing_params(side, idx)
        if (tp or sl) and (reduce_only or closing):
            raise V5Error(10001, "params error: TP/SL cannot be set on a reduce-only order")
        tpsl_mode = req.get("tpslMode") or ("Full" if (tp or sl) else "")
        if tpsl_mode not in ("", "Full"):
            raise V5Error(10001, "params error: only tpslMode Full is supported by the simulator")
        tp_by = req.get("tpTriggerBy") or ("LastPrice" if tp else "")
        sl_by = req.get("slTriggerBy") or ("LastPrice" if sl else "")
        trigger_by = (req.get("triggerBy") or "LastPrice") if trigger_price else ""
        for by in (tp_by, sl_by, trigger_by):
            if by and by not in TRIGGER_BY:
                raise V5Error(10001, "params error: triggerBy invalid")
        base = trigger_price or price or last
        self._check_tpsl_side(side, base, tp, sl, rules)
        direction = int_param(req, "triggerDirection", 0)
        if trigger_price:
            if direction not in (1, 2):
                raise V5Error(10001, "params error: triggerDirection is required with triggerPrice")
            self._check_trigger(direction, trigger_price, last)
        if link and link in self.by_link:
            raise V5Error(110072, "OrderLinkedID is duplicate")
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
            trigger_by=trigger_by, stop_order_type="Stop" if trigger_price else "",
        )
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

    @staticmethod
    def _check_band(side: str, price: Decimal, last: Decimal) -> None:
        """A limit too far through the market is refused (Bybit's price-limit band, §5.1 110003)."""
        if last and ((side == "Buy" and price > last * (1 + PRICE_BAND))
                     or (side == "Sell" and price < last * (1 - PRICE_BAND))):
            raise V5Error(110003, "Order price is out of permissible range")

    @staticmethod
    def _check_trigger(direction: int, trigger: Decimal, last: Decimal) -> None:
        if direction == 1 and trigger <= last:
            raise V5Error(110092, f"expect Rising, but trigger_price[{text(trigger)}] <= current[{text(last)}]??LastPrice")
        if direction == 2 and trigger >= last:
            raise V5Error(110093, f"expect Falling, but trigger_price[{text(trigger)}] >= current[{text(last)}]??LastPrice")

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
        buy = order.side == "Buy"
        if order.order_type == "Market":
            self._emit_order(order, created=True)
            self.fill(order, self.taker_price(order.symbol, at, buy), is_maker=False)
            return
        if self._crosses(order, at):
            if order.time_in_force == "PostOnly":
                order.status, order.reject_reason = "Cancelled", "EC_PostOnlyWillTakeLiquidity"
                order.updated_ms = now_ms
                self._emit_order(order)
                return
            self._emit_order(order, created=True)
            # A taker pays half a spread, never beyond its own limit.
            taker = self.taker_price(order.symbol, at, buy)
            self.fill(order, min(taker, order.price) if buy else max(taker, order.price), is_maker=False)
            return
        if order.time_in_force in ("IOC", "FOK"):
            order.status, order.cancel_type = "Cancelled", "UNKNOWN"
            order.reject_reason = "EC_NoImmediateQtyToFill" if order.time_in_force == "IOC" else "EC_FOKCanNotFillImmediately"
            order.updated_ms = now_ms
            self._emit_order(order)
            return
        order.status = "New"
        self._emit_order(order)

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
        req = checked(req)
        self.now_ms = now_ms
        rules = self._rules_for(req)
        order = self._find(req, rules)
        qty, price = decimal_param(req, "qty"), decimal_param(req, "price")
        trigger = decimal_param(req, "triggerPrice")
        tp, sl = decimal_param(req, "takeProfit"), decimal_param(req, "stopLoss")
        if qty is not None:
            if not rules.on_step(qty) or qty < rules.min_order_qty:
                raise V5Error(10001, "params error: qty invalid")
        last = self.mark(order.symbol)
        if price is not None and order.order_type == "Limit":
            if not rules.on_tick(price) or not rules.min_price <= price <= rules.max_price:
                raise V5Error(10001, "params error: price invalid")
            self._check_band(order.side, price, last)
        if trigger is not None:
            if not order.is_conditional:
                raise V5Error(10001, "params error: triggerPrice can only be amended on an untriggered conditional order")
            self._check_trigger(order.trigger_direction, trigger, last)
        if (tp or sl) and order.reduce_only:
            raise V5Error(10001, "params error: TP/SL cannot be set on a reduce-only order")
        for key in ("tpTriggerBy", "slTriggerBy"):
            if req.get(key) and req[key] not in TRIGGER_BY:
                raise V5Error(10001, f"params error: {key} invalid")
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
        if order.status != "Untriggered" and self._crosses(order, last):
            if order.time_in_force == "PostOnly":
                # [SIM] bybit-v5.md §5.4: amending a PostOnly across the market cancels it; the amend itself succeeds.
                self._finish(order, "Cancelled", "UNKNOWN", "EC_PostOnlyWillTakeLiquidity")
            else:
                taker = self.taker_price(order.symbol, last, order.side == "Buy")
                self.fill(order, min(taker, order.price) if order.side == "Buy" else max(taker, order.price), is_maker=False)
        else:
            self._emit_order(order)
        self._emit_position(order.symbol, order.position_idx)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def cancel_order(self, req: Mapping[str, Any], now_ms: int) -> dict:
        req = checked(req)
        self.now_ms = now_ms
        rules = self._rules_for(req)
        order = self._find(req, rules)
        self._finish(order, "Deactivated" if order.is_conditional else "Cancelled", "CancelByUser", "EC_PerCancelRequest")
        self._emit_position(order.symbol, order.position_idx)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def cancel_all(self, req: Mapping[str, Any], now_ms: int) -> dict:
        req = checked(req)
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
