"""The one scoring engine every entry path shares: path base plus weighted soft factors.

A soft factor is a vote in {-1, 0, +1} seen from the trade's side (+1 agrees with the
trade, -1 opposes it, 0 is neutral or not yet computable). Five factors are read on each
of 3m, 5m and 15m; the same fifteen on BTCUSDT and ETHUSDT give one composite bias.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from vocabulary.messages import EntryPath, FrameState, MarketState, Reason
from vocabulary.settings import StrategySettings
from strategy.context import EntryContext

SCORED_INTERVALS = (3, 5, 15)
BIAS_SYMBOLS = ("BTCUSDT", "ETHUSDT")

# Scores are sums of float weights; a sum such as 0.6 + 0.15 + 0.25 lands a hair below
# 1.0 in binary, so scores are compared after rounding away that noise.
SCORE_DECIMALS = 9


# The factors below take a sign as ``(x > 0) - (x < 0)`` in place: they run fifteen times for
# every state scored (and ``ha_colour`` on every path test), and a call to a sign function was a
# third of their cost.


def ha_colour(frame: FrameState) -> int:
    """+1 green, -1 red, 0 doji: the colour of the frame's last Heikin-Ashi candle."""
    body = frame.ha_close - frame.ha_open
    return (body > 0) - (body < 0)


def _wt_dir(f: FrameState) -> int:
    if f.wt1 is None or f.wt2 is None:
        return 0
    gap = f.wt1 - f.wt2
    return (gap > 0) - (gap < 0)


def _mfi_area(f: FrameState) -> int:
    area = f.rsi_mfi_area
    return 0 if area is None else (area > 0) - (area < 0)


def _close_versus(level: float | None, close: float) -> int:
    if level is None:
        return 0
    above = close - level
    return (above > 0) - (above < 0)


# Each factor reads one frame and votes +1 bullish, -1 bearish, 0 neutral or na.
FACTORS: dict[str, Callable[[FrameState], int]] = {
    "wt_dir": _wt_dir,
    "ha": ha_colour,
    "mfi_area": _mfi_area,
    "ema200": lambda f: _close_versus(f.ema200, f.close),
    "vwap": lambda f: _close_versus(f.vwap, f.close),
}


# The fifteen votes of a state in one fixed order: (interval, factor) for each scored interval,
# the factors in ``FACTORS``' order. ``market_votes``' dict and a candidate's terms follow it.
VOTE_KEYS: tuple[tuple[int, str], ...] = tuple((i, name) for i in SCORED_INTERVALS for name in FACTORS)
_FACTOR_FNS = tuple(FACTORS.values())
_NO_FRAME = (0,) * len(FACTORS)

# A state's votes, once: a candidate's own state is scored for each candidate and side, and
# BTC's and ETH's states of a tick are read by every symbol's candidates. Keyed by identity and
# holding the state itself, so an id is never reused while cached; small, because a tick reuses
# only its own few states (and a tape row its three). Votes read no settings, so a hit is exact.
# The oldest entry leaves as each new one comes: the cache is often the last holder of an old
# tick's state, and emptying it at once freed 64 states' frames and histories inside one
# symbol's decision (0.3-1 ms of that symbol's tick).
_VOTES_KEPT = 64


class _Votes:
    """One state's votes in ``VOTE_KEYS`` order, their sum, and (made when first asked) the dict."""

    __slots__ = ("state", "row", "total", "by_key")

    def __init__(self, state: MarketState) -> None:
        row: tuple[int, ...] = ()
        for interval in SCORED_INTERVALS:
            frame = state.frame(interval)
            row += _NO_FRAME if frame is None else tuple([factor(frame) for factor in _FACTOR_FNS])
        self.state = state
        self.row = row
        self.total = sum(row)
        self.by_key: dict[tuple[int, str], int] | None = None


_votes_cache: OrderedDict[int, _Votes] = OrderedDict()


def _votes(state: MarketState) -> _Votes:
    hit = _votes_cache.get(id(state))
    if hit is not None and hit.state is state:
        return hit
    votes = _Votes(state)
    if len(_votes_cache) >= _VOTES_KEPT:
        try:
            _votes_cache.popitem(last=False)  # one C call: safe while other threads read it
        except KeyError:
            pass  # another thread emptied it meanwhile
    _votes_cache[id(state)] = votes
    return votes


def vote_sums(state: MarketState) -> tuple[tuple[int, ...], int]:
    """A state's vote sum on each scored interval, and the sum of all fifteen (what the bias reads)."""
    votes, n = _votes(state), len(FACTORS)
    return tuple(sum(votes.row[k:k + n]) for k in range(0, len(votes.row), n)), votes.total


def market_votes(state: MarketState) -> dict[tuple[int, str], int]:
    """Every bullish/bearish vote of one symbol, keyed (interval, factor); a missing frame votes 0.
    The dict is shared by every caller asking about the same state: read it, never change it."""
    votes = _votes(state)
    if votes.by_key is None:
        votes.by_key = dict(zip(VOTE_KEYS, votes.row))
    return votes.by_key


# Each vote's reason for each value a vote can take (-1, 0, +1 at index 0, 1, 2), in
# ``VOTE_KEYS`` order, made once per code prefix (none, or a path's): a candidate names its
# fifteen votes every time it is scored, and a reason is a frozen value.
_vote_reasons: dict[str, tuple[tuple[Reason, Reason, Reason], ...]] = {}


def _vote_reasons_for(prefix: str) -> tuple[tuple[Reason, Reason, Reason], ...]:
    made = _vote_reasons.get(prefix)
    if made is None:
        made = _vote_reasons[prefix] = tuple(
            (Reason(f"{prefix}{i}m.{name}", -1), Reason(f"{prefix}{i}m.{name}", 0), Reason(f"{prefix}{i}m.{name}", 1))
            for i, name in VOTE_KEYS)
    return made


def bias_sources(symbol: str, state_tick_ms: int, ctx: EntryContext) -> tuple[list[MarketState], list[Reason]]:
    """The bias states this decision may use, and a reason for each one it had to leave out.

    BTC and ETH take their bias from the other one only; a state from another tick or
    marked stale is left out rather than read late.
    """
    usable: list[MarketState] = []
    skipped: list[Reason] = []
    for name, bias in zip(BIAS_SYMBOLS, (ctx.btc, ctx.eth)):
        if name == symbol:
            continue
        if bias is None:
            skipped.append(Reason(f"bias.{name}", "missing"))
        elif bias.tick_ms != state_tick_ms or bias.is_stale:
            skipped.append(Reason(f"bias.{name}", "stale"))
        else:
            usable.append(bias)
    return usable, skipped


def composite_bias(symbol: str, tick_ms: int, direction: int, ctx: EntryContext, *,
                   prefix: str = "") -> tuple[float, list[Reason]]:
    """The bias in [-1, +1] seen from ``direction``: each bias symbol's fifteen votes averaged, then the
    symbols averaged. Each reason's code starts with ``prefix``."""
    usable, reasons = bias_sources(symbol, tick_ms, ctx)
    if prefix:
        reasons = [Reason(prefix + r.code, r.value) for r in reasons]
    means = []
    for bias in usable:
        votes = _votes(bias)
        mean = direction * votes.total / len(votes.row)
        means.append(mean)
        reasons.append(Reason(f"{prefix}bias.{bias.symbol}", round(mean, SCORE_DECIMALS)))
    return (sum(means) / len(means) if means else 0.0), reasons


def path_base(path: EntryPath, s: StrategySettings) -> float:
    return {"cross_based": s.base_cross_based, "pre_cross": s.base_pre_cross, "ha_reversal": s.base_ha_reversal}[path]


def score_candidate(path: EntryPath, direction: int, state: MarketState, ctx: EntryContext, *,
                    prefix: str = "") -> tuple[float, tuple[Reason, ...]]:
    """``path_base + Σ weight · factor`` for a trade in ``direction`` (+1 long, -1 short), with every term as a reason.

    Every factor and bias reason carries its value as seen from the trade's side, so a
    long and its mirrored short give identical reasons. Each reason's code starts with
    ``prefix`` (the cascade journals them as ``"<path>."``, made here rather than copied after).
    The terms are added in ``VOTE_KEYS`` order, one at a time: the score's bits depend on it.
    """
    s = ctx.strategy
    base = path_base(path, s)
    total = base
    reasons: list[Reason] = [Reason(f"{prefix}base", base)]
    per_interval = len(FACTORS)
    weights = (s.weight_3m,) * per_interval + (s.weight_5m,) * per_interval + (s.weight_15m,) * per_interval
    for weight, vote, named in zip(weights, _votes(state).row, _vote_reasons_for(prefix)):
        aligned = vote * direction
        total += weight * aligned
        reasons.append(named[aligned + 1])  # a vote and a direction are -1, 0 or +1
    aligned_bias, bias_reasons = composite_bias(state.symbol, state.tick_ms, direction, ctx, prefix=prefix)
    total += s.weight_bias * aligned_bias
    reasons += bias_reasons
    reasons.append(Reason(f"{prefix}bias", round(aligned_bias, SCORE_DECIMALS)))
    score = round(total, SCORE_DECIMALS)
    reasons.append(Reason(f"{prefix}score", score))
    return score, tuple(reasons)
