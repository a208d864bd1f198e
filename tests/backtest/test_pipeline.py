"""The one-thread pipeline when a confirmed bar never arrives (a lost push): the minute's tick still
goes out by grace, as the paced live replay's clock would force it, the late symbol says why, its
next bar finds the gap, the backfill through REST closes it, and the symbol decides on fresh bars."""

from __future__ import annotations

from pathlib import Path

from actors.settings import load_settings
from backtest.pipeline import Pipeline
from backtest.venue import InProcessVenue
from exchange.sim.config import SimConfig
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import MINUTE_MS

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def test_a_lost_bar_ends_its_minute_by_grace_and_is_backfilled():
    venue = InProcessVenue(InProcessSim.replay(SimConfig(symbols=SYMBOLS, rate_limits=False)))
    start = venue.now_ms()
    lost = start + 17 * MINUTE_MS  # ETH's 1m bar closing here is never pushed
    pushed = venue.closed_klines
    venue.closed_klines = lambda boundary, tfs, symbols: [  # type: ignore[method-assign]
        k for k in pushed(boundary, tfs, symbols) if not (k.symbol == "ETHUSDT" and k.interval == 1 and k.end_ms == lost)]
    settings = load_settings(Path("settings.toml").read_text(), {"SMTBOT__BOT__SYMBOLS": '["BTCUSDT","ETHUSDT"]'})
    pipeline = Pipeline(settings, venue, None, SYMBOLS)
    pipeline.start()
    for _ in range(30):
        pipeline.step()
    assert pipeline.counts["ticks_by_grace"] == 1
    assert pipeline.counts.get("cycles_unfinished", 0) == 0
    ticks = sorted({d.tick_ms for d in pipeline.decisions})
    assert ticks == list(range(start + MINUTE_MS, start + 31 * MINUTE_MS, MINUTE_MS)), "every minute decided, the lost one too"
    at_loss = {d.symbol: d for d in pipeline.decisions if d.tick_ms == lost}
    assert at_loss["ETHUSDT"].kind == "REJECT" and any(r.code == "data.stale" for r in at_loss["ETHUSDT"].reasons)
    assert all(r.code != "data.stale" for r in at_loss["BTCUSDT"].reasons)
    eth = pipeline.cores["ETHUSDT"]
    assert eth.counts["backfill"] == 1 and eth.counts["gap_accepted"] == 0, "the venue had the bar: the backfill found it"
    after = [d for d in pipeline.decisions if d.symbol == "ETHUSDT" and d.tick_ms > lost]
    assert len(after) == 13 and all(r.code != "data.stale" for d in after for r in d.reasons)
    venue.close()
