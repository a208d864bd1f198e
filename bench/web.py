"""The web under load, beside the bot's cycle:

1. ``/status`` requests/s from a second process on one keep-alive loopback connection, and the
   cycle p99 with and without that load (the pipeline of ``bench/cycle.py``: real actors,
   journal and status board; klines told by a driver).
2. The chart route ``/series`` on a 100k-row journal: requests/s (keep-alive, second process),
   its first answer (the indicator fold over the whole history) and ``/status`` on the same
   journal as the peer.
3. The cycle p99 while a browser-like client polls every route the dashboard reads, as the page
   does (each round /status and the five table routes; /ticks, /equity and one symbol's /series
   when the journal moved), one round every ``--poll-s`` (default 1 s, five times the page's
   5 s), as a ratio to idle in the same run.

Run with ``python bench/web.py [--ticks N] [--symbols 25]``. Prints a table and, as its last
line, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cycle  # noqa: E402

from vocabulary import messages as m  # noqa: E402
from actors.logfmt import configure_logging  # noqa: E402
from journal.writer import JournalWriter  # noqa: E402
from web.app import create_app  # noqa: E402
from web.server import WebServer  # noqa: E402

MIN = 60_000

# What the dashboard asks, round by round, on one keep-alive connection: every poll the six
# table routes; when the journal moved (/status journal.last_seq), also /ticks, /equity and one
# symbol's /series, as app.js does. argv: the /status URL cycle.run hands its loader, the stop
# file, then ours: the round interval and the symbol charted.
BROWSER_SCRIPT = """
import sys, time, httpx
base = sys.argv[1].rsplit("/status", 1)[0]
stop, every, symbol = sys.argv[2], float(sys.argv[3]), sys.argv[4]
tables = ["/pnl", "/trades?limit=20", "/events/notable?limit=20", "/positions", "/orders"]
charts = ["/ticks", "/equity", f"/series?symbol={symbol}&interval=1&hours=6"]
n = errors = 0
seq = None
with httpx.Client(timeout=10) as client:
    start = time.perf_counter()
    while open(stop).read() != "stop":
        round_start = time.perf_counter()
        try:
            status = client.get(base + "/status")
            now = status.json()["journal"]["last_seq"]
            paths = tables + (charts if now != seq else [])
            seq = now
            n += 1
            for path in paths:
                answer = client.get(base + path)
                if answer.status_code not in (200, 404):  # 404: no bars journaled yet for the symbol
                    sys.exit(f"{path} answered {answer.status_code}: {answer.text[:200]}")
                n += 1
        except httpx.TransportError:
            errors += 1
        time.sleep(max(0.0, every - (time.perf_counter() - round_start)))
    print(n, time.perf_counter() - start, errors)
"""

RATE_SCRIPT = """
import sys, time, httpx
url, seconds = sys.argv[1], float(sys.argv[2])
n = 0
with httpx.Client(timeout=30) as client:
    client.get(url).raise_for_status()  # warm: the first answer folds the history
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.get(url).raise_for_status()
        n += 1
    print(n, time.perf_counter() - start)
"""


def big_journal(path: Path, rows: int) -> int:
    """A journal of ``rows`` rows shaped like a long live run: per minute one 1m bar and one
    decision for each of 3 symbols, the 3/5/15m bars at their closes, a wallet report every 5
    minutes and a round trip every 2 hours. Returns the rows written."""
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    start = 1_748_736_000_000  # 2025-06-01
    writer = JournalWriter(path)
    writer.db.execute("PRAGMA synchronous=OFF")
    written, minute, batch = 0, 0, []
    while written < rows:
        t = start + minute * MIN
        for k, symbol in enumerate(symbols):
            price = 100.0 * (k + 1) * (1 + 0.01 * math.sin(minute / 50))
            for interval in (1, 3, 5, 15):
                if (minute + 1) % interval == 0:
                    batch.append(m.Kline(symbol=symbol, interval=interval, start_ms=t - (interval - 1) * MIN, open=price,
                                         high=price * 1.001, low=price * 0.999, close=price * 1.0002, volume=5.0,
                                         confirmed=True))
            batch.append(m.Decision(tick_ms=t + MIN, symbol=symbol, kind="NO_SETUP"))
        if minute % 5 == 0:
            batch.append(m.JournalEvent(ts_ms=t, kind="wallet", source="private", level="DEBUG", message="",
                                        data=(("total_equity", f"{10000 + math.sin(minute / 300) * 50:.2f}"),)))
        if minute % 120 == 119:
            batch.append(m.TradeClosed(symbol="BTCUSDT", side="Buy", path="cross_based", entry_ms=t - 30 * MIN, exit_ms=t,
                                       entry_price=Decimal("100.10"), exit_price=Decimal("100.30"), qty=Decimal("1"),
                                       fees=Decimal("0.08"), pnl_usdt=Decimal("0.12"), pnl_r=0.4, exit_reason="target"))
        minute += 1
        if len(batch) >= 2000:
            writer.append_now(batch)
            written += len(batch)
            batch = []
    if batch:
        writer.append_now(batch)
        written += len(batch)
    writer.close()
    return written


def rate(url: str, seconds: float) -> float:
    done = subprocess.run([sys.executable, "-c", RATE_SCRIPT, url, str(seconds)], capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-300:])
    count, elapsed = done.stdout.split()
    return int(count) / float(elapsed)


def series_route(tmp: Path, rows: int, seconds: float) -> dict:
    path = tmp / "big.sqlite"
    written = big_journal(path, rows)
    server = WebServer(create_app(str(path), lambda: {"symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"]}))
    server.start()
    try:
        import httpx

        started = time.perf_counter()
        first = httpx.get(f"{server.url}/series?symbol=BTCUSDT&interval=1&hours=6", timeout=60)
        first_ms = (time.perf_counter() - started) * 1000
        first.raise_for_status()
        series_rps = rate(f"{server.url}/series?symbol=ETHUSDT&interval=1&hours=6", seconds)
        status_rps = rate(f"{server.url}/status", seconds)
    finally:
        server.stop()
    # The answer a moving journal costs (the cached one is a max(seq) query): in process, no HTTP.
    from journal.reader import JournalReader
    from web.series import SeriesSource

    reader = JournalReader(path)
    source = SeriesSource(reader)
    source.series("SOLUSDT", 1, 6)  # the fold of the history, once
    started = time.perf_counter()
    for _ in range(50):
        source._series("SOLUSDT", 1, 6)
    fresh_ms = (time.perf_counter() - started) * 1000 / 50
    reader.close()
    return {"rows": written, "first_ms": round(first_ms, 1), "series_rps": round(series_rps), "status_rps": round(status_rps),
            "fresh_ms": round(fresh_ms, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=520)
    parser.add_argument("--symbols", type=int, default=25)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the journal the /series route reads")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each requests/s measurement")
    parser.add_argument("--poll-s", type=float, default=1.0, help="the browser-like client's round interval (the page: 5 s)")
    args = parser.parse_args()
    configure_logging("WARNING", ())
    data, instruments, live_from = cycle.series(args.ticks)
    status_loader = cycle.LOAD_SCRIPT
    with tempfile.TemporaryDirectory() as tmp:
        charts = series_route(Path(tmp), args.rows, args.seconds)
        results = {}
        for mode in ("idle", "load", "browser"):
            (Path(tmp) / mode).mkdir()
            if mode == "browser":
                # cycle.run's loader, swapped for the page's rounds (its argv: URL, stop file; ours adds two).
                cycle.LOAD_SCRIPT = BROWSER_SCRIPT
                original = cycle.subprocess.Popen

                def popen(argv, *a, **kw):
                    return original([*argv, str(args.poll_s), cycle.BASES[0]], *a, **kw)
                cycle.subprocess.Popen = popen
                try:
                    results[mode] = cycle.run(args.symbols, args.ticks, data, instruments, live_from, Path(tmp) / mode, web="load")
                finally:
                    cycle.subprocess.Popen = original
                    cycle.LOAD_SCRIPT = status_loader
            else:
                results[mode] = cycle.run(args.symbols, args.ticks, data, instruments, live_from, Path(tmp) / mode, web=mode)
    idle, loaded, browser = results["idle"], results["load"], results["browser"]
    ratio = loaded["p99_ms"] / idle["p99_ms"]
    browser_ratio = browser["p99_ms"] / idle["p99_ms"]
    w = 58
    print(f"{'what':<{w}} {'figure':>14} {'target':>12}")
    print(f"{'/status requests/s during the run (keep-alive)':<{w}} {loaded['status_requests_per_s']:>10} /s {'>= 2000 /s':>12}")
    print(f"{'/series requests/s, ' + str(charts['rows']) + '-row journal (keep-alive)':<{w}} {charts['series_rps']:>10} /s")
    print(f"{'  peer: /status requests/s on the same journal':<{w}} {charts['status_rps']:>10} /s")
    print(f"{'/series first answer (folds the whole history)':<{w}} {charts['first_ms']:>11.1f} ms")
    print(f"{'/series answer after the journal moved (in process)':<{w}} {charts['fresh_ms']:>11.2f} ms")
    print(f"{'cycle p99, ' + str(args.symbols) + ' symbols, web idle':<{w}} {idle['p99_ms']:>11.3f} ms")
    print(f"{'cycle p99, ' + str(args.symbols) + ' symbols, /status under load':<{w}} {loaded['p99_ms']:>11.3f} ms")
    print(f"{'  loaded / idle':<{w}} {ratio:>13.2f}x {'<= 1.5x':>12}")
    print(f"{'cycle p99, a page polling every route every ' + str(args.poll_s) + ' s':<{w}} {browser['p99_ms']:>11.3f} ms")
    print(f"{'  polled / idle':<{w}} {browser_ratio:>13.2f}x {'<= 1.2x':>12}")
    print(f"{'  route requests answered during that run':<{w}} {browser['status_requests_per_s']:>10} /s")
    print(f"{'connections reset under load':<{w}} {loaded['status_connection_resets']:>14}")
    print(json.dumps({"status_requests_per_s": loaded["status_requests_per_s"], "cycle_p99_idle_ms": idle["p99_ms"],
                      "cycle_p99_loaded_ms": loaded["p99_ms"], "cycle_p50_idle_ms": idle["p50_ms"],
                      "cycle_p50_loaded_ms": loaded["p50_ms"], "p99_ratio": round(ratio, 3), "symbols": args.symbols,
                      "status_connection_resets": loaded["status_connection_resets"], "ticks": idle["ticks"],
                      "series_journal_rows": charts["rows"], "series_requests_per_s": charts["series_rps"],
                      "status_requests_per_s_same_journal": charts["status_rps"], "series_first_ms": charts["first_ms"],
                      "series_fresh_answer_ms": charts["fresh_ms"],
                      "cycle_p99_browser_ms": browser["p99_ms"], "browser_p99_ratio": round(browser_ratio, 3),
                      "browser_poll_s": args.poll_s, "browser_route_requests_per_s": browser["status_requests_per_s"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
