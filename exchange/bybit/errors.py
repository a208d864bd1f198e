"""What each Bybit V5 error means for the caller, and the typed exceptions that carry it.

The table is bybit-v5.md §8 verbatim in code form: every code the spec lists maps to one
``Handling``. The client keys on ``retCode`` only, never on the text (§12: texts vary).
"""

from __future__ import annotations

import enum


class Handling(enum.Enum):
    """How a caller treats an error (the classes of bybit-v5.md §8)."""

    RETRY = "retry"  # R: send the same request again, fresh timestamp, with backoff
    AMBIGUOUS = "ambiguous"  # W: a write may or may not have happened; reconcile or resend idempotently
    ALREADY_DONE = "already_done"  # I: the state asked for already holds: success
    REJECTED = "rejected"  # N: the venue said no; fix inputs or state, do not resend
    RESYNC = "resync"  # the order is already terminal / gone: reconcile from the venue
    FATAL = "fatal"  # F: configuration (keys, permissions, host): stop trading and alert


# retCode -> (handling, short meaning). 10000 and 10016 are RETRY for reads; writes treat
# them as AMBIGUOUS (see ``handling_for``).
RET_CODES: dict[int, tuple[Handling, str]] = {
    429: (Handling.RETRY, "UTA body code: system busy / high load, retry"),
    10000: (Handling.RETRY, "server timeout"),
    10001: (Handling.REJECTED, "request parameter error"),
    10002: (Handling.RETRY, "timestamp outside recv_window"),
    10003: (Handling.FATAL, "API key invalid or used on the wrong environment"),
    10004: (Handling.FATAL, "signature error"),
    10005: (Handling.FATAL, "permission denied"),
    10006: (Handling.RETRY, "too many visits (rate limit)"),
    10010: (Handling.FATAL, "unmatched IP (key IP whitelist)"),
    10014: (Handling.AMBIGUOUS, "invalid duplicate request"),
    10016: (Handling.RETRY, "server error or service restarting"),
    10017: (Handling.FATAL, "route not found"),
    10429: (Handling.RETRY, "system-level frequency protection: retry with backoff"),
    33004: (Handling.FATAL, "API key expired"),
    34040: (Handling.ALREADY_DONE, "TP/SL not modified"),
    110001: (Handling.RESYNC, "order does not exist"),
    110003: (Handling.REJECTED, "order price outside the allowed range"),
    110004: (Handling.REJECTED, "wallet balance insufficient"),
    110007: (Handling.REJECTED, "available balance insufficient"),
    110008: (Handling.RESYNC, "order already completed or cancelled"),
    110012: (Handling.REJECTED, "insufficient available balance"),
    110017: (Handling.RESYNC, "reduce-only order has nothing to reduce"),
    110020: (Handling.REJECTED, "more than 500 active orders"),
    110024: (Handling.REJECTED, "cannot switch mode: a position exists"),
    110025: (Handling.ALREADY_DONE, "position mode not modified"),
    110028: (Handling.REJECTED, "cannot switch mode: open orders exist"),
    110043: (Handling.ALREADY_DONE, "leverage not modified"),
    110057: (Handling.REJECTED, "TP/SL params on an order that cannot carry them"),
    110064: (Handling.REJECTED, "amended qty not above filled qty"),
    110072: (Handling.ALREADY_DONE, "duplicate orderLinkId: the order exists"),
    110079: (Handling.RETRY, "order is being processed"),
    110092: (Handling.REJECTED, "trigger price on the wrong side (expect rising)"),
    110093: (Handling.REJECTED, "trigger price on the wrong side (expect falling)"),
    110094: (Handling.REJECTED, "notional below minNotionalValue"),
    170213: (Handling.RESYNC, "spot: order does not exist"),
}

# HTTP statuses that arrive without a Bybit envelope (§1.2).
HTTP_STATUSES: dict[int, tuple[Handling, str]] = {
    401: (Handling.FATAL, "wrong key or authentication headers missing"),
    403: (Handling.FATAL, "forbidden: IP rate limit breached (stop all REST for 10 minutes) or region blocked"),
    404: (Handling.FATAL, "path not found, or category does not match the account mode"),
    429: (Handling.RETRY, "system-level frequency protection"),
}

# The body codes of "system busy": 10429, and 429 in the UTA envelope ("high load, retry"). Not
# processed, so resending is safe for reads and for creates under an orderLinkId (§1.5).
BUSY_CODES = frozenset({10429, 429})

_SERVER_SIDE = frozenset({10000, 10016})


def handling_for(ret_code: int, *, is_write: bool = False) -> Handling:
    """The handling of ``ret_code``; unknown codes are plain rejections (never retried blindly)."""
    if is_write and ret_code in _SERVER_SIDE:
        return Handling.AMBIGUOUS
    entry = RET_CODES.get(ret_code)
    return entry[0] if entry else Handling.REJECTED


class BybitError(Exception):
    """A Bybit answer that is not success. ``ret_msg`` has already been scrubbed of credentials."""

    handling: Handling = Handling.REJECTED

    def __init__(self, ret_code: int, ret_msg: str, *, path: str = "", http_status: int | None = None) -> None:
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.path = path
        self.http_status = http_status
        where = f" on {path}" if path else ""
        meaning = RET_CODES.get(ret_code, (None, ""))[1]
        super().__init__(f"Bybit {ret_code}{where}: {ret_msg or meaning}")


class RetryableError(BybitError):
    handling = Handling.RETRY


class TimestampError(RetryableError):
    """10002: our timestamp fell outside the server's window; resync the clock and resend once."""


class RateLimitedError(RetryableError):
    """10006 / HTTP 429: wait until ``reset_ms`` (server clock) before the next call on this endpoint."""

    def __init__(self, ret_code: int, ret_msg: str, *, reset_ms: int | None = None, **kw) -> None:
        super().__init__(ret_code, ret_msg, **kw)
        self.reset_ms = reset_ms


class BusyError(RetryableError):
    """10429 / body 429: the venue is shedding load; back off and resend what is safe to resend."""


class AmbiguousError(BybitError):
    """A write whose effect is unknown: reconcile by orderLinkId before acting again."""

    handling = Handling.AMBIGUOUS


class RejectedError(BybitError):
    handling = Handling.REJECTED


class ResyncError(BybitError):
    """The order or position is not where we thought: reconcile from the venue."""

    handling = Handling.RESYNC


class AlreadyDoneError(BybitError):
    handling = Handling.ALREADY_DONE


class FatalError(BybitError):
    """Keys, permissions, IP whitelist or host are wrong: no retry can help."""

    handling = Handling.FATAL


class IpBannedError(FatalError):
    """HTTP 403: Bybit's IP limit; every REST call must pause for at least 10 minutes (§1.5)."""


class TransportError(Exception):
    """No usable answer: timeout, connection failure, or a body that is not a V5 envelope.

    For a write this is ambiguous: the request may have reached the venue.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


_CLASS_FOR: dict[Handling, type[BybitError]] = {
    Handling.RETRY: RetryableError,
    Handling.AMBIGUOUS: AmbiguousError,
    Handling.ALREADY_DONE: AlreadyDoneError,
    Handling.REJECTED: RejectedError,
    Handling.RESYNC: ResyncError,
    Handling.FATAL: FatalError,
}


def error_for(
    ret_code: int,
    ret_msg: str,
    *,
    path: str = "",
    is_write: bool = False,
    reset_ms: int | None = None,
    http_status: int | None = None,
) -> BybitError:
    """The typed exception for one non-zero ``retCode`` (or an envelope-less HTTP status)."""
    if ret_code == 10002:
        return TimestampError(ret_code, ret_msg, path=path, http_status=http_status)
    if ret_code in BUSY_CODES and ret_code != http_status:
        # A body code (an envelope came back); an envelope-less HTTP 429 is the IP rate limit below.
        return BusyError(ret_code, ret_msg, path=path, http_status=http_status)
    if ret_code == 10006 or http_status == 429:
        return RateLimitedError(ret_code, ret_msg, reset_ms=reset_ms, path=path, http_status=http_status)
    if http_status == 403:
        return IpBannedError(ret_code, ret_msg, path=path, http_status=http_status)
    if http_status is not None and ret_code == http_status and http_status in HTTP_STATUSES:
        # No envelope came back: the HTTP status stands in for the retCode.
        handling = HTTP_STATUSES[http_status][0]
    else:
        handling = handling_for(ret_code, is_write=is_write)
    return _CLASS_FOR[handling](ret_code, ret_msg, path=path, http_status=http_status)
