"""``run.py indicators``: one output row per input bar, full precision, empty for na."""

import csv
import gzip
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indicators.columns import COLUMNS, compute_columns
from indicators.csv_tool import parse_session_start, parse_time_ms
from tv_oracle import TV_DIR, assert_bits_equal

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "indicators", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_writes_every_column_for_every_bar_at_full_precision(tmp_path):
    source = tmp_path / "bars.csv.gz"
    with gzip.open(ROOT / "data" / "klines" / "ETHUSDT-1m.csv.gz", "rt") as f:
        lines = [next(f) for _ in range(301)]
    with gzip.open(source, "wt") as f:
        f.writelines(lines)
    out = tmp_path / "out.csv"
    result = _run("--csv", str(source), "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = _read(out)
    assert list(rows[0]) == ["time", *COLUMNS]
    assert len(rows) == 300
    bars = list(csv.DictReader(lines))
    assert [r["time"] for r in rows] == [b["start_ms"] for b in bars]
    cols = {k: np.array([float(b[k]) for b in bars]) for k in ("open", "high", "low", "close", "volume")}
    expected = compute_columns(np.array([int(b["start_ms"]) for b in bars]), cols["open"], cols["high"],
                               cols["low"], cols["close"], cols["volume"])
    for name in COLUMNS:
        written = [math.nan if r[name] == "" else float(r[name]) for r in rows]
        assert_bits_equal(expected[name], written, name)
    assert rows[0]["ema200"] == "" and rows[199]["ema200"] != ""


def test_reads_a_tradingview_export_and_prints_to_stdout():
    result = _run("--csv", str(TV_DIR / "ma.csv"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 151 and lines[1].startswith("1672639200,")


def test_a_missing_column_is_a_one_line_error():
    result = _run("--csv", str(TV_DIR / "README.md"))
    assert result.returncode == 2
    assert "run.py indicators:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1748623140000", 1748623140000),
        ("1672639200", 1672639200000),
        ("2025-05-30 16:39:00+00:00", 1748623140000),
        ("2025-05-30T16:39:00Z", 1748623140000),
        ("2025-05-30T16:39:00", 1748623140000),
    ],
)
def test_time_is_ms_seconds_or_iso(text, expected):
    assert parse_time_ms(text) == expected


def test_session_start_is_a_utc_time_of_day():
    assert parse_session_start("21:00") == 21 * 3_600_000
    with pytest.raises(ValueError):
        parse_session_start("24:00")
