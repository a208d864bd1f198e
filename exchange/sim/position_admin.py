"""The position half of the engine: trading-stop (Full mode), leverage and position mode
(bybit-v5.md §6.2-6.4) with their idempotency codes 34040, 110043 and 110025, and the closes the
venue makes on its own: liquidation (``BustTrade``) and delivery of a delisted contract (``Delivery``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from exchange.sim.orders import ZERO, Order, V5Error, text
from exchange.sim.params import TRIGGER_BY, checked, decimal_param, int_param


class PositionAdmin:
    """Mixed into ``Engine``; relies on its positions, leverage and TP/SL order helpers."""

    def set_trading_stop(self, req: Mapping[str, Any], now_ms: int) -> dict:
        """POST /v5/position/trading-stop, Full mode (bybit-v5.md §6.2)."""
        req = checked(req)
        self.now_ms = now_ms
        rules = self._rules_for(req)
        mode = req.get("tpslMode")
        if not mode:
            raise V5Error(10001, "params error: tpslMode is required")
        if mode != "Full":
            raise V5Error(10001, "params error: only tpslMode Full is supported by the simulator")
        if req.get("positionIdx") is None:
            raise V5Error(10001, "params error: positionIdx is required")
        idx = int_param(req, "positionIdx", 0)
        self._check_idx(rules.symbol, idx)
        tp, sl = decimal_param(req, "takeProfit"), decimal_param(req, "stopLoss")
        if decimal_param(req, "trailingStop"):
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
        # Only new, non-zero levels are judged against the market: "0" clears, and an unchanged
        # level is not re-checked (bybit-v5.md §6.2 and §10 pitfall 22).
        new = {kind: value for kind, value, _ in changes}
        self._check_tpsl_side(pos.side, self.mark(rules.symbol), new.get("TakeProfit", ZERO),
                              new.get("StopLoss", ZERO), rules)
        for kind, value, by in changes:
            self._set_tpsl_order(pos, kind, value, by)
        pos.updated_ms = now_ms
        self._emit_position(rules.symbol, idx)
        return {}

    def set_leverage(self, req: Mapping[str, Any], now_ms: int) -> dict:
        req = checked(req)
        self.now_ms = now_ms
        rules = self._rules_for(req)
        buy, sell = decimal_param(req, "buyLeverage", required=True), decimal_param(req, "sellLeverage", required=True)
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
        req = checked(req)
        self.now_ms = now_ms
        if req.get("category") != "linear":
            raise V5Error(10001, "params error: category only support linear")
        mode = int_param(req, "mode", -1)
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

    # --- closes the venue makes on its own ------------------------------------------------------

    def liquidate_all(self) -> None:
        """Cross margin below maintenance: Bybit first cancels every active order to free margin
        (``CancelAllBeforeLiq``), then its liquidation engine takes each position over with a
        ``CreateByLiq`` market order whose fill is a ``BustTrade`` execution with no orderLinkId.
        The takeover happens at the mark here (Bybit uses the bankruptcy price)."""
        for order in self.open_orders():
            if not order.is_position_tpsl:
                self._finish(order, "Cancelled", "CancelAllBeforeLiq")
        for pos in list(self.positions.values()):
            if pos.size:
                self._venue_close(pos, "CreateByLiq", "BustTrade")

    def deliver(self, symbol: str, now_ms: int) -> int:
        """The contract of ``symbol`` is delivered (a delisting, bybit-v5.md enum ``Delivery``):
        open orders end ``CancelBySettle``, every position closes at the mark with a ``Delivery``
        execution. Returns how many positions were closed."""
        self.now_ms = now_ms
        if symbol not in self.rules:
            return 0
        for order in self.resting(symbol):
            if not order.is_position_tpsl:
                self._finish(order, "Cancelled", "CancelBySettle")
        closed = 0
        for (sym, _), pos in list(self.positions.items()):
            if sym == symbol and pos.size:
                self._venue_close(pos, "CreateByDelivery", "Delivery")
                closed += 1
        return closed

    def _venue_close(self, pos: Any, create_type: str, exec_type: str) -> None:
        """Close ``pos`` at the mark with an order of the venue's own (no orderLinkId)."""
        order = Order(
            order_id=self._new_id(1), order_link_id="", symbol=pos.symbol,
            side="Sell" if pos.side == "Buy" else "Buy", order_type="Market", price=self.mark(pos.symbol),
            qty=pos.size, time_in_force="IOC", position_idx=pos.position_idx, seq=self._next_seq(),
            created_ms=self.now_ms, reduce_only=True, create_type=create_type,
        )
        self._register(order)
        self.fill(order, self.mark(pos.symbol), is_maker=False, exec_type=exec_type)
