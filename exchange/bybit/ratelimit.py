"""Client-side rate limiting: one rolling window per endpoint, the venue's own rule, seeded with
the default per-UID limits (bybit-v5.md §0.2) and corrected by every answer's ``X-Bapi-Limit*``
headers (§1.5).

Bybit counts a UID's calls per endpoint in a rolling one-second window and answers the one too
many with 10006. A token bucket of ``limit`` tokens refilled at ``limit`` per second admits twice
that in a second (a full bucket's burst, then the refill): a tick on which many symbols take
met 10006 on its creates (25 at once against the simulator's rule: 2 before, none now). Here a
call is sent only once the ``limit``-th call before it has left the window, plus ``JITTER_S``.
A call is held in the window at the time its answer came back, which is after the venue stamped
it, so a call sent a window later is a window later on the venue's clock too, whatever the
network did; a call still in flight is held at its send time.

Limits are per endpoint, so bookkeeping reads (50/s) never spend the order endpoints' budget
(10/s). Market endpoints share one window for the per-IP limit (600 per 5 s), run at half of it.
What the venue says it counted beyond our own calls (another process on the same key) is held
as calls of ours at the moment we learnt of them, so the budget we use is what is left.
A pure core: the caller passes the time and does the waiting.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
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
#: The per-UID window (§1.5).
WINDOW_S = 1.0
# 600 requests / 5 s per IP, shared by all market traffic; run at half of it (§1.5: "do not
# run at the edge of the limit").
MARKET_GROUP = "market"
MARKET_LIMIT = 300
MARKET_WINDOW_S = 5.0
#: Added to the window of a call not answered yet: it was stamped by the venue at its arrival,
#: which may come later than its send by its network delay.
JITTER_S = 0.05
# An endpoint the table does not know gets the most conservative signed budget.
FALLBACK_LIMIT = 5
# 10006 without a reset header (public endpoints, bybit-exchange/pybit#340): wait this long.
RESET_FALLBACK_S = 1.0
# The venue's count and ours differ by clock alignment; beyond this many calls the difference
# is someone else spending the same key's budget (DESIGN.md: limits are per UID across processes).
FOREIGN_SLACK = 2


class RollingWindow:
    """At most ``limit`` calls in any ``window_s`` (+ ``JITTER_S``); ``blocked_until`` overrides after a 10006."""

    __slots__ = ("limit", "window_s", "sent", "flying", "blocked_until")

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        # Our calls (at their answer, or at their send while in flight) and the foreign calls we
        # were told of, sorted.
        self.sent: list[float] = []
        self.flying: deque[float] = deque()  # send times of the calls not answered yet, in booking order
        self.blocked_until = 0.0

    def _expire(self, now: float) -> None:
        gone = now - self.window_s - JITTER_S
        del self.sent[:bisect_right(self.sent, gone)]
        # A call in flight for longer than a window (a timeout, retried) no longer matters here.
        while self.flying and self.flying[0] <= gone:
            self.flying.popleft()

    def reserve(self, now: float) -> float:
        """Book the next call; return how many seconds the caller must wait before sending it."""
        self._expire(now)
        at = max(now, self.blocked_until)
        if self.sent:
            at = max(at, self.sent[-1])  # calls leave in the order they were booked
        if len(self.sent) >= self.limit:
            at = max(at, self.sent[-self.limit] + self.window_s + JITTER_S)
        self.sent.append(at)
        self.flying.append(at)
        return at - now

    def answered(self, now: float) -> float:
        """The oldest call in flight was answered at ``now``: held there from now on (the venue
        stamped it before). A call that never got an answer keeps its place until a later answer
        moves it: later, never earlier, than the truth. Returns when that call was sent."""
        if not self.flying:
            return now
        sent = self.flying.popleft()
        at = bisect_left(self.sent, sent)
        if at < len(self.sent) and self.sent[at] == sent:
            del self.sent[at]
        insort(self.sent, now)
        return sent

    def in_window(self, since: float, now: float) -> int:
        """Calls held (or foreign ones heard of) in ``(since, now]``."""
        return sum(1 for t in self.sent if since < t <= now)

    def hold(self, calls: int, now: float) -> None:
        """``calls`` made by someone else on this budget: counted as sent ``now``."""
        for _ in range(calls):
            insort(self.sent, now)


class RateLimiter:
    """Windows keyed by endpoint group; ``reserve`` before a call, ``observe`` after it."""

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        self._limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._windows: dict[str, RollingWindow] = {}
        self.waited_s = 0.0
        self.throttled = 0
        self.foreign_usage = 0

    @staticmethod
    def group_of(path: str) -> str:
        return MARKET_GROUP if path.startswith("/v5/market/") else path

    def _window(self, group: str) -> RollingWindow:
        window = self._windows.get(group)
        if window is None:
            if group == MARKET_GROUP:
                window = RollingWindow(MARKET_LIMIT, MARKET_WINDOW_S)
            else:
                window = RollingWindow(self._limits.get(group, FALLBACK_LIMIT), WINDOW_S)
            self._windows[group] = window
        return window

    def reserve(self, path: str, now: float) -> float:
        wait = self._window(self.group_of(path)).reserve(now)
        if wait > 0:
            self.waited_s += wait
        return wait

    def observe(self, path: str, headers: Mapping[str, str], now: float, server_offset_s: float = 0.0) -> None:
        """Adopt the venue's view: its limit, and what it counted that we did not send.

        ``server_offset_s`` is server clock minus local clock, to read the reset timestamp.
        """
        group = self.group_of(path)
        window = self._window(group)
        sent = window.answered(now)
        if group == MARKET_GROUP:
            return  # the headers describe per-UID limits; market calls only have the IP limit
        limit = _int_header(headers, "x-bapi-limit")
        if limit is not None and limit > 0:
            window.limit = limit
        remaining = _int_header(headers, "x-bapi-limit-status")
        if remaining is not None:
            # The venue counted the calls in the window before this one's arrival, somewhere
            # between its send and its answer; ours held since a window before its send are
            # all that can be among them (held at their answers, which follow their arrivals).
            # Fewer would call our own calls someone else's.
            foreign = (window.limit - remaining) - window.in_window(sent - window.window_s, now)
            if foreign > 0:
                window.hold(foreign, now)
            if foreign > FOREIGN_SLACK:
                self.foreign_usage += 1

    def block(self, path: str, now: float, reset_server_ms: int | None, server_offset_s: float = 0.0) -> float:
        """After a 10006 / 429: no call on this endpoint until the reset; returns the wait.

        The reset stamp is read on the venue's clock first, then on ours (a local venue may
        stamp wall time while its clock replays the past); a stamp that fits neither within a
        minute is ignored for the fallback wait.
        """
        window = self._window(self.group_of(path))
        wait = RESET_FALLBACK_S
        if reset_server_ms is not None:
            for candidate in (reset_server_ms / 1000.0 - server_offset_s - now, reset_server_ms / 1000.0 - now):
                if 0.0 <= candidate <= 60.0:
                    wait = max(candidate, 0.05)
                    break
        window.blocked_until = max(window.blocked_until, now + wait)
        self.throttled += 1
        return window.blocked_until - now


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
