"""``/status`` under load while the pipeline runs: requests/s from a second process on one
keep-alive loopback connection, and the cycle p99 with and without that load, side by side.

Run with ``python bench/web.py [--ticks N] [--symbols 25]``. The pipeline is the one of
``bench/cycle.py`` (real actors, journal and status board; klines told by a driver). Prints
a table and, as its last line, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cycle  # noqa: E402

from actors.logfmt import configure_logging  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=520)
    parser.add_argument("--symbols", type=int, default=25)
    args = parser.parse_args()
    configure_logging("WARNING", ())
    data, instruments, live_from = cycle.series(args.ticks)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for mode in ("idle", "load"):
            (Path(tmp) / mode).mkdir()
            results[mode] = cycle.run(args.symbols, args.ticks, data, instruments, live_from, Path(tmp) / mode, web=mode)
    idle, loaded = results["idle"], results["load"]
    ratio = loaded["p99_ms"] / idle["p99_ms"]
    print(f"{'what':<48} {'figure':>14} {'target':>12}")
    print(f"{'/status requests/s during the run (keep-alive)':<48} {loaded['status_requests_per_s']:>10} /s {'>= 2000 /s':>12}")
    print(f"{'cycle p99, ' + str(args.symbols) + ' symbols, web idle':<48} {idle['p99_ms']:>11.3f} ms")
    print(f"{'cycle p99, ' + str(args.symbols) + ' symbols, /status under load':<48} {loaded['p99_ms']:>11.3f} ms")
    print(f"{'  loaded / idle':<48} {ratio:>13.2f}x {'<= 1.5x':>12}")
    print(f"{'connections reset under load':<48} {loaded['status_connection_resets']:>14}")
    print(json.dumps({"status_requests_per_s": loaded["status_requests_per_s"], "cycle_p99_idle_ms": idle["p99_ms"],
                      "cycle_p99_loaded_ms": loaded["p99_ms"], "cycle_p50_idle_ms": idle["p50_ms"],
                      "cycle_p50_loaded_ms": loaded["p50_ms"], "p99_ratio": round(ratio, 3), "symbols": args.symbols,
                      "status_connection_resets": loaded["status_connection_resets"],
                      "ticks": idle["ticks"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
