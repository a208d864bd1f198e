"""``run.py tune``: Optuna two-stage walk-forward tuning of ``[strategy]``/``[risk]``.

The search space is the ``[tune]`` ranges of settings (``search_space``). Stage 1 is a TPE search
over all of it, stage 2 CMA-ES started at stage 1's best. A trial's value is the objective
(``walkforward.objective``: expectancy in R, with a minimum trade count) on the *test* windows
only; in-sample results are computed afterwards for the best trials, next to their out-of-sample
ones, so overfitting shows. Study storage is any Optuna RDB URL: SQLite by default, PostgreSQL to
let several machines run trials of one study (``--worker-only``). The best parameters are written
as an overlay file (``best.toml``), never over ``settings.toml``.

A trial does not replay its windows: each window's market is recorded once (``backtest.tape``) and
every trial decides and trades over the recording (``backtest.trial``), which gives the backtest's
own decisions and trades, field for field, hundreds of times faster. ``--faithful`` runs a whole
backtest per evaluation instead.

Optuna is an optional extra (``pip install -e '.[tune]'``); the rest of the bot never imports it.
"""

from __future__ import annotations

import argparse
import json
import numbers
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from actors.cores import history_length
from actors.messages import TradeClosed
from actors.settings import TUNABLE_SETTINGS, Credentials, Settings, SettingsError, load_settings
from backtest import report_html
from backtest.cli import add_window_arguments, override_env, settings_with
from backtest.run import Window, run_backtest
from backtest.tape import Tape, record_tape
from backtest.trial import run_trial
from backtest.walkforward import DAY_MS, Split, expectancy_r, objective, rolling_splits
from exchange.sim.config import SimConfig
from exchange.sim.market import MINUTE_MS, load_store


class Param(NamedTuple):
    key: str  # "section.name", as in settings.toml
    low: float
    high: float
    integer: bool = False


def search_space(settings: Settings) -> tuple[Param, ...]:
    """The ``[tune]`` ranges of settings, sorted by key so every worker builds the same space.
    Loading settings checked each bound against its setting; an int setting is searched as integers."""
    return tuple(Param(key, low, high, integer=TUNABLE_SETTINGS[key] is int)
                 for key, (low, high) in sorted(settings.tune.items()))


# (settings, start_ms, end_ms) -> the trades closed in that window
Evaluate = Callable[[Settings, int, int], list[TradeClosed]]


def env_for(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as the environment overrides settings loading understands."""
    out = {}
    for key, value in params.items():
        section, name = key.split(".")
        out[f"SMTBOT__{section.upper()}__{name.upper()}"] = _toml_number(value)
    return out


def _toml_number(value: Any) -> str:
    # Storage and samplers may hold numpy scalars, whose repr ("np.float64(1.5)") is not TOML.
    return repr(int(value)) if isinstance(value, numbers.Integral) else repr(float(value))


def backtest_evaluator(symbols: tuple[str, ...], data_dir: str | None) -> Evaluate:
    """Each evaluation a whole backtest: the faithful path, at backtest speed."""
    def evaluate(settings: Settings, start_ms: int, end_ms: int) -> list[TradeClosed]:
        return run_backtest(settings, Window(symbols=symbols, start_ms=start_ms, end_ms=end_ms, data_dir=data_dir)).trades
    return evaluate


def tape_bounds(base: Settings, space: Sequence[Param]) -> tuple[tuple[float, float], int]:
    """What a tape must be recorded with to answer for every point of ``space``: the widest zone
    levels (oversold, overbought) and the history length of the longest swing lookback."""
    bounds = {p.key: (p.low, p.high) for p in space}
    s = base.strategy
    widest = (max(s.wt_oversold, bounds.get("strategy.wt_oversold", (s.wt_oversold,) * 2)[1]),
              min(s.wt_overbought, bounds.get("strategy.wt_overbought", (s.wt_overbought,) * 2)[0]))
    longest = int(max(s.swing_lookback, bounds.get("strategy.swing_lookback", (0, 0))[1]))
    return widest, history_length(msgspec.structs.replace(base, strategy=msgspec.structs.replace(s, swing_lookback=longest)))


def tape_evaluator(base: Settings, symbols: tuple[str, ...], data_dir: str | None, space: Sequence[Param],
                   on_record: Callable[[int, int, float], None] | None = None) -> Evaluate:
    """Each window's market recorded once (``backtest.tape``), each evaluation a trial over it
    (``backtest.trial``: the backtest's own decisions and trades, tested so). The tapes are
    recorded wide enough for every zone level and history length the space can ask for; a
    trial the tape cannot answer for (a path setting outside the space changed) runs the backtest."""
    widest, hist = tape_bounds(base, space)
    tapes: dict[tuple[int, int], Tape] = {}
    fallback = backtest_evaluator(symbols, data_dir)

    def evaluate(settings: Settings, start_ms: int, end_ms: int) -> list[TradeClosed]:
        tape = tapes.get((start_ms, end_ms))
        if tape is None:
            started = time.perf_counter()
            window = Window(symbols=symbols, start_ms=start_ms, end_ms=end_ms, data_dir=data_dir)
            tape = tapes[(start_ms, end_ms)] = record_tape(base, window, widest=widest, hist_len=hist)
            if on_record is not None:
                on_record(start_ms, end_ms, time.perf_counter() - started)
        if tape.covers(settings.strategy):
            return fallback(settings, start_ms, end_ms)
        return run_trial(tape, settings).trades

    return evaluate


def trial_objective(base_text: bytes, base_env: Mapping[str, str], splits: Sequence[Split], evaluate: Evaluate,
                    min_trades: int, worker: str, space: Sequence[Param]) -> Callable[[Any], float]:
    import optuna

    def run(trial: optuna.Trial) -> float:
        params = {p.key: (trial.suggest_int(p.key, int(p.low), int(p.high)) if p.integer else trial.suggest_float(p.key, p.low, p.high))
                  for p in space}
        trial.set_user_attr("worker", worker)
        try:
            settings = load_settings(base_text, {**base_env, **env_for(params)}, source="trial")
        except SettingsError as exc:
            trial.set_user_attr("refused", str(exc))
            raise optuna.TrialPruned(f"settings refused: {exc}") from None
        trades: list[TradeClosed] = []
        for split in splits:
            trades += evaluate(settings, split.test_start, split.test_end)  # out of sample only
        value, n = expectancy_r(trades)
        trial.set_user_attr("oos_trades", n)
        trial.set_user_attr("oos_expectancy_r", value)
        return objective(trades, min_trades)

    return run


def run_worker(study_name: str, storage: str, run: Callable[[Any], float], *, tpe_trials: int, cma_trials: int, seed: int,
               on_trial: Callable[[Any, Any], None] | None = None) -> int:
    """Run trials of the shared study until it holds ``tpe_trials + cma_trials``; returns how many
    this worker ran. Every worker picks the stage from the study's count, so workers on other
    machines move to CMA-ES together. Workers that look at the count at the same moment may each
    start one more: a study can end up to (workers - 1) trials over its total."""
    import optuna

    _create_study(study_name, storage)
    ran = 0
    while True:
        study = optuna.load_study(study_name=study_name, storage=storage)
        started = len(study.get_trials(deepcopy=False))
        if started >= tpe_trials + cma_trials:
            return ran
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if started < tpe_trials or not complete:
            sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed + started, n_startup_trials=min(10, tpe_trials))
        else:
            with warnings.catch_warnings():
                # x0 is deprecated from Optuna 4.9 (removal in 6) without a replacement that starts
                # the search at a given point; the extra pins Optuna below 5.
                warnings.simplefilter("ignore", FutureWarning)
                sampler = optuna.samplers.CmaEsSampler(x0=study.best_params, seed=seed + started, warn_independent_sampling=False)
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
        study.optimize(run, n_trials=1, callbacks=[on_trial] if on_trial is not None else None)
        ran += 1


def _create_study(study_name: str, storage: str, attempts: int = 5) -> None:
    """Create the study, or join it. Workers started together race to create the storage's tables
    and the study row; the loser's error is transient, so it tries again and then joins."""
    import optuna

    for attempt in range(attempts):
        try:
            optuna.create_study(study_name=study_name, storage=storage, direction="maximize", load_if_exists=True)
            return
        except Exception:  # noqa: BLE001 - SQLAlchemy's DDL race errors differ by database
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def in_and_out_of_sample(base_text: bytes, base_env: Mapping[str, str], params: Mapping[str, Any], splits: Sequence[Split],
                         evaluate: Evaluate) -> dict[str, Any]:
    settings = load_settings(base_text, {**base_env, **env_for(params)}, source="trial")
    inside: list[TradeClosed] = []
    outside: list[TradeClosed] = []
    for split in splits:
        inside += evaluate(settings, split.train_start, split.train_end)
        outside += evaluate(settings, split.test_start, split.test_end)
    (is_r, is_n), (oos_r, oos_n) = expectancy_r(inside), expectancy_r(outside)
    return {"params": dict(params), "is_expectancy_r": is_r, "is_trades": is_n, "oos_expectancy_r": oos_r, "oos_trades": oos_n}


def overlay_toml(params: Mapping[str, Any]) -> str:
    sections: dict[str, list[str]] = {}
    for key in sorted(params):
        section, name = key.split(".")
        sections.setdefault(section, []).append(f"{name} = {_toml_number(params[key])}")
    head = "# Best walk-forward parameters (run.py tune): an overlay, apply with run.py backtest --overlay FILE\n"
    return head + "\n".join(f"\n[{s}]\n" + "\n".join(lines) for s, lines in sections.items()) + "\n"


# --- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser)
    parser.add_argument("--train-days", type=float, default=7.0, help="in-sample window (default 7)")
    parser.add_argument("--test-days", type=float, default=2.0, help="out-of-sample window right after it (default 2)")
    parser.add_argument("--step-days", type=float, default=None, help="shift between splits (default: --test-days)")
    parser.add_argument("--tpe-trials", type=int, default=40, help="stage 1: TPE trials (default 40)")
    parser.add_argument("--cma-trials", type=int, default=20, help="stage 2: CMA-ES trials around the best (default 20)")
    parser.add_argument("--min-trades", type=int, default=20, help="out-of-sample trades a trial needs to count (default 20)")
    parser.add_argument("--storage", default="sqlite:///var/tune/study.db", help="Optuna RDB URL (sqlite:///..., postgresql://...)")
    parser.add_argument("--study", default="smtbot-walkforward", help="study name: workers with the same name share trials")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="var/tune", metavar="DIR", help="tune.json (in vs out of sample), best.toml (overlay)")
    parser.add_argument("--worker-only", action="store_true", help="run trials of the shared study, write no report")
    parser.add_argument("--faithful", action="store_true",
                        help="evaluate every trial by a whole backtest instead of a trial over the recorded window")
    parser.add_argument("--top", type=int, default=5, help="best trials shown in sample vs out of sample (default 5)")


def splits_for(args: argparse.Namespace, settings: Settings, symbols: tuple[str, ...]) -> list[Split]:
    data_dir = Path(args.data or settings.sim.data_dir)
    store, _ = load_store(data_dir, symbols)
    start = args.start if args.start is not None else store.first_ms + SimConfig().warmup_minutes * MINUTE_MS
    end = min(args.end, store.end_ms) if args.end is not None else store.end_ms
    days = lambda d: int(d * DAY_MS) // MINUTE_MS * MINUTE_MS  # noqa: E731
    return rolling_splits(start, end, train_ms=days(args.train_days), test_ms=days(args.test_days),
                          step_ms=None if args.step_days is None else days(args.step_days))


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    try:
        import optuna
    except ImportError:
        print("run.py tune needs Optuna: pip install -e '.[tune]'", file=sys.stderr)
        return 2
    try:
        settings = settings_with(args, settings)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",")) if args.symbols else tuple(settings.bot.symbols)
    space = search_space(settings)
    if not space:
        print("run.py tune: [tune] names no range to search", file=sys.stderr)
        return 2
    splits = splits_for(args, settings, symbols)
    if not splits:
        print("run.py tune: the data holds no (train, test) split of that size", file=sys.stderr)
        return 2
    out = Path(args.out)
    if (out / "best.toml").resolve() == Path(args.settings).resolve():
        print("run.py tune: --out would write best.toml over the settings file; choose another --out", file=sys.stderr)
        return 2
    if args.storage.startswith("sqlite:///"):
        Path(args.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    base_text = Path(args.settings).read_bytes()
    base_env = {k: v for k, v in os.environ.items() if k.startswith("SMTBOT__")}
    base_env.update(override_env(args))
    if args.faithful:
        evaluate = backtest_evaluator(symbols, args.data)
    else:
        base = load_settings(base_text, base_env, source=args.settings)
        evaluate = tape_evaluator(base, symbols, args.data, space, on_record=lambda a, b, s: print(
            f"recorded window {a}-{b} in {s:.1f} s (once; trials replay it)", file=sys.stderr, flush=True))
    worker = f"{socket.gethostname()}:{os.getpid()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = trial_objective(base_text, base_env, splits, evaluate, args.min_trades, worker, space)
    total = args.tpe_trials + args.cma_trials

    def show(study: Any, trial: Any) -> None:
        stage = "cma" if trial.number >= args.tpe_trials else "tpe"
        value = "pruned" if trial.value is None else f"{trial.value:+.3f}"
        print(f"trial {trial.number + 1}/{total} ({stage}): {value}, {trial.user_attrs.get('oos_trades', 0)} out-of-sample trades",
              file=sys.stderr, flush=True)

    ran = run_worker(args.study, args.storage, run, tpe_trials=args.tpe_trials, cma_trials=args.cma_trials, seed=args.seed, on_trial=show)
    print(f"worker {worker}: {ran} trials of study {args.study!r} ({len(splits)} walk-forward splits)")
    if args.worker_only:
        return 0
    study = optuna.load_study(study_name=args.study, storage=args.storage)
    done = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: -(t.value or 0.0))
    if not done:
        print("run.py tune: no trial completed", file=sys.stderr)
        return 1
    rows = [{"trial": t.number, "value": t.value, **in_and_out_of_sample(base_text, base_env, t.params, splits, evaluate)}
            for t in done[: args.top]]
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.json").write_text(json.dumps({"study": args.study, "splits": [s._asdict() for s in splits], "best": rows}, indent=2) + "\n")
    (out / "best.toml").write_text(overlay_toml(done[0].params))
    report_html.write_tune(json.loads((out / "tune.json").read_text()), out)  # tune.html: IS vs OOS, the chosen trial's equity
    print(_table(rows))
    print(f"written: {out / 'tune.json'}, {out / 'best.toml'} (an overlay: settings.toml is left as it is)")
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    def cell(r: dict[str, Any], side: str) -> str:
        value = r[f"{side}_expectancy_r"]
        return ("n/a" if value is None else f"{value:+.3f}") + " (" + str(r[f"{side}_trades"]) + ")"

    lines = [f"{'trial':>5}  {'objective':>9}  {'in-sample R (n)':>16}  {'out-of-sample R (n)':>20}"]
    for r in rows:
        lines.append(f"{r['trial']:>5}  {r['value']:>9.3f}  {cell(r, 'is'):>16}  {cell(r, 'oos'):>20}")
    return "\n".join(lines)
