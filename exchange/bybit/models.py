"""msgspec shapes of the V5 wire (REST envelopes, result rows, WebSocket frames) and their
conversion into the pipeline's messages.

Venue numbers arrive as JSON strings (bybit-v5.md §1.1). Prices, quantities and fees become
``Decimal`` (exact, never via float); kline OHLCV become float64 because ``Kline`` feeds the
indicators, which are float math. Every row field has a default: reconciliation must survive a
missing or renamed field (DESIGN.md, "venue reports that surprise the decoder"); only the
fields an update cannot exist without (symbol, ids, side) make a row unusable.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from actors.messages import ExecutionUpdate, Kline, OrderUpdate, PositionUpdate

# --- REST ---------------------------------------------------------------------------------


class Envelope(msgspec.Struct):
    """Every REST answer (§1.2); ``result`` stays raw until the caller knows its shape."""

    retCode: int
    retMsg: str = ""
    result: msgspec.Raw = msgspec.Raw(b"{}")
    time: int = 0


class ServerTime(msgspec.Struct):
    timeSecond: str = ""
    timeNano: str = ""


class OrderIds(msgspec.Struct):
    orderId: str = ""
    orderLinkId: str = ""


class KlineList(msgspec.Struct):
    symbol: str = ""
    rows: list[list[str]] = msgspec.field(default_factory=list, name="list")


class Page(msgspec.Struct):
    """A cursor-paged list; rows stay raw so one bad row cannot spoil the page."""

    rows: list[msgspec.Raw] = msgspec.field(default_factory=list, name="list")
    nextPageCursor: str = ""


class OrderRow(msgspec.Struct):
    """An order, as ``/v5/order/realtime``, ``/v5/order/history`` and the ``order`` topic send it."""

    symbol: str = ""
    orderId: str = ""
    orderLinkId: str = ""
    side: str = ""
    orderStatus: str = ""
    orderType: str = ""
    timeInForce: str = ""
    price: str = ""
    qty: str = ""
    cumExecQty: str = ""
    avgPrice: str = ""
    positionIdx: int = 0
    reduceOnly: bool = False
    stopLoss: str = ""
    takeProfit: str = ""
    rejectReason: str = ""
    updatedTime: str = ""


class ExecutionRow(msgspec.Struct):
    symbol: str = ""
    execId: str = ""
    orderId: str = ""
    orderLinkId: str = ""
    side: str = ""
    execPrice: str = ""
    execQty: str = ""
    execFee: str = ""
    execType: str = "Trade"
    isMaker: bool = False
    execTime: str = ""
    orderPrice: str = ""


class PositionRow(msgspec.Struct):
    """REST calls the entry ``avgPrice``, the ``position`` topic ``entryPrice`` (§4.6)."""

    symbol: str = ""
    positionIdx: int = 0
    side: str = ""
    size: str = ""
    avgPrice: str = ""
    entryPrice: str = ""
    stopLoss: str = ""
    takeProfit: str = ""
    markPrice: str = ""
    unrealisedPnl: str = ""
    updatedTime: str = ""


class WalletCoin(msgspec.Struct):
    coin: str = ""
    equity: str = ""
    walletBalance: str = ""


class WalletAccount(msgspec.Struct):
    accountType: str = ""
    totalEquity: str = ""
    totalAvailableBalance: str = ""
    coin: list[WalletCoin] = []


class WalletList(msgspec.Struct):
    accounts: list[WalletAccount] = msgspec.field(default_factory=list, name="list")


class TickerRow(msgspec.Struct):
    symbol: str = ""
    lastPrice: str = ""
    markPrice: str = ""
    indexPrice: str = ""
    bid1Price: str = ""
    ask1Price: str = ""


class FeeRateRow(msgspec.Struct):
    symbol: str = ""
    makerFeeRate: str = ""
    takerFeeRate: str = ""


class ClosedPnlRow(msgspec.Struct):
    symbol: str = ""
    orderId: str = ""
    side: str = ""
    qty: str = ""
    closedSize: str = ""
    avgEntryPrice: str = ""
    avgExitPrice: str = ""
    closedPnl: str = ""
    openFee: str = ""
    closeFee: str = ""
    createdTime: str = ""
    updatedTime: str = ""


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
    turnover: str = ""
    confirm: bool = False
    end: int = 0
    interval: str = ""
    timestamp: int = 0


class PublicFrame(msgspec.Struct):
    """Any frame of the public linear stream: a kline push, or an op ack / pong (§3.1, §3.3)."""

    topic: str = ""
    data: list[KlineItem] = []
    ts: int = 0
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    req_id: str = ""


class PrivateFrame(msgspec.Struct):
    """Any frame of the private stream: a push ``{id, topic, creationTime, data}`` or an op answer."""

    topic: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")  # msgspec cannot put Raw in a union
    creationTime: int = 0
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    req_id: str = ""


# strict=False lets "16649.5" decode into a float field; everything else stays typed.
PUBLIC_FRAME_DECODER = msgspec.json.Decoder(PublicFrame, strict=False)


# --- conversions ---------------------------------------------------------------------------

_SIDES = ("Buy", "Sell")
_NONE_SPELLINGS = frozenset({"", "UNKNOWN"})


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
        order_link_id=row.orderLinkId,
        side=side,  # type: ignore[arg-type]
        status=row.orderStatus,
        order_type=row.orderType,
        time_in_force=row.timeInForce,
        price=price_or_none(row.price),
        qty=decimal_or_none(row.qty) or Decimal(0),
        cum_exec_qty=decimal_or_none(row.cumExecQty) or Decimal(0),
        avg_price=price_or_none(row.avgPrice),
        position_idx=row.positionIdx,
        reduce_only=row.reduceOnly,
        stop_loss=price_or_none(row.stopLoss),
        take_profit=price_or_none(row.takeProfit),
        reject_reason=None if row.rejectReason in ("", "EC_NoError") else row.rejectReason,
        updated_ms=int_or_zero(row.updatedTime),
    )


def execution_update(row: ExecutionRow) -> ExecutionUpdate:
    if row.side not in _SIDES:
        raise RowProblem(f"execution {row.execId} with side {row.side!r}")
    price, qty = decimal_or_none(row.execPrice), decimal_or_none(row.execQty)
    if price is None or qty is None:
        raise RowProblem(f"execution {row.execId} without execPrice/execQty")
    return ExecutionUpdate(
        symbol=_require(row.symbol, "symbol", row),
        exec_id=_require(row.execId, "execId", row),
        order_id=row.orderId,
        order_link_id=row.orderLinkId,
        side=row.side,  # type: ignore[arg-type]
        price=price,
        qty=qty,
        fee=decimal_or_none(row.execFee) or Decimal(0),
        is_maker=row.isMaker,
        exec_ms=int_or_zero(row.execTime),
        exec_type=row.execType or "Trade",
        order_price=price_or_none(row.orderPrice),
    )


def position_update(row: PositionRow) -> PositionUpdate:
    size = decimal_or_none(row.size) or Decimal(0)
    return PositionUpdate(
        symbol=_require(row.symbol, "symbol", row),
        position_idx=row.positionIdx,
        side=row.side if row.side in _SIDES else None,  # type: ignore[arg-type]
        size=size,
        avg_price=price_or_none(row.avgPrice or row.entryPrice),
        stop_loss=price_or_none(row.stopLoss),
        take_profit=price_or_none(row.takeProfit),
        mark_price=price_or_none(row.markPrice),
        unrealised_pnl=decimal_or_none(row.unrealisedPnl),
        updated_ms=int_or_zero(row.updatedTime),
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
        order_id=row.orderId,
        side=row.side,
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


def kline_from_rest(symbol: str, interval: int, row: list[str]) -> Kline:
    """``[startTime, open, high, low, close, volume, turnover]`` (§2.1)."""
    return checked_kline(Kline(
        symbol=symbol,
        interval=interval,
        start_ms=int(row[0]),
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5]),
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
        confirmed=item.confirm,
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
