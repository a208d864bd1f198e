"""Recording a tape: the streaming recorder (``backtest.tape.record_tape``: simulator + symbol
cores, minute by minute) beside the batch recorder (``backtest.batch_tape.record_tape_batch``),
on the same window in the same run, in 1m bars per second (minutes x symbols). The two tapes are
compared row for row before any figure is printed: a bench of a recorder that differs is void.

The batch recorder is timed cold (the first call in the process: each symbol's Decimal bars are
read into arrays, numba's cached kernels are loaded) and warm, three times (the arrays are kept per
loaded series, as in a tuning study or a second backtest in one process): the median is the figure
compared with the streaming recorder's one run, the best is shown beside it. The kline files' own parse
(``load_store``, shared by both recorders and cached) is timed apart. "End to end" adds one
default trial (``backtest.trial.run_trial``) on the batch tape: the fast backtest's two halves.

Run: ``python bench/tape.py [days] [--no-numba]`` (days: from the simulator's default start to the
end of the data when omitted; ``--no-numba`` measures the default install's kernels (C where the
install compiled them, else pure Python) where numba is installed). Prints a table; the LAST line is a JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

if "--no-numba" in sys.argv:
    sys.modules["numba"] = None  # type: ignore[assignment]  # the kernels then run as the default install's

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from backtest.batch_tape import record_tape_batch  # noqa: E402
from backtest.run import FillModel, Window, sim_config  # noqa: E402
from backtest.tape import record_tape  # noqa: E402
from backtest.trial import run_trial  # noqa: E402
from exchange.sim.market import MINUTE_MS, load_store  # noqa: E402
from indicators.kernels import IS_COMPILED, KERNELS_LABEL  # noqa: E402
from vocabulary.settings import load_settings  # noqa: E402

GOAL_DEFAULT = 150_000  # issue 19: the whole fast backtest, default install (bars/s)
GOAL_FAST = 500_000  # with the ``fast`` extra (numba)
WARM_RUNS = 3


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if os.path.exists("/proc/loadavg") else "n/a"


def timed(call):
    t0 = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t0


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    settings = load_settings(Path("settings.toml").read_text(), {})
    loads = [load()]
    (store, _), parse_s = timed(lambda: load_store(Path(settings.sim.data_dir), settings.bot.symbols))
    warmup = sim_config(settings, Window(), FillModel()).warmup_minutes  # the simulator's default start
    end = None if not args else store.first_ms + warmup * MINUTE_MS + int(float(args[0]) * 1440) * MINUTE_MS
    window = Window(end_ms=end)
    cold, cold_s = timed(lambda: record_tape_batch(settings, window))
    warm_runs = []
    for _ in range(WARM_RUNS):  # the machine is shared: the median of a few, the best beside it
        warm, seconds = timed(lambda: record_tape_batch(settings, window))
        warm_runs.append(seconds)
    warm_s, best_s = statistics.median(warm_runs), min(warm_runs)
    loads.append(load())
    streamed, stream_s = timed(lambda: record_tape(settings, window))
    loads.append(load())
    same = (len(streamed.rows) == len(warm.rows) == len(cold.rows)
            and all(msgspec.msgpack.encode(a) == msgspec.msgpack.encode(b) for a, b in zip(streamed.rows, warm.rows))
            and all(msgspec.msgpack.encode(a) == msgspec.msgpack.encode(b) for a, b in zip(cold.rows, warm.rows))
            and np.array_equal(streamed.fires, warm.fires) and streamed.states_seen == warm.states_seen
            and streamed.bars == warm.bars)
    if not same:
        raise SystemExit("the batch tape differs from the streaming tape: no figures")
    trial, trial_s = timed(lambda: run_trial(warm, settings))
    bars = warm.bars_replayed
    rate = {name: round(bars / s) for name, s in
            (("stream", stream_s), ("batch_cold", cold_s), ("batch_warm", warm_s), ("batch_warm_best", best_s),
             ("end_to_end_warm", warm_s + trial_s), ("end_to_end_cold", cold_s + trial_s))}
    goal = GOAL_FAST if IS_COMPILED else GOAL_DEFAULT
    print(f"{len(warm.symbols)} symbols x {warm.minutes:,} minutes = {bars:,} 1m bars; rows kept {len(warm.rows):,} "
          f"of {warm.states_seen:,} states; kernels {KERNELS_LABEL}")
    print(f"{'measured':<52} {'seconds':>8} {'bars/s':>11} {'vs stream':>10}")
    for label, key, seconds in (
        ("record_tape (simulator + symbol cores)", "stream", stream_s),
        ("record_tape_batch, cold (first call in process)", "batch_cold", cold_s),
        ("record_tape_batch, warm, median of 3", "batch_warm", warm_s),
        ("record_tape_batch, warm, best of 3", "batch_warm_best", best_s),
        ("fast backtest end to end: batch warm + 1 trial", "end_to_end_warm", warm_s + trial_s),
        ("fast backtest end to end: batch cold + 1 trial", "end_to_end_cold", cold_s + trial_s),
    ):
        print(f"{label:<52} {seconds:>8.2f} {rate[key]:>11,} {stream_s / seconds:>9.1f}x")
    print(f"{'kline files parsed (load_store, both recorders)':<52} {parse_s:>8.2f}")
    print(f"goal for the whole fast backtest: {goal:,} bars/s; load (1/5/15 min) before, mid, after: {' | '.join(loads)}")
    print(json.dumps({"bench": "tape", "bars": bars, "symbols": len(warm.symbols), "minutes": warm.minutes,
                      "rows": len(warm.rows), "states": warm.states_seen, "compiled": IS_COMPILED, "identical": same,
                      "seconds": {"stream": round(stream_s, 3), "batch_cold": round(cold_s, 3), "batch_warm": round(warm_s, 3),
                                  "batch_warm_runs": [round(x, 3) for x in warm_runs], "trial": round(trial_s, 3), "parse": round(parse_s, 3)},
                      "bars_per_s": rate, "speedup_warm": round(stream_s / warm_s, 1), "goal_bars_per_s": goal,
                      "trades": len(trial.trades), "loadavg": loads}))


if __name__ == "__main__":
    main()
