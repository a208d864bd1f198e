"""Paper mode: public bars from the venue's stream (here the embedded simulator stands in
for Bybit), fills in the in-process engine, no keys and no private API at all."""

from __future__ import annotations

import time

from vocabulary.settings import load_settings
from actors.supervisor import Bot
from exchange.bybit.venues import venue_urls
from exchange.sim.config import SimConfig
from exchange.sim.server import SimServer
from tests.e2e.conftest import Running

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def test_paper_mode_decides_on_public_data_and_never_touches_the_private_api(tmp_path):
    public = SimServer(SimConfig(symbols=SYMBOLS, port=0, speed=600.0, close_delay_ms=0)).start()
    try:
        settings = load_settings(f"""
[bot]
venue = "mainnet"
paper = true
symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
bootstrap_bars = 250
[journal]
path = "{tmp_path / 'journal.sqlite'}"
[web]
enabled = false
""", {})
        urls = venue_urls("sim", sim_port=public.port)
        run = Running(Bot(settings, None, market_urls=urls))
        run.bot.start()
        run.thread.start()
        try:
            run.wait_ticks(8, timeout_s=60)
            # The router reconciles against the paper venue: it holds the configured equity.
            deadline = time.monotonic() + 10
            while run.bot.board.account is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert run.bot.board.account is not None
            assert run.bot.board.account.equity == 10_000
            assert run.bot.paper is not None and run.bot.paper.bars >= 8 * len(SYMBOLS)
        finally:
            run.stop()
        assert sum(public.rest.create_requests.values()) == 0, "nothing was sent to the venue's order API"
        assert sum(run.bot.board.decisions.values()) >= 8 * len(SYMBOLS), "one decision per symbol per tick"
    finally:
        public.stop()
