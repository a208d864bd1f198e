"""Reading the TradingView exports and comparing floats bit for bit, with a report that says where and by how much."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np

TV_DIR = Path(__file__).resolve().parents[1] / "data" / "tv"
MORE_TV_DIR = Path(__file__).resolve().parent / "data"


def load_tv(name: str, directory: Path = TV_DIR) -> dict[str, np.ndarray]:
    """Every column of ``DIRECTORY/NAME`` as float64 (TradingView's ``NaN`` is na)."""
    with open(directory / name, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(row[key]) for row in rows], dtype=np.float64) for key in rows[0]}


def ulp_distance(a: float, b: float) -> int:
    """How many representable doubles lie between a and b (0 when the bits agree)."""
    ia, ib = (struct.unpack("<q", struct.pack("<d", x))[0] for x in (a, b))
    # Map the sign-magnitude bit patterns onto one monotonic integer line.
    ia = ia if ia >= 0 else -(ia & 0x7FFF_FFFF_FFFF_FFFF)
    ib = ib if ib >= 0 else -(ib & 0x7FFF_FFFF_FFFF_FFFF)
    return abs(ia - ib)


def same_bits(a: float, b: float) -> bool:
    """Equal as TradingView shows them: the same double, or both na (signed zeros count as equal)."""
    return a == b or (a != a and b != b)


def mismatches(expected, got) -> list[str]:
    expected = np.asarray(expected, dtype=np.float64).tolist()
    got = np.asarray(got, dtype=np.float64).tolist()
    assert len(expected) == len(got), f"{len(got)} values for {len(expected)} bars"
    lines = []
    for i, (e, g) in enumerate(zip(expected, got)):
        if not same_bits(e, g):
            ulps = "na vs value" if (e != e) != (g != g) else f"{ulp_distance(e, g)} ulp"
            lines.append(f"bar {i}: expected {e!r}, got {g!r} ({ulps})")
    return lines


def assert_bits_equal(expected, got, what: str = "") -> None:
    bad = mismatches(expected, got)
    assert not bad, f"{what}: {len(bad)} of {len(got)} bars differ\n" + "\n".join(bad[:20])
