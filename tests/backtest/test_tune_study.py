"""Studies that cannot mix: a study remembers the question its trials answer (symbols, data range,
data fingerprint, walk-forward plan, search space); a run that would add trials of another
question to it is refused with one line, while a run without --study gets a study of its own."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vocabulary.settings import load_settings
from backtest.study import StudyMismatch, check, default_name
from tests.backtest import synthetic

optuna = pytest.importorskip("optuna", reason="Optuna is the optional 'tune' extra: pip install -e '.[tune]'")

BOOTSTRAP = 210
MINUTES = BOOTSTRAP * 15 + 1440


def run(tmp_path: Path, *extra: str, data: str = "data", symbols: str = "BTCUSDT") -> int:
    from backtest import tune as tuning

    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", default="settings.toml")
    tuning.add_arguments(parser)
    args = parser.parse_args([
        "--data", str(tmp_path / data), "--symbols", symbols, "--set", f'bot.symbols=["{symbols}"]',
        "--set", f"bot.bootstrap_bars={BOOTSTRAP}", "--set", "tune.embargo_minutes=10", "--set", f"tune.holdout_days={3 / 24}",
        "--train-days", str(6 / 24), "--test-days", str(3 / 24), "--tpe-trials", "1", "--cma-trials", "0", "--min-trades", "1",
        "--worker-only", "--storage", f"sqlite:///{tmp_path / 'study.db'}", "--cache", str(tmp_path / "cache"), *extra,
    ])
    return tuning.main(args, load_settings(Path("settings.toml").read_text(), {}), None)


@pytest.fixture
def data(tmp_path):
    synthetic.write_symbol(tmp_path / "data", "BTCUSDT", synthetic.random_walk(MINUTES, seed=1))
    synthetic.write_symbol(tmp_path / "other", "BTCUSDT", synthetic.random_walk(MINUTES, seed=2))
    return tmp_path


def studies(tmp_path: Path) -> set[str]:
    return {s.study_name.split("/")[0] for s in optuna.get_all_study_summaries(storage=f"sqlite:///{tmp_path / 'study.db'}")}


def test_a_study_named_twice_for_different_questions_is_refused_with_one_line(data, capsys):
    assert run(data, "--study", "mine") == 0
    capsys.readouterr()
    assert run(data, "--study", "mine", "--train-days", str(5 / 24)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "study 'mine/split-1'" in err[0] and "walk-forward scheme" in err[0] and "Traceback" not in err[0]
    assert run(data, "--study", "mine", data="other") == 2
    assert "data fingerprint" in capsys.readouterr().err
    assert run(data, "--study", "mine") == 0, "the same question resumes its study"


def test_without_a_name_each_question_gets_its_own_study(data):
    assert run(data) == 0
    assert run(data, data="other") == 0
    assert run(data) == 0
    assert len(studies(data)) == 2 and all(name.startswith("wf-") for name in studies(data))


def test_a_study_from_before_identities_is_refused():
    with pytest.raises(StudyMismatch, match="no recorded identity"):
        check("old", "sqlite:///var/tune/study.db", None, {"symbols": ["BTCUSDT"]})
    with pytest.raises(StudyMismatch, match="other search space, symbols"):
        check("s", "postgresql://u:secret@db/tune", {"symbols": ["BTCUSDT"], "search space": [1]}, {"symbols": ["ETHUSDT"], "search space": [2]})
    try:
        check("s", "postgresql://u:secret@db/tune", {"symbols": ["A"]}, {"symbols": ["B"]})
    except StudyMismatch as exc:
        assert "secret" not in str(exc), "a storage password never reaches the message"
    assert default_name({"symbols": ["A"]}) != default_name({"symbols": ["B"]})


def test_the_storage_keeps_its_trial_cache_across_the_studies_loaded_from_it(tmp_path):
    """A tune loads its study once per trial: the storage it hands Optuna is used as it is, so a
    finished trial is read from the database once, not again at every later trial (as each study
    loaded from the bare database storage reads them all)."""
    from backtest.study import open_storage

    url = f"sqlite:///{tmp_path / 'cached.db'}"
    storage = open_storage(url)
    assert open_storage(url) is storage and optuna.storages.get_storage(storage) is storage
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=5)
    rdb = storage._backend  # the database behind Optuna's cache
    real = rdb._get_trials

    def trials_read(handed) -> int:
        reads: list[int] = []
        rdb._get_trials = lambda *a, **k: reads.append(len(got := real(*a, **k))) or got
        try:
            assert len(optuna.load_study(study_name="s", storage=handed).get_trials()) == 5
        finally:
            rdb._get_trials = real
        return sum(reads)

    assert trials_read(rdb) == 5 and trials_read(storage) <= 1
