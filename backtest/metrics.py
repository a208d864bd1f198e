"""The numbers traders judge a run by, from its closed trades and its per-minute equity: pure
functions, so each formula is tested on hand-made inputs.

Conventions: a win is a trade with pnl_usdt > 0 (after fees); R statistics skip trades without
R (adopted positions); Sharpe and Sortino use daily returns (equity at each UTC day's last
minute), annualised with sqrt(365) because crypto trades every day; drawdown duration is the
longest stretch below a previous peak, in ms; a ratio whose denominator is zero is None.

Where the money went (``MoneyFlow``): net = gross - fees - slippage - funding, per trade from
``TradeClosed`` (gross at the orders' own prices; slippage what taker fills lost beyond them to
spread, stop slippage and gaps; funding paid while open). In R each part is divided by the
trade's risk at its stop (|entry - stop| x qty) and averaged over the trades that have one.
A stop's distance is measured in bps of the entry and in multiples of the round-trip cost at
the run's venue (maker entry + taker exit at the stop + the stop slippage and half spread).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import msgspec

from vocabulary.messages import TradeClosed
from exchange.sim.config import SimConfig
from exchange.sim.costs import half_spread_ticks
from exchange.sim.market import load_instruments

DAY_MS = 86_400_000


class Group(msgspec.Struct, frozen=True, kw_only=True):
    trades: int
    win_rate: float | None
    avg_r: float | None
    net_pnl_usdt: float


EXIT_KINDS = ("stop", "target", "break_even", "ttl", "liquidation", "manual", "unknown")


class MoneyFlow(msgspec.Struct, frozen=True, kw_only=True):
    """Where a set of trades' money went; ``*_r`` are means per trade with a risk."""

    trades: int
    gross_usdt: float
    fees_usdt: float
    slippage_usdt: float
    funding_usdt: float
    net_usdt: float
    r_trades: int
    gross_r: float | None
    fees_r: float | None
    slippage_r: float | None
    funding_r: float | None
    net_r: float | None
    exits: dict[str, int]  # every kind of EXIT_KINDS, 0 when none ended so


class Spread(msgspec.Struct, frozen=True, kw_only=True):
    """A distribution by its quantiles."""

    min: float
    p10: float
    p25: float
    median: float
    p75: float
    p90: float
    max: float


class StopDistances(msgspec.Struct, frozen=True, kw_only=True):
    trades: int  # trades with a known stop
    bps: Spread | None
    cost_multiple: Spread | None  # stop distance / round-trip cost
    round_trip_bps: float | None  # the mean round-trip cost the multiples were taken of
    under_1x: float | None  # share of trades whose stop was closer than 1x / 2x / 3x the round trip
    under_2x: float | None
    under_3x: float | None


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
    money: MoneyFlow | None = None
    money_by_path: dict[str, MoneyFlow] = {}
    money_by_symbol: dict[str, MoneyFlow] = {}
    stops: StopDistances | None = None


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


def risk_usdt(trade: TradeClosed) -> Decimal | None:
    """What the trade risked at its stop: |entry - stop| x qty, or from its PnL and R."""
    if trade.stop_price is not None and trade.stop_price != trade.entry_price:
        return abs(trade.entry_price - trade.stop_price) * trade.qty
    if trade.pnl_r:
        return abs(trade.pnl_usdt / Decimal(repr(trade.pnl_r)))
    return None


def money_flow(trades: Sequence[TradeClosed]) -> MoneyFlow:
    zero = Decimal(0)
    total = lambda f: sum((f(t) for t in trades), zero)  # noqa: E731
    risked = [(t, r) for t in trades if (r := risk_usdt(t)) is not None and r > 0]

    def per_r(f: Callable[[TradeClosed], Decimal]) -> float | None:
        return statistics.fmean(float(f(t) / r) for t, r in risked) if risked else None

    exits = dict.fromkeys(EXIT_KINDS, 0)
    for t in trades:
        exits[t.exit_reason] = exits.get(t.exit_reason, 0) + 1
    return MoneyFlow(
        trades=len(trades),
        gross_usdt=float(total(lambda t: t.gross_usdt)), fees_usdt=float(total(lambda t: t.fees)),
        slippage_usdt=float(total(lambda t: t.slippage_usdt)), funding_usdt=float(total(lambda t: t.funding_usdt)),
        net_usdt=float(total(lambda t: t.pnl_usdt)), r_trades=len(risked),
        gross_r=per_r(lambda t: t.gross_usdt), fees_r=per_r(lambda t: t.fees),
        slippage_r=per_r(lambda t: t.slippage_usdt), funding_r=per_r(lambda t: t.funding_usdt),
        net_r=per_r(lambda t: t.pnl_usdt), exits=exits,
    )


def money_breakdown(trades: Sequence[TradeClosed], key: Callable[[TradeClosed], str]) -> dict[str, MoneyFlow]:
    groups: dict[str, list[TradeClosed]] = {}
    for trade in trades:
        groups.setdefault(key(trade), []).append(trade)
    return {name: money_flow(groups[name]) for name in sorted(groups)}


def spread(values: Sequence[float]) -> Spread | None:
    if not values:
        return None
    ordered = sorted(values)
    q = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))]  # noqa: E731  (nearest rank)
    return Spread(min=ordered[0], p10=q(0.10), p25=q(0.25), median=statistics.median(ordered), p75=q(0.75),
                  p90=q(0.90), max=ordered[-1])


def stop_bps(trade: TradeClosed) -> float | None:
    if trade.stop_price is None or not trade.entry_price:
        return None
    return float(abs(trade.entry_price - trade.stop_price) / trade.entry_price * 10_000)


RoundTrip = Callable[[TradeClosed], float]


def venue_round_trip(config: SimConfig, tick_sizes: Mapping[str, Decimal]) -> RoundTrip:
    """The round-trip cost of a trade at this venue, in bps: the maker entry, the taker exit at the
    stop, and, when the venue charges them, the stop slippage and half a spread at the stop."""
    fees = (config.maker_fee + config.taker_fee) * 10_000
    costs = config.costs
    slip = costs.stop_slippage_bps if costs.stop_slippage else 0.0

    def bps(trade: TradeClosed) -> float:
        tick = tick_sizes.get(trade.symbol)
        price = trade.stop_price or trade.entry_price
        half = 0.0
        if tick is not None and price:
            half = float(half_spread_ticks(costs, int(price / tick)) * tick / price * 10_000)
        return fees + slip + half

    return bps


def venue_round_trip_of(config: SimConfig) -> RoundTrip:
    """``venue_round_trip`` with the tick sizes of the instrument rules ``config`` replays."""
    rules = load_instruments(Path(config.data_dir) / "instruments-bybit-linear.csv")
    return venue_round_trip(config, {symbol: r.tick_size for symbol, r in rules.items()})


def stop_distances(trades: Sequence[TradeClosed], round_trip: RoundTrip | None) -> StopDistances:
    known = [(t, b) for t in trades if (b := stop_bps(t)) is not None]
    if not known:
        return StopDistances(trades=0, bps=None, cost_multiple=None, round_trip_bps=None,
                             under_1x=None, under_2x=None, under_3x=None)
    multiples = [b / round_trip(t) for t, b in known if round_trip(t) > 0] if round_trip is not None else []
    share = lambda k: sum(m < k for m in multiples) / len(multiples) if multiples else None  # noqa: E731
    return StopDistances(
        trades=len(known), bps=spread([b for _, b in known]), cost_multiple=spread(multiples),
        round_trip_bps=statistics.fmean(round_trip(t) for t, _ in known) if round_trip is not None else None,
        under_1x=share(1), under_2x=share(2), under_3x=share(3),
    )


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
            start_ms: int, end_ms: int, round_trip: RoundTrip | None = None) -> Metrics:
    """Every metric of one run. ``equity`` is (boundary, equity, open positions) per minute;
    ``round_trip`` prices a trade's round trip in bps (``venue_round_trip``) for the stop multiples."""
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
        money=money_flow(trades),
        money_by_path=money_breakdown(trades, lambda t: t.path or "adopted"),
        money_by_symbol=money_breakdown(trades, lambda t: t.symbol),
        stops=stop_distances(trades, round_trip),
    )
