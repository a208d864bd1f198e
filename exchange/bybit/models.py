"""msgspec shapes of the V5 wire (REST envelopes, result rows, WebSocket frames) and their
conversion into the pipeline's messages.

Venue numbers arrive as JSON strings (bybit-v5.md §1.1). Prices, quantities and fees become
``Decimal`` (exact, never via float); kline OHLCV become float64 because ``Kline`` feeds the
indicators, which are float math. Every row field has a default and every text field may be
``null`` (``Text``): the live venue sends ``"avgPrice": null`` on open orders and
``"nextPageCursor": null`` on instruments although the docs never show it, and reconciliation
must survive a missing or renamed field (DESIGN.md, "venue reports that surprise the decoder").
Unknown fields are ignored; only the fields an update cannot exist without (symbol, ids, side)
make a row unusable. Values outside the documented enums are reported by ``unknown_values``.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from vocabulary.messages import ExecutionUpdate, Kline, OrderUpdate, PositionUpdate

# A venue text field: a decimal or enum string, "" when unset, null or absent when Bybit feels
# like it (seen live on avgPrice, nextPageCursor, triggerPrice, blockTradeId, orderIv).
Text = str | None
# Numbers and flags the docs type as int/bool; a row must survive them as "" or a string too.
Int = int | str | None
Flag = bool | str | None

# --- REST ---------------------------------------------------------------------------------


class Envelope(msgspec.Struct):
    """Every REST answer (§1.2); ``result`` stays raw until the caller knows its shape."""

    retCode: int
    retMsg: Text = None
    result: msgspec.Raw = msgspec.Raw(b"{}")
    time: int | None = None


class ServerTime(msgspec.Struct):
    timeSecond: Text = None
    timeNano: Text = None


class OrderIds(msgspec.Struct):
    orderId: Text = None
    orderLinkId: Text = None


class KlineList(msgspec.Struct):
    symbol: Text = None
    rows: list[list[Text]] | None = msgspec.field(default=None, name="list")


class Page(msgspec.Struct):
    """A cursor-paged list; rows stay raw so one bad row cannot spoil the page."""

    rows: list[msgspec.Raw] | None = msgspec.field(default=None, name="list")
    nextPageCursor: Text = None


class OrderRow(msgspec.Struct):
    """An order, as ``/v5/order/realtime``, ``/v5/order/history`` and the ``order`` topic send it."""

    symbol: Text = None
    orderId: Text = None
    orderLinkId: Text = None
    side: Text = None
    orderStatus: Text = None
    orderType: Text = None
    timeInForce: Text = None
    price: Text = None
    qty: Text = None
    cumExecQty: Text = None
    avgPrice: Text = None
    positionIdx: Int = 0
    reduceOnly: Flag = False
    stopLoss: Text = None
    takeProfit: Text = None
    rejectReason: Text = None
    updatedTime: Text = None
    stopOrderType: Text = None


class ExecutionRow(msgspec.Struct):
    symbol: Text = None
    execId: Text = None
    orderId: Text = None
    orderLinkId: Text = None
    side: Text = None
    execPrice: Text = None
    execQty: Text = None
    execFee: Text = None
    execType: Text = None
    isMaker: Flag = False
    execTime: Text = None
    closedSize: Text = None
    orderPrice: Text = None
    stopOrderType: Text = None


class PositionRow(msgspec.Struct):
    """REST calls the entry ``avgPrice``, the ``position`` topic ``entryPrice`` (§4.6)."""

    symbol: Text = None
    positionIdx: Int = 0
    side: Text = None
    size: Text = None
    avgPrice: Text = None
    entryPrice: Text = None
    stopLoss: Text = None
    takeProfit: Text = None
    markPrice: Text = None
    unrealisedPnl: Text = None
    updatedTime: Text = None
    liqPrice: Text = None


class WalletCoin(msgspec.Struct):
    coin: Text = None
    equity: Text = None
    walletBalance: Text = None


class WalletAccount(msgspec.Struct):
    accountType: Text = None
    totalEquity: Text = None
    totalAvailableBalance: Text = None
    coin: list[WalletCoin] | None = None


class WalletList(msgspec.Struct):
    accounts: list[WalletAccount] | None = msgspec.field(default=None, name="list")


class TickerRow(msgspec.Struct):
    symbol: Text = None
    lastPrice: Text = None
    markPrice: Text = None
    indexPrice: Text = None
    bid1Price: Text = None
    ask1Price: Text = None


class FeeRateRow(msgspec.Struct):
    symbol: Text = None
    makerFeeRate: Text = None
    takerFeeRate: Text = None


class ClosedPnlRow(msgspec.Struct):
    symbol: Text = None
    orderId: Text = None
    side: Text = None
    qty: Text = None
    closedSize: Text = None
    avgEntryPrice: Text = None
    avgExitPrice: Text = None
    closedPnl: Text = None
    openFee: Text = None
    closeFee: Text = None
    createdTime: Text = None
    updatedTime: Text = None


class Ticker(msgspec.Struct, frozen=True):
    """Current prices of one symbol; the stop-trigger check reads ``mark_price`` or ``last_price``."""

    symbol: str
    last_price: Decimal | None
    mark_price: Decimal | None
    index_price: Decimal | None
    bid: Decimal | None
    ask: Decimal | None


class FeeRate(msgspec.Struct, frozen=True):
    symbol: str
    maker: Decimal
    taker: Decimal


class ClosedPnl(msgspec.Struct, frozen=True):
    """One closing order's realised result as the venue computed it (§6.5)."""

    symbol: str
    order_id: str
    side: str
    closed_size: Decimal
    avg_entry_price: Decimal | None
    avg_exit_price: Decimal | None
    closed_pnl: Decimal
    open_fee: Decimal | None
    close_fee: Decimal | None
    updated_ms: int


# --- WebSocket ----------------------------------------------------------------------------


class KlineItem(msgspec.Struct):
    """OHLCV arrive as strings; a non-strict decoder (``PUBLIC_FRAME_DECODER``) parses them
    straight to float in C, which is what makes the stream cheap (bench/ws_parse.py)."""

    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: Text = None
    confirm: bool | None = False
    end: int | None = 0
    interval: Text = None
    timestamp: int | None = 0


class PublicFrame(msgspec.Struct):
    """Any frame of the public linear stream: a kline push, or an op ack / pong (§3.1, §3.3)."""

    topic: Text = None
    data: list[KlineItem] | None = None
    ts: int | None = 0
    op: Text = None
    success: bool | None = None
    ret_msg: Text = None
    req_id: Text = None
    retMsg: Text = None  # the camel-case op answer shape (see ``PrivateFrame``)

    @property
    def reason(self) -> str:
        return self.ret_msg or self.retMsg or ""


class PrivateFrame(msgspec.Struct):
    """Any frame of the private stream: a push ``{id, topic, creationTime, data}`` or an op answer."""

    topic: Text = None
    data: msgspec.Raw = msgspec.Raw(b"null")  # msgspec cannot put Raw in a union
    creationTime: int | None = 0
    op: Text = None
    success: bool | None = None
    ret_msg: Text = None
    req_id: Text = None
    # Op answers come in two shapes: ``{success, ret_msg, conn_id}`` (documented) and
    # ``{success, retCode, retMsg, connId}`` (seen on auth refusals); either carries the reason.
    retCode: int | None = None
    retMsg: Text = None

    @property
    def reason(self) -> str:
        text = self.ret_msg or self.retMsg or ""
        return f"{self.retCode}: {text}" if self.retCode else text


# strict=False lets "16649.5" decode into a float field; everything else stays typed.
PUBLIC_FRAME_DECODER = msgspec.json.Decoder(PublicFrame, strict=False)


# --- conversions ---------------------------------------------------------------------------

_SIDES = ("Buy", "Sell")
_NONE_SPELLINGS = frozenset({"", "UNKNOWN"})

# The documented enums (docs/v5/enum.mdx) of the fields whose value decides what we do. A value
# outside them is a venue change we have not read about: the row still flows, and the caller
# journals the surprise once (``unknown_values``).
ORDER_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered", "Rejected", "PartiallyFilledCanceled",
                            "Filled", "Cancelled", "Triggered", "Deactivated"})
STOP_ORDER_TYPES = frozenset({"", "UNKNOWN", "TakeProfit", "StopLoss", "TrailingStop", "Stop", "PartialTakeProfit",
                              "PartialStopLoss", "tpslOrder", "OcoOrder", "MmRateClose", "BidirectionalTpslOrder"})
EXEC_TYPES = frozenset({"Trade", "AdlTrade", "Funding", "BustTrade", "Delivery", "Settle", "BlockTrade",
                        "MovePosition", "FutureSpread", "CorporateAction", "UNKNOWN"})


def unknown_values(row: msgspec.Struct) -> list[tuple[str, str]]:
    """``(field, value)`` of every enum field of ``row`` holding a value the docs do not list."""
    if isinstance(row, OrderRow):
        checks = (("orderStatus", row.orderStatus, ORDER_STATUSES), ("stopOrderType", row.stopOrderType, STOP_ORDER_TYPES))
    elif isinstance(row, ExecutionRow):
        checks = (("execType", row.execType, EXEC_TYPES),)
    else:
        return []
    return [(name, value) for name, value, known in checks if value and value not in known]


def decimal_or_none(text: Any) -> Decimal | None:
    """A venue decimal string as Decimal; ``""`` and garbage become None (§1.1 "not set")."""
    if text is None or text in _NONE_SPELLINGS:
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def price_or_none(text: Any) -> Decimal | None:
    """Like ``decimal_or_none`` but ``"0"``/``"0.00"`` also mean "not set" (TP/SL, avgPrice)."""
    value = decimal_or_none(text)
    return None if value is None or value == 0 else value


def flag(value: Any) -> bool:
    """A venue boolean: JSON true, or its spellings as text; anything else (null, "") is false."""
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def position_idx(value: Any, row: msgspec.Struct) -> int:
    """0 (one-way), 1 or 2 (hedge); unset means 0, but garbage is no slot to guess."""
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RowProblem(f"{type(row).__name__} with positionIdx {value!r}") from None


def int_or_zero(text: Any) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


class RowProblem(ValueError):
    """A row lacks a field no update can exist without; the text says which."""


def _require(value: str, name: str, row: msgspec.Struct) -> str:
    if not value:
        raise RowProblem(f"{type(row).__name__} without {name}")
    return value


def order_update(row: OrderRow) -> OrderUpdate:
    side = row.side
    if side not in _SIDES:
        raise RowProblem(f"order {row.orderLinkId or row.orderId} with side {side!r}")
    return OrderUpdate(
        symbol=_require(row.symbol, "symbol", row),
        order_id=_require(row.orderId, "orderId", row),
        order_link_id=row.orderLinkId or "",
        side=side,  # type: ignore[arg-type]
        status=row.orderStatus or "",
        order_type=row.orderType or "",
        time_in_force=row.timeInForce or "",
        price=price_or_none(row.price),
        qty=decimal_or_none(row.qty) or Decimal(0),
        cum_exec_qty=decimal_or_none(row.cumExecQty) or Decimal(0),
        avg_price=price_or_none(row.avgPrice),
        position_idx=position_idx(row.positionIdx, row),
        reduce_only=flag(row.reduceOnly),
        stop_loss=price_or_none(row.stopLoss),
        take_profit=price_or_none(row.takeProfit),
        reject_reason=None if row.rejectReason in (None, "", "EC_NoError") else row.rejectReason,
        updated_ms=int_or_zero(row.updatedTime),
    )


def execution_update(row: ExecutionRow) -> ExecutionUpdate:
    """Every execution type flows, each keeping its ``execType``: a ``Trade`` fills our order,
    ``BustTrade`` / ``AdlTrade`` / ``Delivery`` close the position without one (liquidation,
    auto-deleveraging, delisting), ``Funding`` books the funding fee in ``fee`` (§6.6)."""
    if row.side not in _SIDES:
        raise RowProblem(f"execution {row.execId} with side {row.side!r}")
    price, qty = decimal_or_none(row.execPrice), decimal_or_none(row.execQty)
    if price is None or qty is None:
        raise RowProblem(f"execution {row.execId} without execPrice/execQty")
    return ExecutionUpdate(
        symbol=_require(row.symbol, "symbol", row),
        exec_id=_require(row.execId, "execId", row),
        order_id=row.orderId or "",
        order_link_id=row.orderLinkId or "",
        side=row.side,  # type: ignore[arg-type]
        price=price,
        qty=qty,
        fee=decimal_or_none(row.execFee) or Decimal(0),
        is_maker=flag(row.isMaker),
        exec_ms=int_or_zero(row.execTime),
        exec_type=row.execType or "Trade",
        order_price=price_or_none(row.orderPrice),
        stop_order_type=row.stopOrderType or "",
    )


def position_update(row: PositionRow) -> PositionUpdate:
    size = decimal_or_none(row.size) or Decimal(0)
    return PositionUpdate(
        symbol=_require(row.symbol, "symbol", row),
        position_idx=position_idx(row.positionIdx, row),
        side=row.side if row.side in _SIDES else None,  # type: ignore[arg-type]
        size=size,
        avg_price=price_or_none(row.avgPrice or row.entryPrice),
        stop_loss=price_or_none(row.stopLoss),
        take_profit=price_or_none(row.takeProfit),
        mark_price=price_or_none(row.markPrice),
        unrealised_pnl=decimal_or_none(row.unrealisedPnl),
        updated_ms=int_or_zero(row.updatedTime),
        liq_price=price_or_none(row.liqPrice),
    )


def ticker(row: TickerRow) -> Ticker:
    return Ticker(
        symbol=_require(row.symbol, "symbol", row),
        last_price=price_or_none(row.lastPrice),
        mark_price=price_or_none(row.markPrice),
        index_price=price_or_none(row.indexPrice),
        bid=price_or_none(row.bid1Price),
        ask=price_or_none(row.ask1Price),
    )


def fee_rate(row: FeeRateRow) -> FeeRate:
    maker, taker = decimal_or_none(row.makerFeeRate), decimal_or_none(row.takerFeeRate)
    if maker is None or taker is None:
        raise RowProblem(f"fee rate of {row.symbol or '?'} without makerFeeRate/takerFeeRate")
    return FeeRate(symbol=_require(row.symbol, "symbol", row), maker=maker, taker=taker)


def closed_pnl(row: ClosedPnlRow) -> ClosedPnl:
    pnl = decimal_or_none(row.closedPnl)
    if pnl is None:
        raise RowProblem(f"closed-pnl of order {row.orderId or '?'} without closedPnl")
    return ClosedPnl(
        symbol=_require(row.symbol, "symbol", row),
        order_id=row.orderId or "",
        side=row.side or "",
        closed_size=decimal_or_none(row.closedSize) or decimal_or_none(row.qty) or Decimal(0),
        avg_entry_price=price_or_none(row.avgEntryPrice),
        avg_exit_price=price_or_none(row.avgExitPrice),
        closed_pnl=pnl,
        open_fee=decimal_or_none(row.openFee),
        close_fee=decimal_or_none(row.closeFee),
        updated_ms=int_or_zero(row.updatedTime),
    )


# No listed contract comes near it, and it keeps price x volume products (VWAP, MFI) far from
# float overflow.
_KLINE_CEILING = 1e15


def checked_kline(bar: Kline) -> Kline:
    """``bar`` if an indicator may take it, else ``ValueError`` saying why. Indicator state is
    recursive (an EMA never forgets a NaN, a buffer never accepts a bar before a bogus one), so
    a bar the venue could not have meant is refused here, at the edge, never downstream."""
    if bar.start_ms < 0:
        raise ValueError(f"kline start {bar.start_ms} is before 1970")
    prices = (bar.open, bar.high, bar.low, bar.close)
    if not all(0 < p < _KLINE_CEILING for p in prices):  # also False for NaN
        raise ValueError(f"kline {bar.start_ms}: prices {prices} are not all finite and positive")
    if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        raise ValueError(f"kline {bar.start_ms}: low/high {bar.low}/{bar.high} do not bracket open/close")
    if not 0 <= bar.volume < _KLINE_CEILING or (bar.turnover is not None and not 0 <= bar.turnover < math.inf):
        raise ValueError(f"kline {bar.start_ms}: volume {bar.volume} / turnover {bar.turnover} unusable")
    return bar


def kline_from_rest(symbol: str, interval: int, row: list[str | None]) -> Kline:
    """``[startTime, open, high, low, close, volume, turnover]`` (§2.1)."""
    return checked_kline(Kline(
        symbol=symbol,
        interval=interval,
        start_ms=int(row[0]),  # type: ignore[arg-type]
        open=float(row[1]),  # type: ignore[arg-type]
        high=float(row[2]),  # type: ignore[arg-type]
        low=float(row[3]),  # type: ignore[arg-type]
        close=float(row[4]),  # type: ignore[arg-type]
        volume=float(row[5]),  # type: ignore[arg-type]
        turnover=float(row[6]) if len(row) > 6 and row[6] else None,
        confirmed=True,
    ))


def kline_from_ws(symbol: str, interval: int, item: KlineItem) -> Kline:
    return checked_kline(Kline(
        symbol=symbol,
        interval=interval,
        start_ms=item.start,
        open=item.open,
        high=item.high,
        low=item.low,
        close=item.close,
        volume=item.volume,
        turnover=float(item.turnover) if item.turnover else None,
        confirmed=bool(item.confirm),
    ))


def is_post_only_refusal(update: OrderUpdate) -> bool:
    """A PostOnly order the venue refused because it would have crossed (§5.10): nothing filled.

    Bybit accepts such a create with retCode 0 and then ends the order ``Cancelled`` (linear)
    or ``Rejected`` (seen on spot) with this reason; both mean "would take liquidity".
    """
    return (
        update.reject_reason == "EC_PostOnlyWillTakeLiquidity"
        and update.status in ("Cancelled", "Rejected")
        and update.cum_exec_qty == 0
    )
