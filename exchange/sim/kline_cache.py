"""The parsed kline files, kept as binary columns in a cache directory, so a run in a fresh process
reads its bars without parsing the CSVs again (~0.25 s of a 2 s month-long backtest).

One cache file per data file, in its own directory (``[sim] kline_cache_dir``), never next to the
data: a user's data directory may be read-only. An entry is trusted only when it names the same
file (resolved path), the same size and modification time, the same SHA-256 of the file's bytes (a
rewrite that keeps size and mtime is still seen: 4 MB of gzip costs ~3 ms to check; not a CRC, which
is blind to such a rewrite of a gzip file, whose own trailer is a CRC of what it holds) and its own
payload's CRC-32 matches (a torn or damaged cache file). Anything else is one log line and the file
is parsed again; an entry is written to a temporary file and renamed over the old one, so a reader
never meets half a file. A cache directory that cannot be written is one log line and no cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

import msgspec
import numpy as np

log = logging.getLogger(__name__)

Columns = tuple[np.ndarray, np.ndarray, np.ndarray]  # start_ms [n], values [n, 6], scales [n, 6]: BarColumns' own

_MAGIC = b"smtbot kline columns v1\n"

# Entries kept: the oldest written go beyond this. Temporary data directories (benches, a
# user's one-off files) each leave an entry; a month of one symbol is ~2.7 MB.
KEPT = 64


class _Header(msgspec.Struct, frozen=True):
    source: str  # the data file's resolved path
    size: int
    mtime_ns: int
    source_sha256: str  # of the data file's bytes
    rows: int
    payload_crc: int  # CRC-32 of what follows the header


def entry_path(source: Path, cache_dir: Path) -> Path:
    """Where ``source``'s columns are kept: its name and a digest of its resolved path (two data
    directories holding a BTCUSDT file do not share an entry)."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    return cache_dir / f"{source.name.removesuffix('.csv.gz')}-{digest}.columns"


def _identity(source: Path, data: bytes) -> tuple[str, int, int, str]:
    stat = source.stat()
    return str(source), stat.st_size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest()


def read(source: Path, data: bytes, cache_dir: Path) -> Columns | None:
    """``source``'s columns (``BarColumns``' arrays) from the cache, or None (no entry, or one that
    is stale or damaged: logged). ``data`` is the file's bytes as read for this run (the content check)."""
    path = entry_path(source, cache_dir)
    try:
        with open(path, "rb") as f:
            problem, columns = _decode(f, _identity(source, data))
    except (FileNotFoundError, NotADirectoryError):
        return None  # nothing kept yet (a directory that cannot hold entries is logged when writing)
    except OSError as exc:
        log.warning("kline cache: cannot read %s (%s); parsing %s", path, exc, source)
        return None
    if problem:
        log.warning("kline cache: %s is %s; parsing %s again", path, problem, source)
        return None
    return columns


def _decode(f: BinaryIO, identity: tuple[str, int, int, str]) -> tuple[str, Columns | None]:
    """(what is wrong with the entry open in ``f``, "" if nothing; its columns when nothing is)."""
    header = _header(f)
    if isinstance(header, str):
        return header, None
    if (header.source, header.size, header.mtime_ns, header.source_sha256) != identity:
        return "stale (the data file changed since it was written)", None
    n = header.rows
    # Read into an array of its own: writable, as parsed columns are, and not zeroed first.
    payload = np.empty(n * (8 + 6 * 8 + 6), dtype=np.uint8)
    if f.readinto(memoryview(payload)) != len(payload) or f.read(1) or zlib.crc32(payload) != header.payload_crc:
        return "damaged (its columns do not match their checksum)", None
    start_ms = payload[: 8 * n].view("<i8")
    values = payload[8 * n: 56 * n].view("<i8").reshape(n, 6)
    scales = payload[56 * n:].view("i1").reshape(n, 6)
    # int64 as the parser gives them; the scales are stored as int8 (a field has at most 18 digits).
    return "", (start_ms, values, scales.astype(np.int64))


def write(source: Path, data: bytes, columns: Columns, cache_dir: Path) -> None:
    """Keep ``columns`` (parsed from ``data``, the bytes of ``source``) in the cache; a directory
    that cannot be written is logged and skipped (the run goes on without a cache)."""
    start_ms, values, scales = columns
    n = len(start_ms)
    if values.shape != (n, 6) or scales.shape != (n, 6) or n and (scales.min() < -1 or scales.max() > 18):
        raise ValueError("not a kline file's columns")  # a caller's bug: the int8 scales would not hold them
    payload = b"".join((np.ascontiguousarray(start_ms, dtype="<i8").tobytes(),
                        np.ascontiguousarray(values, dtype="<i8").tobytes(),
                        np.ascontiguousarray(scales, dtype="i1").tobytes()))
    header = msgspec.json.encode(_Header(*_identity(source, data), n, zlib.crc32(payload)))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=cache_dir, prefix=".writing-", suffix=".columns")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + header + b"\n")
                f.write(payload)
            os.replace(temporary, entry_path(source, cache_dir))
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(cache_dir, KEPT)
    except OSError as exc:
        log.warning("kline cache: cannot write to %s (%s); %s is parsed on every run", cache_dir, exc, source)


def _prune(cache_dir: Path, keep: int) -> None:
    """Remove the entries whose data file is gone (a deleted or temporary data directory: nothing
    can read them again), then all but the ``keep`` newest-written (an entry lost to a concurrent
    prune is only parsed again)."""
    entries = []
    for p in cache_dir.glob("*.columns"):
        if p.name.startswith("."):
            continue
        source = _source_of(p)
        if source is not None and not Path(source).exists():
            p.unlink(missing_ok=True)
        else:
            entries.append(p)
    if len(entries) <= keep:
        return
    dated = []
    for p in entries:
        try:
            dated.append((p.stat().st_mtime_ns, p))
        except FileNotFoundError:
            continue
    for _, p in sorted(dated)[:-keep]:
        p.unlink(missing_ok=True)


def _header(f: BinaryIO) -> _Header | str:
    """The header of the entry open in ``f``, or what is wrong with it."""
    if f.read(len(_MAGIC)) != _MAGIC:
        return "not a kline cache file of this version"
    try:
        return msgspec.json.decode(f.readline(1 << 16), type=_Header)
    except msgspec.DecodeError:
        return "damaged (its header does not decode)"


def _source_of(entry: Path) -> str | None:
    """The data file an entry was written for, from its header; None if it cannot be read."""
    try:
        with open(entry, "rb") as f:
            header = _header(f)
    except OSError:
        return None
    return None if isinstance(header, str) else header.source
