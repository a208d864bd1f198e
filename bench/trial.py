"""Tuning-trial throughput: 1m bars/s of one trial over a recorded tape (``backtest.trial``), for
parameter sets drawn from the ``[tune]`` space, next to the whole backtest on the same window in
the same run; and what recording the tape costs, once per window.

A trial's "bars" are the window's minutes times its symbols, as for the backtest: the trial gives
the same decisions and trades (tests/backtest/test_trial.py), so the ratio compares like with like.

Run: ``python bench/trial.py [days] [trials]``. Prints a table; the LAST line is a JSON object.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocabulary.settings import load_settings  # noqa: E402
from backtest.run import Window, run_backtest  # noqa: E402
from backtest.tape import record_tape  # noqa: E402
from backtest.trial import run_trial  # noqa: E402
from backtest.tune import env_for, search_space, tape_bounds  # noqa: E402
from exchange.sim.market import MINUTE_MS, load_store  # noqa: E402

ALL = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
TARGET_TRIAL_BARS_S = 1_000_000  # issue #9: per tuning trial on precomputed indicators
BACKTEST_MINUTES = 1440  # the whole backtest beside it, on the first day of the window


def trial_rates(symbols: tuple[str, ...], days: float, trials: int, seed: int = 7) -> dict:
    text = Path("settings.toml").read_text()
    base = load_settings(text, {})
    space = search_space(base)
    store, _ = load_store(Path(base.sim.data_dir), symbols)
    start = store.first_ms + 1000 * MINUTE_MS
    end = min(store.end_ms, start + int(days * 1440) * MINUTE_MS)
    window = Window(symbols=symbols, start_ms=start, end_ms=end)
    widest, hist = tape_bounds(base, space)
    t0 = time.perf_counter()
    tape = record_tape(base, window, widest=widest, hist_len=hist)
    record_s = time.perf_counter() - t0
    rng = random.Random(seed)
    rates, trades, takes = [], [], []
    for _ in range(trials):
        params = {p.key: rng.randint(int(p.low), int(p.high)) if p.integer else rng.uniform(p.low, p.high) for p in space}
        result = run_trial(tape, load_settings(text, env_for(params)))
        rates.append(result.bars / result.wall_s)
        trades.append(len(result.trades))
        takes.append(len(result.takes))
    short = Window(symbols=symbols, start_ms=start, end_ms=start + BACKTEST_MINUTES * MINUTE_MS)
    backtest = run_backtest(base, short)
    backtest_rate = backtest.ticks * len(symbols) / backtest.wall_s
    defaults = run_trial(record_tape(base, short), base)
    same_day_rate = defaults.bars / defaults.wall_s
    return {
        "symbols": len(symbols), "days": round((end - start) / 86_400_000, 2), "bars": tape.bars_replayed,
        "record_s": round(record_s, 2), "record_bars_per_s": round(tape.bars_replayed / record_s),
        "rows_kept": len(tape.rows), "states": tape.states_seen, "trials": trials,
        "trial_bars_per_s_median": round(statistics.median(rates)), "trial_bars_per_s_min": round(min(rates)),
        "trades_median": statistics.median(trades), "takes_median": statistics.median(takes),
        "backtest_bars_per_s": round(backtest_rate), "trial_bars_per_s_same_day": round(same_day_rate),
        "trial_over_backtest": round(same_day_rate / backtest_rate, 1),
    }


def main() -> None:
    days = float(sys.argv[1]) if len(sys.argv) > 1 else 7.0
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    cases = [trial_rates(ALL[:1], days, trials), trial_rates(ALL, days, trials)]
    print(f"{'measured':<58} {'figure':>12} {'target':>12} {'ratio':>8}")
    for c in cases:
        head = f"{c['symbols']} symbol(s), {c['days']} days = {c['bars']:,} 1m bars"
        print(head)
        median = c["trial_bars_per_s_median"]
        print(f"{'  trial, median of ' + str(c['trials']) + ' drawn from [tune] (bars/s)':<58} {median:>12,} "
              f"{TARGET_TRIAL_BARS_S:>12,} {median / TARGET_TRIAL_BARS_S:>8.2f}")
        print(f"{'  trial, slowest (bars/s)':<58} {c['trial_bars_per_s_min']:>12,}")
        print(f"{'  trades / TAKEs per trial (median)':<58} {c['trades_median']:>5} / {c['takes_median']:<5}")
        print(f"{'  recording the tape, once per window (s)':<58} {c['record_s']:>12.2f}")
        print(f"{'  rows kept / states recorded':<58} {c['rows_kept']:>5} / {c['states']:<5}")
        print(f"{'  first day, defaults: whole backtest (bars/s)':<58} {c['backtest_bars_per_s']:>12,}")
        print(f"{'  first day, defaults: trial (bars/s)':<58} {c['trial_bars_per_s_same_day']:>12,} {'':>12} "
              f"{c['trial_over_backtest']:>7}x")
    print(json.dumps({"bench": "trial", "cases": cases, "target_trial_bars_per_s": TARGET_TRIAL_BARS_S}))


if __name__ == "__main__":
    main()
