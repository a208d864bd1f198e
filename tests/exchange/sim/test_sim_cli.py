"""`python run.py sim` serves the venue alone and prints where."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
# Only a hang waits this long: the server stops within its own 10 s join.
EXIT_WAIT_S = 60


SIM = [sys.executable, "run.py", "sim", "--port", "0", "--speed", "max", "--paced"]


@pytest.mark.parametrize(("start", "stop"), [
    ("in the foreground", signal.SIGINT),
    # A shell's background job (`run.py sim &`) inherits SIGINT ignored, and Python then installs
    # no KeyboardInterrupt: this one hung until the simulator took the signals itself.
    ("as a background job, SIGINT ignored", signal.SIGINT),
    ("in the foreground", signal.SIGTERM),  # how a service manager stops it
])
def test_run_py_sim_prints_its_urls_and_serves_until_told_to_stop(start, stop):
    command = SIM if start == "in the foreground" else ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *SIM]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        rest = re.search(r"REST\s+(http://127\.0\.0\.1:\d+)", lines[1]).group(1)
        assert re.search(r"public WS\s+ws://127\.0\.0\.1:\d+/v5/public/linear", lines[2])
        assert re.search(r"private WS\s+ws://127\.0\.0\.1:\d+/v5/private", lines[3])
        body = httpx.get(f"{rest}/v5/market/time", timeout=5).json()
        assert body["retCode"] == 0
        assert httpx.get(f"{rest}/sim/clock", timeout=5).json()["paced"] is True
    finally:
        proc.send_signal(stop)
        try:
            code = proc.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"run.py sim still running {EXIT_WAIT_S} s after {stop.name}; its stderr:\n{err[-2000:]}") from None
        assert code == 0, proc.stderr.read()[-2000:]


def test_run_py_sim_refuses_a_bad_speed_with_status_2():
    done = subprocess.run([sys.executable, "run.py", "sim", "--speed", "fast"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--speed" in done.stderr
