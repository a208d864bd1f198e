"""The venue's account records (orders, positions) and their V5 wire shapes (bybit-v5.md §4.4, §5.7, §6.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from exchange.sim.market import InstrumentRules

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


class V5Error(Exception):
    """A business rejection: the server answers HTTP 200 with this ``retCode`` and ``retMsg``."""

    def __init__(self, code: int, msg: str):
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg


def text(value: Decimal) -> str:
    """A Decimal as Bybit writes it: plain notation, never an exponent."""
    return format(value.normalize() if value == 0 else value, "f")


@dataclass
class Order:
    order_id: str
    order_link_id: str
    symbol: str
    side: str
    order_type: str
    price: Decimal
    qty: Decimal
    time_in_force: str
    position_idx: int
    seq: int
    created_ms: int
    status: str = "New"
    reduce_only: bool = False
    close_on_trigger: bool = False
    create_type: str = "CreateByUser"
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    stop_order_type: str = ""
    trigger_price: Decimal = ZERO
    trigger_direction: int = 0
    trigger_by: str = ""
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO
    tp_trigger_by: str = ""
    sl_trigger_by: str = ""
    tpsl_mode: str = ""
    last_price_on_created: Decimal = ZERO
    cum_exec_qty: Decimal = ZERO
    cum_exec_value: Decimal = ZERO
    cum_exec_fee: Decimal = ZERO
    closed_pnl: Decimal = ZERO
    updated_ms: int = 0
    parent_order_link_id: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_conditional(self) -> bool:
        return self.status == "Untriggered"

    @property
    def is_position_tpsl(self) -> bool:
        return self.stop_order_type in ("TakeProfit", "StopLoss")

    @property
    def leaves_qty(self) -> Decimal:
        return self.qty - self.cum_exec_qty if self.is_open else ZERO

    def to_v5(self, rules: InstrumentRules) -> dict:
        avg = self.cum_exec_value / self.cum_exec_qty if self.cum_exec_qty else None
        leaves = self.leaves_qty
        unset_price = rules.price_text(ZERO)
        return {
            "category": "linear",
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderLinkId": self.order_link_id,
            "parentOrderLinkId": self.parent_order_link_id,
            "blockTradeId": "",
            "isLeverage": "",
            "side": self.side,
            "orderType": self.order_type,
            "timeInForce": self.time_in_force,
            "price": rules.price_text(self.price),
            "qty": rules.qty_text(self.qty),
            "positionIdx": self.position_idx,
            "orderStatus": self.status,
            "createType": self.create_type,
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": rules.price_text(avg) if avg is not None else "",
            "leavesQty": rules.qty_text(leaves),
            "leavesValue": text(leaves * self.price),
            "cumExecQty": rules.qty_text(self.cum_exec_qty),
            "cumExecValue": text(self.cum_exec_value),
            "cumExecFee": text(self.cum_exec_fee),
            "cumFeeDetail": {"USDT": text(self.cum_exec_fee)} if self.cum_exec_fee else {},
            "closedPnl": text(self.closed_pnl),
            "stopOrderType": self.stop_order_type or "UNKNOWN",
            "triggerPrice": rules.price_text(self.trigger_price),
            "triggerDirection": self.trigger_direction,
            "triggerBy": self.trigger_by or "UNKNOWN",
            "takeProfit": rules.price_text(self.take_profit) if self.take_profit else unset_price,
            "stopLoss": rules.price_text(self.stop_loss) if self.stop_loss else unset_price,
            "tpslMode": self.tpsl_mode,
            "tpTriggerBy": self.tp_trigger_by or "UNKNOWN",
            "slTriggerBy": self.sl_trigger_by or "UNKNOWN",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "lastPriceOnCreated": rules.price_text(self.last_price_on_created),
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": self.close_on_trigger,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "placeType": "",
            "slippageToleranceType": "UNKNOWN",
            "slippageTolerance": "",
            "createdTime": str(self.created_ms),
            "updatedTime": str(self.updated_ms or self.created_ms),
        }


@dataclass
class Position:
    symbol: str
    position_idx: int
    leverage: Decimal
    side: str = ""
    size: Decimal = ZERO
    avg_price: Decimal = ZERO
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO
    tp_trigger_by: str = ""
    sl_trigger_by: str = ""
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    open_fee: Decimal = ZERO
    created_ms: int = 0
    updated_ms: int = 0
    seq: int = 0
    tpsl_order_ids: dict = field(default_factory=dict)

    @property
    def sign(self) -> int:
        return 1 if self.side == "Buy" else -1 if self.side == "Sell" else 0

    def unrealised(self, mark: Decimal) -> Decimal:
        return (mark - self.avg_price) * self.size * self.sign

    def to_v5(self, rules: InstrumentRules, mark: Decimal, mm_rate: Decimal, *, ws: bool = False,
              liq_price: Decimal | None = None) -> dict:
        value = self.avg_price * self.size
        unset = rules.price_text(ZERO)
        row = {
            "category": "linear",
            "symbol": self.symbol,
            "positionIdx": self.position_idx,
            "side": self.side,
            "size": rules.qty_text(self.size),
            ("entryPrice" if ws else "avgPrice"): rules.price_text(self.avg_price) if self.size else "0",
            "positionValue": text(value),
            "leverage": text(self.leverage),
            "markPrice": rules.price_text(mark),
            "liqPrice": rules.price_text(liq_price) if self.size and liq_price is not None else "",
            "bustPrice": "",
            "breakEvenPrice": "",
            "positionIM": text(value / self.leverage) if self.size else "0",
            "positionMM": text(value * mm_rate) if self.size else "0",
            "positionBalance": text(value / self.leverage) if self.size else "0",
            "takeProfit": rules.price_text(self.take_profit) if self.take_profit else unset,
            "stopLoss": rules.price_text(self.stop_loss) if self.stop_loss else unset,
            "trailingStop": unset,
            "tpslMode": "Full",
            "unrealisedPnl": text(self.unrealised(mark)) if self.size else "0",
            "curRealisedPnl": text(self.cur_realised),
            "cumRealisedPnl": text(self.cum_realised),
            "positionStatus": "Normal",
            "adlRankIndicator": 2 if self.size else 0,
            "isReduceOnly": False,
            "autoAddMargin": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "tradeMode": 0,
            "createdTime": str(self.created_ms),
            "updatedTime": str(self.updated_ms or self.created_ms),
            "seq": self.seq,
        }
        if not ws:
            row["openTime"] = 0
        return row
