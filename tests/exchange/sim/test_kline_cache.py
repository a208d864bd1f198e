"""The parsed kline files kept in a cache directory (``exchange.sim.kline_cache``) read back as
exactly the columns the parser gives, and are never trusted when they could be wrong: a changed
data file, a damaged or foreign cache file is logged once and the file parsed again; a cache
directory that cannot be written costs the cache, not the run; the data directory is never
written to."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from exchange.sim import kline_cache
from exchange.sim.config import SimConfig
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import BarColumns, load_bars, load_store

DATA = Path(__file__).resolve().parents[3] / "data" / "klines"
SHIPPED = sorted(DATA.glob("*-1m.csv.gz"))
LOGGER = "exchange.sim.kline_cache"


def spelled(bar) -> tuple:
    """A Bar as its exact texts: Decimal('1.50') and Decimal('1.5') are equal but spelled apart."""
    return tuple(str(getattr(bar, k)) for k in ("start_ms", "open", "high", "low", "close", "volume", "turnover"))


def parsed(path: Path) -> BarColumns:
    columns = BarColumns.parse(gzip.decompress(path.read_bytes()))
    assert columns is not None
    return columns


def cached(path: Path, cache: Path) -> BarColumns | None:
    arrays = kline_cache.read(path, path.read_bytes(), cache)
    return None if arrays is None else BarColumns(*arrays)


def copy(tmp_path: Path, name: str = "BTCUSDT") -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(DATA / f"{name}-1m.csv.gz", data)
    return (data / f"{name}-1m.csv.gz").resolve()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name.split("-")[0])
def test_every_shipped_file_reads_back_from_the_cache_as_the_parser_and_the_row_reader_give_it(tmp_path, path):
    cache = tmp_path / "cache"
    source = path.resolve()
    assert cached(source, cache) is None  # nothing kept yet
    first = load_bars.__wrapped__(source, cache)  # parses, keeps
    again = cached(source, cache)
    assert again is not None and again == parsed(source) == first
    assert again.values.dtype == again.scales.dtype == again.start_ms.dtype == np.int64
    assert [spelled(b) for b in again[::997]] == [spelled(b) for b in first[::997]]  # the same Decimals, zeros kept
    assert [spelled(b) for b in load_bars.__wrapped__(source, cache)[-3:]] == [spelled(b) for b in first[-3:]]


def test_a_data_file_changed_in_place_is_parsed_again_even_with_its_size_and_mtime_kept(tmp_path, caplog):
    # Stored (level 0) gzip: the file's size is the text's, so a same-length edit keeps it.
    text = gzip.decompress((DATA / "BTCUSDT-1m.csv.gz").read_bytes()).decode()
    head, last = text.rstrip("\n").rsplit("\n", 1)
    fields = last.split(",")
    fields[4] = fields[4][:-1] + ("1" if fields[4][-1] != "1" else "2")  # another close, same length
    (tmp_path / "data").mkdir()
    source = (tmp_path / "data" / "BTCUSDT-1m.csv.gz").resolve()
    source.write_bytes(gzip.compress(text.encode(), compresslevel=0, mtime=0))
    cache = tmp_path / "cache"
    before = load_bars.__wrapped__(source, cache)
    stat = source.stat()
    source.write_bytes(gzip.compress((head + "\n" + ",".join(fields) + "\n").encode(), compresslevel=0, mtime=0))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (source.stat().st_size, source.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        after = load_bars.__wrapped__(source, cache)
    assert after == parsed(source) and after != before and str(after[-1].close) == fields[4]
    assert [r.message for r in caplog.records if r.name == LOGGER] == [
        f"kline cache: {kline_cache.entry_path(source, cache)} is stale (the data file changed since it was written); "
        f"parsing {source} again"]
    assert cached(source, cache) == after  # the entry was written again for the new content


def test_a_data_file_rewritten_with_other_rows_is_parsed_again(tmp_path, caplog):
    source = copy(tmp_path)
    cache = tmp_path / "cache"
    load_bars.__wrapped__(source, cache)
    rows = gzip.decompress(source.read_bytes()).decode().splitlines()
    source.write_bytes(gzip.compress(("\n".join(rows[:-10]) + "\n").encode()))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        shorter = load_bars.__wrapped__(source, cache)
    assert len(shorter) == len(rows) - 11 and shorter == parsed(source)
    assert sum("is stale" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize("damage", ["flip a payload byte", "truncate", "flip a header byte", "another format",
                                    "empty"])
def test_a_damaged_cache_file_is_logged_and_the_data_file_parsed_again(tmp_path, caplog, damage):
    source = copy(tmp_path)
    cache = tmp_path / "cache"
    load_bars.__wrapped__(source, cache)
    entry = kline_cache.entry_path(source, cache)
    blob = bytearray(entry.read_bytes())
    if damage == "flip a payload byte":
        blob[-1000] ^= 0x01  # one bit of one price: only the payload checksum sees it
    elif damage == "truncate":
        del blob[len(blob) // 2:]
    elif damage == "flip a header byte":
        blob[blob.index(b'"size":') + 7] ^= 0x01
    elif damage == "another format":
        blob = bytearray(b"PK\x03\x04") + blob
    else:
        blob = bytearray()
    entry.write_bytes(bytes(blob))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        bars = load_bars.__wrapped__(source, cache)
    assert bars == parsed(source)
    logged = [r.message for r in caplog.records if r.name == LOGGER]
    assert len(logged) == 1 and str(entry) in logged[0] and f"parsing {source} again" in logged[0]
    assert ("stale" in logged[0]) == (damage == "flip a header byte")  # the header names another size
    assert cached(source, cache) == bars  # rewritten whole


def test_a_cache_directory_that_cannot_be_written_costs_the_cache_not_the_run(tmp_path, caplog):
    source = copy(tmp_path)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        bars = load_bars.__wrapped__(source, blocked)
    assert bars == parsed(source)
    logged = [r.message for r in caplog.records if r.name == LOGGER]
    assert len(logged) == 1 and logged[0].startswith(f"kline cache: cannot write to {blocked}")


def test_the_data_directory_is_never_written_and_may_be_read_only(tmp_path):
    source = copy(tmp_path)
    data = source.parent
    shutil.copy(DATA / "instruments-bybit-linear.csv", data)
    before = sorted(p.name for p in data.iterdir())
    os.chmod(data, 0o555)
    try:
        cache = tmp_path / "cache"
        store, _ = load_store(data, ["BTCUSDT"], cache_dir=cache)
        assert store.bars["BTCUSDT"] == parsed(source)
        assert sorted(p.name for p in data.iterdir()) == before
        assert [p.name for p in cache.iterdir()] == [kline_cache.entry_path(source, cache.resolve()).name]
    finally:
        os.chmod(data, 0o755)


def test_two_data_directories_with_the_same_file_name_keep_separate_entries(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = copy(tmp_path / "a")
    other = copy(tmp_path / "b", "ETHUSDT").rename(tmp_path / "b" / "data" / "BTCUSDT-1m.csv.gz").resolve()
    cache = tmp_path / "cache"
    assert kline_cache.entry_path(one, cache) != kline_cache.entry_path(other, cache)
    assert load_bars.__wrapped__(one, cache) == parsed(one)
    assert load_bars.__wrapped__(other, cache) == parsed(other) != parsed(one)
    assert cached(one, cache) == parsed(one) and cached(other, cache) == parsed(other)


def test_a_file_read_row_by_row_is_not_cached(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    source = data / "BTCUSDT-1m.csv.gz"
    source.write_bytes(gzip.compress(b"1748736120000,1,2,0.5,1.5,10\r\n1748736180000,1,2,0.5,1.5,10\r\n"))  # CRLF
    cache = tmp_path / "cache"
    bars = load_bars.__wrapped__(source, cache)
    assert not isinstance(bars, BarColumns) and len(bars) == 2
    assert not cache.exists() or not any(cache.iterdir())


def test_the_simulator_keeps_its_parsed_files_where_its_config_says(tmp_path):
    source = copy(tmp_path)
    shutil.copy(DATA / "instruments-bybit-linear.csv", source.parent)
    cache = tmp_path / "cache"
    config = SimConfig(data_dir=str(source.parent), symbols=("BTCUSDT",), kline_cache_dir=str(cache))
    load_bars.cache_clear()
    try:
        sim = InProcessSim.replay(config)
        assert cached(source, cache.resolve()) == sim.venue.store.bars["BTCUSDT"] == parsed(source)
    finally:
        load_bars.cache_clear()
    assert SimConfig().kline_cache is None  # the bare simulator keeps nothing


def test_the_cache_keeps_only_its_newest_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(kline_cache, "KEPT", 2)
    cache = tmp_path / "cache"
    sources = []
    for k in range(3):
        (tmp_path / str(k)).mkdir()
        sources.append(copy(tmp_path / str(k)))
        load_bars.__wrapped__(sources[-1], cache)
        entry = kline_cache.entry_path(sources[-1], cache)
        os.utime(entry, ns=(k * 10**9, k * 10**9))  # written in this order, whatever the clock's resolution
    assert sorted(p.name for p in cache.iterdir()) == sorted(kline_cache.entry_path(s, cache).name for s in sources[1:])
    assert cached(sources[0], cache) is None and cached(sources[2], cache) == parsed(sources[2])


def test_an_entry_whose_data_file_is_gone_is_removed_at_the_next_write(tmp_path):
    """A temporary or deleted data directory leaves nothing behind: its entries go at the next
    write, whatever their age; entries of files still there stay."""
    cache = tmp_path / "cache"
    for name in ("gone", "kept", "later"):
        (tmp_path / name).mkdir()
    gone, kept, later = (copy(tmp_path / name) for name in ("gone", "kept", "later"))
    for source in (gone, kept):
        load_bars.__wrapped__(source, cache)
    shutil.rmtree(tmp_path / "gone")
    assert kline_cache.entry_path(gone, cache).exists()
    load_bars.__wrapped__(later, cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(kline_cache.entry_path(s, cache).name for s in (kept, later))
    assert cached(kept, cache) == parsed(kept)
