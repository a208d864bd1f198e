"""The Bybit V5 REST client the order router and the symbol actors call: market data, account
state and order execution, all typed (bybit-v5.md §2, §5–§7).

Synchronous on purpose: its one private caller is the order-router actor, a thread that makes
one call at a time (DESIGN.md). Prices and quantities are ``Decimal`` end to end (venue strings
parsed exactly, sent back formatted with ``format(d, "f")``); kline OHLCV are float64 because
``Kline`` feeds float indicator math.

What ``execute`` promises: every venue answer comes back as an ``OrderAck``, never as an
exception; a create is resent only under its ``orderLinkId``, and a ``110072`` duplicate or an
unanswered write is settled by reading the order back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import msgspec

from vocabulary.messages import ExecutionUpdate, Instrument, Kline, OrderAck, OrderIntent, OrderUpdate, PositionUpdate
from vocabulary.settings import Credentials
from exchange.bybit import models
from exchange.bybit.errors import AlreadyDoneError, AmbiguousError, BybitError, ResyncError, RetryableError, TransportError
from exchange.bybit.instruments import InstrumentProblem, InstrumentRow, is_tradable, parse_instrument, prepare_intent
from exchange.bybit.orders import CATEGORY, order_request
from exchange.bybit.venues import REST_URLS
from exchange.bybit.wire import MAX_PAGES, V5Http

log = logging.getLogger(__name__)

BASE_URLS = REST_URLS
SETTLE_COIN = "USDT"
_KLINE_PAGE = 1000
# /v5/execution/list and /v5/position/closed-pnl answer 10001 to a startTime..endTime span longer
# than 7 days (bybit-v5.md §5.8, §6.5): longer spans are read a week at a time.
MAX_SPAN_MS = 7 * 86_400_000


def week_windows(start_ms: int | None, end_ms: int | None, now_ms: int) -> list[tuple[int | None, int | None]]:
    """``[start_ms, end_ms]`` cut into spans the venue accepts; without a start, the venue's own default."""
    if start_ms is None:
        return [(None, end_ms)]
    end = now_ms if end_ms is None else end_ms
    windows = []
    lo = start_ms
    while True:
        hi = min(lo + MAX_SPAN_MS, end)
        windows.append((lo, max(hi, lo)))
        if hi >= end:
            return windows
        lo = hi + 1


class BybitRest(V5Http):
    """One venue, one account. Private calls from one thread only (the order router).

    ``BybitRest(base_url, credentials, *, recv_window_ms=5000, timeout_s=10.0, clock=time.time,
    transport=None, sleep=time.sleep, max_attempts=4, backoff_base_s=0.25, backoff_cap_s=4.0,
    stop_trigger_by="MarkPrice", rate_limiter=None)``.
    """

    def __init__(self, base_url: str, credentials: Credentials | None, *, stop_trigger_by: str = "MarkPrice", **options: Any) -> None:
        super().__init__(base_url, credentials, **options)
        self._stop_trigger_by = stop_trigger_by
        self._instruments: dict[str, Instrument] = {}

    # --- market data -----------------------------------------------------------------------

    def instrument_rows(self, symbols: Iterable[str]) -> dict[str, InstrumentRow]:
        """The raw instruments-info row of each symbol the venue knows (absent ones are left out)."""
        rows: dict[str, InstrumentRow] = {}
        for symbol in symbols:
            env, _ = self._call("GET", "/v5/market/instruments-info", {"category": CATEGORY, "symbol": symbol}, signed=False)
            page = self._result(env, models.Page, "/v5/market/instruments-info")
            for raw in page.rows or ():
                try:
                    row = msgspec.json.decode(raw, type=InstrumentRow)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.report_row("/v5/market/instruments-info", str(exc), bytes(raw))
                    continue
                if row.symbol == symbol:
                    rows[symbol] = row
        return rows

    def instruments(self, symbols: Iterable[str]) -> dict[str, Instrument]:
        """Trading rules of every requested symbol that is Trading; cached for ``execute``."""
        found: dict[str, Instrument] = {}
        for symbol, row in self.instrument_rows(symbols).items():
            if not is_tradable(row):
                log.error("symbol is not trading", extra={"symbol": symbol, "status": row.status})
                continue
            try:
                found[symbol] = parse_instrument(row)
            except InstrumentProblem as exc:
                log.error("instrument rules unusable", extra={"symbol": symbol, "error": str(exc)})
        self._instruments.update(found)
        return found

    def _kline_page(self, symbol: str, interval: int, start_ms: int | None, end_ms: int | None, limit: int) -> tuple[list[Kline], int]:
        params = {"category": CATEGORY, "symbol": symbol, "interval": str(interval), "start": start_ms, "end": end_ms, "limit": limit}
        env, _ = self._call("GET", "/v5/market/kline", params, signed=False)
        answer = self._result(env, models.KlineList, "/v5/market/kline")
        bars: dict[int, Kline] = {}
        for row in answer.rows or ():
            try:
                bar = models.kline_from_rest(symbol, interval, row)
            except (ValueError, IndexError, TypeError) as exc:
                self._log_once(f"kline:{type(exc).__name__}", "kline row unusable; skipped", symbol=symbol, error=str(exc))
                continue
            bars[bar.start_ms] = bar
        server_ms = env.time or self.now_ms()
        return [bars[k] for k in sorted(bars)], server_ms

    def klines(self, symbol: str, interval: int, *, start_ms: int | None = None, end_ms: int | None = None, limit: int = 1000) -> list[Kline]:
        """Closed bars only, oldest first. The newest bar Bybit returns is usually still forming
        (bybit-v5.md §2.1, pitfall 3): it is kept only if it ended by the venue's clock."""
        bars, server_ms = self._kline_page(symbol, interval, start_ms, end_ms, limit)
        return [b for b in bars if b.end_ms <= server_ms]

    def klines_range(self, symbol: str, interval: int, start_ms: int, end_ms: int) -> list[Kline]:
        """Every closed bar with ``start_ms <= start < end_ms``, oldest first; pages backwards (§2.1)."""
        collected: dict[int, Kline] = {}
        server_ms = 0
        cursor = end_ms - 1
        for _ in range(MAX_PAGES * 10):
            if cursor < start_ms:
                break
            page, server_ms = self._kline_page(symbol, interval, start_ms, cursor, _KLINE_PAGE)
            for bar in page:
                collected[bar.start_ms] = bar
            if len(page) < _KLINE_PAGE:
                break
            oldest = page[0].start_ms
            if oldest - 1 >= cursor:
                break  # the venue ignored ``end``: no progress possible
            cursor = oldest - 1
        return [collected[k] for k in sorted(collected) if start_ms <= k < end_ms and collected[k].end_ms <= server_ms]

    def ticker(self, symbol: str) -> models.Ticker:
        """Last, mark and index price now (§2.3): what a stop trigger is judged against."""
        path = "/v5/market/tickers"
        env, _ = self._call("GET", path, {"category": CATEGORY, "symbol": symbol}, signed=False)
        for raw in self._result(env, models.Page, path).rows or ():
            try:
                row = msgspec.json.decode(raw, type=models.TickerRow)
                if row.symbol == symbol:
                    return models.ticker(row)
            except (msgspec.DecodeError, msgspec.ValidationError, models.RowProblem) as exc:
                self._log_once(f"{path}:{exc}", "ticker row unusable; skipped", error=str(exc))
        raise TransportError(f"no ticker for {symbol}", path=path)

    # --- account state ---------------------------------------------------------------------

    def _scope(self, symbol: str | None) -> dict[str, Any]:
        return {"category": CATEGORY, "symbol": symbol} if symbol else {"category": CATEGORY, "settleCoin": SETTLE_COIN}

    def open_orders(self, symbol: str | None = None, *, conditional: bool = False) -> list[OrderUpdate]:
        """Open orders. By default only plain orders: the position's own TP/SL live on as
        ``Untriggered`` conditional orders (§5.2), and reconciliation must never mistake them for
        strays to cancel; they show on ``positions()``. ``conditional=True`` lists every kind."""
        path = "/v5/order/realtime"
        params = {**self._scope(symbol), "openOnly": 0, "orderFilter": None if conditional else "Order", "limit": 50}
        rows = self._pages(path, params, models.OrderRow)
        return self._convert(rows, models.order_update, path)

    def positions(self, symbol: str | None = None) -> list[PositionUpdate]:
        """With a symbol, flat rows too; without, only non-zero positions (§6.1)."""
        path = "/v5/position/list"
        rows = self._pages(path, {**self._scope(symbol), "limit": 200}, models.PositionRow)
        return self._convert(rows, models.position_update, path)

    def order(self, symbol: str, order_link_id: str) -> OrderUpdate | None:
        """One order by its orderLinkId, open or closed; ``/v5/order/history`` is the fallback
        because closed orders leave the realtime list after a venue restart (§5.7)."""
        params = {"category": CATEGORY, "symbol": symbol, "orderLinkId": order_link_id}
        for path in ("/v5/order/realtime", "/v5/order/history"):
            found = self._convert(self._pages(path, {**params, "limit": 1}, models.OrderRow), models.order_update, path)
            for update in found:
                if update.order_link_id == order_link_id:
                    return update
        return None

    def executions(self, symbol: str | None = None, *, start_ms: int | None = None, end_ms: int | None = None) -> list[ExecutionUpdate]:
        """Every execution, oldest first, each with its ``exec_type``: fills of our orders, and
        the venue's own closes (liquidation, ADL, delivery) and funding, which the trade
        accounting must see too. Spans longer than 7 days are read a week at a time."""
        path = "/v5/execution/list"
        found: dict[str, ExecutionUpdate] = {}
        for lo, hi in week_windows(start_ms, end_ms, self.now_ms()):
            params = {**self._scope(symbol), "startTime": lo, "endTime": hi, "limit": 100}
            for fill in self._convert(self._pages(path, params, models.ExecutionRow), models.execution_update, path):
                found[fill.exec_id] = fill
        return sorted(found.values(), key=lambda f: (f.exec_ms, f.exec_id))

    def wallet_account(self) -> models.WalletAccount:
        env, _ = self._call("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": SETTLE_COIN}, signed=True)
        answer = self._result(env, models.WalletList, "/v5/account/wallet-balance")
        if not answer.accounts:
            raise TransportError("wallet-balance answered with no account", path="/v5/account/wallet-balance")
        return answer.accounts[0]

    def wallet_equity(self) -> Decimal:
        """USDT equity of the UNIFIED account (coin equity, else the account's total)."""
        account = self.wallet_account()
        for coin in account.coin or ():
            if coin.coin == SETTLE_COIN:
                value = models.decimal_or_none(coin.equity)
                if value is not None:
                    return value
        value = models.decimal_or_none(account.totalEquity)
        if value is None:
            raise TransportError("wallet-balance without equity", path="/v5/account/wallet-balance")
        return value

    def fee_rates(self, symbol: str | None = None) -> dict[str, models.FeeRate]:
        """The account's maker/taker rates (§7.2): read them at boot, never hard-code them."""
        path = "/v5/account/fee-rate"
        rows = self._pages(path, {"category": CATEGORY, "symbol": symbol}, models.FeeRateRow)
        return {f.symbol: f for f in self._convert(rows, models.fee_rate, path)}

    def closed_pnl(self, symbol: str | None = None, *, start_ms: int | None = None, end_ms: int | None = None) -> list[models.ClosedPnl]:
        """Realised results per closing order (§6.5), oldest first."""
        path = "/v5/position/closed-pnl"
        found: list[models.ClosedPnl] = []
        for lo, hi in week_windows(start_ms, end_ms, self.now_ms()):
            params = {"category": CATEGORY, "symbol": symbol, "startTime": lo, "endTime": hi, "limit": 100}
            found += self._convert(self._pages(path, params, models.ClosedPnlRow), models.closed_pnl, path)
        return sorted(found, key=lambda c: (c.updated_ms, c.order_id))

    def set_leverage(self, symbol: str, leverage: int | Decimal) -> bool:
        """Both sides to ``leverage``; False when it already was (110043 is success, §6.3)."""
        value = format(Decimal(leverage), "f")
        return self._idempotent("/v5/position/set-leverage", {"category": CATEGORY, "symbol": symbol, "buyLeverage": value, "sellLeverage": value})

    def switch_position_mode(self, symbol: str, *, hedge: bool) -> bool:
        """One-way (mode 0) or hedge (mode 3); False when it already was (110025 is success, §6.4)."""
        return self._idempotent("/v5/position/switch-mode", {"category": CATEGORY, "symbol": symbol, "mode": 3 if hedge else 0})

    def _idempotent(self, path: str, params: dict[str, Any]) -> bool:
        try:
            self._call("POST", path, params, signed=True, is_write=True)
        except AlreadyDoneError:
            return False
        return True

    # --- orders ----------------------------------------------------------------------------

    def rules(self, symbol: str) -> Instrument:
        """The cached instrument rules, loaded once per symbol on first use."""
        rules = self._instruments.get(symbol)
        if rules is None:
            self.instruments([symbol])
            rules = self._instruments.get(symbol)
            if rules is None:
                raise InstrumentProblem(f"{symbol}: no tradable instrument on this venue")
        return rules

    def execute(self, intent: OrderIntent) -> OrderAck:
        """Carry out one intent; every venue answer, good or bad, comes back as an ``OrderAck``."""
        ts = self.now_ms()
        try:
            if intent.action in ("create", "amend", "trading_stop"):
                check = prepare_intent(intent, self.rules(intent.symbol))
                if check.problem is not None:
                    self.stats["local_rejects"] += 1
                    return OrderAck(intent=intent, ts_ms=ts, outcome="rejected", ret_msg=check.problem)
                intent = check.intent
            params, path = order_request(intent, self._stop_trigger_by)
        except InstrumentProblem as exc:
            return OrderAck(intent=intent, ts_ms=ts, outcome="rejected", ret_msg=str(exc))
        except BybitError as exc:
            return self._ack_error(intent, ts, exc)
        except TransportError as exc:
            return OrderAck(intent=intent, ts_ms=ts, outcome="failed", ret_msg=str(exc))
        if isinstance(params, str):
            self.stats["local_rejects"] += 1
            return OrderAck(intent=intent, ts_ms=ts, outcome="rejected", ret_msg=params)
        # A create may be resent only under its orderLinkId: then a resend either creates the
        # order once or answers 110072, which proves the first one arrived (§5.3).
        safe = intent.action != "create" or bool(intent.order_link_id)
        attempts = 1
        try:
            env, attempts = self._call("POST", path, params, signed=True, is_write=True, resend_is_safe=safe)
        except AlreadyDoneError as exc:
            return self._ack_already_done(intent, ts, exc)
        except ResyncError as exc:
            if intent.action == "cancel" and intent.order_link_id and self.last_attempts > 1:
                # Our first cancel may have landed before the timeout: gone is what we wanted.
                return self._ack_after_lookup(intent, ts, exc, wanted=("Cancelled", "Deactivated"))
            if intent.action == "create" and intent.order_link_id and self.last_attempts > 1:
                return self._ack_after_lookup(intent, ts, exc, wanted=None)
            return self._ack_error(intent, ts, exc)
        except (AmbiguousError, TransportError) as exc:
            if intent.action == "create" and intent.order_link_id:
                # Did the create land? Ask before anyone acts on "failed".
                return self._ack_after_lookup(intent, ts, exc, wanted=None)
            return self._ack_error(intent, ts, exc)
        except BybitError as exc:
            if intent.action == "create" and intent.order_link_id and self.last_attempts > 1:
                # The last answer (say 10006 to a resend) says nothing about an earlier attempt
                # that timed out after the venue took it: ask before anyone acts on "failed".
                return self._ack_after_lookup(intent, ts, exc, wanted=None)
            return self._ack_error(intent, ts, exc)
        try:
            order_id = self._result(env, models.OrderIds, path).orderId or None
        except TransportError:
            order_id = None  # accepted all the same: the order stream and reconciliation carry the id
        if attempts > 1:
            self.stats["writes_resent"] += 1
        return OrderAck(intent=intent, ts_ms=ts, outcome="ok", ret_code=0, ret_msg=env.retMsg or "", order_id=order_id)

    def _ack_error(self, intent: OrderIntent, ts: int, exc: BybitError | TransportError) -> OrderAck:
        if isinstance(exc, TransportError):
            return OrderAck(intent=intent, ts_ms=ts, outcome="failed", ret_msg=str(exc))
        retryable = isinstance(exc, (RetryableError, AmbiguousError))
        return OrderAck(intent=intent, ts_ms=ts, outcome="failed" if retryable else "rejected", ret_code=exc.ret_code, ret_msg=exc.ret_msg)

    def _ack_already_done(self, intent: OrderIntent, ts: int, exc: AlreadyDoneError) -> OrderAck:
        if exc.ret_code == 110072 and intent.order_link_id:
            return self._ack_after_lookup(intent, ts, exc, wanted=None)
        # 34040 / 110025 / 110043: the state asked for already holds (§8 class I).
        return OrderAck(intent=intent, ts_ms=ts, outcome="ok", ret_code=exc.ret_code, ret_msg=exc.ret_msg)

    def _ack_after_lookup(
        self, intent: OrderIntent, ts: int, exc: BybitError | TransportError, *, wanted: tuple[str, ...] | None
    ) -> OrderAck:
        """Decide an unclear write by reading the order back by its orderLinkId."""
        code = getattr(exc, "ret_code", None)
        message = getattr(exc, "ret_msg", str(exc))
        try:
            found = self.order(intent.symbol, intent.order_link_id or "")
        except (BybitError, TransportError) as lookup_exc:
            log.error("could not look the order up", extra={"order_link_id": intent.order_link_id, "error": str(lookup_exc)})
            return OrderAck(intent=intent, ts_ms=ts, outcome="failed", ret_code=code, ret_msg=message)
        self.stats["resolved_by_lookup"] += 1
        if found is None or (wanted is not None and found.status not in wanted):
            outcome = "failed" if isinstance(exc, (TransportError, AmbiguousError, RetryableError)) else "rejected"
            return OrderAck(intent=intent, ts_ms=ts, outcome=outcome, ret_code=code, ret_msg=message)
        outcome = "would_take" if models.is_post_only_refusal(found) else "ok"
        return OrderAck(intent=intent, ts_ms=ts, outcome=outcome, ret_code=code, ret_msg=f"{message} (order found: {found.status})", order_id=found.order_id)
