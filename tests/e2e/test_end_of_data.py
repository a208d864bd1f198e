"""The end of the replay is said, not hidden: the console says so, /healthz answers 503 with
the reason, /status carries it where the dashboard shows problems, and ``run --until-end``
exits with the run's summary line."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from vocabulary.settings import load_settings
from actors.supervisor import Bot
from exchange.sim.config import SimConfig
from tests.e2e.conftest import Running

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ("BTCUSDT", "ETHUSDT")
MINUTES_AFTER_WARMUP = 6


@pytest.fixture
def short_data(tmp_path) -> Path:
    """The shipped klines cut just past the simulator's 6000-minute warm-up: a replay of minutes."""
    out = tmp_path / "klines"
    out.mkdir()
    shutil.copy(ROOT / "data" / "klines" / "instruments-bybit-linear.csv", out)
    for symbol in SYMBOLS:
        with gzip.open(ROOT / "data" / "klines" / f"{symbol}-1m.csv.gz", "rt") as src:
            lines = [next(src) for _ in range(1 + 6000 + MINUTES_AFTER_WARMUP)]
        with gzip.open(out / f"{symbol}-1m.csv.gz", "wt") as dst:
            dst.writelines(lines)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_text(tmp_path: Path, data: Path, web: bool) -> str:
    return (f'[bot]\nsymbols = ["BTCUSDT", "ETHUSDT"]\nbootstrap_bars = 250\n[sim]\ndata_dir = "{data}"\n'
            f'[journal]\npath = "{tmp_path / "journal.sqlite"}"\n[web]\nenabled = {str(web).lower()}\nport = {free_port()}\n')


def test_end_of_data_turns_healthz_503_and_shows_on_status(tmp_path, short_data):
    settings = load_settings(settings_text(tmp_path, short_data, web=True), {})
    config = SimConfig.from_settings(settings.sim, symbols=SYMBOLS, paced=True, port=0)
    running = Running(Bot(settings, None, sim_config=config))
    running.bot.start()
    running.thread.start()
    try:
        with httpx.Client(base_url=running.bot.web_url, timeout=10) as web:
            deadline = time.monotonic() + 120
            while running.bot.finished_reason is None:
                assert time.monotonic() < deadline, "the replay never finished"
                time.sleep(0.05)
            health = web.get("/healthz")
            assert health.status_code == 503
            assert health.json()["replay"].startswith("replay finished at ") and "no new bars" in health.json()["replay"]
            status = web.get("/status").json()
            assert status["status_error"] == health.json()["replay"]
            assert all(row["is_stale"] for row in status["symbols"])
    finally:
        running.stop()


def test_run_until_end_exits_with_the_runs_summary(tmp_path, short_data):
    settings = tmp_path / "settings.toml"
    settings.write_text(settings_text(tmp_path, short_data, web=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTBOT__", "BYBIT_"))}
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--settings", str(settings), "run", "--until-end"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'msg="replay finished: the simulator\'s data has ended; no new bars, no new trades"' in result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("run 1 finished: ") and " trades (" in summary and "USDT fees" in summary and summary.endswith(" R")
