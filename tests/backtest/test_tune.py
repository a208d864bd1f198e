"""Walk-forward tuning: the split arithmetic and the objective by hand; the two-stage search on a
known landscape, scored on its train window only; the overlay round trip; and one study shared by
two worker processes through a real PostgreSQL server started for the test."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from vocabulary.messages import TradeClosed
from vocabulary.settings import DEFAULT_TUNE_RANGES, load_settings
from backtest.cli import settings_with
from backtest.walkforward import DAY_MS, Split, objective, rolling_splits

HOUR = 3_600_000


def trade(r: float | None) -> TradeClosed:
    return TradeClosed(symbol="BTCUSDT", side="Buy", path="cross_based", entry_ms=0, exit_ms=1, entry_price=Decimal(1),
                       exit_price=Decimal(1), qty=Decimal(1), fees=Decimal(0), pnl_usdt=Decimal(str(r or 0)), pnl_r=r,
                       exit_reason="target")


def test_rolling_splits_tile_the_test_windows_after_their_training():
    splits = rolling_splits(0, 10 * DAY_MS, train_ms=4 * DAY_MS, test_ms=2 * DAY_MS)
    assert splits == [Split(0, 4 * DAY_MS, 4 * DAY_MS, 6 * DAY_MS), Split(2 * DAY_MS, 6 * DAY_MS, 6 * DAY_MS, 8 * DAY_MS),
                      Split(4 * DAY_MS, 8 * DAY_MS, 8 * DAY_MS, 10 * DAY_MS)]
    stepped = rolling_splits(0, 10 * DAY_MS, train_ms=4 * DAY_MS, test_ms=2 * DAY_MS, step_ms=3 * DAY_MS)
    assert [s.test_start for s in stepped] == [4 * DAY_MS, 7 * DAY_MS], "a split that would run past the data is left out"
    assert rolling_splits(0, 5 * DAY_MS, train_ms=4 * DAY_MS, test_ms=2 * DAY_MS) == []
    with pytest.raises(ValueError):
        rolling_splits(0, DAY_MS, train_ms=0, test_ms=HOUR)


def test_the_objective_is_expectancy_in_r_once_there_are_enough_trades():
    assert objective([trade(1.5), trade(-1.0), trade(None), trade(0.5)], min_trades=3) == pytest.approx(1 / 3)
    short = objective([trade(3.0)], min_trades=4)
    assert short == pytest.approx(-10 + 1 / 4), "too few trades scores below any real expectancy"
    assert objective([], min_trades=4) < short < objective([trade(-5.0)] * 4, min_trades=4)


def test_the_search_space_is_the_tune_ranges_of_settings_sorted_by_key():
    from backtest.tune import Param, search_space

    space = search_space(load_settings(Path("settings.toml").read_bytes(), {}))
    assert [p.key for p in space] == sorted(DEFAULT_TUNE_RANGES)
    assert Param("strategy.rr", 1.0, 3.0, integer=False) in space
    assert Param("strategy.swing_lookback", 5, 20, integer=True) in space
    assert {p.key for p in space if p.integer} == {"strategy.swing_lookback", "strategy.entry_ttl_bars", "risk.cooldown_bars"}


def test_an_overlay_that_changes_a_range_changes_the_space(tmp_path):
    from backtest.tune import Param, search_space

    path = tmp_path / "ranges.toml"
    path.write_text('[tune]\n"strategy.rr" = [1.2, 2.4]\n"risk.max_positions" = [1, 5]\n')
    base = load_settings(Path("settings.toml").read_bytes(), {})
    args = SimpleNamespace(settings="settings.toml", overlays=[str(path)], overrides=[])
    space = {p.key: p for p in search_space(settings_with(args, base))}
    assert space["strategy.rr"] == Param("strategy.rr", 1.2, 2.4, integer=False)
    assert space["risk.max_positions"] == Param("risk.max_positions", 1, 5, integer=True), "an overlay can add a range"
    assert space["strategy.score_min"] == Param("strategy.score_min", 0.6, 2.0), "the ranges it does not name stay"


def test_integer_settings_are_suggested_as_integers_inside_their_range():
    optuna = pytest.importorskip("optuna", reason="Optuna is the optional 'tune' extra")
    from backtest.tune import search_space, trial_objective

    text = Path("settings.toml").read_bytes()
    space = search_space(load_settings(text, {}))
    loaded = []

    def evaluate(settings, start, end):
        loaded.append(settings)
        return []

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(trial_objective(text, {}, (0, HOUR), evaluate, 1, "test", space), n_trials=8)
    assert len(loaded) == 8
    for trial in study.trials:
        assert set(trial.params) == {p.key for p in space}
        for p in space:
            value = trial.params[p.key]
            assert type(value) is (int if p.integer else float), f"{p.key} = {value!r}"
            assert p.low <= value <= p.high
    assert all(type(s.strategy.swing_lookback) is int and type(s.risk.cooldown_bars) is int for s in loaded)
    assert len({s.strategy.swing_lookback for s in loaded}) > 1, "the trials searched the space"


def test_two_stages_search_on_the_train_window_only_and_find_the_peak(tmp_path):
    optuna = pytest.importorskip("optuna", reason="Optuna is the optional 'tune' extra: pip install -e '.[tune]'")
    from backtest.tune import Param, run_worker, trial_objective

    train = (2 * HOUR, 4 * HOUR)
    seen: list[tuple[int, int]] = []

    def evaluate(settings, start, end):
        seen.append((start, end))
        # A landscape with its peak at rr = 2.2: ten trades whose R falls away from it.
        r = 1.0 - (settings.strategy.rr - 2.2) ** 2
        return [trade(r)] * 10

    space = (Param("strategy.rr", 1.0, 3.0),)
    run = trial_objective(Path("settings.toml").read_bytes(), {}, train, evaluate, 5, "test", space)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert run_worker("t", storage, run, tpe_trials=12, cma_trials=10, seed=3) == 22
    assert set(seen) == {train}, "a trial is scored on its selection's train window and nothing else"
    study = optuna.load_study(study_name="t", storage=storage)
    stages = ["cma" if any(k.startswith("cma:") for k in t.system_attrs) else "tpe" for t in study.trials]
    assert stages == ["tpe"] * 12 + ["cma"] * 10
    assert abs(study.best_params["strategy.rr"] - 2.2) < 0.1
    assert run_worker("t", storage, run, tpe_trials=12, cma_trials=10, seed=3) == 0, "a full study runs no more trials"


def test_sampled_numpy_scalars_become_toml_numbers():
    pytest.importorskip("optuna", reason="Optuna is the optional 'tune' extra")
    import numpy as np

    from backtest.tune import env_for

    env = env_for({"strategy.rr": np.float64(1.5), "strategy.swing_lookback": np.int64(12)})
    assert env == {"SMTBOT__STRATEGY__RR": "1.5", "SMTBOT__STRATEGY__SWING_LOOKBACK": "12"}
    tuned = load_settings(Path("settings.toml").read_text(), env)
    assert (tuned.strategy.rr, tuned.strategy.swing_lookback) == (1.5, 12)


def test_the_best_parameters_overlay_reloads_as_settings(tmp_path):
    pytest.importorskip("optuna", reason="Optuna is the optional 'tune' extra")
    from backtest.tune import overlay_toml

    path = tmp_path / "best.toml"
    path.write_text(overlay_toml({"strategy.rr": 2.25, "strategy.swing_lookback": 12, "risk.cooldown_bars": 7}))
    base = load_settings(Path("settings.toml").read_text(), {})
    args = SimpleNamespace(settings="settings.toml", overlays=[str(path)], overrides=["strategy.swing_lookback=9"])
    tuned = settings_with(args, base)
    assert (tuned.strategy.rr, tuned.strategy.swing_lookback, tuned.risk.cooldown_bars) == (2.25, 9, 7), "--set wins over the overlay"
    assert tuned.strategy.score_min == base.strategy.score_min


@pytest.mark.parametrize("at", [0.25, 0.5, 0.75])
def test_a_trial_over_the_recorded_window_scores_it_as_a_backtest_does(at):
    """The default evaluator records each window once and runs trials over the recording; any
    point of the space gets the trades a whole backtest of that window would close, and a slice
    of the window is served from the same recording."""
    from backtest.tune import backtest_evaluator, env_for, search_space, tape_evaluator
    from exchange.sim.market import MINUTE_MS, load_store

    base = load_settings(Path("settings.toml").read_text(), {})
    space = search_space(base)
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    start = load_store(Path("data/klines"), symbols)[0].first_ms + 8000 * MINUTE_MS
    end = start + 12 * HOUR
    recorded = []
    fast = tape_evaluator(base, symbols, None, space, on_record=lambda a, b, s: recorded.append((a, b)))
    slow = backtest_evaluator(symbols, None)
    params = {p.key: (round(p.low + at * (p.high - p.low)) if p.integer else p.low + at * (p.high - p.low)) for p in space}
    params["strategy.entry_offset_bps"] = max(0.5, params["strategy.entry_offset_bps"])  # 0 never fills here
    settings = load_settings(Path("settings.toml").read_text(), env_for(params))
    by_entry = lambda t: (t.entry_ms, t.symbol)  # noqa: E731
    trades = sorted(slow(settings, start, end), key=by_entry)
    assert len(trades) >= 3
    assert sorted(fast(settings, start, end), key=by_entry) == trades
    fast(settings, start, end)
    later = fast(settings, start + 4 * HOUR, end)
    assert recorded == [(start, end)], "a window is recorded once, whatever the number of trials and slices"
    assert all(start + 4 * HOUR < t.entry_ms and t.exit_ms <= end for t in later), "a slice trades inside its own bounds"


def test_a_span_is_recorded_in_batch_and_by_the_cores_only_where_the_batch_recorder_refuses(tmp_path, monkeypatch):
    """Tuning records its spans with the batch recorder; a hole the cores would backfill (which the
    batch recorder refuses) is recorded by the streaming cores instead: the same tape either way."""
    from backtest import tune
    from backtest.batch_tape import BatchRefusal, record_tape_batch
    from backtest.run import Window
    from backtest.tape import record_tape
    from exchange.sim.market import MINUTE_MS, load_store
    from tests.backtest.test_batch_tape import assert_same_tape, copy_data

    base = load_settings(Path("settings.toml").read_text(), {})
    symbols = ("BTCUSDT", "ETHUSDT")
    start = load_store(Path(base.sim.data_dir), symbols)[0].first_ms + 4_000 * MINUTE_MS
    bounds = dict(widest=(-45.0, 45.0), hist_len=20)
    whole = Window(symbols=symbols, start_ms=start, end_ms=start + 600 * MINUTE_MS)
    streamed = record_tape(base, whole, **bounds)
    assert len(streamed.rows) > 5

    def not_asked(*args, **kwargs):
        raise AssertionError("whole data: the streaming recorder is not asked")

    with monkeypatch.context() as m:
        m.setattr(tune, "record_tape", not_asked)
        assert_same_tape(streamed, tune.record_span(base, whole, **bounds))

    data = tmp_path / "klines"
    copy_data(Path(base.sim.data_dir), data, symbols, drop=range(4_301, 4_304))  # 3 minutes of BTC inside the span
    holed = Window(symbols=symbols, start_ms=start, end_ms=start + 600 * MINUTE_MS, data_dir=str(data))
    with pytest.raises(BatchRefusal):
        record_tape_batch(base, holed, **bounds)
    assert_same_tape(record_tape(base, holed, **bounds), tune.record_span(base, holed, **bounds))


# --- a study shared by two processes through PostgreSQL -------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed here (Debian: apt-get install postgresql)")
    as_owner: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="smtbot-pg-"))
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to Debian's postgres user.
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as its own user")
        shutil.chown(root, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = root / "data"
    try:
        subprocess.run([*as_owner, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, cwd="/")
        subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-o", f"-p {port} -k {root} -h 127.0.0.1", "-w", "-l",
                        str(root / "log"), "start"], check=True, capture_output=True, cwd="/")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-300:]}")
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "create database tune"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/tune"
    finally:
        subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, cwd="/")
        shutil.rmtree(root, ignore_errors=True)


def test_two_worker_processes_share_one_study_on_postgresql(postgres, tmp_path):
    """Two workers started with the same --study share every selection's trials, each honouring
    the same splits (the identity check would refuse a worker that planned differently)."""
    optuna = pytest.importorskip("optuna", reason="Optuna is the optional 'tune' extra")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver comes with the 'tune' extra")
    from exchange.sim.market import MINUTE_MS, load_store

    start = load_store(Path("data/klines"), ("BTCUSDT",))[0].first_ms + 6000 * MINUTE_MS
    when = lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")  # noqa: E731
    command = [sys.executable, "run.py", "tune", "--worker-only", "--storage", postgres, "--study", "shared",
               "--symbols", "BTCUSDT", "--from", when(start), "--to", when(start + 3 * HOUR), "--cache", str(tmp_path / "cache"),
               "--set", "tune.embargo_minutes=10", "--set", f"tune.holdout_days={1 / 48}",
               "--train-days", str(1 / 24), "--test-days", str(1 / 48), "--tpe-trials", "2", "--cma-trials", "1", "--min-trades", "1"]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    deadline = time.monotonic() + 900  # a deadline for a hung worker, generous for a machine shared by many
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert worker.returncode == 0, err[-2000:]
        outputs.append(out)
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage=postgres))
    assert names == ["shared/final", "shared/split-1", "shared/split-2"], "two splits and the final choice"
    by_worker = set()
    for name in names:
        trials = optuna.load_study(study_name=name, storage=postgres).get_trials(deepcopy=False)
        # Two workers may read the count at the same moment and each start the last trial.
        assert len(trials) in (3, 4) and sorted(t.number for t in trials) == list(range(len(trials)))
        unfinished = [(t.number, t.state.name) for t in trials if t.state != optuna.trial.TrialState.COMPLETE]
        assert unfinished == []
        by_worker |= {t.user_attrs["result"]["worker"] for t in trials}
    assert len(by_worker) == 2, f"both processes ran trials of the one study: {outputs}"
