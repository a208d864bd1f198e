"""A whole bot on the embedded simulator, paced, on loopback ports chosen by the OS."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from vocabulary.settings import load_settings
from actors.supervisor import Bot
from exchange.sim.config import SimConfig


def settings_for(tmp_path: Path, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), web=False, extra=""):
    text = f"""
[bot]
symbols = {list(symbols)!r}
bootstrap_bars = 250
[journal]
path = "{tmp_path / 'journal.sqlite'}"
[web]
enabled = {str(web).lower()}
{extra}
"""
    return load_settings(text.replace("'", '"'), {})


class Running:
    """A started bot with its supervision loop on a thread."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=bot.supervise, args=(self.stop_event,), name="test-supervise", daemon=True)

    def wait_ticks(self, n: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.bot.board.ticks < n:
            assert time.monotonic() < deadline, f"only {self.bot.board.ticks} of {n} ticks in {timeout_s} s"
            time.sleep(0.02)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        self.bot.stop()


@pytest.fixture
def start_bot(tmp_path):
    started: list[Running] = []

    def start(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), *, web=False, paced=True, extra="", **sim) -> Running:
        settings = settings_for(tmp_path, symbols, web, extra)
        config = SimConfig.from_settings(settings.sim, symbols=tuple(symbols), paced=paced, port=0, **sim)
        running = Running(Bot(settings, None, sim_config=config))
        started.append(running)
        running.bot.start()
        running.thread.start()
        return running

    yield start
    for running in started:
        running.stop()
