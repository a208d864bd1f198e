"""Synthetic 1m klines for tuning tests, generated in the test and seeded: a random walk with
BTC's 1m volatility (no edge can exist in it), or a planted, persistent oscillation a mean-reverting
entry can exploit. Written in the shipped file shape (or the 6-column export shape) with the
shipped instrument rules."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "data" / "klines"
MINUTE_MS = 60_000
START_MS = 1_748_736_000_000  # 2025-06-01 00:00 UTC
TICK = 0.1  # BTCUSDT's tick size in the shipped rules
VOLATILITY_1M = 0.0005  # about BTC's 1m standard deviation of returns


def random_walk(minutes: int, seed: int, price: float = 60_000.0) -> np.ndarray:
    """[minutes, 4] OHLC of a driftless random walk: no pattern for any strategy to find."""
    rng = np.random.default_rng(seed)
    closes = price * np.exp(np.cumsum(rng.normal(0.0, VOLATILITY_1M, minutes)))
    return _ohlc(closes, rng, price)


def planted(minutes: int, seed: int, price: float = 60_000.0, drift: float = 0.0002, half_life: float = 5.0,
            volatility: float = 0.002) -> np.ndarray:
    """A persistent trend with pull-backs that always recover: a steady ``drift`` per minute plus
    an Ornstein-Uhlenbeck wobble (``half_life`` minutes). Every dip is pulled back onto the trend,
    the same way all the time: what the strategy's oversold entries in a rising context exploit."""
    rng = np.random.default_rng(seed)
    keep = 0.5 ** (1.0 / half_life)
    x = np.empty(minutes)
    level = 0.0
    for i, e in enumerate(rng.normal(0.0, volatility, minutes)):
        level = level * keep + e
        x[i] = level
    return _ohlc(price * np.exp(x + drift * np.arange(minutes)), rng, price)


def _ohlc(closes: np.ndarray, rng: np.random.Generator, first_open: float) -> np.ndarray:
    opens = np.concatenate(([first_open], closes[:-1]))
    wick = np.abs(rng.normal(0.0, VOLATILITY_1M / 3, (2, len(closes))))
    highs = np.maximum(opens, closes) * (1 + wick[0])
    lows = np.minimum(opens, closes) * (1 - wick[1])
    return np.stack([opens, highs, lows, closes], axis=1)


def write_symbol(directory: Path, symbol: str, ohlc: np.ndarray, start_ms: int = START_MS, *, turnover: bool = True,
                 skip: tuple[int, int] | None = None) -> Path:
    """``SYMBOL-1m.csv.gz`` from ``start_ms``; ``skip=(i, j)`` leaves minutes i..j-1 out (a gap)."""
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "instruments-bybit-linear.csv").exists():
        shutil.copyfile(DATA / "instruments-bybit-linear.csv", directory / "instruments-bybit-linear.csv")
    path = directory / f"{symbol}-1m.csv.gz"
    ticks = np.round(ohlc / TICK).astype(np.int64)
    with gzip.open(path, "wt", compresslevel=1) as f:
        f.write("start_ms,open,high,low,close,volume" + (",turnover\n" if turnover else "\n"))
        for i, (o, h, low, c) in enumerate(ticks):
            if skip is not None and skip[0] <= i < skip[1]:
                continue
            row = f"{start_ms + i * MINUTE_MS},{o / 10:.1f},{h / 10:.1f},{low / 10:.1f},{c / 10:.1f},12.5"
            f.write(row + (",750000\n" if turnover else "\n"))
    return path
