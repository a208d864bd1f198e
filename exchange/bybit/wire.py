"""The signed V5 wire under the REST client: httpx with connection reuse and explicit timeouts,
HMAC signing of exactly the bytes sent, the server-clock offset, client-side rate limits, and
the retries that are safe (bybit-v5.md §1.2–§1.5, §8, §9).

Safety rules kept here:
- what is signed is exactly what is sent: the query string built once, the body encoded once,
  and both built after any rate-limit wait so the timestamp is fresh;
- timestamps carry the measured server-clock offset; a ``10002`` resyncs it and resends once;
- a write is resent only when the caller says resending is safe (``resend_is_safe``);
- an HTTP 403 pauses every call for 10 minutes instead of deepening an IP ban;
- 10429 / body 429 ("system busy") are resent with backoff when resending is safe;
- credentials live in ``Secret``; venue texts we keep are scrubbed of them;
- a row the decoder cannot use, or an enum value the docs do not list, becomes a
  ``JournalEvent`` (``drain_events``) with the scrubbed raw text: never skipped silently.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from vocabulary.messages import JournalEvent
from vocabulary.settings import Credentials
from exchange.bybit import models
from exchange.bybit.errors import (
    AmbiguousError,
    BusyError,
    IpBannedError,
    RateLimitedError,
    RetryableError,
    TimestampError,
    TransportError,
    error_for,
)
from exchange.bybit.ratelimit import RateLimiter
from exchange.signing import HEADER_API_KEY, HEADER_RECV_WINDOW, HEADER_SIGN, HEADER_SIGN_TYPE, HEADER_TIMESTAMP, sign

log = logging.getLogger(__name__)

# After an HTTP 403 (IP limit) Bybit wants every REST session stopped for at least 10 minutes (§1.5).
IP_BAN_PAUSE_S = 600.0
MAX_PAGES = 50
# Raw venue text kept in a journal event, at most (a row is a few hundred bytes).
RAW_TEXT_CHARS = 2000

T = TypeVar("T")

_envelope = msgspec.json.Decoder(models.Envelope)
encode_body = msgspec.json.Encoder(decimal_format="string").encode


def query_string(params: dict[str, Any]) -> str:
    # Built once, signed and sent verbatim; "%" stays literal so venue cursors (already
    # percent-encoded, §5.7) travel unchanged.
    return "&".join(f"{k}={quote(str(v), safe='-_.~%,')}" for k, v in params.items() if v is not None)


class V5Http:
    """One venue, one set of keys; the base of ``BybitRest``."""

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
        rate_limiter: RateLimiter | None = None,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        self.base_url = base_url
        self._credentials = credentials
        self._recv_window = str(recv_window_ms)
        self._clock = clock
        # Rate-limit windows pass in wall time even when ``clock`` is a replay's clock that
        # jumps a minute per step (the simulator): then the two must differ.
        self._rate_clock = rate_clock or clock
        self._sleep = sleep
        self._max_attempts = max(1, max_attempts)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._limiter = rate_limiter or RateLimiter()
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
            headers={"User-Agent": "smtbot"},
        )
        self._logged_kinds: set[str] = set()
        self._reported: set[str] = set()
        self._events: list[JournalEvent] = []
        self._paused_until = 0.0
        self._warned_foreign = False
        self.offset_ms = 0
        self.last_attempts = 0
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, signed={self._credentials is not None})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
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
            wait = self._limiter.reserve(path, self._rate_clock())
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
            self._limiter.observe(path, response.headers, self._rate_clock(), offset_s)
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
                self._scrub(env.retMsg or ""),
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
            except BusyError as exc:
                self.stats["busy"] += 1
                if (is_write and not resend_is_safe) or attempt >= self._max_attempts:
                    raise
                self._note_retry(path, exc, attempt)
            except RateLimitedError as exc:
                self.stats["rate_limited"] += 1
                with self._lock:
                    wait = self._limiter.block(path, self._rate_clock(), exc.reset_ms, self.offset_ms / 1000.0)
                if attempt >= self._max_attempts:
                    raise
                self._sleep(wait)
            except RetryableError as exc:
                # 10000 (timeout), 10016 (service restarting) and 110079 (being processed) may
                # follow a write the venue did act on: resent only when a resend cannot double it.
                if (is_write and not resend_is_safe) or attempt >= self._max_attempts:
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

    # --- what the venue sent that we could not use -------------------------------------------

    def drain_events(self) -> list[JournalEvent]:
        """Journal events since the last drain: rows that did not decode, enum values the docs
        do not list. The caller (the router's shell) journals them."""
        events, self._events = self._events, []
        return events

    def _report(self, key: str, kind: str, message: str, level: str = "WARNING", **data: str) -> None:
        """One journal event per distinct ``key`` for this client's life: a bad row read every
        cycle is reported once, not once a minute."""
        if key in self._reported:
            return
        self._reported.add(key)
        self._events.append(JournalEvent(
            ts_ms=self.now_ms(), kind=kind, source="bybit_rest", message=self._scrub(message)[:300], level=level,  # type: ignore[arg-type]
            data=tuple((k, self._scrub(v)) for k, v in data.items()),
        ))

    def report_row(self, path: str, problem: str, raw: bytes | str) -> None:
        """A venue row we could not use: logged, counted and journaled with its raw text."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self._log_once(f"{path}:{problem}", "venue row unusable; skipped", path=path, error=problem)
        self._report(f"row:{path}:{text}", "venue_row_undecodable", f"{path}: {problem}", "ERROR",
                     path=path, error=problem, raw=text[:RAW_TEXT_CHARS])

    def report_unknown(self, path: str, row: msgspec.Struct) -> None:
        """Enum values outside the docs: the row is used all the same; the surprise is journaled."""
        for field, value in models.unknown_values(row):
            self.stats["unknown_values"] += 1
            self._report(f"enum:{field}:{value}", "venue_unknown_value", f"{path}: {field}={value!r} is not in the V5 docs",
                         path=path, field=field, value=value, raw=msgspec.json.encode(row).decode()[:RAW_TEXT_CHARS])

    def _pages(self, path: str, params: dict[str, Any], row_type: type[T]) -> Iterator[T]:
        """Every row of a cursor-paged signed list; a row that does not decode is journaled and skipped."""
        cursor = ""
        for _ in range(MAX_PAGES):
            env, _ = self._call("GET", path, {**params, "cursor": cursor or None}, signed=True)
            page = self._result(env, models.Page, path)
            rows = page.rows or []
            for raw in rows:
                try:
                    yield msgspec.json.decode(raw, type=row_type)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.report_row(path, str(exc), bytes(raw))
            if not page.nextPageCursor or page.nextPageCursor == cursor or not rows:
                return
            cursor = page.nextPageCursor

    def _convert(self, rows: Iterable[Any], convert: Callable[[Any], T], path: str) -> list[T]:
        out: list[T] = []
        for row in rows:
            self.report_unknown(path, row)
            try:
                out.append(convert(row))
            except models.RowProblem as exc:
                self.report_row(path, str(exc), msgspec.json.encode(row))
        return out
