"""Real sample bars for actor tests: the shipped Bybit 1m klines and the higher timeframes
aggregated from them exactly as the simulator aggregates them."""

from __future__ import annotations

import csv
import gzip
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from vocabulary.messages import Kline
from exchange.sim.aggregate import aggregate
from exchange.sim.market import Bar

DATA = Path(__file__).resolve().parents[2] / "data" / "klines"


@lru_cache(maxsize=8)
def bars_1m(symbol: str, minutes: int) -> tuple[Bar, ...]:
    rows = []
    with gzip.open(DATA / f"{symbol}-1m.csv.gz", "rt") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= minutes:
                break
            rows.append(Bar(
                start_ms=int(row["start_ms"]), open=Decimal(row["open"]), high=Decimal(row["high"]),
                low=Decimal(row["low"]), close=Decimal(row["close"]), volume=Decimal(row["volume"]),
            ))
    return tuple(rows)


def to_kline(symbol: str, interval: int, bar: Bar, confirmed: bool = True) -> Kline:
    return Kline(
        symbol=symbol, interval=interval, start_ms=bar.start_ms, open=float(bar.open), high=float(bar.high),
        low=float(bar.low), close=float(bar.close), volume=float(bar.volume), confirmed=confirmed,
    )


def feed(symbol: str, minutes: int, timeframes=(1, 3, 5, 15)) -> list[Kline]:
    """Confirmed klines of every timeframe in the order a feed delivers them: by close time,
    shortest timeframe first at a shared boundary."""
    one = bars_1m(symbol, minutes)
    out = []
    for tf in timeframes:
        bars = one if tf == 1 else aggregate(one, tf)
        out += [to_kline(symbol, tf, b) for b in bars]
    return sorted(out, key=lambda k: (k.end_ms, k.interval))
