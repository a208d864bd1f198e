"""Per-bar decision cost of one symbol, stage by stage, beside the indicators alone.

Run with ``python bench/decide.py [--warm MINUTES] [--minutes MINUTES]``. The 7 shipped
symbols (data/klines) are replayed through the bot's own symbol cores (``actors.cores``),
one thread, no actors: each closed 1m boundary delivers that boundary's closed bars of
every timeframe, then the tick carrying the BTC/ETH states those two announced with their
bars (as the scheduler forwards them), exactly the messages a symbol actor handles live;
every journal-bound message is encoded into its journal row (``journal.records.record_for``),
the work the journal thread does for it. The first
``--warm`` minutes warm the indicators (an EMA200 on 15m needs 50 hours) and are not timed.

Two passes over the same bars on fresh cores:
- staged: the symbol core's work split into buffer -> indicators -> state -> cascade ->
  decision record, each stage timed on its own (the timers add a little);
- whole: ``SymbolCore.handle`` for every message, untimed inside: the headline figure.

Every figure is this thread's CPU time (``time.thread_time``), not wall time: the machine
is shared, and a descheduled thread would otherwise be billed for its neighbours' work.

The floor is the same bars through ``FrameIndicators.update`` alone (the indicator set, no
buffer, no state, no strategy, no journal row): the part no cut can remove. It is the compiled
set when the install built it (``indicators/_frame.c``); the Python set it stands for runs the
same bars beside it, so the table shows what the compiled one saves. Prints a table and, as its
last line, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actors.cores import symbol_core  # noqa: E402
from vocabulary.messages import AccountView, BarReady, Instrument, Kline, Tick  # noqa: E402
from actors.scheduler import closed_timeframes  # noqa: E402
from vocabulary.settings import load_settings  # noqa: E402
from exchange.sim.aggregate import aggregate  # noqa: E402
from exchange.sim.market import load_instruments  # noqa: E402
from indicators.frame import COMPILED, FrameIndicators, PythonFrameIndicators  # noqa: E402
from journal.records import record_for  # noqa: E402

KLINES = ROOT / "data" / "klines"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
TFS = (1, 3, 5, 15)
TARGET_US = 40.0
MIN = 60_000
STAGES = ("buffer", "indicators", "state", "cascade", "record")


def load_bars(symbol: str, n: int) -> list[Kline]:
    with gzip.open(KLINES / f"{symbol}-1m.csv.gz", "rt", newline="") as f:
        rows = csv.DictReader(f)
        return [Kline(symbol=symbol, interval=1, start_ms=int(r["start_ms"]), open=float(r["open"]), high=float(r["high"]),
                      low=float(r["low"]), close=float(r["close"]), volume=float(r["volume"])) for r, _ in zip(rows, range(n))]


def by_boundary(n: int) -> tuple[dict[int, dict[str, list[Kline]]], int]:
    """Per closing boundary, per symbol: the bars of every timeframe that close there, shortest first."""
    out: dict[int, dict[str, list[Kline]]] = {}
    first = None
    for symbol in SYMBOLS:
        ones = load_bars(symbol, n)
        first = ones[0].start_ms if first is None else max(first, ones[0].start_ms)
        for tf in TFS:
            bars = ones if tf == 1 else [
                Kline(symbol=symbol, interval=tf, start_ms=b.start_ms, open=b.open, high=b.high, low=b.low,
                      close=b.close, volume=b.volume) for b in aggregate(ones, tf)]
            for k in bars:
                out.setdefault(k.end_ms, {}).setdefault(symbol, []).append(k)
    # Only boundaries every symbol closes a 1m bar at, from the first whole quarter hour.
    start = first - first % (15 * MIN) + 15 * MIN
    keep = {b: v for b, v in out.items() if b > start and len(v) == len(SYMBOLS)}
    return dict(sorted(keep.items())), start


def make_cores(settings, instruments):
    account = AccountView(ts_ms=0, equity=Decimal(10_000), realised_pnl_today=Decimal(0))
    cores = {s: symbol_core(settings, s, instruments[s], SYMBOLS) for s in SYMBOLS}
    for core in cores.values():
        core.handle(account)
    return cores


def collections() -> list[int]:
    return [g["collections"] for g in gc.get_stats()]


def whole(boundaries, settings, instruments, warm_until: int) -> tuple[float, int, dict[str, int], list[int]]:
    """Seconds spent in ``SymbolCore.handle`` (plus row encoding) after ``warm_until``, the
    symbol-bars timed, the decisions by kind, and the garbage collections run meanwhile (per
    generation: a count the machine's load cannot move, unlike a time)."""
    cores = make_cores(settings, instruments)
    spent = 0.0
    timed = 0
    kinds: dict[str, int] = {}
    clock = time.thread_time
    gc_from = None
    for boundary, per_symbol in boundaries.items():
        measure = boundary > warm_until
        if measure and gc_from is None:
            gc_from = collections()
        t0 = clock()
        journal = []
        for symbol, bars in per_symbol.items():
            core = cores[symbol]
            for k in bars:
                journal += core.handle(k)
        # The scheduler's part: the bias states announced with the bars ride in the tick.
        bias = tuple(sorted((m.state for _, m in journal if type(m) is BarReady and m.state is not None),
                            key=lambda state: state.symbol))
        tick = Tick(boundary_ms=boundary, closed=closed_timeframes(boundary, TFS), bias=bias)
        for symbol in SYMBOLS:
            journal += cores[symbol].handle(tick)
        for to, out in journal:
            if to == "journal":
                record_for(out)
        if measure:
            spent += clock() - t0
            timed += len(per_symbol)
            for core in cores.values():
                kinds[core.last_decision.kind] = kinds.get(core.last_decision.kind, 0) + 1
    gc_runs = [b - a for a, b in zip(gc_from or collections(), collections())]
    return spent, timed, kinds, gc_runs


def staged(boundaries, settings, instruments, warm_until: int) -> dict[str, float]:
    """The same work as ``whole``, each stage timed apart: seconds per stage after ``warm_until``."""
    cores = make_cores(settings, instruments)
    spent = dict.fromkeys(STAGES, 0)
    ns = time.thread_time_ns
    for boundary, per_symbol in boundaries.items():
        measure = boundary > warm_until
        states = {}
        for symbol in SYMBOLS:
            core = cores[symbol]
            bars = per_symbol[symbol]
            t0 = ns()
            for k in bars:
                core.buffers[k.interval].add(k)
            t1 = ns()
            for k in bars:
                core.indicators[k.interval].update(k)
            t2 = ns()
            frames, stale = core._frames_at(boundary)
            states[symbol] = core._build_state(symbol, boundary, frames, bool(stale))
            t3 = ns()
            if measure:
                spent["buffer"] += t1 - t0
                spent["indicators"] += t2 - t1
                spent["state"] += t3 - t2
        for symbol in SYMBOLS:
            core = cores[symbol]
            t3 = ns()
            bias = tuple(states[s] for s in sorted(core.needs_bias))
            decision = core._decide(states[symbol], bias, core.account)
            t4 = ns()
            record_for(decision)
            for k in per_symbol[symbol]:
                record_for(k)
            t5 = ns()
            if measure:
                spent["cascade"] += t4 - t3
                spent["record"] += t5 - t4
    return {k: v / 1e9 for k, v in spent.items()}


def floor(boundaries, warm_until: int, kind=FrameIndicators) -> float:
    """Seconds for the indicator set alone over the same bars after ``warm_until``."""
    sets = {s: {tf: kind(tf) for tf in TFS} for s in SYMBOLS}
    spent = 0.0
    clock = time.thread_time
    for boundary, per_symbol in boundaries.items():
        t0 = clock()
        for symbol, bars in per_symbol.items():
            frames = sets[symbol]
            for k in bars:
                frames[k.interval].update(k)
        if boundary > warm_until:
            spent += clock() - t0
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=3200, help="minutes replayed untimed first (indicator warm-up)")
    parser.add_argument("--minutes", type=int, default=2880, help="minutes timed after the warm-up")
    parser.add_argument("--repeat", type=int, default=3, help="passes of each kind; the fastest counts")
    args = parser.parse_args()
    settings = load_settings(f'[bot]\nsymbols = {list(SYMBOLS)!r}\n'.replace("'", '"'), {})
    rules = load_instruments(KLINES / "instruments-bybit-linear.csv")
    instruments = {s: Instrument(symbol=s, tick_size=r.tick_size, qty_step=r.qty_step, min_order_qty=r.min_order_qty,
                                 max_order_qty=r.max_order_qty, min_notional=r.min_notional)
                   for s, r in rules.items() if s in SYMBOLS}
    boundaries, start = by_boundary(args.warm + args.minutes + 30)
    warm_until = start + args.warm * MIN
    best_whole, timed, kinds, gc_runs = min(whole(boundaries, settings, instruments, warm_until) for _ in range(args.repeat))
    stages = min((staged(boundaries, settings, instruments, warm_until) for _ in range(args.repeat)),
                 key=lambda s: sum(s.values()))
    best_floor = min(floor(boundaries, warm_until) for _ in range(args.repeat))
    python_floor = min(floor(boundaries, warm_until, PythonFrameIndicators) for _ in range(args.repeat))
    us = 1e6 / timed
    figures = {
        "symbol_bars": timed,
        "decisions": kinds,
        "whole_us_per_symbol_bar": round(best_whole * us, 2),
        "floor_indicators_us_per_symbol_bar": round(best_floor * us, 2),
        "floor_compiled": COMPILED,
        "python_indicators_us_per_symbol_bar": round(python_floor * us, 2),
        "whole_vs_floor_ratio": round(best_whole / best_floor, 2),
        "stages_us_per_symbol_bar": {k: round(v * us, 2) for k, v in stages.items()},
        "target_us": TARGET_US,
        "gc_collections_per_1000_symbol_bars": [round(n * 1000 / timed, 2) for n in gc_runs],
    }
    rows = [(f"stage {k}", f"{v:.2f} µs", "", "") for k, v in figures["stages_us_per_symbol_bar"].items()]
    rows += [
        ("stages summed (timers included)", f"{sum(stages.values()) * us:.2f} µs", "", ""),
        ("whole decide, per symbol per 1m bar", f"{figures['whole_us_per_symbol_bar']:.2f} µs", f"<= {TARGET_US:g} µs",
         f"{figures['whole_vs_floor_ratio']:.1f}x the floor"),
        (f"floor: indicator set alone, same bars ({'compiled' if COMPILED else 'Python: not compiled'})",
         f"{figures['floor_indicators_us_per_symbol_bar']:.2f} µs", "", "floor"),
        ("  the Python indicator set, same bars", f"{figures['python_indicators_us_per_symbol_bar']:.2f} µs", "",
         f"{python_floor / best_floor:.1f}x the compiled" if COMPILED else ""),
        ("garbage collections per 1000 symbol-bars (gen 0/1/2)",
         "/".join(f"{n:g}" for n in figures["gc_collections_per_1000_symbol_bars"]), "", ""),
    ]
    header = ("what", "figure", "target", "floor")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    print(f"{timed} symbol-bars timed ({len(SYMBOLS)} symbols x {timed // len(SYMBOLS)} minutes, after {args.warm} warm-up"
          f" minutes); decisions {kinds}")
    for r in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
