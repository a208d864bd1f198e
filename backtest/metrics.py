"""The numbers traders judge a run by, from its closed trades and its per-minute equity: pure
functions, so each formula is tested on hand-made inputs.

Conventions: a win is a trade with pnl_usdt > 0 (after fees); R statistics skip trades without
R (adopted positions); Sharpe and Sortino use daily returns (equity at each UTC day's last
minute), annualised with sqrt(365) because crypto trades every day; drawdown duration is the
longest stretch below a previous peak, in ms; a ratio whose denominator is zero is None.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from decimal import Decimal

import msgspec

from actors.messages import TradeClosed

DAY_MS = 86_400_000


class Group(msgspec.Struct, frozen=True, kw_only=True):
    trades: int
    win_rate: float | None
    avg_r: float | None
    net_pnl_usdt: float


class Drawdown(msgspec.Struct, frozen=True, kw_only=True):
    usdt: float
    pct: float
    duration_ms: int


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    trades: int
    win_rate: float | None
    avg_r: float | None
    median_r: float | None
    expectancy_r: float | None
    expectancy_usdt: float | None
    profit_factor: float | None
    net_pnl_usdt: float
    fees_usdt: float
    final_equity: float
    return_pct: float
    # Equity change not explained by the closed trades: open positions at the end, and round trips
    # the router never saw (filled and stopped inside one minute, between two reconciliations).
    unexplained_usdt: float
    max_drawdown: Drawdown
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    exposure: float | None
    days: float
    trades_per_day: float | None
    by_path: dict[str, Group]
    by_symbol: dict[str, Group]
    by_side: dict[str, Group]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def group(trades: Sequence[TradeClosed]) -> Group:
    rs = [t.pnl_r for t in trades if t.pnl_r is not None]
    return Group(
        trades=len(trades),
        win_rate=sum(t.pnl_usdt > 0 for t in trades) / len(trades) if trades else None,
        avg_r=_mean(rs),
        net_pnl_usdt=float(sum((t.pnl_usdt for t in trades), Decimal(0))),
    )


def breakdown(trades: Sequence[TradeClosed], key: Callable[[TradeClosed], str]) -> dict[str, Group]:
    groups: dict[str, list[TradeClosed]] = {}
    for trade in trades:
        groups.setdefault(key(trade), []).append(trade)
    return {name: group(groups[name]) for name in sorted(groups)}


def profit_factor(pnls: Sequence[Decimal]) -> float | None:
    won = sum((p for p in pnls if p > 0), Decimal(0))
    lost = -sum((p for p in pnls if p < 0), Decimal(0))
    return float(won / lost) if lost else None


def max_drawdown(equity: Sequence[tuple[int, float]]) -> Drawdown:
    """Deepest fall from a running peak (USDT and % of that peak) and the longest time under one."""
    worst, worst_pct, longest = 0.0, 0.0, 0
    peak: float | None = None
    peak_ms = 0
    for ts, value in equity:
        if peak is None or value >= peak:
            peak, peak_ms = value, ts
            continue
        fall = peak - value
        if fall > worst:
            worst, worst_pct = fall, fall / peak * 100 if peak else 0.0
        longest = max(longest, ts - peak_ms)
    return Drawdown(usdt=worst, pct=worst_pct, duration_ms=longest)


def daily_returns(equity: Sequence[tuple[int, float]], initial: float) -> list[float]:
    """Return of each UTC day, from the previous day's close (the first from ``initial``)."""
    closes: dict[int, float] = {}
    for ts, value in equity:
        closes[(ts - 1) // DAY_MS] = value  # a boundary at 00:00 closes the day before
    out, previous = [], initial
    for day in sorted(closes):
        value = closes[day]
        out.append(value / previous - 1 if previous else 0.0)
        previous = value
    return out


def sharpe(returns: Sequence[float]) -> float | None:
    if len(returns) < 2:
        return None
    sd = statistics.stdev(returns)
    return statistics.fmean(returns) / sd * math.sqrt(365) if sd else None


def sortino(returns: Sequence[float]) -> float | None:
    if len(returns) < 2:
        return None
    downside = math.sqrt(statistics.fmean([min(r, 0.0) ** 2 for r in returns]))
    return statistics.fmean(returns) / downside * math.sqrt(365) if downside else None


def calmar(initial: float, final: float, days: float, drawdown_pct: float) -> float | None:
    if days <= 0 or drawdown_pct <= 0 or initial <= 0 or final <= 0:
        return None
    annual = (final / initial) ** (365 / days) - 1
    return annual / (drawdown_pct / 100)


def compute(trades: Sequence[TradeClosed], equity: Sequence[tuple[int, Decimal, int]], initial: Decimal,
            start_ms: int, end_ms: int) -> Metrics:
    """Every metric of one run. ``equity`` is (boundary, equity, open positions) per minute."""
    pnls = [t.pnl_usdt for t in trades]
    rs = [t.pnl_r for t in trades if t.pnl_r is not None]
    curve = [(ts, float(value)) for ts, value, _ in equity]
    start_value = float(initial)
    final = curve[-1][1] if curve else start_value
    days = (end_ms - start_ms) / DAY_MS
    drawdown = max_drawdown([(start_ms, start_value), *curve])
    returns = daily_returns(curve, start_value)
    net = sum(pnls, Decimal(0))
    return Metrics(
        trades=len(trades),
        win_rate=sum(p > 0 for p in pnls) / len(pnls) if pnls else None,
        avg_r=_mean(rs),
        median_r=statistics.median(rs) if rs else None,
        expectancy_r=_mean(rs),
        expectancy_usdt=float(net / len(pnls)) if pnls else None,
        profit_factor=profit_factor(pnls),
        net_pnl_usdt=float(net),
        fees_usdt=float(sum((t.fees for t in trades), Decimal(0))),
        final_equity=final,
        return_pct=(final / start_value - 1) * 100 if start_value else 0.0,
        unexplained_usdt=final - start_value - float(net),
        max_drawdown=drawdown,
        sharpe=sharpe(returns),
        sortino=sortino(returns),
        calmar=calmar(start_value, final, days, drawdown.pct),
        exposure=sum(1 for *_, n in equity if n > 0) / len(equity) if equity else None,
        days=days,
        trades_per_day=len(trades) / days if days > 0 else None,
        by_path=breakdown(trades, lambda t: t.path or "adopted"),
        by_symbol=breakdown(trades, lambda t: t.symbol),
        by_side=breakdown(trades, lambda t: "long" if t.side == "Buy" else "short"),
    )
