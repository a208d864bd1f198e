"""bench/cycle.py refuses what it cannot honour: one line on stderr, exit 2, no actor started."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cycle(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "cycle.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "says"), [
    (("--ticks", "19"), "at least 20"),
    (("--sizes", "0"), "between 1 and 500"),
    (("--sizes", "501"), "between 1 and 500"),
    (("--sizes", "25,x"), "comma-separated"),
    (("--ticks", "40000", "--sizes", "7"), "use --ticks <= "),
])
def test_an_input_the_bench_cannot_honour_is_one_line_and_exit_2(args, says):
    done = cycle(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cycle.py: refused: ") and says in lines[0]
