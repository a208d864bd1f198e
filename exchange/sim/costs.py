"""What the venue charges beyond its fee rates, as pure arithmetic shared by the engine and the
tuning trial (``backtest.trial``), which must price every fill exactly as the venue does.

Prices here are whole ticks (a price divided by the symbol's tick size), so every fill stays on
the tick grid, as a real fill does, and both callers round the same way: always against the
taker. Amounts given in basis points of price are taken of the magnitude of the reference price.

- Spread: the venue keeps no book, so the last price stands for the mid and a taker pays half a
  spread on top of it. ``spread_bps`` sets the spread; 0 means one tick of the symbol (the
  narrowest book there is), so half of it, rounded against the taker, costs a whole tick.
- Stop slippage: a stop-market exit fills ``stop_slippage_bps`` beyond the price that triggered
  it, then half a spread on top, as any taker. That price is its trigger when the path trades
  through it; when the bar gapped through it (opened beyond it, or the path already stood beyond
  it), the first price beyond, the open: a stop triggers on the first trade past it and its market
  order meets the book there, not at the bar's extreme, which may come a minute later.
- Funding: every 8 h (00/08/16 UTC) each open position pays ``size × mark × rate`` (a long pays a
  positive rate, a short receives it). The shipped data has no funding series, so the rate is a
  constant (0.01 %, Bybit's usual base rate) unless a CSV of historical rates is given.
- Partial fills: a resting limit whose price the bar only touches (never trading
  ``fill_through_ticks`` beyond it) fills ``touch_fill_fraction`` of what is left, at its price,
  at the close of that bar.
"""

from __future__ import annotations

import csv
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import msgspec

FUNDING_EVERY_MS = 8 * 3_600_000  # 00:00, 08:00 and 16:00 UTC
_BPS = Decimal(10_000)


class Costs(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's cost model; each part can be switched off on its own."""

    stop_slippage: bool = True
    stop_slippage_bps: float = 2.0
    spread: bool = True
    spread_bps: float = 0.0  # 0: one tick of the symbol
    funding: bool = True
    funding_rate: float = 0.0001
    partial_fills: bool = True
    touch_fill_fraction: float = 0.5


NO_COSTS = Costs(stop_slippage=False, spread=False, funding=False, partial_fills=False)


def _ceil_bps(magnitude_ticks: int, bps: Decimal) -> int:
    return int((Decimal(abs(magnitude_ticks)) * bps / _BPS).to_integral_value(ROUND_CEILING))


def half_spread_ticks(costs: Costs, reference_ticks: int) -> int:
    """Ticks a taker pays beyond the reference price: half the spread, rounded against it."""
    if not costs.spread:
        return 0
    if costs.spread_bps == 0:
        return 1  # half of a one-tick spread, on the tick grid
    return _ceil_bps(reference_ticks, Decimal(str(costs.spread_bps)) / 2)


def stop_slippage_ticks(costs: Costs, trigger_ticks: int) -> int:
    """The least distance, in ticks, between a stop's trigger and its fill."""
    if not costs.stop_slippage or costs.stop_slippage_bps == 0:
        return 0
    return _ceil_bps(trigger_ticks, Decimal(str(costs.stop_slippage_bps)))


def stop_reference_ticks(costs: Costs, trigger: int, at: int, gapped_at: int | None, falling: bool) -> int:
    """The price a stop-market that triggered at ``trigger`` executes against, before the spread.
    ``at`` is where the path stood when it triggered (the trigger, or beyond it when the path was
    already past it). ``falling``: a sell stop (a long's stop), executed below; else a buy stop,
    above. ``gapped_at`` is the first price beyond the trigger when the bar gapped through it (the
    bar's open), else None: the slippage is then taken beyond that price. Without stop slippage:
    ``at``."""
    if not costs.stop_slippage:
        return at
    d = -1 if falling else 1
    worst = trigger + d * stop_slippage_ticks(costs, trigger)
    beyond_gap = gapped_at + d * stop_slippage_ticks(costs, gapped_at) if gapped_at is not None else None
    for other in (at, beyond_gap):
        if other is not None:
            worst = min(worst, other) if falling else max(worst, other)
    return worst


def taker_fill_ticks(costs: Costs, reference: int, buy: bool) -> int:
    """A taker's fill against ``reference`` (the last price, or a stop's reference): half a spread worse."""
    return reference + (1 if buy else -1) * half_spread_ticks(costs, reference)


def stop_fill_ticks(costs: Costs, trigger: int, at: int, gapped_at: int | None, falling: bool) -> int:
    """Where a stop-market that triggered at ``trigger`` fills: its reference, half a spread worse."""
    return taker_fill_ticks(costs, stop_reference_ticks(costs, trigger, at, gapped_at, falling), buy=not falling)


def touch_fill_qty(costs: Costs, leaves: Decimal, qty_step: Decimal) -> Decimal:
    """What a bar that only touches a resting limit fills of its ``leaves``: the fraction,
    floored to the qty step (0: nothing fills)."""
    if not costs.partial_fills or costs.touch_fill_fraction <= 0:
        return Decimal(0)
    share = leaves * Decimal(str(costs.touch_fill_fraction))
    return min(leaves, (share / qty_step).to_integral_value(ROUND_FLOOR) * qty_step)


def is_funding_time(ms: int) -> bool:
    return ms % FUNDING_EVERY_MS == 0


class FundingRates:
    """The rate of each (symbol, settlement time): from a CSV when given, else the constant.

    The CSV has the columns of Bybit's ``/v5/market/funding/history`` rows: ``symbol``,
    ``fundingRateTimestamp`` (ms) and ``fundingRate``. A settlement the file does not list
    falls back to the constant rate."""

    def __init__(self, constant: float, table: dict[tuple[str, int], Decimal] | None = None) -> None:
        self.constant = Decimal(str(constant))
        self.table = table or {}

    def rate(self, symbol: str, ms: int) -> Decimal:
        return self.table.get((symbol, ms), self.constant)

    @classmethod
    def load(cls, constant: float, path: str | Path | None) -> "FundingRates":
        if not path:
            return cls(constant)
        table: dict[tuple[str, int], Decimal] = {}
        with open(path, newline="") as f:
            for n, row in enumerate(csv.DictReader(f), start=2):
                try:
                    ms, rate = int(row["fundingRateTimestamp"]), Decimal(row["fundingRate"])
                    symbol = row["symbol"]
                except (KeyError, ValueError, ArithmeticError, TypeError):
                    raise ValueError(f"{path}:{n}: expected symbol,fundingRateTimestamp,fundingRate, got {row}") from None
                if not rate.is_finite() or not math.isfinite(float(rate)):
                    raise ValueError(f"{path}:{n}: fundingRate {row['fundingRate']!r} is not a number")
                table[(symbol, ms)] = rate
        return cls(constant, table)
