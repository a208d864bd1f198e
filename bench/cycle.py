"""Cycle latency of the actor pipeline: from the last confirmed-bar frame of a boundary
reaching the symbol actors to the last decision of that tick committed by the journal.

Run with ``python bench/cycle.py [--ticks N] [--sizes 25,100,500]``. The real actors
(scheduler, one symbol actor per symbol with its buffers, indicators and the strategy,
the journal actor on a real SQLite file) run on pykka threads; the WebSocket is replaced
by a driver thread that tells each symbol its klines, so the figure is the pipeline's own
cost, not the network's. Symbols beyond the 7 shipped ones replay the shipped series
under other names. Prints a table (what, figure, target) and, as its last line, one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import queue
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pykka  # noqa: E402

from actors.cores import scheduler_core, symbol_core  # noqa: E402
from actors.journal import Flush, JournalActor  # noqa: E402
from actors.logfmt import configure_logging  # noqa: E402
from actors.messages import CycleDone, Instrument, Kline, Message  # noqa: E402
from actors.post import PostOffice  # noqa: E402
from actors.scheduler import SchedulerActor, closed_timeframes  # noqa: E402
from actors.settings import load_settings  # noqa: E402
from actors.status import StatusBoard, percentile  # noqa: E402
from actors.symbol import SymbolActor  # noqa: E402
from exchange.sim.aggregate import aggregate  # noqa: E402
from exchange.sim.market import Bar, load_instruments  # noqa: E402
from web.serve import WebServer  # noqa: E402

BASES = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
TFS = (1, 3, 5, 15)
BOOTSTRAP = 400
TARGET_P99_MS = {25: 2.0, 100: None, 500: 25.0}
MIN = 60_000


def first_bars(path: Path, n: int) -> list[Bar]:
    """The first ``n`` bars of a shipped kline file (the whole month would dominate RSS)."""
    with gzip.open(path, "rt") as f:
        rows = csv.DictReader(f)
        return [Bar(start_ms=int(r["start_ms"]), open=Decimal(r["open"]), high=Decimal(r["high"]), low=Decimal(r["low"]),
                    close=Decimal(r["close"]), volume=Decimal(r["volume"])) for r, _ in zip(rows, range(n))]


def series(ticks: int) -> tuple[dict[str, dict[int, list[Kline]]], dict[str, Instrument], int]:
    """Per base symbol and timeframe: bootstrap history + the bars replayed during the bench."""
    rules = load_instruments(ROOT / "data" / "klines" / "instruments-bybit-linear.csv")
    minutes = BOOTSTRAP * 15 + ticks + 30
    out: dict[str, dict[int, list[Kline]]] = {}
    start = None
    for base in BASES:
        bars = first_bars(ROOT / "data" / "klines" / f"{base}-1m.csv.gz", minutes)
        out[base] = {}
        for tf in TFS:
            grouped = bars if tf == 1 else aggregate(bars, tf)
            out[base][tf] = [Kline(symbol=base, interval=tf, start_ms=b.start_ms, open=float(b.open), high=float(b.high),
                                   low=float(b.low), close=float(b.close), volume=float(b.volume)) for b in grouped]
        first = bars[0].start_ms
        start = first if start is None else max(start, first)
    instruments = {s: Instrument(symbol=s, tick_size=r.tick_size, qty_step=r.qty_step, min_order_qty=r.min_order_qty,
                                 max_order_qty=r.max_order_qty, min_notional=r.min_notional) for s, r in rules.items() if s in BASES}
    # The live part starts on a quarter hour after enough history for every timeframe.
    live_from = start + BOOTSTRAP * 15 * MIN
    live_from -= live_from % (15 * MIN)
    return out, instruments, live_from


def renamed(k: Kline, symbol: str) -> Kline:
    return Kline(symbol=symbol, interval=k.interval, start_ms=k.start_ms, open=k.open, high=k.high, low=k.low,
                 close=k.close, volume=k.volume)


LOAD_SCRIPT = """
import sys, time, httpx
url = sys.argv[1]
n = errors = 0
with httpx.Client(timeout=5) as client:
    start = time.perf_counter()
    while True:
        try:
            answer = client.get(url)
        except httpx.TransportError:
            errors += 1  # the connection is reopened by the next request
            continue
        if answer.status_code != 200:
            sys.exit(f"status answered {answer.status_code}: {answer.text[:200]}")
        n += 1
        if n % 50 == 0 and open(sys.argv[2]).read() == "stop":
            break
    print(n, time.perf_counter() - start, errors)
"""


def run(size: int, ticks: int, data, instruments, live_from: int, tmp: Path, *, web: str | None = None) -> dict:
    """One pipeline of ``size`` symbols over ``ticks`` ticks. ``web``: None, "idle" (the
    status endpoint serves but nobody asks) or "load" (a second process polls /status
    as fast as it can on one keep-alive connection while the ticks run)."""
    symbols = tuple(BASES[:size]) if size <= len(BASES) else tuple(BASES) + tuple(f"S{i:03d}USDT" for i in range(size - len(BASES)))
    base_of = {s: (s if s in BASES else BASES[i % len(BASES)]) for i, s in enumerate(symbols)}
    settings = load_settings(f'[bot]\nsymbols = {list(symbols)!r}\n'.replace("'", '"'), {})
    post = PostOffice()
    flushes: queue.Queue = queue.Queue()
    journal = JournalActor.start(tmp / f"journal-{size}.sqlite")

    board = StatusBoard(mode="bench", venue="none", symbols=symbols)

    def deliver(to: str, message: Message) -> None:
        board.observe(to, message)
        post.deliver(to, message)
        if to == "journal" and isinstance(message, CycleDone):
            # The journal handles its mailbox in order: when this Flush is answered, every
            # decision of the tick (told before CycleDone) is committed.
            decided_at = time.perf_counter()
            flushes.put((message.boundary_ms, decided_at, journal.ask(Flush(tick_ms=message.boundary_ms), block=False)))

    post.register("journal", journal)
    for sink in ("router", "pacer", "feed", "status", "supervisor"):
        post.register_sink(sink, lambda message: None)

    def fetch_for(symbol: str):
        history = data[base_of[symbol]]

        def fetch(_symbol: str, tf: int, start_ms: int, end_ms: int) -> list[Kline]:
            return [renamed(k, symbol) for k in history[tf] if start_ms <= k.start_ms < end_ms]
        return fetch

    for symbol in symbols:
        core = symbol_core(settings, symbol, instruments[base_of[symbol]], symbols)
        post.register(f"symbol:{symbol}", SymbolActor.start(core, deliver, fetch_for(symbol), bootstrap_bars=BOOTSTRAP,
                                                            now_ms=lambda: live_from))
    clock = {"now": live_from}
    post.register("scheduler", SchedulerActor.start(scheduler_core(settings, symbols), deliver, lambda: clock["now"]))

    # Bars of each base series by close time; renamed per symbol only when told, so the
    # driver holds one copy of the data, not one per symbol (RSS is the bot's, not ours).
    by_end: dict[int, dict[str, list[Kline]]] = {}
    for base in set(base_of.values()):
        for tf in TFS:
            for k in data[base][tf]:
                if live_from < k.end_ms <= live_from + ticks * MIN:
                    by_end.setdefault(k.end_ms, {}).setdefault(base, []).append(k)
    refs = {s: post.actor(f"symbol:{s}") for s in symbols}
    server = loader = None
    stop_file = tmp / "stop-load"
    stop_file.write_text("")
    if web is not None:
        server = WebServer(str(tmp / f"journal-{size}.sqlite"), board.snapshot).start()
    if web == "load":
        loader = subprocess.Popen([sys.executable, "-c", LOAD_SCRIPT, f"{server.url}/status", str(stop_file)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started: dict[int, float] = {}
    done: dict[int, float] = {}
    decided: dict[int, float] = {}
    gc.collect()
    gc.freeze()
    for boundary in sorted(by_end):
        clock["now"] = boundary
        for symbol in symbols:
            for k in sorted(by_end[boundary].get(base_of[symbol], ()), key=lambda k: k.interval):
                refs[symbol].tell(k if symbol == k.symbol else renamed(k, symbol))
        started[boundary] = time.perf_counter()
        try:
            closed, decided_at, future = flushes.get(timeout=30)
            future.get(timeout=30)
        except (queue.Empty, pykka.Timeout):
            raise RuntimeError(f"tick {boundary} did not complete") from None
        done[closed] = time.perf_counter()
        decided[closed] = decided_at
        if closed != boundary:
            raise RuntimeError(f"tick {boundary} completed as {closed}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    requests_per_s = load_errors = None
    if loader is not None:
        stop_file.write_text("stop")
        out, err = loader.communicate(timeout=60)
        if loader.returncode:
            raise RuntimeError(f"the load generator failed: {err.strip()[-300:]}")
        count, seconds, errors = out.split()
        requests_per_s = round(int(count) / float(seconds))
        load_errors = int(errors)
    if server is not None:
        server.stop()
    pykka.ActorRegistry.stop_all(block=True)
    gc.unfreeze()
    latencies = [(done[b] - started[b]) * 1000 for b in started]
    warm = latencies[10:]  # the first ticks pay for first-time code paths
    deciding = [(decided[b] - started[b]) * 1000 for b in started][10:]
    return {
        "symbols": size,
        "ticks": len(warm),
        "closed_timeframes_per_tick": round(sum(len(closed_timeframes(b, TFS)) for b in started) / len(started), 2),
        "p50_ms": round(percentile(warm, 50), 3),
        "p99_ms": round(percentile(warm, 99), 3),
        "max_ms": round(max(warm), 3),
        "decided_p50_ms": round(percentile(deciding, 50), 3),
        "decided_p99_ms": round(percentile(deciding, 99), 3),
        "rss_mb": round(rss_mb, 1),
        "web": web,
        "status_requests_per_s": requests_per_s,
        "status_connection_resets": load_errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=520)
    parser.add_argument("--sizes", default="25,100,500")
    args = parser.parse_args()
    configure_logging("WARNING", ())
    sizes = [int(s) for s in args.sizes.split(",")]
    data, instruments, live_from = series(args.ticks)
    results = []
    with tempfile.TemporaryDirectory(dir=ROOT / "var" if (ROOT / "var").exists() else None) as tmp:
        for size in sizes:
            results.append(run(size, args.ticks, data, instruments, live_from, Path(tmp)))
    print(f"{'what':<44} {'figure':>12} {'target':>10}")
    for r in results:
        target = TARGET_P99_MS.get(r["symbols"])
        print(f"{'cycle p50, ' + str(r['symbols']) + ' symbols x 4 tf':<44} {r['p50_ms']:>9.3f} ms {'':>10}")
        print(f"{'cycle p99, ' + str(r['symbols']) + ' symbols x 4 tf':<44} {r['p99_ms']:>9.3f} ms {('<= ' + str(target) + ' ms') if target else '':>10}")
        print(f"{'  of which deciding (to CycleDone), p50':<44} {r['decided_p50_ms']:>9.3f} ms")
        print(f"{'  of which deciding (to CycleDone), p99':<44} {r['decided_p99_ms']:>9.3f} ms")
    big = results[-1]
    print(f"{'peak RSS after ' + str(big['symbols']) + ' symbols':<44} {big['rss_mb']:>9.1f} MB {'<= 300 MB':>10}")
    print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
