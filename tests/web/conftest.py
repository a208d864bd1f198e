"""A seeded journal and a supervisor status for the web tests."""

from contextlib import contextmanager
from decimal import Decimal as D

import httpx
import pytest

from vocabulary import messages as m
from journal.writer import JournalWriter
from tests.journal import samples as s
from web.server import WebServer

NOW = s.T0 + 2 * s.MIN
SIM_SECRET = "sim-secret-7f3a9c"
TOKEN = "tok-5b1e8d2c4a6f9e0b"


def seed(path):
    writer = JournalWriter(path)
    writer.append_now([
        m.Tick(boundary_ms=s.T0, closed=(1, 3, 5)),
        s.bar("BTCUSDT", close=97120.5), s.bar("ETHUSDT", close=3050.25),
        s.take(symbol="BTCUSDT"), s.decision(symbol="ETHUSDT", kind="REJECT", path="pre_cross", side="Sell", score=0.4),
        s.intent(), s.ack(), s.ack(link="smt-ETH-1", outcome="would_take"), s.order_update(), s.execution(),
        s.position("BTCUSDT", "0.010", upnl="1.25"), s.position("ETHUSDT", "0", ts=s.T0),
        s.trade("BTCUSDT", exit_ms=s.T0 - 5 * s.MIN, pnl="2.59950", r=1.5),
        m.TradeClosed(symbol="ETHUSDT", side="Sell", path="pre_cross", entry_ms=s.T0 - 30 * s.MIN, exit_ms=s.T0 - 20 * s.MIN,
                      entry_price=D("3060.00"), exit_price=D("3072.00"), qty=D("0.10"), fees=D("0.34"),
                      pnl_usdt=D("-1.20"), pnl_r=-1.0, exit_reason="stop", gross_usdt=D("-0.86")),
        s.event("reconnect"), s.event("restart", ts_ms=s.T0 + 6_000, message="supervisor restarted SymbolActor ETHUSDT"),
    ])
    writer.close()


def status_with_secrets():
    return {
        "venue": "sim", "mode": "live", "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "equity": 10001.25,
        "cycle_latency_ms": [3.5, 4.25, 6.0, 12.5, 48.0], "queue_depth": {"journal": 2, "router": 0},
        "feed": {"SOLUSDT": {"stale": True, "reason": "no confirmed bar"}},
        "api_secret": SIM_SECRET, "credentials": {"api_key": "k"},
        "note": f"signed with {SIM_SECRET}",
    }


@pytest.fixture
def journal_path(tmp_path):
    path = tmp_path / "journal.sqlite"
    seed(path)
    return path


@pytest.fixture
def browser(tmp_path):
    """One headless chromium page (tests using it skip where chromium is missing)."""
    from tests.web.chromium import Browser

    profile = tmp_path / "profile"
    profile.mkdir()
    b = Browser(profile)
    yield b
    b.close()


@contextmanager
def serving(app):
    """The app on a real loopback socket, and an HTTP client pointed at it."""
    server = WebServer(app, "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()
