"""The signed Bybit V5 REST client (httpx, synchronous): market data, orders, positions, wallet.

Synchronous on purpose: its one private caller is the order-router actor, a thread that makes
one call at a time (DESIGN.md). Prices and quantities are ``Decimal`` end to end (venue strings
parsed exactly, sent back formatted with ``format(d, "f")``); kline OHLCV are float64 because
``Kline`` feeds float indicator math.

Safety rules this file keeps (bybit-v5.md §1.3, §1.4, §5.3, §8, §9):
- what is signed is exactly what is sent: the query string built once, the body encoded once;
- timestamps carry the measured server-clock offset; a ``10002`` resyncs it and resends once;
- a write is resent only when resending cannot make a second order: a create only with its
  ``orderLinkId``, and a ``110072`` duplicate is resolved by looking the order up;
- venue rejections come back as ``OrderAck``s, never as exceptions from ``execute``;
- credentials live in ``Secret`` and are scrubbed from every venue text we keep.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from actors.messages import ExecutionUpdate, Instrument, Kline, OrderAck, OrderIntent, OrderUpdate, PositionUpdate
from actors.settings import Credentials
from exchange.bybit import models
from exchange.bybit.errors import (
    AlreadyDoneError,
    AmbiguousError,
    BybitError,
    IpBannedError,
    RateLimitedError,
    ResyncError,
    RetryableError,
    TimestampError,
    TransportError,
    error_for,
)
from exchange.bybit.instruments import InstrumentProblem, InstrumentRow, is_tradable, parse_instrument, prepare_intent
from exchange.bybit.ratelimit import RateLimiter
from exchange.bybit.venues import REST_URLS
from exchange.signing import HEADER_API_KEY, HEADER_RECV_WINDOW, HEADER_SIGN, HEADER_SIGN_TYPE, HEADER_TIMESTAMP, sign

log = logging.getLogger(__name__)

BASE_URLS = REST_URLS

CATEGORY = "linear"
# After an HTTP 403 (IP limit) Bybit wants every REST session stopped for at least 10 minutes (§1.5).
IP_BAN_PAUSE_S = 600.0
SETTLE_COIN = "USDT"
MAX_PAGES = 50
_KLINE_PAGE = 1000

T = TypeVar("T")

_envelope = msgspec.json.Decoder(models.Envelope)
encode_body = msgspec.json.Encoder(decimal_format="string").encode


def _decimal_text(value: Decimal) -> str:
    # str(Decimal) may give "1E+1"; the venue wants plain digits.
    return format(value, "f")


def query_string(params: dict[str, Any]) -> str:
    # Built once, signed and sent verbatim; "%" stays literal so venue cursors (already
    # percent-encoded, §5.7) travel unchanged.
    return "&".join(f"{k}={quote(str(v), safe='-_.~%,')}" for k, v in params.items() if v is not None)


class BybitRest:
    """One venue, one account. Not shared across threads for private calls (one router)."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        *,
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 4,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 4.0,
        stop_trigger_by: str = "MarkPrice",
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.base_url = base_url
        self._credentials = credentials
        self._recv_window = str(recv_window_ms)
        self._clock = clock
        self._sleep = sleep
        self._max_attempts = max(1, max_attempts)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._stop_trigger_by = stop_trigger_by
        self._limiter = rate_limiter or RateLimiter()
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
            headers={"User-Agent": "smtbot"},
        )
        self._instruments: dict[str, Instrument] = {}
        self._logged_kinds: set[str] = set()
        self._paused_until = 0.0
        self._warned_foreign = False
        self.offset_ms = 0
        self.last_attempts = 0
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"BybitRest({self.base_url!r}, signed={self._credentials is not None})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BybitRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- time ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Our best estimate of the venue's clock, in ms."""
        return int(self._clock() * 1000) + self.offset_ms

    def sync_time(self) -> int:
        """Measure server minus local clock from ``/v5/market/time`` (§2.4); returns the offset in ms."""
        t0 = self._clock()
        env, _ = self._call("GET", "/v5/market/time", {}, signed=False)
        t1 = self._clock()
        answer = self._result(env, models.ServerTime, "/v5/market/time")
        if answer.timeNano:
            server_ms = int(answer.timeNano) // 1_000_000
        elif answer.timeSecond:
            server_ms = int(answer.timeSecond) * 1000
        else:
            server_ms = env.time
        self.offset_ms = server_ms - int((t0 + t1) * 500)
        self.stats["time_syncs"] += 1
        if abs(self.offset_ms) > 500:
            log.warning("local clock differs from the venue's", extra={"offset_ms": self.offset_ms})
        return self.offset_ms

    # --- the wire --------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._credentials is not None:
            for secret in (self._credentials.api_key.reveal(), self._credentials.api_secret.reveal()):
                if secret:
                    text = text.replace(secret, "***")
        return text

    def _send(self, method: str, path: str, params: dict[str, Any], *, signed: bool, is_write: bool) -> tuple[models.Envelope, int]:
        """One attempt. Returns the envelope and the HTTP status; raises the typed error otherwise."""
        if self._clock() < self._paused_until:
            raise IpBannedError(403, f"REST paused after an HTTP 403 for {self._paused_until - self._clock():.0f} s more", path=path)
        # Wait first, sign after: a timestamp must not age in the rate limiter's queue.
        with self._lock:
            wait = self._limiter.reserve(path, self._clock())
        if wait > 0:
            self.stats["rate_waits"] += 1
            self._sleep(wait)
        headers: dict[str, str] = {}
        if method == "GET":
            payload = query_string(params)
            url = f"{path}?{payload}" if payload else path
            body = None
            signed_payload: bytes = payload.encode()
        else:
            body = encode_body(params)
            url = path
            signed_payload = body
            headers["Content-Type"] = "application/json"
        if signed:
            if self._credentials is None:
                raise error_for(10003, "this client has no API credentials", path=path)
            key = self._credentials.api_key.reveal()
            stamp = str(self.now_ms())
            headers[HEADER_API_KEY] = key
            headers[HEADER_TIMESTAMP] = stamp
            headers[HEADER_RECV_WINDOW] = self._recv_window
            headers[HEADER_SIGN] = sign(self._credentials.api_secret.reveal(), stamp, key, self._recv_window, signed_payload)
            headers[HEADER_SIGN_TYPE] = "2"
        self.stats["requests"] += 1
        try:
            response = self._http.request(method, url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            self.stats["timeouts"] += 1
            raise TransportError(f"timeout ({type(exc).__name__})", path=path) from None
        except httpx.HTTPError as exc:
            self.stats["transport_errors"] += 1
            raise TransportError(f"{type(exc).__name__}: {self._scrub(str(exc))}", path=path) from None
        offset_s = self.offset_ms / 1000.0
        with self._lock:
            self._limiter.observe(path, response.headers, self._clock(), offset_s)
            foreign = self._limiter.foreign_usage
        if foreign and not self._warned_foreign:
            self._warned_foreign = True
            log.warning("another process seems to spend this API key's rate limit", extra={"path": path})
        self.stats["foreign_usage"] = foreign
        try:
            env = _envelope.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            env = None
        status = response.status_code
        if env is None:
            text = self._scrub(response.text[:200].strip())
            if status >= 500:
                raise TransportError(f"HTTP {status} {text}", path=path)
            if status == 403:
                self._paused_until = self._clock() + IP_BAN_PAUSE_S
                self.stats["ip_bans"] += 1
                log.error("HTTP 403 from the venue: pausing every REST call", extra={"path": path, "pause_s": IP_BAN_PAUSE_S})
            if status != 200:
                raise error_for(status, f"HTTP {status} {text}".strip(), path=path, is_write=is_write, http_status=status)
            raise TransportError(f"not a V5 envelope: {text!r}", path=path)
        if env.retCode != 0:
            reset = response.headers.get("x-bapi-limit-reset-timestamp")
            raise error_for(
                env.retCode,
                self._scrub(env.retMsg),
                path=path,
                is_write=is_write,
                reset_ms=int(reset) if reset and reset.isdigit() else None,
                http_status=status if status != 200 else None,
            )
        if status != 200:
            raise error_for(status, f"HTTP {status}", path=path, is_write=is_write, http_status=status)
        return env, status

    def _backoff(self, attempt: int) -> float:
        # Capped exponential with "equal jitter": never zero, never in lock-step with others.
        ceiling = min(self._backoff_cap_s, self._backoff_base_s * (2 ** (attempt - 1)))
        return ceiling * (0.5 + random.random() / 2)

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        *,
        signed: bool,
        is_write: bool = False,
        resend_is_safe: bool = True,
    ) -> tuple[models.Envelope, int]:
        """Send with the retries that are safe for this call; returns (envelope, attempts)."""
        attempt = 0
        resynced = False
        while True:
            attempt += 1
            self.last_attempts = attempt
            try:
                env, _ = self._send(method, path, params, signed=signed, is_write=is_write)
                return env, attempt
            except TimestampError:
                # Rejected before processing, so resending is safe even for a create (§1.4).
                self.stats["recv_window_errors"] += 1
                if resynced:
                    raise
                log.warning("10002: resyncing the clock and resending once", extra={"path": path})
                self.sync_time()
                resynced = True
            except RateLimitedError as exc:
                self.stats["rate_limited"] += 1
                with self._lock:
                    wait = self._limiter.block(path, self._clock(), exc.reset_ms, self.offset_ms / 1000.0)
                if attempt >= self._max_attempts:
                    raise
                self._sleep(wait)
            except RetryableError as exc:
                if attempt >= self._max_attempts:
                    raise
                self._note_retry(path, exc, attempt)
            except (AmbiguousError, TransportError) as exc:
                if (is_write and not resend_is_safe) or attempt >= self._max_attempts:
                    raise
                self._note_retry(path, exc, attempt)

    def _note_retry(self, path: str, exc: Exception, attempt: int) -> None:
        self.stats["retries"] += 1
        delay = self._backoff(attempt)
        log.warning("retrying", extra={"path": path, "attempt": attempt, "error": str(exc), "delay_s": round(delay, 3)})
        self._sleep(delay)

    @staticmethod
    def _result(env: models.Envelope, shape: type[T], path: str) -> T:
        """``result`` in the shape this endpoint promises, or a TransportError saying it is not."""
        try:
            return msgspec.json.decode(env.result, type=shape)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TransportError(f"unexpected result shape: {exc}", path=path) from None

    def _log_once(self, kind: str, message: str, **extra: Any) -> None:
        self.stats["row_problems"] += 1
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            log.error(message, extra=extra)

    def _pages(self, path: str, params: dict[str, Any], row_type: type[T]) -> Iterator[T]:
        """Every row of a cursor-paged signed list; a row that does not decode is logged and skipped."""
        cursor = ""
        for _ in range(MAX_PAGES):
            env, _ = self._call("GET", path, {**params, "cursor": cursor or None}, signed=True)
            page = self._result(env, models.Page, path)
            for raw in page.rows:
                try:
                    yield msgspec.json.decode(raw, type=row_type)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self._log_once(f"{path}:{exc}", "venue row does not decode; skipped", path=path, error=str(exc))
            if not page.nextPageCursor or page.nextPageCursor == cursor or not page.rows:
                return
            cursor = page.nextPageCursor

    def _convert(self, rows: Iterable[Any], convert: Callable[[Any], T], path: str) -> list[T]:
        out: list[T] = []
        for row in rows:
            try:
                out.append(convert(row))
            except models.RowProblem as exc:
                self._log_once(f"{path}:{exc}", "venue row unusable; skipped", path=path, error=str(exc))
        return out

    # --- market data -----------------------------------------------------------------------

    def instrument_rows(self, symbols: Iterable[str]) -> dict[str, InstrumentRow]:
        """The raw instruments-info row of each symbol the venue knows (absent ones are left out)."""
        rows: dict[str, InstrumentRow] = {}
        for symbol in symbols:
            env, _ = self._call("GET", "/v5/market/instruments-info", {"category": CATEGORY, "symbol": symbol}, signed=False)
            page = self._result(env, models.Page, "/v5/market/instruments-info")
            for raw in page.rows:
                try:
                    row = msgspec.json.decode(raw, type=InstrumentRow)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self._log_once(f"instrument:{exc}", "instrument row does not decode", error=str(exc))
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
        for row in answer.rows:
            try:
                bar = models.kline_from_rest(symbol, interval, row)
            except (ValueError, IndexError) as exc:
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
        for raw in self._result(env, models.Page, path).rows:
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

    def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        path = "/v5/order/realtime"
        rows = self._pages(path, {**self._scope(symbol), "openOnly": 0, "limit": 50}, models.OrderRow)
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
        """Fills (trades only, not funding), oldest first."""
        path = "/v5/execution/list"
        params = {**self._scope(symbol), "startTime": start_ms, "endTime": end_ms, "limit": 100}
        rows = [r for r in self._pages(path, params, models.ExecutionRow) if r.execType in ("Trade", "")]
        fills = self._convert(rows, models.execution_update, path)
        return sorted(fills, key=lambda f: (f.exec_ms, f.exec_id))

    def wallet_account(self) -> models.WalletAccount:
        env, _ = self._call("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": SETTLE_COIN}, signed=True)
        answer = self._result(env, models.WalletList, "/v5/account/wallet-balance")
        if not answer.accounts:
            raise TransportError("wallet-balance answered with no account", path="/v5/account/wallet-balance")
        return answer.accounts[0]

    def wallet_equity(self) -> Decimal:
        """USDT equity of the UNIFIED account (coin equity, else the account's total)."""
        account = self.wallet_account()
        for coin in account.coin:
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
        params = {"category": CATEGORY, "symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": 100}
        found = self._convert(self._pages(path, params, models.ClosedPnlRow), models.closed_pnl, path)
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
            params, path = self._params(intent)
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
            return self._ack_error(intent, ts, exc)
        except (AmbiguousError, TransportError) as exc:
            if intent.action == "create" and intent.order_link_id:
                # Did the create land? Ask before anyone acts on "failed".
                return self._ack_after_lookup(intent, ts, exc, wanted=None)
            return self._ack_error(intent, ts, exc)
        except BybitError as exc:
            return self._ack_error(intent, ts, exc)
        try:
            order_id = self._result(env, models.OrderIds, path).orderId or None
        except TransportError:
            order_id = None  # accepted all the same: the order stream and reconciliation carry the id
        if attempts > 1:
            self.stats["writes_resent"] += 1
        return OrderAck(intent=intent, ts_ms=ts, outcome="ok", ret_code=0, ret_msg=env.retMsg, order_id=order_id)

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

    def _params(self, intent: OrderIntent) -> tuple[dict[str, Any] | str, str]:
        """The request body of one intent, or a string saying why it cannot be sent."""
        base: dict[str, Any] = {"category": CATEGORY, "symbol": intent.symbol}
        action = intent.action
        if action == "cancel_all":
            # orderFilter=Order keeps the position's TP/SL: without it cancel-all removes the stop (§5.6).
            return {**base, "orderFilter": "Order"}, "/v5/order/cancel-all"
        if action == "trading_stop":
            if intent.stop_loss is None and intent.take_profit is None:
                return "trading_stop needs stop_loss or take_profit", ""
            return {**base, "tpslMode": "Full", "positionIdx": intent.position_idx, **self._tpsl(intent)}, "/v5/position/trading-stop"
        if not intent.order_link_id:
            if action != "create":
                return f"{action} needs order_link_id", ""
        if action == "cancel":
            return {**base, "orderLinkId": intent.order_link_id}, "/v5/order/cancel"
        if action == "amend":
            body = {**base, "orderLinkId": intent.order_link_id}
            if intent.qty is not None:
                body["qty"] = _decimal_text(intent.qty)
            if intent.price is not None:
                body["price"] = _decimal_text(intent.price)
            body.update(self._tpsl(intent))
            if len(body) == 3:
                return "amend changes nothing", ""
            return body, "/v5/order/amend"
        if intent.side is None or intent.qty is None:
            return "create needs side and qty", ""
        if intent.reduce_only and (intent.stop_loss is not None or intent.take_profit is not None):
            return "a reduce-only order cannot carry TP/SL (§5.1)", ""
        body = {**base, "side": intent.side, "orderType": intent.order_type, "qty": _decimal_text(intent.qty)}
        if intent.order_type == "Limit":
            if intent.price is None:
                return "a Limit order needs a price", ""
            body["price"] = _decimal_text(intent.price)
            body["timeInForce"] = intent.time_in_force
        body["positionIdx"] = intent.position_idx
        if intent.order_link_id:
            body["orderLinkId"] = intent.order_link_id
        if intent.reduce_only:
            body["reduceOnly"] = True
        tpsl = self._tpsl(intent)
        if tpsl:
            body.update(tpsl)
            body["tpslMode"] = "Full"
            if "stopLoss" in tpsl:
                body["slOrderType"] = "Market"
            if "takeProfit" in tpsl:
                body["tpOrderType"] = "Market"
        return body, "/v5/order/create"

    def _tpsl(self, intent: OrderIntent) -> dict[str, str]:
        out: dict[str, str] = {}
        if intent.stop_loss is not None:
            out["stopLoss"] = _decimal_text(intent.stop_loss)
            out["slTriggerBy"] = self._stop_trigger_by
        if intent.take_profit is not None:
            out["takeProfit"] = _decimal_text(intent.take_profit)
            out["tpTriggerBy"] = self._stop_trigger_by
        return out
