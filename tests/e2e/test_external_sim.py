"""The bot against a simulator in another process (``run.py sim --paced``): the set-up the
reliability suite uses to kill and restart the bot while the venue lives on."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from actors.supervisor import Bot
from tests.e2e.conftest import Running, settings_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def external_sim():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "run.py", "sim", "--paced", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"SMTBOT__BOT__SYMBOLS": '["BTCUSDT","ETHUSDT","SOLUSDT"]', "PATH": "/usr/bin:/bin"},
    )
    try:
        # Event-driven: the simulator prints its banner once it listens (a loaded host can take
        # most of a minute to load the tapes); if it dies instead, its output says why.
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("smtbot simulator listening"):
                break
        else:
            pytest.fail(f"the simulator exited before listening: {''.join(seen)}")
        # Its later output is drained, so a chatty simulator never blocks on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        httpx.get(f"http://127.0.0.1:{port}/sim/clock", timeout=5).raise_for_status()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_bot_paces_an_external_simulator_through_its_admin_routes(external_sim, tmp_path):
    settings = settings_for(tmp_path, extra=f"[sim]\nembedded = false\nport = {external_sim}\n")
    run = Running(Bot(settings, None))
    run.bot.start()
    run.thread.start()
    try:
        run.wait_ticks(15)
    finally:
        run.stop()
    clock = httpx.get(f"http://127.0.0.1:{external_sim}/sim/clock").json()
    assert clock["acked_through_ms"] >= clock["clock_ms"] - 60_000
    assert run.bot.board.decisions["NO_SETUP"] + run.bot.board.decisions["REJECT"] + run.bot.board.decisions["TAKE"] >= 45
    assert run.bot._rest.stats["recv_window_errors"] == 0, "signed calls keep inside the replay's recv window"
