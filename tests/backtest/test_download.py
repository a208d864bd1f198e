"""``run.py download`` against the simulator (never the internet): the shipped file format, the
trading rules recorded for the backtest, and a resume after an injected failure that fetches
only the missing bars."""

from __future__ import annotations

import datetime as dt
import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from backtest.download import download_symbol, read_rows
from exchange.bybit.errors import BybitError, TransportError
from exchange.bybit.rest import BybitRest
from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultPlan, RestFault
from exchange.sim.market import MINUTE_MS, load_bars, load_store
from exchange.sim.server import SimServer

DATA = Path("data/klines")


@pytest.fixture
def sim():
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT", "ETHUSDT"), paced=True)) as server:
        yield server


def truth(symbol: str) -> dict:
    return {b.start_ms: b for b in load_bars((DATA / f"{symbol}-1m.csv.gz").resolve())}


def to(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")


def test_a_failed_download_resumes_with_only_the_missing_bars(sim, tmp_path):
    start = load_store(DATA, ("BTCUSDT", "ETHUSDT"))[0].first_ms
    end = start + 2500 * MINUTE_MS
    rest = BybitRest(sim.rest_url, None, sleep=lambda s: None)
    # The second page fails on every attempt the client makes: the run stops with page one on disk.
    sim.set_faults(FaultPlan(rest=[RestFault(kind="http500", path_prefix="/v5/market/kline", nth=(2, 3, 4, 5))]))
    with pytest.raises((BybitError, TransportError)):
        download_symbol(rest, "BTCUSDT", start, end, tmp_path)
    assert len(read_rows(tmp_path / "BTCUSDT-1m.csv.part")) == 1000
    assert not (tmp_path / "BTCUSDT-1m.csv.gz").exists()

    sim.set_faults(FaultPlan())
    before = rest.stats["requests"]
    assert download_symbol(rest, "BTCUSDT", start, end, tmp_path) == 1500
    assert rest.stats["requests"] - before == 2, "pages two and three only"
    assert not (tmp_path / "BTCUSDT-1m.csv.part").exists()

    raw = (tmp_path / "BTCUSDT-1m.csv.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0", "gzip mtime 0: the same bars give the same bytes"
    lines = gzip.decompress(raw).decode().splitlines()
    assert lines[0] == "start_ms,open,high,low,close,volume,turnover" and len(lines) == 2501
    source = truth("BTCUSDT")
    starts = [int(line.split(",")[0]) for line in lines[1:]]
    assert starts == list(range(start, end, MINUTE_MS))
    for line in lines[1::173]:
        t, o, h, low, c, v, _ = line.split(",")
        bar = source[int(t)]
        assert (float(o), float(h), float(low), float(c), float(v)) == (float(bar.open), float(bar.high), float(bar.low), float(bar.close), float(bar.volume))

    assert download_symbol(rest, "BTCUSDT", start, end, tmp_path) == 0, "complete: nothing to fetch"
    rest.close()


def test_the_command_line_downloads_and_records_the_trading_rules(sim, tmp_path):
    start = load_store(DATA, ("ETHUSDT",))[0].first_ms
    done = subprocess.run([sys.executable, "run.py", "download", "--rest-url", sim.rest_url, "--symbols", "ETHUSDT",
                           "--from", to(start), "--to", to(start + 300 * MINUTE_MS), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ETHUSDT: 300 bars fetched" in done.stdout
    rules = (tmp_path / "instruments-bybit-linear.csv").read_text().splitlines()
    assert rules[1].split(",")[:10] == ["bybit", "ETHUSDT", "cryptofuture", "ETHUSDT", "USDT", "1", "0.01", "0.01", "ETHUSDT", "0.01"]
    store, found = load_store(tmp_path, ("ETHUSDT",))
    assert store.first_ms == start and store.end_ms == start + 300 * MINUTE_MS and str(found["ETHUSDT"].tick_size) == "0.01"
