"""Indicator speed: streaming µs per bar, the symbol actor's per-tick cost, and batch throughput.

Run with ``python bench/indicators.py``. Prints a table (what, figure, target, peer ratio)
and, as its last line, one JSON object with the figures. Data: the 30 days of real 1m
klines in data/klines. The peer (TA-Lib) runs only if ``import talib`` works here.
"""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocabulary.messages import Kline  # noqa: E402
from indicators.columns import compute_columns  # noqa: E402
from indicators.ema import Ema  # noqa: E402
from indicators.frame import COMPILED, FrameIndicators, PythonFrameIndicators  # noqa: E402
from indicators.heikin_ashi import HeikinAshi  # noqa: E402
from indicators.kernels import KERNELS, KERNELS_LABEL  # noqa: E402
from indicators.mfi import Mfi, RsiMfiArea  # noqa: E402
from indicators.params import IndicatorParams  # noqa: E402
from indicators.pine import hlc3  # noqa: E402
from indicators.vwap import SessionVwap  # noqa: E402
from indicators.wavetrend import CipherB, WaveTrend  # noqa: E402

KLINES = ROOT / "data" / "klines"
TIMEFRAMES = (1, 3, 5, 15)
SYMBOLS_PER_TICK = 25
TICK_MINUTES = 3 * 1440
ONE_MILLION = 1_000_000


def load(symbol: str) -> dict[str, np.ndarray]:
    with gzip.open(KLINES / f"{symbol}-1m.csv.gz", "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {k: np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close", "volume")}
    cols["start_ms"] = np.array([int(r["start_ms"]) for r in rows], dtype=np.int64)
    return cols


def klines(symbol: str, bars: dict[str, np.ndarray], limit: int | None = None) -> dict[int, list[tuple[int, Kline]]]:
    """Per timeframe, (index of the 1m bar that closes it, Kline), aggregated the way Bybit builds them."""
    out: dict[int, list[tuple[int, Kline]]] = {tf: [] for tf in TIMEFRAMES}
    n = len(bars["start_ms"]) if limit is None else limit
    t, o, h, l, c, v = (bars[k].tolist() for k in ("start_ms", "open", "high", "low", "close", "volume"))
    for tf in TIMEFRAMES:
        span = tf * 60_000
        i = 0
        while i < n:
            bucket = t[i] // span
            j = i
            while j + 1 < n and t[j + 1] // span == bucket:
                j += 1
            if (t[j] + 60_000) % span == 0:  # only complete (closed) bars
                out[tf].append((j, Kline(symbol=symbol, interval=tf, start_ms=bucket * span, open=o[i],
                                         high=max(h[i : j + 1]), low=min(l[i : j + 1]), close=c[j],
                                         volume=sum(v[i : j + 1]))))
            i = j + 1
    return out


def per_bar_us(update, *columns: list) -> float:
    start = time.perf_counter()
    for args in zip(*columns):
        update(*args)
    return (time.perf_counter() - start) / len(columns[0]) * 1e6


def streaming_figures(bars: dict[str, np.ndarray]) -> dict[str, float]:
    t = bars["start_ms"].tolist()
    o, h, l, c, v = (bars[k].tolist() for k in ("open", "high", "low", "close", "volume"))
    src = hlc3(bars["high"], bars["low"], bars["close"]).tolist()
    p = IndicatorParams()
    return {
        "heikin_ashi": per_bar_us(HeikinAshi().update, o, h, l, c),
        "wavetrend_vmc_with_signals": per_bar_us(CipherB(p.vmc).update, h, l, c),
        "wavetrend_lazybear": per_bar_us(WaveTrend(p.lazybear).update, src),
        "mfi": per_bar_us(Mfi(p.mfi_length).update, src, v),
        "rsi_mfi_area": per_bar_us(RsiMfiArea().update, o, h, l, c),
        "ema200": per_bar_us(Ema(p.ema_length).update, c),
        "vwap": per_bar_us(SessionVwap().update, t, src, v),
    }


def frame_update_figures(symbol: str, bars: dict[str, np.ndarray], kind=FrameIndicators) -> dict[str, float]:
    """FrameIndicators.update per call, and the whole 4-timeframe set per 1m bar."""
    per_tf = klines(symbol, bars)
    frames = {tf: kind(tf) for tf in TIMEFRAMES}
    timeline = sorted((j, tf, k) for tf, items in per_tf.items() for j, k in items)
    calls = []
    start = time.perf_counter()
    for _, tf, k in timeline:
        s = time.perf_counter_ns()
        frames[tf].update(k)
        calls.append(time.perf_counter_ns() - s)
    total = time.perf_counter() - start
    calls.sort()
    return {
        "frame_update_mean_us": statistics.fmean(calls) / 1e3,
        "frame_update_p99_us": calls[int(len(calls) * 0.99)] / 1e3,
        "set_4tf_us_per_1m_bar": total / len(bars["start_ms"]) * 1e6,
    }


def tick_figures(all_bars: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """25 symbols x 4 timeframes, fed tick by tick as the symbol actors will: time per tick."""
    names = sorted(all_bars)
    symbols = [f"{names[i % len(names)]}#{i}" for i in range(SYMBOLS_PER_TICK)]
    feeds = {s: klines(s, all_bars[s.split("#")[0]], limit=TICK_MINUTES) for s in symbols}
    per_tick: dict[int, list[tuple[FrameIndicators, Kline]]] = {}
    for s in symbols:
        frames = {tf: FrameIndicators(tf) for tf in TIMEFRAMES}
        for tf, items in feeds[s].items():
            for _, k in items:
                per_tick.setdefault(k.end_ms, []).append((frames[tf], k))
    ticks, full = [], []
    for boundary in sorted(per_tick):
        work = per_tick[boundary]
        s = time.perf_counter_ns()
        for frame, k in work:
            frame.update(k)
        elapsed = time.perf_counter_ns() - s
        ticks.append(elapsed)
        if len(work) == SYMBOLS_PER_TICK * len(TIMEFRAMES):
            full.append(elapsed)
    ticks.sort()
    full.sort()
    return {
        "tick_p99_ms": ticks[int(len(ticks) * 0.99)] / 1e6,
        "tick_100_updates_p99_ms": full[int(len(full) * 0.99)] / 1e6,
        "tick_100_updates_max_ms": full[-1] / 1e6,
    }


def tiled(bars: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    reps = -(-n // len(bars["start_ms"]))
    out = {k: np.tile(v, reps)[:n] for k, v in bars.items() if k != "start_ms"}
    out["start_ms"] = bars["start_ms"][0] + np.arange(n, dtype=np.int64) * 60_000
    return out


def batch_seconds(bars: dict[str, np.ndarray]) -> float:
    start = time.perf_counter()
    compute_columns(bars["start_ms"], bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"])
    return time.perf_counter() - start


def talib_seconds(bars: dict[str, np.ndarray]) -> float | None:
    """The same column set from TA-Lib's C primitives (HA open as its alpha-1/2 EMA); None when absent."""
    try:
        import talib
    except ImportError:
        return None
    o, h, l, c, v = (bars[k] for k in ("open", "high", "low", "close", "volume"))
    start = time.perf_counter()
    ha_close = (o + h + l + c) / 4
    ha_open = talib.EMA(ha_close, 3)
    np.maximum(h, np.maximum(ha_open, ha_close))
    np.minimum(l, np.minimum(ha_open, ha_close))
    np.sign(ha_close - ha_open)
    ap = (h + l + c) / 3
    for channel, average, ma in ((10, 21, 4), (9, 12, 3)):
        esa = talib.EMA(ap, channel)
        d = talib.EMA(np.abs(ap - esa), channel)
        wt1 = talib.EMA((ap - esa) / (0.015 * d), average)
        talib.SMA(wt1, ma)
    talib.MFI(h, l, c, v, 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        talib.SMA((c - o) / (h - l) * 150, 60)
    talib.EMA(c, 200)
    day = bars["start_ms"] // 86_400_000
    cuts = np.flatnonzero(np.diff(day)) + 1
    for seg_v, seg_pv in zip(np.split(v, cuts), np.split(ap * v, cuts)):
        np.cumsum(seg_pv) / np.cumsum(seg_v)
    return time.perf_counter() - start


def main() -> None:
    all_bars = {p.name.split("-")[0]: load(p.name.split("-")[0]) for p in sorted(KLINES.glob("*-1m.csv.gz"))}
    btc = all_bars["BTCUSDT"]
    figures: dict[str, object] = {"bars_30d": len(btc["start_ms"])}
    figures["streaming_us_per_bar"] = streaming_figures(btc)
    figures["frame_compiled"] = COMPILED
    figures.update(frame_update_figures("BTCUSDT", btc))
    # The Python set the compiled one transcribes (indicators/_frame.c), on the same bars.
    figures.update({f"python_{k}": v for k, v in frame_update_figures("BTCUSDT", btc, PythonFrameIndicators).items()})
    figures.update(tick_figures(all_bars))
    figures["batch_kernels"] = KERNELS
    batch_seconds({k: v[:500] for k, v in btc.items()})  # numba compiles (or loads its cache) on first use
    figures["batch_30d_s"] = batch_seconds(btc)
    million = tiled(btc, ONE_MILLION)
    figures["batch_1m_bars_s"] = batch_seconds(million)
    peer = talib_seconds(million)
    figures["talib_1m_bars_s"] = peer
    figures["batch_vs_talib_ratio"] = None if peer is None else figures["batch_1m_bars_s"] / peer

    rows = [(f"streaming {name}", f"{us:.2f} µs/bar", "", "") for name, us in figures["streaming_us_per_bar"].items()]
    rows += [
        (f"FrameIndicators.update mean ({'compiled' if COMPILED else 'Python: not compiled'})",
         f"{figures['frame_update_mean_us']:.2f} µs", "",
         f"the Python set {figures['python_frame_update_mean_us']:.2f} µs"),
        ("FrameIndicators.update p99", f"{figures['frame_update_p99_us']:.2f} µs", "< 20 µs",
         f"the Python set {figures['python_frame_update_p99_us']:.2f} µs"),
        ("full set, 4 timeframes, per 1m bar", f"{figures['set_4tf_us_per_1m_bar']:.2f} µs", "<= 25 µs",
         f"the Python set {figures['python_set_4tf_us_per_1m_bar']:.2f} µs"),
        ("tick, 25 symbols x due frames, p99", f"{figures['tick_p99_ms']:.3f} ms", "", ""),
        ("tick, 25 symbols x 4 frames, p99", f"{figures['tick_100_updates_p99_ms']:.3f} ms", "< 2 ms", ""),
        ("batch kernels", KERNELS_LABEL, "", ""),
        (f"batch, 30 days ({figures['bars_30d']} bars)", f"{figures['batch_30d_s']:.3f} s", "", ""),
        ("batch, 1,000,000 1m bars", f"{figures['batch_1m_bars_s']:.2f} s", "<= 1.5 s",
         "TA-Lib not installed: no peer" if peer is None else f"{figures['batch_vs_talib_ratio']:.1f}x TA-Lib"),
    ]
    if peer is not None:
        rows.append(("TA-Lib, same column set, 1,000,000 bars", f"{peer:.3f} s", "", "not bit-exact (peer only)"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("what", "figure", "target", "peer")
    widths = [max(w, len(hd)) for w, hd in zip(widths, header)]
    for r in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
