"""A walk-forward tune end to end: the shipped month, BTC+ETH, a budget of 40 trials spread over
the plan's selections (each split's and the final one), a fresh study and a cold tape cache.

Prints the wall time of each phase (recording the tapes once, the trials, the report with its
hold-out run and diagnostics), trials per second next to the floor a trial's own evaluation sets
(the trial over its train slice, without Optuna or storage), and the report's figures: IS / OOS /
hold-out expectancy (R per trade net of fees), DSR, PBO and the verdict.

Run: ``python bench/tune.py [trials] [symbols]``. Prints a table; the LAST line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocabulary.settings import load_settings  # noqa: E402
from backtest import tune as tuning  # noqa: E402
from backtest.history import read_history  # noqa: E402

TRAIN_DAYS, TEST_DAYS = 7.0, 3.0


def main() -> None:
    budget = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    symbols = sys.argv[2] if len(sys.argv) > 2 else "BTCUSDT,ETHUSDT"
    settings = load_settings(Path("settings.toml").read_text(), {})
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", default="settings.toml")
    tuning.add_arguments(parser)
    probe = parser.parse_args(["--symbols", symbols, "--train-days", str(TRAIN_DAYS), "--test-days", str(TEST_DAYS)])
    history = read_history(Path(settings.sim.data_dir), symbols.split(","))
    plan = tuning.study_plan(probe, settings, history)
    selections = len(plan.splits) + 1
    per = max(4, round(budget / selections))
    tpe, cma = per - per // 4, per // 4
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        args = parser.parse_args([
            "--symbols", symbols, "--train-days", str(TRAIN_DAYS), "--test-days", str(TEST_DAYS),
            "--tpe-trials", str(tpe), "--cma-trials", str(cma), "--min-trades", "10",
            "--out", f"{tmp}/out", "--storage", f"sqlite:///{tmp}/study.db", "--cache", f"{tmp}/cache"])
        phases: dict[str, float] = {}
        recorded: list[tuple[float, float]] = []  # (when it ended, how long it took)
        original = tuning.TapeSource.tape

        def timed_tape(self, span):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            known = span in self.tapes
            tape = original(self, span)
            if not known:
                recorded.append((time.perf_counter(), time.perf_counter() - started))
            return tape

        tuning.TapeSource.tape = timed_tape  # type: ignore[method-assign]
        from backtest import tunereport

        report = tunereport.report

        def timed_report(**kwargs):  # type: ignore[no-untyped-def]
            phases["trials_end"] = time.perf_counter()
            return report(**kwargs)

        tunereport.report = timed_report
        started = time.perf_counter()
        code = tuning.main(args, settings, None)
        wall = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"run.py tune exited {code}")
        doc = json.loads(Path(f"{tmp}/out/tune.json").read_text())
    s = doc["summary"]
    trials = s["trials"]
    record_s = sum(d for _, d in recorded)
    trial_phase = phases["trials_end"] - started - sum(d for end, d in recorded if end <= phases["trials_end"])
    floor = _floor(settings, symbols.split(","), plan)
    rows = [
        ("selections (splits + final)", f"{selections}", f"{tpe} TPE + {cma} CMA-ES each"),
        ("trials", f"{trials}", f"budget {budget}"),
        ("wall time, whole tune", f"{wall:.1f} s", ""),
        ("recording the tapes (once)", f"{record_s:.1f} s", "cached on disk for later runs"),
        ("trials phase", f"{trial_phase:.1f} s", f"{trials / trial_phase:.2f} trials/s"),
        ("floor: one trial's evaluation alone", f"{floor:.2f} s", f"{1 / floor:.2f} trials/s without Optuna/storage"),
        ("report (winners on tests, hold-out once, scatter)", f"{wall - (phases['trials_end'] - started):.1f} s", ""),
        ("in sample R/trade (n)", _r(s["is"]), _ci(s["is"])),
        ("out of sample R/trade (n)", _r(s["oos"]), _ci(s["oos"])),
        ("hold-out R/trade (n)", _r(s["holdout"]), _ci(s["holdout"])),
        ("DSR / PBO", f"{_n(s['dsr'])} / {_n(s['pbo'])}", f"WF efficiency {_n(s['wf_efficiency'])}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':>16}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    print(f"verdict: {s['verdict']}")
    print(json.dumps({"bench": "tune", "symbols": symbols, "selections": selections, "trials": trials, "wall_s": round(wall, 1),
                      "record_s": round(record_s, 1), "trial_phase_s": round(trial_phase, 1),
                      "trials_per_s": round(trials / trial_phase, 3), "floor_trials_per_s": round(1 / floor, 3),
                      "is_r": s["is"]["expectancy_r"], "oos_r": s["oos"]["expectancy_r"], "holdout_r": s["holdout"]["expectancy_r"],
                      "dsr": s["dsr"], "pbo": s["pbo"], "verdict": s["verdict"]}))


def _floor(settings, symbols, plan) -> float:  # type: ignore[no-untyped-def]
    """One trial's evaluation over a split's train slice, the default parameters, the tape recorded once."""
    from backtest.tape import record_tape, slice_tape
    from backtest.run import Window
    from backtest.trial import run_trial

    space = tuning.search_space(settings)
    widest, hist = tuning.tape_bounds(settings, space)
    s = plan.splits[0]
    tape = record_tape(settings, Window(symbols=tuple(symbols), start_ms=s.train_start, end_ms=s.train_end), widest=widest, hist_len=hist)
    piece = slice_tape(tape, s.train_start, s.train_end)
    started = time.perf_counter()
    for _ in range(3):
        run_trial(piece, settings)
    return (time.perf_counter() - started) / 3


def _r(record: dict) -> str:
    value = record["expectancy_r"]
    return ("n/a" if value is None else f"{value:+.3f}") + f" ({record['trades']})"


def _ci(record: dict) -> str:
    ci = record["ci95_r"]
    return "" if ci is None else f"95 % [{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _n(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
