"""The tuning report can catch a lie: on a seeded random walk (BTC's 1m volatility, no pattern at
all) a walk-forward tune must find no edge, and say so with its own numbers; on a series with a
planted, persistent pattern the strategy can exploit (a steady trend whose dips always recover)
the same tune must report an edge. Both are short runs of the real command, in process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from vocabulary.settings import load_settings
from tests.backtest import synthetic

pytest.importorskip("optuna", reason="Optuna is the optional 'tune' extra: pip install -e '.[tune]'")

BOOTSTRAP = 210  # bars of the longest timeframe: the 15m EMA200 needs 200; keeps the warm-up short
DAYS = 8  # four splits of a day: enough out-of-sample trades for an interval that can exclude zero


def tune(tmp_path: Path, ohlc) -> dict:
    from backtest import tune as tuning

    data = tmp_path / "data"
    synthetic.write_symbol(data, "BTCUSDT", ohlc, turnover=False)  # the 6-column export shape
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", default="settings.toml")
    tuning.add_arguments(parser)
    args = parser.parse_args([
        "--data", str(data), "--symbols", "BTCUSDT", "--set", 'bot.symbols=["BTCUSDT"]', "--set", f"bot.bootstrap_bars={BOOTSTRAP}",
        "--train-days", "2", "--test-days", "1", "--tpe-trials", "6", "--cma-trials", "2", "--min-trades", "5", "--seed", "1",
        "--out", str(tmp_path / "out"), "--storage", f"sqlite:///{tmp_path / 'study.db'}", "--cache", str(tmp_path / "cache"),
    ])
    settings = load_settings(Path("settings.toml").read_text(), {})
    assert tuning.main(args, settings, None) == 0
    return json.loads((tmp_path / "out" / "tune.json").read_text())


def minutes() -> int:
    return BOOTSTRAP * 15 + DAYS * 1440


def test_a_random_walk_has_no_edge_and_the_report_says_so(tmp_path):
    report = tune(tmp_path, synthetic.random_walk(minutes(), seed=11))
    s = report["summary"]
    assert s["verdict"].startswith("no evidence of edge"), s["verdict"]
    assert (s["pbo"] is not None and s["pbo"] >= 0.5) or s["dsr"] is None or s["dsr"] < 0.95, (s["pbo"], s["dsr"])
    assert s["trials"] == 8 * (len(report["splits"]) + 1)
    assert (tmp_path / "out" / "best.toml").read_text().count("verdict: no evidence of edge") == 1


def test_a_planted_pattern_is_reported_as_an_edge(tmp_path):
    report = tune(tmp_path, synthetic.planted(minutes(), seed=11, drift=0.0002, half_life=10.0))
    s = report["summary"]
    assert "edge out of sample" in s["verdict"] or s["verdict"].startswith("evidence of edge"), s["verdict"]
    assert s["oos"]["ci95_r"][0] > 0 and s["holdout"]["expectancy_r"] > 0
    assert s["dsr"] >= 0.95
