"""Backtest throughput: ticks/s and 1m bars/s through the whole one-thread pipeline (venue
matching, V5 requests in-process, kline decoding, indicators on every timeframe, the cascade,
the router's per-minute reconciliation), for 1 and 7 symbols, with and without the journal;
and one venue read in-process against the same read over loopback HTTP (the served simulator).

Run: ``python bench/backtest.py [minutes]``. Prints a table; the LAST line is a JSON object.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.settings import Credentials, Secret, load_settings  # noqa: E402
from backtest.pipeline import Pipeline  # noqa: E402
from backtest.run import FillModel, Window, backtest_journal, sim_config  # noqa: E402
from backtest.venue import InProcessVenue, _no_wait  # noqa: E402
from exchange.bybit.rest import BybitRest  # noqa: E402
from exchange.sim.config import SimConfig  # noqa: E402
from exchange.sim.inprocess import InProcessSim  # noqa: E402
from exchange.sim.server import SimServer  # noqa: E402

ALL = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
TARGET_BARS_S = 100_000  # issue #9: full pipeline, per core


def pipeline_rate(symbols: tuple[str, ...], minutes: int, *, journal: bool) -> dict:
    settings = load_settings(Path("settings.toml").read_text(), {})
    venue = InProcessVenue(InProcessSim.replay(sim_config(settings, Window(symbols=symbols), FillModel())))
    with tempfile.TemporaryDirectory() as tmp:
        writer = backtest_journal(Path(tmp) / "journal.sqlite") if journal else None
        pipeline = Pipeline(settings, venue, writer, symbols)
        t0 = time.perf_counter()
        pipeline.start()
        t1 = time.perf_counter()
        for _ in range(minutes):
            pipeline.step()
        t2 = time.perf_counter()
        if writer is not None:
            writer.close()
    venue.close()
    run_s = t2 - t1
    return {"symbols": len(symbols), "journal": journal, "ticks": minutes, "start_s": round(t1 - t0, 3),
            "ticks_per_s": round(minutes / run_s, 1), "bars_per_s": round(minutes * len(symbols) / run_s, 1),
            "decisions": len(pipeline.decisions)}


def read_latency(n: int = 300) -> dict:
    """``positions()`` (one signed V5 GET, parsed) in-process vs over the served simulator's socket."""
    config = SimConfig(port=0, symbols=("BTCUSDT",), paced=True, rate_limits=False)
    sim = InProcessSim.replay(config)
    creds = Credentials(api_key=Secret(config.api_key), api_secret=Secret(config.api_secret))
    # The client's own limiter would pace 300 reads to its 50/s budget: the wire is measured, not the limiter.
    inprocess = BybitRest("http://sim.inprocess", creds, clock=lambda: sim.now_ms() / 1000, transport=sim.transport, sleep=_no_wait)
    out = {}
    with SimServer(config) as server:
        loopback = BybitRest(server.rest_url, creds, clock=lambda: server.now_ms() / 1000, sleep=_no_wait)
        for name, client in (("inprocess", inprocess), ("loopback", loopback)):
            client.positions()
            t = time.perf_counter()
            for _ in range(n):
                client.positions()
            out[name] = (time.perf_counter() - t) / n * 1e6
            client.close()
    return {"inprocess_us": round(out["inprocess"], 1), "loopback_us": round(out["loopback"], 1)}


def main() -> None:
    minutes = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    cases = [pipeline_rate(ALL[:1], minutes, journal=False), pipeline_rate(ALL, minutes, journal=False),
             pipeline_rate(ALL, minutes, journal=True)]
    reads = read_latency()
    print(f"{'measured':<46} {'figure':>14} {'target':>12} {'ratio':>8}")
    for c in cases:
        label = f"pipeline, {c['symbols']} symbol(s), journal {'on' if c['journal'] else 'off'}"
        print(f"{label + ' (1m bars/s)':<46} {c['bars_per_s']:>14,.0f} {TARGET_BARS_S:>12,} {c['bars_per_s'] / TARGET_BARS_S:>8.3f}")
        print(f"{'  ticks/s (all symbols decided, cycle closed)':<46} {c['ticks_per_s']:>14,.1f} {'':>12} {'':>8}")
        print(f"{'  start: reconcile + bootstrap (s)':<46} {c['start_s']:>14.3f} {'':>12} {'':>8}")
    ratio = reads["loopback_us"] / reads["inprocess_us"]
    print(f"{'positions() read in-process (us)':<46} {reads['inprocess_us']:>14.1f} {'':>12} {'':>8}")
    print(f"{'positions() read over loopback HTTP (us)':<46} {reads['loopback_us']:>14.1f} {'':>12} {ratio:>7.1f}x")
    print(json.dumps({"bench": "backtest", "minutes": minutes, "cases": cases, "reads": reads,
                      "target_bars_per_s": TARGET_BARS_S}))


if __name__ == "__main__":
    main()
