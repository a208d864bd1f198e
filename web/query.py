"""Query-string validation for the read routes: every parameter known, typed and bounded,
or a 400 that says which one and why."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from journal.reader import DEFAULT_LIMIT, MAX_LIMIT

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}USDT$")
_KINDS = re.compile(r"^(TAKE|NO_SETUP|REJECT)$")
_EVENT_KIND = re.compile(r"^[a-z0-9_.-]{1,40}$")
_MAX_MS = 2**53


class BadQuery(ValueError):
    """A query parameter the route cannot accept; the message is shown to the caller."""


def _int(name: str, raw: str, low: int, high: int) -> int:
    if not re.fullmatch(r"-?\d{1,17}", raw):
        raise BadQuery(f"{name}: expected an integer, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadQuery(f"{name}: must be between {low} and {high}, got {value}")
    return value


def _matching(name: str, pattern: re.Pattern[str], expected: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not pattern.fullmatch(raw):
            raise BadQuery(f"{name}: expected {expected}, got {raw[:40]!r}")
        return raw
    return parse


_symbol = _matching("symbol", _SYMBOL, "a USDT perpetual like BTCUSDT")
_kind = _matching("kind", _KINDS, "one of TAKE, NO_SETUP, REJECT")
_event_kind = _matching("kind", _EVENT_KIND, "a lower-case event kind like reconnect")


def _limit(raw: str) -> int:
    return _int("limit", raw, 1, MAX_LIMIT)


def _since(raw: str) -> int:
    return _int("since", raw, 0, _MAX_MS)


def _before(raw: str) -> int:
    return _int("before", raw, 1, _MAX_MS)


def _run(raw: str) -> int:
    # 0 names the rows written before the journal recorded runs.
    return _int("run", raw, 0, _MAX_MS)


ROUTE_PARAMS: dict[str, dict[str, Callable[[str], Any]]] = {
    "decisions": {"symbol": _symbol, "kind": _kind, "limit": _limit, "before": _before, "run": _run},
    "trades": {"symbol": _symbol, "since": _since, "limit": _limit, "before": _before, "run": _run},
    "events": {"kind": _event_kind, "limit": _limit, "before": _before, "run": _run},
    "run": {"run": _run},  # a view of one run (default: the current one)
    "none": {},
}


def parse(route: str, params: Mapping[str, str], repeated: Mapping[str, int]) -> dict[str, Any]:
    """Validated keyword arguments for the reader; ``limit`` defaults to DEFAULT_LIMIT."""
    allowed = ROUTE_PARAMS[route]
    parsed: dict[str, Any] = {"limit": DEFAULT_LIMIT} if "limit" in allowed else {}
    for name, raw in params.items():
        if name not in allowed:
            known = ", ".join(allowed) or "none"
            raise BadQuery(f"{name[:40]}: unknown parameter (this route takes: {known})")
        if repeated.get(name, 1) > 1:
            raise BadQuery(f"{name}: given more than once")
        if raw == "":
            continue
        parsed[name] = allowed[name](raw)
    return parsed


# The chart routes' parameters (web/series.py): a symbol's chart at one of the bot's timeframes.
def _interval(raw: str) -> int:
    value = _int("interval", raw, 1, 15)
    if value not in (1, 3, 5, 15):
        raise BadQuery(f"interval: expected one of 1, 3, 5, 15 (minutes), got {value}")
    return value


def _hours(raw: str) -> int:
    return _int("hours", raw, 1, 24)


ROUTE_PARAMS.update({
    "series": {"symbol": _symbol, "interval": _interval, "hours": _hours, "run": _run},
    "notable": {"limit": _limit, "before": _before, "run": _run},
})
