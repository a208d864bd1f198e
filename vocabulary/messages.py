"""Every message the pipeline passes, defined once.

The same frozen Structs travel between actors, are written to the journal and are
replayed by tests, so they are plain data: tuples instead of lists, ``None`` for
Pine's ``na`` (msgspec JSON cannot carry NaN), Decimal for anything the exchange
sees. One tagged union means one decoder reads any message from JSON or msgpack.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal, Union

import msgspec

Side = Literal["Buy", "Sell"]
DecisionKind = Literal["TAKE", "NO_SETUP", "REJECT"]
EntryPath = Literal["cross_based", "pre_cross", "ha_reversal"]
Interval = Literal[1, 3, 5, 15]


class Message(msgspec.Struct, frozen=True, tag=True, tag_field="type", kw_only=True):
    """Base of every message; the tag is the class name."""


# --- market data -------------------------------------------------------------------------


class Kline(Message, frozen=True):
    """One candle of one symbol and timeframe, as the venue reported it.

    ``confirmed`` is Bybit's ``confirm``: only confirmed bars reach an indicator.
    Prices are float64 because indicator math is float64 (see pine.md); the order
    path never takes a price from here without rounding it onto the tick grid.
    """

    symbol: str
    interval: int
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float | None = None
    confirmed: bool = True

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.interval * 60_000


class Tick(Message, frozen=True):
    """The scheduler's broadcast: the 1m bar ending at ``boundary_ms`` is closed.

    ``closed`` lists every timeframe whose bar closes at this boundary (1 always;
    3, 5 and 15 when the boundary is a multiple of them). ``late`` names symbols
    whose confirmed 1m bar had not arrived when the grace period ran out. ``bias``
    carries the bias symbols' (BTC/ETH) states of this boundary, in symbol order, as
    they announced them in ``BarReady``: every symbol reads its composite bias from
    the tick itself, one hop, instead of waiting for a broadcast. A bias symbol late
    for the tick is absent (the strategy reads "bias.BTCUSDT missing").
    """

    boundary_ms: int
    closed: tuple[int, ...]
    late: tuple[str, ...] = ()
    bias: tuple[MarketState, ...] = ()


class FeedGap(Message, frozen=True):
    """A stream reconnected: bars in [from_ms, to_ms) may be missing and need a backfill."""

    symbol: str
    interval: int
    from_ms: int
    to_ms: int


# --- indicator snapshot ------------------------------------------------------------------


class FrameState(Message, frozen=True, gc=False):
    """Indicator values of one timeframe at its last *closed* bar.

    ``gc=False``: the cycle collector never tracks these (a backtest makes ~100k of them and
    every full collection would walk them all). That is safe because one cannot be part of a
    reference cycle: it is frozen, and its fields are numbers, None and tuples built before it.

    The ``*_hist`` tuples hold the most recent values, oldest first, newest last
    (the last element is the current bar); their length is set by the strategy's
    lookback settings. ``None`` is Pine's ``na`` (warm-up not finished).
    """

    interval: int
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    ha_open: float
    ha_high: float
    ha_low: float
    ha_close: float
    ha_streak: int
    wt1: float | None
    wt2: float | None
    wt_cross_up: bool
    wt_cross_down: bool
    wt_oversold: bool
    wt_overbought: bool
    mfi: float | None
    rsi_mfi_area: float | None
    ema200: float | None
    vwap: float | None
    wt1_hist: tuple[float | None, ...] = ()
    wt2_hist: tuple[float | None, ...] = ()
    ha_streak_hist: tuple[int, ...] = ()
    high_hist: tuple[float, ...] = ()
    low_hist: tuple[float, ...] = ()


class MarketState(Message, frozen=True, gc=False):
    """What the strategy reads for one symbol at one tick: closed bars only.

    ``gc=False`` as ``FrameState``, for the same reason: frozen, and holding only a string,
    numbers and a tuple of FrameStates made before it, it cannot be part of a cycle."""

    symbol: str
    tick_ms: int
    frames: tuple[FrameState, ...]
    is_stale: bool = False

    def frame(self, interval: int) -> FrameState | None:
        for f in self.frames:
            if f.interval == interval:
                return f
        return None


# --- instrument rules --------------------------------------------------------------------


def _decimal(x: Decimal | float) -> Decimal:
    """A price or qty as a Decimal: a float as its shortest repr, a Decimal as itself (what
    ``Decimal(str(d))`` would make again, without the round trip through text)."""
    return x if type(x) is Decimal else Decimal(str(x))


class Instrument(Message, frozen=True):
    """One symbol's trading rules from ``/v5/market/instruments-info``.

    Kept as Decimal so rounding onto the tick and qty grids is exact; the strategy
    and the router both round through these methods and nowhere else.
    """

    symbol: str
    tick_size: Decimal
    qty_step: Decimal
    min_order_qty: Decimal
    max_order_qty: Decimal | None = None
    min_notional: Decimal = Decimal(0)

    def round_price(self, price: Decimal | float, direction: Literal["down", "up"]) -> Decimal:
        """``price`` on the tick grid, rounded toward ``direction`` (the caller knows the safe side)."""
        steps = (_decimal(price) / self.tick_size).to_integral_value(
            ROUND_FLOOR if direction == "down" else ROUND_CEILING
        )
        return (steps * self.tick_size).quantize(self.tick_size)

    def round_qty(self, qty: Decimal | float) -> Decimal:
        """``qty`` rounded *down* onto the qty grid: never more than was asked for."""
        steps = (_decimal(qty) / self.qty_step).to_integral_value(ROUND_FLOOR)
        return (steps * self.qty_step).quantize(self.qty_step)

    def order_problem(self, qty: Decimal, price: Decimal) -> str | None:
        """Why the exchange would refuse this size, or None when it is acceptable."""
        if qty < self.min_order_qty:
            return f"qty {qty} below minOrderQty {self.min_order_qty}"
        if self.max_order_qty is not None and qty > self.max_order_qty:
            return f"qty {qty} above maxOrderQty {self.max_order_qty}"
        if qty * price < self.min_notional:
            return f"notional {qty * price} below minNotionalValue {self.min_notional}"
        return None


# --- decisions and orders ----------------------------------------------------------------


class Reason(Message, frozen=True):
    """One machine-readable reason: a code and the value that triggered it."""

    code: str
    value: float | int | str | None = None


class Decision(Message, frozen=True):
    """The outcome of one cascade run for one symbol at one tick."""

    tick_ms: int
    symbol: str
    kind: DecisionKind
    path: EntryPath | None = None
    side: Side | None = None
    score: float | None = None
    reasons: tuple[Reason, ...] = ()
    entry_price: Decimal | None = None
    stop_price: Decimal | None = None
    target_price: Decimal | None = None
    qty: Decimal | None = None
    # A TAKE's 1 R: the USDT a stop-out at ``stop_price`` costs, fees and slippage allowance included.
    loss_at_stop: Decimal | None = None


OrderAction = Literal["create", "amend", "cancel", "cancel_all", "trading_stop"]


class OrderIntent(Message, frozen=True):
    """What the router is asked to do on the exchange; Bybit fields, Pythonic names.

    ``order_link_id`` is deterministic (derived from symbol, bar time, path and
    side) so a retry or a restart can never place a second order.
    """

    action: OrderAction
    symbol: str
    order_link_id: str | None = None
    side: Side | None = None
    order_type: Literal["Limit", "Market"] = "Limit"
    time_in_force: Literal["GTC", "IOC", "FOK", "PostOnly"] = "PostOnly"
    qty: Decimal | None = None
    price: Decimal | None = None
    position_idx: Literal[0, 1, 2] = 0
    reduce_only: bool = False
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    tick_ms: int | None = None
    reason: str = ""


class OrderAck(Message, frozen=True):
    """The venue's answer to one ``OrderIntent``: what the router sent and what came back.

    ``outcome`` separates the cases a trader cares about: ``ok``; ``would_take`` (a
    PostOnly order that would have crossed: its own outcome, never a generic failure);
    ``rejected`` (the venue said no, ``ret_code``/``ret_msg`` say why); ``failed`` (no
    answer: timeout or transport error after retries).
    """

    intent: OrderIntent
    ts_ms: int
    outcome: Literal["ok", "would_take", "rejected", "failed"]
    ret_code: int | None = None
    ret_msg: str = ""
    order_id: str | None = None


class OrderUpdate(Message, frozen=True):
    """An order's state as the venue reported it (private WS ``order`` or REST)."""

    symbol: str
    order_id: str
    order_link_id: str
    side: Side
    status: str
    order_type: str
    time_in_force: str
    price: Decimal | None
    qty: Decimal
    cum_exec_qty: Decimal
    avg_price: Decimal | None
    position_idx: int
    reduce_only: bool
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    reject_reason: str | None = None
    updated_ms: int = 0


class ExecutionUpdate(Message, frozen=True):
    """One fill (private WS ``execution`` or REST execution list)."""

    symbol: str
    exec_id: str
    order_id: str
    order_link_id: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    is_maker: bool
    exec_ms: int
    # "Trade" for a fill; "Funding" for a funding payment (``fee`` is what was paid, negative when
    # received; ``qty``/``price`` are the position and its mark, not a trade).
    exec_type: str = "Trade"
    # The order's price as the venue reports it (the simulator's triggered stop: its trigger; on
    # Bybit a market order's protection bound); a taker fill's distance from it is its slippage,
    # except for a stop-loss, measured from the trigger the router set. None when not reported.
    order_price: Decimal | None = None
    # Bybit's stopOrderType of the order that filled ("StopLoss" for a position's stop-loss,
    # "UNKNOWN" for a plain order); "" when not reported.
    stop_order_type: str = ""


class PositionUpdate(Message, frozen=True):
    """A position as the venue reported it; ``size == 0`` means flat."""

    symbol: str
    position_idx: int
    side: Side | None
    size: Decimal
    avg_price: Decimal | None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    mark_price: Decimal | None = None
    unrealised_pnl: Decimal | None = None
    updated_ms: int = 0
    # The venue's liquidation price (``liqPrice``); None when it reports none (Bybit sends ""
    # for a flat position, and for one whose account margin cannot be liquidated by price).
    liq_price: Decimal | None = None


class TradeClosed(Message, frozen=True):
    """One closed round trip: entry to flat, with its result in USDT and in R."""

    symbol: str
    side: Side
    path: EntryPath | None
    entry_ms: int
    exit_ms: int
    entry_price: Decimal
    exit_price: Decimal
    qty: Decimal
    fees: Decimal
    pnl_usdt: Decimal
    pnl_r: float | None
    exit_reason: Literal["stop", "target", "break_even", "manual", "liquidation", "adl", "delivery", "unknown"]
    order_link_id: str = ""
    # Where the money went: pnl_usdt = gross_usdt - fees - slippage_usdt - funding_usdt.
    # gross_usdt: the price move between the orders' own prices (a stop's trigger, a limit's
    # price), before any cost; slippage_usdt: what taker fills lost to spread, stop slippage and
    # gaps beyond those prices; funding_usdt: funding paid while open (negative: received).
    gross_usdt: Decimal = Decimal(0)
    slippage_usdt: Decimal = Decimal(0)
    funding_usdt: Decimal = Decimal(0)
    stop_price: Decimal | None = None  # the plan's stop when the trade opened (its distance in bps)


class JournalEvent(Message, frozen=True):
    """Something worth remembering that is not a decision, order or fill."""

    ts_ms: int
    kind: str
    source: str
    message: str = ""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    data: tuple[tuple[str, str], ...] = ()


# --- between actors ------------------------------------------------------------------------
# Control messages of the pipeline. They are journaled by nobody but recorded by replay
# tests, so they are plain data like the rest.


class BarReady(Message, frozen=True):
    """Symbol → scheduler: every bar of ``symbol`` that closes at ``boundary_ms`` is in.

    A bias symbol (BTC/ETH) sends its ``state`` of that boundary with it; the scheduler
    hands those states to every symbol inside the boundary's ``Tick``.
    """

    symbol: str
    boundary_ms: int
    state: MarketState | None = None


class Decided(Message, frozen=True):
    """Symbol → scheduler: the decision for ``tick_ms`` is made (and sent to the journal)."""

    symbol: str
    tick_ms: int
    kind: DecisionKind


class CycleDone(Message, frozen=True):
    """Scheduler → router and journal: every symbol has decided for ``boundary_ms``.

    ``missing`` names symbols that could not decide (their actor was being restarted).
    """

    boundary_ms: int
    missing: tuple[str, ...] = ()


class Backfill(Message, frozen=True):
    """A symbol core asks its shell for the confirmed bars in ``[from_ms, to_ms)`` over REST."""

    symbol: str
    interval: int
    from_ms: int
    to_ms: int


class BackfillResult(Message, frozen=True):
    """What a backfill (or the start-up bootstrap) brought back; ``error`` when REST failed.

    ``is_bootstrap`` bars are history: they warm the indicators but announce no tick.
    """

    symbol: str
    interval: int
    from_ms: int
    to_ms: int
    klines: tuple[Kline, ...] = ()
    error: str = ""
    is_bootstrap: bool = False


class AccountView(Message, frozen=True):
    """Router → symbols after each cycle: what the hard gates of the next decision need."""

    ts_ms: int
    equity: Decimal
    realised_pnl_today: Decimal
    open_symbols: tuple[str, ...] = ()
    working_entry_symbols: tuple[str, ...] = ()
    cooldown_until_ms: tuple[tuple[str, int], ...] = ()
    # Worst-case loss of the open positions at their stops on the exchange, fees included (>= 0).
    open_risk: Decimal = Decimal(0)
    # The account's (symbol, maker, taker) fee rates as the venue last reported them; empty: unread.
    fee_rates: tuple[tuple[str, Decimal, Decimal], ...] = ()


class Now(Message, frozen=True):
    """The scheduler shell's clock pulse: the only way time enters the scheduler core."""

    ts_ms: int


class Reconnect(Message, frozen=True):
    """Scheduler → feed: the stream went silent; reconnect and let the symbols backfill."""

    reason: str


class SymbolRestarted(Message, frozen=True):
    """Supervisor → scheduler: ``symbol``'s actor was replaced; do not wait for its old cycles."""

    symbol: str


class WriteAhead(Message, frozen=True):
    """Router → journal: make ``intent`` durable, then answer ``Durable`` — only then is it sent."""

    intent: OrderIntent


class Durable(Message, frozen=True):
    """Journal → router: ``intent`` is committed; the router may now put it on the wire."""

    intent: OrderIntent


class VenueSnapshot(Message, frozen=True):
    """The exchange's view at one moment (REST): every position and working order, and equity."""

    ts_ms: int
    positions: tuple[PositionUpdate, ...]
    orders: tuple[OrderUpdate, ...]
    equity: Decimal | None = None
    error: str = ""
    # (symbol, maker, taker), read only when the request asked for them; fee_error says why not.
    fee_rates: tuple[tuple[str, Decimal, Decimal], ...] = ()
    fee_error: str = ""


class SnapshotRequest(Message, frozen=True):
    """Router core → its shell: read positions, working orders and equity from the venue
    (and the account's fee rates when ``fee_rates``: at boot and once per UTC day)."""

    ts_ms: int
    fee_rates: bool = False


class FillsRequest(Message, frozen=True):
    """Router core → its shell: the executions of ``symbol`` in ``[since_ms, until_ms]``."""

    symbol: str
    side: Side
    since_ms: int
    until_ms: int


class Fills(Message, frozen=True):
    """The answer to a ``FillsRequest``; ``error`` when the venue could not be read."""

    request: FillsRequest
    fills: tuple[ExecutionUpdate, ...] = ()
    error: str = ""


AnyMessage = Union[
    Kline,
    Tick,
    FeedGap,
    FrameState,
    MarketState,
    Instrument,
    Reason,
    Decision,
    OrderIntent,
    OrderAck,
    OrderUpdate,
    ExecutionUpdate,
    PositionUpdate,
    TradeClosed,
    JournalEvent,
    BarReady,
    Decided,
    CycleDone,
    Backfill,
    BackfillResult,
    AccountView,
    Now,
    Reconnect,
    SymbolRestarted,
    WriteAhead,
    Durable,
    VenueSnapshot,
    SnapshotRequest,
    FillsRequest,
    Fills,
]

_json_encoder = msgspec.json.Encoder(decimal_format="string")
_json_decoder = msgspec.json.Decoder(AnyMessage)
_msgpack_encoder = msgspec.msgpack.Encoder(decimal_format="string")
_msgpack_decoder = msgspec.msgpack.Decoder(AnyMessage)


def to_json(message: Message) -> bytes:
    return _json_encoder.encode(message)


def from_json(data: bytes | str) -> AnyMessage:
    return _json_decoder.decode(data)


def to_msgpack(message: Message) -> bytes:
    return _msgpack_encoder.encode(message)


def from_msgpack(data: bytes) -> AnyMessage:
    return _msgpack_decoder.decode(data)
