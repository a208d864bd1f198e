"""The kline history a study runs on: which files, their fingerprint, and their gap-free windows.

A user's data need not be one continuous month: exports are often whole months collected months
apart. The simulator's store indexes bars by minute, so a study never replays across a missing
minute: each symbol's file is cut into its gap-free runs, the study's windows are the stretches
every symbol covers without a gap, and each window is replayed on its own (its own warm-up, no
indicator or position carried over). ``window_dir`` writes one window's rows as a small data
directory of its own, so a replay loads that window and not the whole multi-month file.

Both row shapes are read: ``start_ms,open,high,low,close,volume[,turnover]``; anything else stops
the run with a ``KlineFileError`` naming the file and line.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from exchange.sim.market import MINUTE_MS, KlineFileError, is_header_row, kline_row


def utc_minute(ms: int) -> str:
    """A time in ms as the backtest tools print it: ``2025-06-04 13:58`` (UTC)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")

INSTRUMENTS = "instruments-bybit-linear.csv"


@dataclass(frozen=True)
class Span:
    """``[start_ms, end_ms)`` on the minute grid."""

    start_ms: int
    end_ms: int

    @property
    def minutes(self) -> int:
        return (self.end_ms - self.start_ms) // MINUTE_MS


@dataclass(frozen=True)
class History:
    data_dir: Path
    symbols: tuple[str, ...]
    fingerprint: str  # sha256 over the symbols' files and the instruments file, as bytes
    windows: tuple[Span, ...]  # gap-free stretches every symbol covers, in time order
    is_continuous: bool  # one window spanning every file whole: the directory is replayed as it is


def kline_path(data_dir: Path, symbol: str) -> Path:
    return data_dir / f"{symbol}-1m.csv.gz"


def read_history(data_dir: Path, symbols: Sequence[str]) -> History:
    """Read and check every symbol's file once: rows of an accepted shape, ascending minutes."""
    missing = [s for s in symbols if not kline_path(data_dir, s).is_file()]
    if missing or not (data_dir / INSTRUMENTS).is_file():
        what = ", ".join(f"{s}-1m.csv.gz" for s in missing) or INSTRUMENTS
        raise KlineFileError(f"{data_dir}: no {what} (a data directory holds SYMBOL-1m.csv.gz files and {INSTRUMENTS})")
    digest = hashlib.sha256()
    runs: dict[str, list[Span]] = {}
    whole: dict[str, Span] = {}
    for symbol in sorted(symbols):
        path = kline_path(data_dir, symbol)
        digest.update(symbol.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        starts = _minutes(path)
        if not starts:
            raise KlineFileError(f"{path}: no kline rows")
        runs[symbol] = gap_free_runs(starts)
        whole[symbol] = Span(starts[0], starts[-1] + MINUTE_MS)
    digest.update(b"instruments\0" + (data_dir / INSTRUMENTS).read_bytes())
    windows = common_windows([runs[s] for s in symbols])
    continuous = len(windows) == 1 and all(len(runs[s]) == 1 and whole[s] == windows[0] for s in symbols)
    return History(data_dir, tuple(symbols), digest.hexdigest(), tuple(windows), continuous)


def _minutes(path: Path) -> list[int]:
    """The start of every row, each row checked by the simulator's own row reader."""
    out: list[int] = []
    with gzip.open(path, "rt", newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if line == 1 and is_header_row(row):
                continue
            start = kline_row(path, line, row).start_ms
            if start % MINUTE_MS:
                raise KlineFileError(f"{path}:{line}: start_ms {start} is not on a whole minute")
            if out and start <= out[-1]:
                raise KlineFileError(f"{path}:{line}: start_ms {start} is not after the row before ({out[-1]})")
            out.append(start)
    return out


def gap_free_runs(starts: Sequence[int]) -> list[Span]:
    """Maximal runs of consecutive minutes in ascending ``starts``."""
    runs: list[Span] = []
    first = previous = starts[0]
    for t in starts[1:]:
        if t != previous + MINUTE_MS:
            runs.append(Span(first, previous + MINUTE_MS))
            first = t
        previous = t
    runs.append(Span(first, previous + MINUTE_MS))
    return runs


def common_windows(per_symbol: Sequence[Sequence[Span]]) -> list[Span]:
    """The stretches inside a run of every symbol: the intersection of the symbols' run lists."""
    common = list(per_symbol[0])
    for runs in per_symbol[1:]:
        out = []
        i = j = 0
        while i < len(common) and j < len(runs):
            start, end = max(common[i].start_ms, runs[j].start_ms), min(common[i].end_ms, runs[j].end_ms)
            if start < end:
                out.append(Span(start, end))
            if common[i].end_ms < runs[j].end_ms:
                i += 1
            else:
                j += 1
        common = out
    return common


def window_dir(history: History, window: Span, cache: Path) -> Path:
    """A data directory holding only ``window``'s rows of every symbol (written once, under ``cache``
    by fingerprint and window): the simulator then loads a window, not a multi-month file. A
    continuous history is its own directory."""
    if history.is_continuous:
        return history.data_dir
    target = cache / f"{history.fingerprint[:16]}-{window.start_ms}-{window.end_ms}"
    if (target / "complete").is_file():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    shutil.copyfile(history.data_dir / INSTRUMENTS, partial / INSTRUMENTS)
    for symbol in history.symbols:
        source = kline_path(history.data_dir, symbol)
        with gzip.open(source, "rt", newline="") as f, gzip.open(kline_path(partial, symbol), "wt", newline="", compresslevel=1) as out:
            out.write(",".join(("start_ms", "open", "high", "low", "close", "volume", "turnover")) + "\n")
            for line, row in enumerate(csv.reader(f), start=1):
                if line == 1 and is_header_row(row):
                    continue
                if window.start_ms <= int(row[0]) < window.end_ms:
                    out.write(",".join(row[:7] if len(row) == 7 else [*row, ""]) + "\n")
    (partial / "complete").write_text("")
    try:
        partial.rename(target)
    except OSError:  # another worker finished the same window first: theirs is as good
        shutil.rmtree(partial, ignore_errors=True)
    return target
