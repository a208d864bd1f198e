"""Backtest throughput. First the two engines of ``run.py backtest`` side by side on the shipped
month, 7 symbols, journal off, end to end (data loading included): the fast engine (the default,
``backtest.fast``) with its split (recording the tape, the trial, the equity curve, the rest),
each figure in a fresh process as a user's run starts (``--fresh-run``), twice: without the
parsed-file cache (``[sim] kline_cache_dir``, ``exchange.sim.kline_cache``), on a first run that
builds it and on a later run that reads it, in one process and in two (``--processes 2``: the
recorder's forked worker); then once more with the files already parsed in the bench's process,
and the faithful one (``--faithful``), with a check that all their trades and equity are
identical, beside the issue's anchor (Jesse, ~115k candles/s) and goal (150k 1m-bars/s).

Then the faithful pipeline's own figures: ticks/s and 1m bars/s through the whole one-thread pipeline (venue
matching, V5 requests in-process, kline decoding, indicators on every timeframe, the cascade,
the router's per-minute reconciliation), for 1, 7 and 25 symbols, with and without the journal;
the 1- and 7-symbol runs with the router's account reads reused while the account stands still
(as ``run_backtest`` runs) and read fresh every minute, side by side, with the signed requests
each makes per tick; and one venue read in-process against the same read over loopback HTTP.

The 25-symbol case is 7 real series reused under other names: the shipped data has 7 symbols, so
a temporary data directory links each file again as e.g. BTC2USDT (with the same instrument
rules). It measures throughput only; its decisions mean nothing.

The scale case (``--scale[=MONTHS]``, 12 by default) is the issue's "one year x 25 symbols": a
synthetic data directory in a temp dir (``long_data_dir``: the shipped rows of each real symbol
replayed lap after lap on one calendar, under 25 names) and the fast engine timed end to end on it,
file parsing included. The prices are valid klines on the tick grid; the decisions mean nothing.
Memory: the parsed files, the recorder's arrays, the indicator columns and the bars are held for the
whole window, the rows' states a day at a time (``backtest.chunked_rows``): about 0.45 GB per month
of 25 symbols (it was 1.1 GB with every state held at once). The peak printed is the bench
process's, the month comparison's in-process runs included.

Run: ``python bench/backtest.py [minutes] [--engines] [--scale[=MONTHS]] [--no-numba]``
(``--engines``: the month comparison only; ``--scale``: the month comparison and the scale case;
``--no-numba``: the default install's kernels where numba is installed: C where the install
compiled them, else pure Python). Prints a
table; the LAST line is a JSON object.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_STARTED = time.perf_counter()

if "--no-numba" in sys.argv:
    sys.modules["numba"] = None  # type: ignore[assignment]  # the kernels then run as the default install's

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocabulary.settings import Credentials, Secret, load_settings  # noqa: E402
from backtest.fast import RECORD, run_fast_backtest  # noqa: E402
from backtest.pipeline import Pipeline  # noqa: E402
from backtest.run import FillModel, Window, backtest_journal, run_backtest, sim_config  # noqa: E402
from backtest.venue import InProcessVenue, _no_wait  # noqa: E402
from exchange.bybit.rest import BybitRest  # noqa: E402
from exchange.sim.config import SimConfig  # noqa: E402
from exchange.sim.inprocess import InProcessSim  # noqa: E402
from exchange.sim.server import SimServer  # noqa: E402
from indicators.kernels import IS_COMPILED, KERNELS_LABEL  # noqa: E402
from backtest import batch_tape  # noqa: E402
from exchange.sim.market import load_bars  # noqa: E402
import msgspec  # noqa: E402

IMPORTED_S = time.perf_counter() - _STARTED  # this bench's imports (a fresh run's are reported beside it)

ALL = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
DATA = Path("data/klines")
RULES = "instruments-bybit-linear.csv"
TARGET_BARS_S = 100_000  # issue #9: full pipeline, per core
JESSE_CANDLES_S = 115_000  # issue #19's anchor: Jesse, a real multi-timeframe strategy, on a Raspberry Pi 5
GOAL_BARS_S = 150_000  # issue #19's goal for the default engine, 7 symbols, the month, trades identical
GOAL_FAST_BARS_S = 500_000  # the same with the ``fast`` extra (numba)
SCALE_EQUITY = 1e9  # USDT: the scale case's account (scale_run)
YEAR_GOAL_S = 180  # issue #19: one year x 25 symbols in at most 3 minutes


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bench_settings(cache_dir: str = ""):
    """settings.toml with the parsed-file cache where asked (none by default: a bench's temporary
    data directories must not fill the user's cache, and a figure must say whether it had one)."""
    settings = load_settings(Path("settings.toml").read_text(), {})
    return msgspec.structs.replace(settings, sim=msgspec.structs.replace(settings.sim, kline_cache_dir=cache_dir))


def cold() -> None:
    """Forget the parsed kline files and the recorder's arrays, so the next run reads and
    converts the data again (the files stay in the OS cache)."""
    load_bars.cache_clear()
    batch_tape._SERIES.clear()


def digest(result) -> str:
    """The TAKEs, the trades (in one order) and the equity of a run, as one hash: runs in other
    processes are compared through it."""
    key = lambda t: (t.entry_ms, t.symbol)  # noqa: E731
    takes = sorted((d for d in result.decisions if d.kind == "TAKE"), key=lambda d: (d.tick_ms, d.symbol))
    text = repr((takes, sorted(result.trades, key=key), result.equity))
    return hashlib.sha256(text.encode()).hexdigest()


def fresh_run(processes: int, cache_dir: str) -> dict:
    """The fast engine on the month in a new interpreter, as ``run.py backtest`` starts: nothing
    parsed, nothing imported; ``cache_dir`` "" for no parsed-file cache. Timed inside the child
    from the call (the imports apart, as in every figure of this bench)."""
    numba = ["--no-numba"] if "--no-numba" in sys.argv else []
    out = subprocess.run([sys.executable, __file__, "--fresh-run", str(processes), cache_dir or "-", *numba],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_run(processes: int, cache_dir: str) -> None:
    """``--fresh-run``: one fast run, its figures as a JSON line (``fresh_run``)."""
    settings = bench_settings("" if cache_dir == "-" else cache_dir)
    seconds, result = timed_fast(settings, Window(symbols=ALL), processes)
    print(json.dumps({"s": round(seconds, 3), "bars": len(result.equity) * len(ALL), "stages_s": dict(result.timings),
                      "trades": len(result.trades), "digest": digest(result), "import_s": round(IMPORTED_S, 3)}))


def timed_fast(settings, window: Window, processes: int = 1) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = run_fast_backtest(settings, window, processes=processes)
    return time.perf_counter() - t0, result


REPEAT = 2  # each fresh-process figure is run this many times (the machine is shared): all are shown


def engines_month() -> dict:
    """Both engines on the shipped month (the simulator's default window), 7 symbols, journal off.
    The fast engine in fresh processes, ``REPEAT`` times each, end to end from the files:
    without the parsed-file cache, building it (a first run: an empty cache directory), reading
    it (every later run), each in 1 process and in 2 (``--processes 2``: the recorder's forked
    worker); then a second run in this process (the files parsed), and the faithful engine, with
    a check that all their trades and equity are identical."""
    window = Window(symbols=ALL)
    before = load()
    runs: dict[str, list[dict]] = {}
    cases = (("no_cache_1", 1, False), ("first_1", 1, "build"), ("cached_1", 1, True),
             ("no_cache_2", 2, False), ("first_2", 2, "build"), ("cached_2", 2, True))
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(REPEAT):
            for name, processes, cache in cases:
                where = str(Path(tmp) / name) if cache else ""
                if cache == "build":
                    shutil.rmtree(where, ignore_errors=True)
                elif cache and not Path(where).is_dir():
                    fresh_run(processes, where)  # builds it (not counted)
                runs.setdefault(name, []).append(fresh_run(processes, where))
    settings = bench_settings()
    cold()
    timed_fast(settings, window)
    warm_s, warm = timed_fast(settings, window)
    t1 = time.perf_counter()
    faithful = run_backtest(settings, window)
    faithful_s = time.perf_counter() - t1
    bars = len(warm.equity) * len(ALL)
    reference = digest(faithful)
    identical = digest(warm) == reference and all(r["digest"] == reference for rs in runs.values() for r in rs)
    figures = {name: {"s": [r["s"] for r in rs], "bars_per_s": [round(bars / r["s"], 1) for r in rs],
                      "mean_bars_per_s": round(bars * len(rs) / sum(r["s"] for r in rs), 1),
                      "stages_s": {k: round(sum(r["stages_s"][k] for r in rs) / len(rs), 3) for k in rs[0]["stages_s"]}}
               for name, rs in runs.items()}
    for f in figures.values():
        f["stages_s"]["other_s"] = round(sum(f["s"]) / len(f["s"]) - sum(f["stages_s"].values()), 3)
    return {"minutes": len(warm.equity), "symbols": len(ALL), "bars": bars, "trades": len(warm.trades),
            "identical": identical, "recorder": f"{RECORD.__module__}.{RECORD.__name__}", "repeat": REPEAT,
            "fresh": figures, "import_s": [r["import_s"] for r in runs["cached_1"]],
            "fast_bars_per_s": figures["cached_1"]["mean_bars_per_s"],
            "fast_2_processes_bars_per_s": figures["cached_2"]["mean_bars_per_s"],
            "default_run": "cached_1 (--processes auto: one process with compiled indicator loops; two with a second core idle where they are the pure-Python ones); the cache is read on every run after the first",
            "fast_warm_s": round(warm_s, 3), "fast_warm_bars_per_s": round(bars / warm_s, 1),
            "faithful_s": round(faithful_s, 3), "faithful_bars_per_s": round(bars / faithful_s, 1),
            "kernels": KERNELS_LABEL,
            "goal_bars_per_s": GOAL_FAST_BARS_S if IS_COMPILED else GOAL_BARS_S,
            "loadavg": [before, load()]}


LABELS = {
    "no_cache_1": "1 process, no parsed-file cache (parses the files)",
    "first_1": "1 process, first run (parses the files, builds the cache)",
    "cached_1": "1 process, cached run (run.py backtest's default after a first run)",
    "no_cache_2": "2 processes, no parsed-file cache",
    "first_2": "2 processes, first run (builds the cache)",
    "cached_2": "2 processes, cached run (--processes 2)",
}


def print_engines(e: dict) -> None:
    w = 72
    goal = e["goal_bars_per_s"]
    print(f"the month: {e['minutes']:,} minutes x {e['symbols']} symbols = {e['bars']:,} 1m bars, journal off, "
          f"kernels {e['kernels']}, load {e['loadavg'][0]} -> {e['loadavg'][1]}")
    print(f"fast engine (default, recorder {e['recorder'].rsplit('.', 1)[1]}): each figure a fresh process "
          f"(as run.py backtest), timed from the call (imports {', '.join(f'{s:.2f}' for s in e['import_s'])} s apart), "
          f"{e['repeat']} runs each: mean (runs)")
    print(f"{'measured (1m bars/s, end to end from the files)':<{w}} {'figure':>12} {'goal':>10} {'ratio':>8}  runs")
    for name, f in e["fresh"].items():
        runs = " / ".join(f"{b / 1000:.1f}k" for b in f["bars_per_s"])
        print(f"{'fast, ' + LABELS[name]:<{w}} {f['mean_bars_per_s']:>12,.0f} {goal:>10,} {f['mean_bars_per_s'] / goal:>8.3f}  {runs}")
        if name.endswith("_1") or name == "cached_2":
            stages = ", ".join(f"{k.removesuffix('_s')} {v:.3f}" for k, v in f["stages_s"].items())
            print(f"{'  stages (s): ' + stages:<{w}}")
    print(f"{'fast, 1 process, files already parsed (a second run in the process)':<{w}} "
          f"{e['fast_warm_bars_per_s']:>12,.0f} {goal:>10,} {e['fast_warm_bars_per_s'] / goal:>8.3f}")
    print(f"{'faithful engine (--faithful)':<{w}} {e['faithful_bars_per_s']:>12,.0f} {goal:>10,} "
          f"{e['faithful_bars_per_s'] / goal:>8.3f}")
    print(f"{'fast (1 process, cached) vs faithful':<{w}} {'':>12} {'':>10} {e['fast_bars_per_s'] / e['faithful_bars_per_s']:>7.1f}x")
    print(f"{'anchor: Jesse, candles/s (Raspberry Pi 5, published; not run here)':<{w}} "
          f"{JESSE_CANDLES_S:>12,} {'':>10} {e['fast_bars_per_s'] / JESSE_CANDLES_S:>8.3f}")
    print(f"{'TAKEs, trades (' + str(e['trades']) + ') and per-minute equity identical (every fast run)':<{w}} "
          f"{'yes' if e['identical'] else 'NO':>12}")


def reused_names(count: int) -> dict[str, str]:
    """``count`` symbols: the 7 real ones, then the same series again as BTC2USDT, ETH2USDT, ...,
    BTC3USDT, ...; each name maps to the real symbol whose bars it carries."""
    names = {s: s for s in ALL}
    copy = 2
    while len(names) < count:
        for real in ALL[: count - len(names)]:
            names[f"{real.removesuffix('USDT')}{copy}USDT"] = real
        copy += 1
    return names


def reused_data_dir(target: Path, names: dict[str, str]) -> None:
    """A data directory where each name's kline file is its real symbol's file (linked, or copied
    where links are not allowed) and the rules file holds the real row under every name."""
    target.mkdir(parents=True, exist_ok=True)
    for name, real in names.items():
        source, link = (DATA / f"{real}-1m.csv.gz").resolve(), target / f"{name}-1m.csv.gz"
        try:
            os.symlink(source, link)
        except OSError:
            shutil.copyfile(source, link)
    rules_file(target, names)


def rules_file(target: Path, names: dict[str, str]) -> None:
    """The rules file of a synthetic data directory: the real row under every name."""
    with open(DATA / RULES, newline="") as f:
        reader = csv.DictReader(f)
        rows = {row["symbol"]: row for row in reader}
        fields = reader.fieldnames or []
    with open(target / RULES, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for name, real in names.items():
            writer.writerow({**rows[real], "symbol": name, "description": name, "market_ticker": name})


def long_data_dir(target: Path, names: dict[str, str], minutes: int) -> None:
    """A data directory of ``minutes`` 1m bars for every name, all on one calendar from the shipped
    data's latest first minute: each name's file replays its real symbol's shipped rows (prices,
    volumes: valid klines on the real tick grid) again and again, each lap starting where the
    last ended, the reused names starting their laps a week further into the month than the
    name before so the copies are not in lockstep. Price jumps where a lap restarts. Synthetic:
    for throughput only, the decisions on it mean nothing."""
    target.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[bytes]] = {}
    first = 0
    for real in set(names.values()):
        lines = gzip.decompress((DATA / f"{real}-1m.csv.gz").read_bytes()).splitlines()
        header, body = (lines[0], lines[1:]) if not lines[0][:1].isdigit() else (b"", lines)
        first = max(first, int(body[0].split(b",", 1)[0]))
        rows[real] = [line.split(b",", 1)[1] for line in body]
    copies: dict[str, int] = {}
    for name, real in names.items():
        lap = rows[real]
        shift = copies.get(real, 0) * 7 * 1440
        copies[real] = copies.get(real, 0) + 1
        text = b"\n".join([header] + [b"%d,%s" % (first + m * 60_000, lap[(m + shift) % len(lap)]) for m in range(minutes)])
        (target / f"{name}-1m.csv.gz").write_bytes(gzip.compress(text + b"\n", compresslevel=1))
    rules_file(target, names)


def scale_run(months: float, count: int = 25) -> dict:
    """The fast engine end to end (data loading included, journal off) on ``months`` x 30.4 days of
    ``count`` symbols (``long_data_dir``), from the simulator's default start to the data's end."""
    names = reused_names(count)
    minutes = round(months * 43_800)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        long_data_dir(Path(tmp), names, minutes)
        built = time.perf_counter() - t0
        settings = bench_settings()  # parses the files (no cache: the data is temporary)
        before = load()
        t0 = time.perf_counter()
        # The synthetic series' decisions mean nothing, and over a year they lose the default
        # 10,000 USDT to a liquidation the fast engine refuses to model (the run would stop
        # there): an account that cannot go bust keeps every minute in the timing.
        result = run_fast_backtest(settings, Window(symbols=tuple(names), data_dir=tmp), FillModel(initial_equity=SCALE_EQUITY))
        seconds = time.perf_counter() - t0
    bars = len(result.equity) * count
    return {"months": months, "symbols": count, "minutes": len(result.equity), "bars": bars, "seconds": round(seconds, 3),
            "bars_per_s": round(bars / seconds, 1), "stages_s": dict(result.timings), "trades": len(result.trades),
            "rows_decided": result.counts["states_decided"], "data_built_s": round(built, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "year_s_extrapolated": round(seconds * 12 / months, 1), "loadavg": [before, load()],
            "kernels": KERNELS_LABEL}


def print_scale(e: dict) -> None:
    w = 72
    what = "one year" if e["months"] >= 12 else f"{e['months']:g} months"
    print(f"{what} x {e['symbols']} symbols (synthetic: the shipped rows replayed, decisions meaningless), "
          f"{e['bars']:,} 1m bars, kernels {e['kernels']}, load {e['loadavg'][0]} -> {e['loadavg'][1]}")
    print(f"{'fast engine end to end (s)':<{w}} {e['seconds']:>12.1f} {YEAR_GOAL_S:>10} {e['seconds'] / YEAR_GOAL_S:>8.3f}")
    for stage, seconds in e["stages_s"].items():
        print(f"{'  ' + stage.removesuffix('_s') + ' (s)':<{w}} {seconds:>12.1f}")
    goal = GOAL_FAST_BARS_S if IS_COMPILED else GOAL_BARS_S  # the goal of the install: with the ``fast`` extra or without
    print(f"{'  1m bars/s':<{w}} {e['bars_per_s']:>12,.0f} {goal:>10,} {e['bars_per_s'] / goal:>8.3f}")
    if e["months"] < 12:
        print(f"{'  a year, extrapolated linearly (s)':<{w}} {e['year_s_extrapolated']:>12.1f} {YEAR_GOAL_S:>10} "
              f"{e['year_s_extrapolated'] / YEAR_GOAL_S:>8.3f}")
    print(f"{'  peak RSS of the bench process (MB)':<{w}} {e['peak_rss_mb']:>12,}")


def pipeline_rate(symbols: tuple[str, ...], minutes: int, *, journal: bool, reuse_reads: bool = True,
                  data_dir: str | None = None) -> dict:
    settings = bench_settings()
    window = Window(symbols=symbols, data_dir=data_dir)
    venue = InProcessVenue(InProcessSim.replay(sim_config(settings, window, FillModel())), reuse_reads=reuse_reads)
    with tempfile.TemporaryDirectory() as tmp:
        writer = backtest_journal(Path(tmp) / "journal.sqlite") if journal else None
        pipeline = Pipeline(settings, venue, writer, symbols)
        t0 = time.perf_counter()
        pipeline.start()
        t1 = time.perf_counter()
        requests = venue.rest.stats["requests"]
        for _ in range(minutes):
            pipeline.step()
        t2 = time.perf_counter()
        requests = venue.rest.stats["requests"] - requests
        if writer is not None:
            writer.close()
    venue.close()
    run_s = t2 - t1
    return {"symbols": len(symbols), "journal": journal, "reuse_reads": reuse_reads, "reused_series": data_dir is not None,
            "ticks": minutes, "start_s": round(t1 - t0, 3),
            "ticks_per_s": round(minutes / run_s, 1), "bars_per_s": round(minutes * len(symbols) / run_s, 1),
            "signed_requests_per_tick": round(requests / minutes, 2), "decisions": len(pipeline.decisions)}


def read_latency(n: int = 300) -> dict:
    """``positions()`` (one signed V5 GET, parsed) in-process vs over the served simulator's socket."""
    config = SimConfig(port=0, symbols=("BTCUSDT",), paced=True, rate_limits=False, answer_latency_ms=0)
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


def label(case: dict) -> str:
    reads = "reads reused" if case["reuse_reads"] else "reads fresh"
    symbols = f"{case['symbols']} symbol{'s' if case['symbols'] > 1 else ''}" + (" (7 reused)" if case["reused_series"] else "")
    return f"pipeline, {symbols}, journal {'on' if case['journal'] else 'off'}, {reads}"


def main() -> None:
    if sys.argv[1:2] == ["--fresh-run"]:
        child_run(int(sys.argv[2]), sys.argv[3])
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    minutes = int(args[0]) if args else 600
    scale_months = next((float(a.split("=", 1)[1]) if "=" in a else 12.0 for a in sys.argv if a.startswith("--scale")), None)
    engines = engines_month()
    print_engines(engines)
    scale = None
    if scale_months is not None:
        print()
        scale = scale_run(scale_months)
        print_scale(scale)
    if "--engines" in sys.argv or scale is not None:
        print(json.dumps({"bench": "backtest", "engines": engines, "scale": scale, "goal_bars_per_s": engines["goal_bars_per_s"],
                          "goal_year_x25_s": YEAR_GOAL_S, "anchor_jesse_candles_per_s": JESSE_CANDLES_S}))
        return
    print()
    names = reused_names(25)
    with tempfile.TemporaryDirectory() as tmp:
        reused_data_dir(Path(tmp), names)
        cases = [pipeline_rate(ALL[:1], minutes, journal=False, reuse_reads=False),
                 pipeline_rate(ALL[:1], minutes, journal=False),
                 pipeline_rate(ALL, minutes, journal=False, reuse_reads=False),
                 pipeline_rate(ALL, minutes, journal=False),
                 pipeline_rate(ALL, minutes, journal=True),
                 pipeline_rate(tuple(names), minutes, journal=False, data_dir=tmp)]
    reads = read_latency()
    reuse_ratio = {n: round(cases[i + 1]["bars_per_s"] / cases[i]["bars_per_s"], 2) for n, i in ((1, 0), (7, 2))}
    w = 72
    print(f"{'measured':<{w}} {'figure':>12} {'target':>10} {'ratio':>8}")
    for c in cases:
        print(f"{label(c) + ' (1m bars/s)':<{w}} {c['bars_per_s']:>12,.0f} {TARGET_BARS_S:>10,} {c['bars_per_s'] / TARGET_BARS_S:>8.3f}")
        print(f"{'  ticks/s (all symbols decided, cycle closed)':<{w}} {c['ticks_per_s']:>12,.1f} {'':>10} {'':>8}")
        print(f"{'  signed V5 requests per tick':<{w}} {c['signed_requests_per_tick']:>12.2f} {'':>10} {'':>8}")
        print(f"{'  start: reconcile + bootstrap (s)':<{w}} {c['start_s']:>12.3f} {'':>10} {'':>8}")
    for n, r in reuse_ratio.items():
        print(f"{f'{n} symbol(s): reads reused vs fresh (bars/s)':<{w}} {'':>12} {'':>10} {r:>7.2f}x")
    ratio = reads["loopback_us"] / reads["inprocess_us"]
    print(f"{'positions() read in-process (us)':<{w}} {reads['inprocess_us']:>12.1f} {'':>10} {'':>8}")
    print(f"{'positions() read over loopback HTTP (us)':<{w}} {reads['loopback_us']:>12.1f} {'':>10} {ratio:>7.1f}x")
    print("25 symbols = the 7 real series reused under made-up names (BTC2USDT, ...): throughput only.")
    print(json.dumps({"bench": "backtest", "engines": engines, "goal_bars_per_s": GOAL_BARS_S,
                      "anchor_jesse_candles_per_s": JESSE_CANDLES_S, "minutes": minutes, "cases": cases, "reads": reads,
                      "reuse_reads_ratio": reuse_ratio,
                      "reused_series": {name: real for name, real in names.items() if name != real},
                      "target_bars_per_s": TARGET_BARS_S}))


if __name__ == "__main__":
    main()
