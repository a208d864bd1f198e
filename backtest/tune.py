"""``run.py tune``: walk-forward tuning of ``[strategy]``/``[risk]`` that never selects on what it reports.

The plan (``walkforward.plan``, diagram there): the data's gap-free windows, walk-forward splits
inside them, and a final hold-out at the end. Each split is a *selection*: an Optuna study of its
own whose trials are scored on the split's train window only (stage 1 TPE over the ``[tune]``
space, stage 2 CMA-ES from stage 1's best). Its winner is then run once on the split's test
window; the out-of-sample record is those test windows' trades, one after another. The final
selection is scored on the train window before the hold-out; its winner is what ``best.toml``
holds, and it is run on the hold-out exactly once, after every trial, its result kept in the
study so that a re-run reports it again instead of running it again.

The objective is R per trade net of fees (``TradeClosed.pnl_r``: fees, slippage and funding as the
simulator charges them), with a minimum trade count (``walkforward.objective``). The report
(``backtest.tunereport``) gives the trial count, in-sample / out-of-sample / hold-out expectancy
with bootstrap intervals, daily Sharpe, the Deflated Sharpe Ratio and the PBO (``backtest.stats``)
and a verdict derived from them.

A trial does not replay its window: each gap-free window's market is recorded once
(``backtest.tape``; by the batch recorder, ``record_span``), cached on disk by data fingerprint and settings, and every trial decides and
trades over the slice of the recording it needs (``backtest.trial``). ``--faithful`` runs a whole
backtest per evaluation instead. Study storage is any Optuna RDB URL; each selection's study is
named after the run's study (``backtest.study``: identity checked, so runs never mix), and workers
started with the same ``--study`` share every selection's trials.

Optuna is an optional extra (``pip install -e '.[tune]'``); the rest of the bot never imports it.
"""

from __future__ import annotations

import argparse
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
from vocabulary.messages import TradeClosed
from vocabulary.settings import TUNABLE_SETTINGS, Credentials, Settings, SettingsError, load_settings
from backtest.cli import add_window_arguments, override_env, settings_with
from backtest.batch_tape import BatchRefusal, record_tape_batch
from backtest.history import History, Span, read_history, utc_minute, window_dir
from backtest.run import Window, run_backtest
from backtest.stats import sharpe
from backtest.study import StudyMismatch, default_name, identity_hash, join, open_storage
from backtest.tape import Tape, cached_tape, record_tape, slice_tape, tape_key
from backtest.trial import TrialCannotFollow, run_trial
from backtest.walkforward import DAY_MS, MINUTE_MS, Plan, PlanError, Split, expectancy_r, objective, plan
from exchange.sim.market import KlineFileError

OBJECTIVE = "R per trade net of fees (TradeClosed.pnl_r)"


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


def warmup_ms(settings: Settings) -> int:
    """The history a replay's bootstrap reads before its first minute: bootstrap bars of the longest timeframe."""
    return settings.bot.bootstrap_bars * max(settings.bot.timeframes) * MINUTE_MS


class Windows(NamedTuple):
    """Where each planned window's data lives: the window (with its warm-up) and its data directory."""

    history: History
    spans: tuple[Span, ...]  # each window whole, warm-up included
    dirs: Callable[[int], str]

    def index(self, start_ms: int, end_ms: int) -> int:
        for i, w in enumerate(self.spans):
            if w.start_ms <= start_ms and end_ms <= w.end_ms:
                return i
        raise ValueError(f"[{start_ms}, {end_ms}) lies in no gap-free window")


def backtest_evaluator(symbols: tuple[str, ...], data_dir: Callable[[int, int], str | None] | str | None) -> Evaluate:
    """Each evaluation a whole backtest: the faithful path, at backtest speed."""
    where = data_dir if callable(data_dir) else (lambda a, b: data_dir)

    def evaluate(settings: Settings, start_ms: int, end_ms: int) -> list[TradeClosed]:
        return run_backtest(settings, Window(symbols=symbols, start_ms=start_ms, end_ms=end_ms, data_dir=where(start_ms, end_ms))).trades
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


def record_span(base: Settings, window: Window, *, widest: tuple[float, float], hist_len: int) -> Tape:
    """A span's tape from the batch recorder (``backtest.batch_tape``: the streaming recorder's
    tape, held to it tape for tape, 14-25x faster); from the streaming recorder
    (``backtest.tape.record_tape``, the bot's own cores) where the batch one refuses what it does
    not model (a hole the cores would backfill, a lap of a looping replay): the same tape either way."""
    try:
        return record_tape_batch(base, window, widest=widest, hist_len=hist_len)
    except BatchRefusal:
        return record_tape(base, window, widest=widest, hist_len=hist_len)


class TapeSource:
    """One tape per recorded span (a planned window's usable part), recorded once and kept on disk
    under ``cache`` by data fingerprint and settings; slices of it served from memory."""

    def __init__(self, base: Settings, symbols: tuple[str, ...], space: Sequence[Param], fingerprint: str,
                 data_dir: Callable[[int, int], str | None], cache: Path | None,
                 on_record: Callable[[int, int, float, bool], None] | None = None) -> None:
        self.base, self.symbols, self.fingerprint, self.data_dir, self.cache = base, symbols, fingerprint, data_dir, cache
        self.widest, self.hist = tape_bounds(base, space)
        self.on_record = on_record
        self.spans: list[Span] = []
        self.tapes: dict[Span, Tape] = {}
        self.slices: dict[tuple[int, int], Tape] = {}

    def tape(self, span: Span) -> Tape:
        tape = self.tapes.get(span)
        if tape is None:
            started = time.perf_counter()
            window = Window(symbols=self.symbols, start_ms=span.start_ms, end_ms=span.end_ms,
                            data_dir=self.data_dir(span.start_ms, span.end_ms))

            def record() -> Tape:
                return record_span(self.base, window, widest=self.widest, hist_len=self.hist)
            if self.cache is None:
                tape, fresh = record(), True
            else:
                key = tape_key(self.fingerprint, self.base, span.start_ms, span.end_ms, self.widest, self.hist)
                tape, fresh = cached_tape(self.cache, key, record)
            self.tapes[span] = tape
            if self.on_record is not None:
                self.on_record(span.start_ms, span.end_ms, time.perf_counter() - started, fresh)
        return tape

    def slice(self, start_ms: int, end_ms: int) -> Tape:
        piece = self.slices.get((start_ms, end_ms))
        if piece is None:
            span = next((s for s in self.spans if s.start_ms <= start_ms and end_ms <= s.end_ms), None)
            if span is None:
                span = Span(start_ms, end_ms)  # outside any planned span: recorded on its own
                self.spans.append(span)
            tape = self.tape(span)
            piece = self.slices[(start_ms, end_ms)] = tape if (start_ms, end_ms) == (tape.start_ms, tape.end_ms) else slice_tape(tape, start_ms, end_ms)
        return piece


def tape_evaluator(base: Settings, symbols: tuple[str, ...], data_dir: str | None, space: Sequence[Param],
                   on_record: Callable[[int, int, float], None] | None = None, *, source: TapeSource | None = None) -> Evaluate:
    """Each recorded span's market recorded once (``backtest.tape``), each evaluation a trial over
    its slice (``backtest.trial``: the backtest's own decisions and trades, tested so). The tapes
    are recorded wide enough for every zone level and history length the space can ask for; a
    trial the tape cannot answer for (a path setting outside the space changed) runs the backtest."""
    if source is None:
        source = TapeSource(base, symbols, space, "", lambda a, b: data_dir, None,
                            None if on_record is None else (lambda a, b, s, fresh: on_record(a, b, s)))
    fallback = backtest_evaluator(symbols, source.data_dir)

    def evaluate(settings: Settings, start_ms: int, end_ms: int) -> list[TradeClosed]:
        tape = source.slice(start_ms, end_ms)
        if tape.covers(settings.strategy):
            return fallback(settings, start_ms, end_ms)
        try:
            return run_trial(tape, settings).trades
        except TrialCannotFollow:  # a course the trial does not model: the backtest answers
            return fallback(settings, start_ms, end_ms)

    return evaluate


# --- one selection: trials scored on a train window only ------------------------------------------


def period_sums(trades: Sequence[TradeClosed], start_ms: int, end_ms: int, periods: int) -> tuple[list[float], list[int]]:
    """R and trade count of the trades that closed in each of ``periods`` equal parts of the window."""
    sums, counts = [0.0] * periods, [0] * periods
    length = max(1, end_ms - start_ms)
    for t in trades:
        if t.pnl_r is None:
            continue
        k = min(periods - 1, max(0, (t.exit_ms - start_ms) * periods // length))
        sums[k] += t.pnl_r
        counts[k] += 1
    return sums, counts


def days_in(start_ms: int, end_ms: int) -> int:
    return max(1, round((end_ms - start_ms) / DAY_MS))


def pbo_blocks(start_ms: int, end_ms: int) -> int:
    """CSCV's even number of time blocks for a train window: one per day, 4 to 16."""
    days = (end_ms - start_ms) // DAY_MS
    return max(4, min(16, days - days % 2))


def trial_objective(base_text: bytes, base_env: Mapping[str, str], train: tuple[int, int], evaluate: Evaluate,
                    min_trades: int, worker: str, space: Sequence[Param]) -> Callable[[Any], float]:
    """A trial: parameters from the sampler, its value the objective on ``train`` alone. Its Sharpe
    per trade and its per-block R and counts are kept with it for the DSR and the PBO."""
    import optuna

    start, end = train

    def run(trial: optuna.Trial) -> float:
        params = {p.key: (trial.suggest_int(p.key, int(p.low), int(p.high)) if p.integer else trial.suggest_float(p.key, p.low, p.high))
                  for p in space}
        try:
            settings = load_settings(base_text, {**base_env, **env_for(params)}, source="trial")
        except SettingsError as exc:
            trial.set_user_attr("result", {"worker": worker, "refused": str(exc)})
            raise optuna.TrialPruned(f"settings refused: {exc}") from None
        trades = evaluate(settings, start, end)  # the train window only: nothing the report calls out of sample
        value, n = expectancy_r(trades)
        block_r, block_n = period_sums(trades, start, end, pbo_blocks(start, end))
        # A Sharpe ratio of a handful of trades is noise that would swamp the trials' spread in the DSR.
        spread = sharpe([t.pnl_r for t in trades if t.pnl_r is not None]) if n >= max(min_trades, 2) else None
        trial.set_user_attr("result", {"worker": worker, "trades": n, "expectancy_r": value, "trade_sharpe": spread,
                                       "block_r": block_r, "block_n": block_n})  # one write: storage commits are slow
        return objective(trades, min_trades)

    return run


def run_worker(study_name: str, storage: Any, run: Callable[[Any], float], *, tpe_trials: int, cma_trials: int, seed: int,
               on_trial: Callable[[Any, Any], None] | None = None) -> int:
    """Run trials of the shared study until it holds ``tpe_trials + cma_trials``; returns how many
    this worker ran. Every worker picks the stage from the study's count, so workers on other
    machines move to CMA-ES together. Workers that look at the count at the same moment may each
    start one more: a study can end up to (workers - 1) trials over its total."""
    import optuna

    storage = open_storage(storage)
    _create_study(study_name, storage)
    ran = 0
    # One study object for the run: its trials are read from the storage at each question (other
    # workers' included), and each trial gets the sampler of the stage the count says.
    study = optuna.load_study(study_name=study_name, storage=storage)
    while True:
        trials = study.get_trials(deepcopy=False)
        started = len(trials)
        if started >= tpe_trials + cma_trials:
            return ran
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        if started < tpe_trials or not complete:
            sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed + started, n_startup_trials=min(10, tpe_trials))
        else:
            with warnings.catch_warnings():
                # x0 is deprecated from Optuna 4.9 (removal in 6) without a replacement that starts
                # the search at a given point; the extra pins Optuna below 5.
                warnings.simplefilter("ignore", FutureWarning)
                sampler = optuna.samplers.CmaEsSampler(x0=study.best_params, seed=seed + started, warn_independent_sampling=False)
        study.sampler = sampler
        study.optimize(run, n_trials=1, callbacks=[on_trial] if on_trial is not None else None)
        ran += 1


def _create_study(study_name: str, storage: Any, attempts: int = 5) -> None:
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


def overlay_toml(params: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    sections: dict[str, list[str]] = {}
    for key in sorted(params):
        section, name = key.split(".")
        sections.setdefault(section, []).append(f"{name} = {_toml_number(params[key])}")
    head = "# Best walk-forward parameters (run.py tune): an overlay, apply with run.py backtest --overlay FILE\n"
    head += "".join(f"# {line}\n" for line in header)
    return head + "\n".join(f"\n[{s}]\n" + "\n".join(lines) for s, lines in sections.items()) + "\n"


# --- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser)
    parser.add_argument("--train-days", type=float, default=7.0, help="in-sample window of each split (default 7)")
    parser.add_argument("--test-days", type=float, default=2.0, help="out-of-sample window after it (default 2)")
    parser.add_argument("--step-days", type=float, default=None, help="shift between splits, at least --test-days (default: --test-days)")
    parser.add_argument("--scheme", choices=("rolling", "anchored"), default="rolling",
                        help="rolling train windows of fixed length, or anchored at the window start (default rolling)")
    parser.add_argument("--tpe-trials", type=int, default=40, help="stage 1 of each selection: TPE trials (default 40)")
    parser.add_argument("--cma-trials", type=int, default=20, help="stage 2 of each selection: CMA-ES trials around the best (default 20)")
    parser.add_argument("--min-trades", type=int, default=20, help="trades a train window needs for a trial to count (default 20)")
    parser.add_argument("--storage", default="sqlite:///var/tune/study.db", help="Optuna RDB URL (sqlite:///..., postgresql://...)")
    parser.add_argument("--study", default=None,
                        help="study name, shared on purpose by workers (default: named for this run's symbols, data and plan)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="var/tune", metavar="DIR", help="tune.json, tune.md, best.toml (overlay)")
    parser.add_argument("--cache", default="var/tune/cache", metavar="DIR", help="recorded tapes and window data, by data fingerprint")
    parser.add_argument("--worker-only", action="store_true", help="run trials of the shared study, write no report")
    parser.add_argument("--faithful", action="store_true",
                        help="evaluate every trial by a whole backtest instead of a trial over the recorded window")


def study_plan(args: argparse.Namespace, settings: Settings, history: History) -> Plan:
    """The plan over the data's windows clipped to ``--from``/``--to`` (the warm-up may lie before ``--from``)."""
    warm = warmup_ms(settings)
    windows = []
    for w in history.windows:
        start = w.start_ms if args.start is None else max(w.start_ms, args.start - warm)
        end = w.end_ms if args.end is None else min(w.end_ms, args.end)
        if end - start > warm:
            windows.append(Span(start, end))
    if not windows:
        raise PlanError("no gap-free window of the data lies between --from and --to with its warm-up")
    days = lambda d: int(d * DAY_MS) // MINUTE_MS * MINUTE_MS  # noqa: E731
    usable = sum(w.end_ms - w.start_ms - warm for w in windows)
    wf = settings.walkforward
    holdout = days(wf.holdout_days) if wf.holdout_days > 0 else int(usable * wf.holdout_fraction) // MINUTE_MS * MINUTE_MS
    if args.step_days is not None and args.step_days < args.test_days:
        raise PlanError("--step-days must be at least --test-days, or test windows would overlap")
    return plan(windows, warmup_ms=warm, train_ms=days(args.train_days), test_ms=days(args.test_days), holdout_ms=holdout,
                embargo_ms=wf.embargo_minutes * MINUTE_MS, step_ms=None if args.step_days is None else days(args.step_days),
                scheme=args.scheme)


def study_identity(symbols: Sequence[str], history: History, the_plan: Plan, space: Sequence[Param], base: Settings,
                   min_trades: int, faithful: bool) -> dict[str, Any]:
    """What the trials answer: change any part and they are another study's (``backtest.study``)."""
    recorded = msgspec.structs.replace(base, tune={})
    return {
        "symbols": list(symbols),
        "data range": [the_plan.windows[0].start_ms, the_plan.windows[-1].end_ms],
        "data fingerprint": history.fingerprint,
        "walk-forward scheme": {"scheme": the_plan.scheme, "embargo_ms": the_plan.embargo_ms,
                                "splits": [list(s) for s in the_plan.splits], "final": list(the_plan.final)},
        "search space": [list(p) for p in space],
        "objective": f"{OBJECTIVE}, min {min_trades} trades",
        "settings": identity_hash(msgspec.to_builtins(recorded)),
        "evaluator": "backtest" if faithful else "tape",
    }


class Selection(NamedTuple):
    name: str  # "split-1", ..., "final"
    split: Split  # train window to select on; test window (the hold-out for the final) to run the winner on


def selections(the_plan: Plan) -> list[Selection]:
    return [*(Selection(f"split-{i + 1}", s) for i, s in enumerate(the_plan.splits)), Selection("final", the_plan.final)]


class Progress:
    """One line on a terminal, rewritten in place: trials done / total, best so far, ETA."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done, self.started = total, enabled, 0, time.monotonic()
        self.best: float | None = None

    def trial(self, name: str, value: float | None) -> None:
        self.done += 1
        if value is not None and (self.best is None or value > self.best):
            self.best = value
        if not self.enabled:
            return
        rate = self.done / max(1e-9, time.monotonic() - self.started)
        eta = max(0.0, (self.total - self.done) / rate)
        best = "n/a" if self.best is None else f"{self.best:+.3f} R"
        print(f"\r{name}: trials {self.done}/{self.total}, best train objective {best}, ETA {eta / 60:.0f} min ",
              end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)


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
    out = Path(args.out)
    if (out / "best.toml").resolve() == Path(args.settings).resolve():
        print("run.py tune: --out would write best.toml over the settings file; choose another --out", file=sys.stderr)
        return 2
    data_dir = Path(args.data or settings.sim.data_dir)
    try:
        history = read_history(data_dir, symbols)
        the_plan = study_plan(args, settings, history)
    except (KlineFileError, PlanError, ValueError) as exc:
        print(f"run.py tune: {exc}", file=sys.stderr)
        return 2
    if not the_plan.splits:
        print("run.py tune: the data before the hold-out holds no (train, test) split of that size: shorten --train-days "
              "or --test-days, or bring more data", file=sys.stderr)
        return 2
    if args.storage.startswith("sqlite:///"):
        Path(args.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    base_text = Path(args.settings).read_bytes()
    base_env = {k: v for k, v in os.environ.items() if k.startswith("SMTBOT__")}
    base_env.update(override_env(args))
    base = load_settings(base_text, base_env, source=args.settings)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    identity = study_identity(symbols, history, the_plan, space, base, args.min_trades, args.faithful)
    name = args.study or default_name(identity)
    steps = selections(the_plan)
    try:
        for step in steps:
            join(f"{name}/{step.name}", args.storage, identity)
    except StudyMismatch as exc:
        print(f"run.py tune: {exc}", file=sys.stderr)
        return 2

    cache = Path(args.cache)
    warm = warmup_ms(settings)
    whole = tuple(Span(w.start_ms - warm, w.end_ms) for w in the_plan.windows)
    windows = Windows(history, whole, lambda i: str(window_dir(history, whole[i], cache / "windows")))
    where = lambda a, b: windows.dirs(windows.index(a - warm, b))  # noqa: E731

    def recorded(a: int, b: int, seconds: float, fresh: bool) -> None:
        what = f"recorded {utc_minute(a)} to {utc_minute(b)} in {seconds:.0f} s (once, kept in {cache / 'tapes'})" if fresh else \
            f"loaded the recording of {utc_minute(a)} to {utc_minute(b)} from {cache / 'tapes'}"
        print(what, file=sys.stderr, flush=True)

    if args.faithful:
        evaluate = backtest_evaluator(symbols, where)
        source = None
    else:
        source = TapeSource(base, symbols, space, history.fingerprint, where, cache / "tapes", recorded)
        # One recording per window; the last window's stops where the hold-out starts, and the
        # hold-out is recorded on its own when the report runs it: no trial's data holds a hold-out bar.
        holdout = the_plan.holdout
        source.spans = [*the_plan.windows[:-1], Span(the_plan.windows[-1].start_ms, holdout.start_ms), holdout]
        evaluate = tape_evaluator(base, symbols, None, space, source=source)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    per = args.tpe_trials + args.cma_trials
    progress = Progress(per * len(steps), sys.stderr.isatty())
    print(f"study {name!r}: {len(the_plan.splits)} walk-forward splits in {len(the_plan.windows)} gap-free windows, "
          f"hold-out {utc_minute(the_plan.holdout.start_ms)} to {utc_minute(the_plan.holdout.end_ms)}; {per} trials per selection, "
          f"objective {OBJECTIVE}", file=sys.stderr, flush=True)
    ran = 0
    for step in steps:
        run = trial_objective(base_text, base_env, (step.split.train_start, step.split.train_end), evaluate, args.min_trades, worker, space)
        ran += run_worker(f"{name}/{step.name}", args.storage, run, tpe_trials=args.tpe_trials, cma_trials=args.cma_trials,
                          seed=args.seed, on_trial=lambda study, trial, s=step.name: progress.trial(s, trial.value))
    progress.close()
    print(f"worker {worker}: {ran} trials of study {name!r} ({len(steps)} selections)")
    if args.worker_only:
        return 0
    from backtest import tunereport

    return tunereport.report(name=name, storage=args.storage, identity=identity, plan=the_plan, steps=steps, evaluate=evaluate,
                             base_text=base_text, base_env=base_env, min_trades=args.min_trades, out=out, seed=args.seed)
