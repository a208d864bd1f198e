"""``run.py indicators``: the Pine indicators of an OHLCV CSV, one output row per input bar.

Reads ``time`` (Unix ms or seconds, or ISO 8601; ``start_ms`` as in data/klines also works)
and ``open,high,low,close,volume``; plain or gzip. Writes ``time`` as given followed by
``indicators.columns.COLUMNS`` at full precision (``repr``, which round-trips) and an empty
field where Pine shows na, so the output diffs directly against a TradingView export.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from indicators.columns import COLUMNS, compute_columns
from indicators.params import IndicatorParams

_TIME_COLUMNS = ("time", "start_ms", "timestamp")
_SECONDS_BELOW = 10**11  # a Unix time under this is seconds (ms values passed it in 1973)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", required=True, metavar="IN", help="OHLCV CSV (optionally .gz)")
    parser.add_argument("--out", metavar="OUT", help="output CSV (default: standard output)")
    parser.add_argument(
        "--session-start", default="00:00", metavar="HH:MM",
        help="UTC time the VWAP session starts (default 00:00, a crypto perpetual's day)",
    )


def parse_time_ms(text: str) -> int:
    text = text.strip()
    if text.replace(".", "", 1).isdigit():
        value = int(float(text))
        return value * 1000 if value < _SECONDS_BELOW else value
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def parse_session_start(text: str) -> int:
    hours, _, minutes = text.partition(":")
    h, m = int(hours), int(minutes or 0)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"session start {text!r} is not a time of day HH:MM")
    return (h * 60 + m) * 60_000


def read_ohlcv(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The time texts as given and the float columns open, high, low, close, volume, plus time_ms."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:
        reader = csv.DictReader(f)
        fields = {name.strip().lower(): name for name in reader.fieldnames or ()}
        time_key = next((fields[k] for k in _TIME_COLUMNS if k in fields), None)
        missing = [k for k in ("open", "high", "low", "close", "volume") if k not in fields]
        if time_key is None or missing:
            raise ValueError(f"{path}: needs a time column and open,high,low,close,volume; missing {missing or ['time']}")
        rows = list(reader)
    times = [row[time_key] for row in rows]
    columns = {k: np.array([float(row[fields[k]]) for row in rows], dtype=np.float64)
               for k in ("open", "high", "low", "close", "volume")}
    columns["time_ms"] = np.array([parse_time_ms(t) for t in times], dtype=np.int64)
    return times, columns


def format_value(x: Any) -> str:
    if isinstance(x, float):
        return "" if x != x else repr(x)
    return str(x)


def write_table(out: io.TextIOBase, times: list[str], table: dict[str, np.ndarray]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("time", *COLUMNS))
    columns = [table[name].tolist() for name in COLUMNS]
    for i, t in enumerate(times):
        writer.writerow((t, *(format_value(col[i]) for col in columns)))


def main(args: argparse.Namespace, settings: Any, credentials: Any) -> int:
    try:
        session_start = parse_session_start(args.session_start)
        times, c = read_ohlcv(Path(args.csv))
    except (OSError, ValueError) as exc:
        print(f"run.py indicators: {exc}", file=sys.stderr)
        return 2
    params = msgspec.structs.replace(
        IndicatorParams.from_strategy(settings.strategy), vwap_session_start_ms=session_start
    )
    table = compute_columns(c["time_ms"], c["open"], c["high"], c["low"], c["close"], c["volume"], params)
    if args.out:
        with open(args.out, "w", newline="") as f:
            write_table(f, times, table)
    else:
        try:
            write_table(sys.stdout, times, table)
        except BrokenPipeError:  # a reader such as ``head`` closed the pipe: not an error
            sys.stderr.close()
    return 0

