"""Client-side rate limiting: one token bucket per endpoint, seeded with the default per-UID
limits (bybit-v5.md §0.2) and corrected by every answer's ``X-Bapi-Limit*`` headers (§1.5).

Limits are per endpoint, so bookkeeping reads (50/s) never spend the order endpoints' budget
(10/s). Market endpoints share one bucket for the per-IP limit (600 per 5 s), kept well below
the edge. A pure core: the caller passes the time and does the waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

DEFAULT_LIMITS: dict[str, int] = {
    "/v5/order/create": 10,
    "/v5/order/amend": 10,
    "/v5/order/cancel": 10,
    "/v5/order/cancel-all": 10,
    "/v5/position/trading-stop": 10,
    "/v5/position/set-leverage": 10,
    "/v5/position/switch-mode": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/position/closed-pnl": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/account/fee-rate": 5,
}
# 600 requests / 5 s per IP, shared by all market traffic; run at half of it (§1.5: "do not
# run at the edge of the limit").
MARKET_GROUP = "market"
MARKET_RATE_PER_S = 60.0
MARKET_BURST = 60.0
# An endpoint the table does not know gets the most conservative signed budget.
FALLBACK_LIMIT = 5
# 10006 without a reset header (public endpoints, bybit-exchange/pybit#340): wait this long.
RESET_FALLBACK_S = 1.0
# The venue's count and ours differ by clock alignment; beyond this many calls the difference
# is someone else spending the same key's budget (DESIGN.md: limits are per UID across processes).
FOREIGN_SLACK = 2


class TokenBucket:
    """``rate`` tokens per second up to ``capacity``; ``blocked_until`` overrides after a 10006."""

    __slots__ = ("rate", "capacity", "tokens", "stamp", "blocked_until")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now
        self.blocked_until = 0.0

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def reserve(self, now: float) -> float:
        """Take one token; return how many seconds the caller must wait before sending."""
        self._refill(now)
        wait = max(0.0, self.blocked_until - now)
        self.tokens -= 1.0
        if self.tokens < 0:
            wait = max(wait, -self.tokens / self.rate)
        return wait


class RateLimiter:
    """Buckets keyed by endpoint group; ``reserve`` before a call, ``observe`` after it."""

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        self._limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._buckets: dict[str, TokenBucket] = {}
        self._sent: dict[str, deque[float]] = {}
        self.waited_s = 0.0
        self.throttled = 0
        self.foreign_usage = 0

    @staticmethod
    def group_of(path: str) -> str:
        return MARKET_GROUP if path.startswith("/v5/market/") else path

    def _bucket(self, group: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(group)
        if bucket is None:
            if group == MARKET_GROUP:
                bucket = TokenBucket(MARKET_RATE_PER_S, MARKET_BURST, now)
            else:
                limit = float(self._limits.get(group, FALLBACK_LIMIT))
                bucket = TokenBucket(limit, limit, now)
            self._buckets[group] = bucket
        return bucket

    def reserve(self, path: str, now: float) -> float:
        group = self.group_of(path)
        wait = self._bucket(group, now).reserve(now)
        if wait > 0:
            self.waited_s += wait
        self._sent.setdefault(group, deque()).append(now + wait)
        return wait

    def _ours_in_window(self, group: str, now: float) -> int:
        sent = self._sent.get(group)
        if not sent:
            return 0
        while sent and sent[0] <= now - 1.0:
            sent.popleft()
        return len(sent)

    def observe(self, path: str, headers: Mapping[str, str], now: float, server_offset_s: float = 0.0) -> None:
        """Adopt the venue's view: its limit, what remains, and when a breach resets.

        ``server_offset_s`` is server clock minus local clock, to read the reset timestamp.
        """
        group = self.group_of(path)
        if group == MARKET_GROUP:
            return  # the headers describe per-UID limits; market calls only have the IP limit
        bucket = self._bucket(group, now)
        limit = _int_header(headers, "x-bapi-limit")
        if limit is not None and limit > 0 and limit != bucket.capacity:
            bucket.rate = bucket.capacity = float(limit)
        remaining = _int_header(headers, "x-bapi-limit-status")
        if remaining is not None:
            bucket._refill(now)
            bucket.tokens = min(bucket.tokens, float(remaining))
            if remaining < bucket.capacity - self._ours_in_window(group, now) - FOREIGN_SLACK:
                self.foreign_usage += 1

    def block(self, path: str, now: float, reset_server_ms: int | None, server_offset_s: float = 0.0) -> float:
        """After a 10006 / 429: no call on this endpoint until the reset; returns the wait.

        The reset stamp is read on the venue's clock first, then on ours (a local venue may
        stamp wall time while its clock replays the past); a stamp that fits neither within a
        minute is ignored for the fallback wait.
        """
        bucket = self._bucket(self.group_of(path), now)
        wait = RESET_FALLBACK_S
        if reset_server_ms is not None:
            for candidate in (reset_server_ms / 1000.0 - server_offset_s - now, reset_server_ms / 1000.0 - now):
                if 0.0 <= candidate <= 60.0:
                    wait = max(candidate, 0.05)
                    break
        bucket.blocked_until = max(bucket.blocked_until, now + wait)
        bucket.tokens = min(bucket.tokens, 0.0)
        self.throttled += 1
        return bucket.blocked_until - now


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
