"""bench/cycle.py refuses what it cannot honour: one line on stderr, exit 2, no actor started."""

import json
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


def test_every_timed_tick_is_counted_once_under_the_timeframes_it_closed_and_once_by_its_candidates():
    """The per-boundary rows account for the whole p99 population: 1m closes on every tick,
    3m/5m/15m on their own boundaries (the first timed boundary is not aligned to any). So do
    the rows by candidates scored: BTC and ETH fire a path on a few of these 110 minutes."""
    done = cycle("--sizes", "2", "--ticks", "120", "--no-floor")
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    kinds = {kind["closing"]: kind for kind in result["by_closing"]}
    assert sum(kind["ticks"] for kind in kinds.values()) == result["ticks"] == 110
    assert set(kinds) <= {"1m", "1m+3m", "1m+5m", "1m+3m+5m+15m"} and "1m" in kinds
    assert max(kind["max_ms"] for kind in kinds.values()) == result["max_ms"]
    assert "ticks closing 1m (" in done.stdout
    bands = {band["candidates"]: band for band in result["by_candidates"]}
    assert sum(band["ticks"] for band in bands.values()) == result["ticks"]
    assert set(bands) <= {"0", "1", "2", ">=3"} and bands["0"]["ticks"] < result["ticks"]
    assert max(band["max_ms"] for band in bands.values()) == result["max_ms"]
    assert "ticks, 0 candidates (" in done.stdout


def test_distinct_copies_replay_their_symbol_from_other_days_not_the_same_minutes():
    """Without --distinct, 14 symbols are the 7 shipped series twice: a path firing on BTC fires on
    its copy in the same tick. With it, each copy replays its symbol from a day later."""
    same = cycle("--sizes", "14", "--ticks", "40", "--no-floor")
    apart = cycle("--sizes", "14", "--ticks", "40", "--no-floor", "--distinct")
    assert same.returncode == 0 and apart.returncode == 0, (same.stderr + apart.stderr)[-2000:]
    (copied,) = json.loads(same.stdout.strip().splitlines()[-1])["results"]
    (distinct,) = json.loads(apart.stdout.strip().splitlines()[-1])["results"]
    assert copied["series"] == 7 and distinct["series"] == 14
    assert copied["ticks"] == distinct["ticks"] == 30
    assert "distinct series replayed" in apart.stdout
