"""The venue's matching engine: a pure core driven by V5 request dicts and by 1m bars.

No threads, sockets or clocks: every call receives ``now_ms``, and ``on_bar`` moves the market.
Same calls in the same order give the same orders, ids, fills and events (ids come from a seed
and counters). Fill model, in brief (details in ``intrabar.py``, costs in ``costs.py``): a
crossing order takes at the last price plus half a spread; resting limits fill as maker at their
price once the bar's path trades through them, and in part when the bar only touches them; stops
fill beyond their trigger by the stop slippage (beyond the open if the bar gapped through them),
plus half a spread; open positions pay funding every 8 h. Every state change is queued in ``events`` as
``(topic, data)`` for the private stream, in the order of bybit-v5.md §4.8. Order commands live
in ``order_entry.py``, position commands in ``position_admin.py``.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Mapping

from exchange.sim.config import SimConfig
from exchange.sim.costs import FundingRates, is_funding_time, stop_reference_ticks, taker_fill_ticks, touch_fill_qty
from exchange.sim.intrabar import bar_path, can_meet_any, walk_segment
from exchange.sim.market import Bar, InstrumentRules
from exchange.sim.order_entry import OrderEntry
from exchange.sim.orders import ZERO, Order, Position, text
from exchange.sim.position_admin import PositionAdmin

USDT_PRECISION = Decimal("1e-8")


def money(value: Decimal) -> Decimal:
    """USDT amounts (PnL, fees) carry 8 decimals, so the wallet is an exact sum of its records."""
    return value.quantize(USDT_PRECISION)


class Engine(OrderEntry, PositionAdmin):
    """One UNIFIED account trading USDT perpetuals against replayed bars."""

    def __init__(self, instruments: Mapping[str, InstrumentRules], config: SimConfig = SimConfig()):
        self.rules = dict(instruments)
        self.config = config
        self.maker_fee = Decimal(str(config.maker_fee))
        self.taker_fee = Decimal(str(config.taker_fee))
        self.mm_rate = Decimal(str(config.maintenance_margin_rate))
        self.fill_offset = {s: r.tick_size * config.fill_through_ticks for s, r in self.rules.items()}
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
        self.costs = config.costs
        self.funding_rates = FundingRates.load(config.costs.funding_rate, config.funding_csv)
        self.funded_ms = 0  # the last funding settlement paid
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
        points = [last, *bar_path(bar, self.config.intrabar_path)]
        # Most bars meet no order at all: one reachability scan spares walking every segment.
        if can_meet_any(self, self.resting(symbol), min(points), max(points)):
            suppressed_tp = self._tps_losing_to_sl(symbol, bar)
            for i, (a, b) in enumerate(zip(points, points[1:])):
                walk_segment(self, symbol, a, b, suppressed_tp, bar, first=i == 0)
        if self.costs.partial_fills:
            self._fill_touched(symbol, bar)
        self.last_price[symbol] = bar.close
        self._check_liquidation()

    def _fill_touched(self, symbol: str, bar: Bar) -> None:
        """Resting limits the bar reached but did not trade through fill a share of what is left,
        at their price, as maker, at the bar's close (``costs.touch_fill_qty``)."""
        for order in self.resting(symbol):
            if order.status not in ("New", "PartiallyFilled") or order.order_type != "Limit":
                continue
            touched = bar.low <= order.price if order.side == "Buy" else bar.high >= order.price
            if not touched:
                continue
            qty = touch_fill_qty(self.costs, order.leaves_qty, self.rules[symbol].qty_step)
            if qty > 0:
                self.fill(order, order.price, is_maker=True, qty=qty)

    # --- what the venue charges beyond fees ---------------------------------------------------

    def taker_price(self, symbol: str, reference: Decimal, buy: bool) -> Decimal:
        """A taker's fill against ``reference``: half a spread worse, on the tick grid."""
        tick = self.rules[symbol].tick_size
        return taker_fill_ticks(self.costs, int(reference / tick), buy) * tick

    def stop_reference(self, order: Order, at: Decimal, gapped_at: Decimal | None) -> Decimal:
        """What a triggered stop-market executes against, before the spread (``costs``)."""
        tick = self.rules[order.symbol].tick_size
        falling = order.trigger_direction == 2
        gap = int(gapped_at / tick) if gapped_at is not None else None
        return stop_reference_ticks(self.costs, int(order.trigger_price / tick), int(at / tick), gap, falling) * tick

    def settle_funding(self, now_ms: int) -> None:
        """At 00/08/16 UTC every open position pays (or receives) funding at its mark, booked as a
        Bybit-shaped ``execType: Funding`` execution. Called once per boundary, after its bars."""
        if not self.costs.funding or not is_funding_time(now_ms) or now_ms <= self.funded_ms:
            return
        self.funded_ms = self.now_ms = now_ms
        for (symbol, idx), pos in list(self.positions.items()):
            if not pos.size:
                continue
            rules, mark = self.rules[symbol], self.mark(symbol)
            rate = self.funding_rates.rate(symbol, now_ms)
            value = pos.size * mark
            fee = money(value * rate) * pos.sign  # positive: paid
            self.wallet -= fee
            pos.cur_realised -= fee
            pos.cum_realised -= fee
            pos.updated_ms = now_ms
            pos.seq = self._next_seq()
            execution = {
                "category": "linear", "symbol": symbol, "orderId": "", "orderLinkId": "", "side": pos.side,
                "orderPrice": "0", "orderQty": "0", "leavesQty": "0", "createType": "", "orderType": "UNKNOWN",
                "stopOrderType": "UNKNOWN", "execId": self._new_id(3), "execPrice": rules.price_text(mark),
                "execQty": rules.qty_text(pos.size), "execValue": text(value), "execFee": text(fee),
                "feeRate": text(rate), "execType": "Funding", "execTime": str(now_ms), "isMaker": False,
                "execPnl": "0", "closedSize": "0", "markPrice": rules.price_text(mark), "indexPrice": "",
                "underlyingPrice": "", "blockTradeId": "", "tradeIv": "", "markIv": "", "seq": pos.seq,
                "feeCurrency": "USDT", "extraFees": "", "isLeverage": "0", "marketUnit": "",
            }
            self.executions.append(execution)
            self.events.append(("execution", execution))
            self._emit_position(symbol, idx)
            self._emit_wallet()

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

    def liq_price(self, symbol: str) -> Decimal | None:
        """The mark of ``symbol`` at which ``_check_liquidation`` would take the account over,
        every other symbol's mark unchanged (cross margin: the whole wallet backs each position).
        Equity is linear in this symbol's mark with slope the net size held in it, so the price
        solves wallet + other upl + net * p - sum(avg * signed size) = maintenance margin. Rounded
        onto the tick grid towards the current mark (the side an operator must not be surprised
        on); None when the symbol's positions net to zero (hedged: its price cannot liquidate)
        or the price would be at or below zero (the wallet covers the whole position)."""
        here = [p for p in self.positions.values() if p.size and p.symbol == symbol]
        net = sum((p.size * p.sign for p in here), ZERO)
        if not net:
            return None
        others = sum((p.unrealised(self.mark(p.symbol)) for p in self.positions.values() if p.size and p.symbol != symbol), ZERO)
        cost = sum((p.avg_price * p.size * p.sign for p in here), ZERO)
        price = (self.position_mm() - self.wallet - others + cost) / net
        if price <= 0:
            return None
        tick = self.rules[symbol].tick_size
        rounding = ROUND_CEILING if net > 0 else ROUND_FLOOR
        return (price / tick).to_integral_value(rounding) * tick

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

    def trigger(self, order: Order, at: Decimal, gapped_at: Decimal | None = None) -> None:
        """A conditional reached its trigger while the path stood at ``at``; ``gapped_at`` is the
        first price traded beyond the trigger (the bar's open) when the bar gapped through it. A stop-market (any market
        conditional but a take-profit) executes against ``stop_reference``, a take-profit at ``at``;
        both as takers. A triggered stop reports its trigger as its price (the reference its
        slippage is measured from)."""
        order.updated_ms = self.now_ms
        is_stop = order.order_type == "Market" and order.stop_order_type != "TakeProfit"
        reference = self.stop_reference(order, at, gapped_at) if is_stop else at
        if order.is_position_tpsl:
            pos = self._position(order.symbol, order.position_idx)
            order.status = "Triggered"
            order.qty = pos.size
            order.price = order.trigger_price if is_stop else at
            order.create_type = "CreateByStopLoss" if order.stop_order_type == "StopLoss" else "CreateByTakeProfit"
            self._emit_order(order)
            if not pos.size:
                self._finish(order, "Deactivated", "CancelByTpSlTsClear")
                return
            self.fill(order, self.taker_price(order.symbol, reference, order.side == "Buy"), is_maker=False)
            return
        order.status = "Triggered"
        self._emit_order(order)
        if order.reduce_only or self._is_closing(order):
            if not self._reducible(order.symbol, order.side, order.position_idx):
                self._finish(order, "Cancelled", "CancelByReduceOnly")
                return
        order.status = "New"
        if order.order_type == "Market":
            order.price = order.trigger_price if is_stop else at
        self._activate(order, self.now_ms, reference)

    def fill(self, order: Order, price: Decimal, *, is_maker: bool, exec_type: str = "Trade",
             qty: Decimal | None = None) -> None:
        """Execute ``qty`` (default: the whole remaining qty) of ``order`` at ``price`` and book it."""
        symbol, rules = order.symbol, self.rules[order.symbol]
        pos = self._position(symbol, order.position_idx)
        leaves = order.qty - order.cum_exec_qty
        requested = leaves if qty is None else min(qty, leaves)
        qty = requested
        if order.reduce_only or self._is_closing(order) or order.is_position_tpsl:
            qty = min(qty, pos.size if pos.side and pos.side != order.side else ZERO)
            if qty <= 0:
                self._finish(order, "Cancelled", "CancelByReduceOnly")
                return
            if qty < requested:  # the position is smaller: the order ends with it
                order.qty = order.cum_exec_qty + qty
        rate = self.maker_fee if is_maker else self.taker_fee
        value = price * qty
        fee = money(value * rate)
        closed = min(qty, pos.size) if pos.side and pos.side != order.side else ZERO
        opened = qty - closed
        # Closing the whole position (also on a one-way flip) ends its TP/SL and reduce-only orders.
        closes_out = bool(closed) and closed == pos.size
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
        leaves = order.qty - order.cum_exec_qty
        order.status = "PartiallyFilled" if leaves > 0 else "Filled"
        order.updated_ms = self.now_ms
        execution = {
            "category": "linear", "symbol": symbol, "orderId": order.order_id, "orderLinkId": order.order_link_id,
            "side": order.side, "orderPrice": rules.price_text(order.price), "orderQty": rules.qty_text(order.qty),
            "leavesQty": rules.qty_text(leaves), "createType": order.create_type, "orderType": order.order_type,
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
        if closes_out:
            self._clear_position_orders(pos)
        # An entry's TP/SL attach once, to a position that has none (a later partial fill of the
        # same entry must not undo a stop the owner has moved since).
        if opened and not pos.tpsl_order_ids and (order.take_profit or order.stop_loss):
            self._attach_tpsl(pos, order.take_profit, order.stop_loss, order.tp_trigger_by, order.sl_trigger_by,
                              parent=order.order_link_id)
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

    def _check_liquidation(self) -> None:
        """Cross margin: when equity falls below total maintenance margin, every position is
        liquidated (``PositionAdmin.liquidate_all``)."""
        if not any(p.size for p in self.positions.values()):
            return
        if self.wallet + self.unrealised() >= self.position_mm():
            return
        self.liquidate_all()

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
        self.events.append(("position", pos.to_v5(self.rules[symbol], self.mark(symbol), self.mm_rate, ws=True,
                                                  liq_price=self.liq_price(symbol))))

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
