"""The one-thread pipeline when a confirmed bar never arrives (a lost push): the minute's tick still
goes out by grace, as the paced live replay's clock would force it, the late symbol says why, its
next bar finds the gap, the backfill through REST closes it, and the symbol decides on fresh bars.
And with the venue's account reads reused while the account stands still, nothing changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vocabulary.messages import VenueSnapshot
from vocabulary.settings import load_settings
from backtest.pipeline import Pipeline
from backtest.run import FillModel, Window, backtest_journal, sim_config
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


ALL = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")


def run_pipeline(journal_path: Path, *, reuse_reads: bool, minutes: int = 240) -> tuple[Pipeline, InProcessVenue, list[VenueSnapshot]]:
    settings = load_settings(Path("settings.toml").read_text(), {})
    venue = InProcessVenue(InProcessSim.replay(sim_config(settings, Window(symbols=ALL), FillModel())), reuse_reads=reuse_reads)
    journal = backtest_journal(journal_path)
    pipeline = Pipeline(settings, venue, journal, ALL)
    snapshots: list[VenueSnapshot] = []
    read = pipeline.router_io.snapshot
    pipeline.router_io.snapshot = lambda ts_ms, **kw: snapshots.append(read(ts_ms, **kw)) or snapshots[-1]  # type: ignore[method-assign]
    pipeline.start()
    for _ in range(minutes):
        pipeline.step()
    journal.close()
    venue.close()
    return pipeline, venue, snapshots


def journal_rows(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table' order by name")]
        return {table: db.execute(f"select * from {table} order by rowid").fetchall() for table in tables}


def test_reused_account_reads_change_nothing_the_router_receives_decides_or_journals(tmp_path):
    fresh, fresh_venue, fresh_snapshots = run_pipeline(tmp_path / "fresh.sqlite", reuse_reads=False)
    reused, reused_venue, reused_snapshots = run_pipeline(tmp_path / "reused.sqlite", reuse_reads=True)
    counts = fresh.router.counts
    assert fresh.trades and counts["sent_cancel"] and counts["sent_trading_stop"], \
        "the window must open, close, cancel and move stops for this test to mean anything"
    assert any(s.positions for s in fresh_snapshots) and any(s.orders for s in fresh_snapshots)
    assert fresh_venue.reads_reused == 0 and reused_venue.reads_reused > len(reused_snapshots)
    assert reused_venue.rest.stats["requests"] < fresh_venue.rest.stats["requests"] / 2

    assert reused_snapshots == fresh_snapshots, "every snapshot the router received, field by field"
    assert reused.decisions == fresh.decisions
    assert reused.trades == fresh.trades
    assert reused.equity == fresh.equity
    assert reused.counts == fresh.counts and reused.router.counts == fresh.router.counts
    fresh_rows, reused_rows = journal_rows(tmp_path / "fresh.sqlite"), journal_rows(tmp_path / "reused.sqlite")
    assert sum(map(len, fresh_rows.values())) > 0
    assert reused_rows == fresh_rows


def test_each_ticks_bars_are_journaled_right_after_its_decisions_as_the_journal_actor_writes_them(tmp_path):
    run_pipeline(tmp_path / "j.sqlite", reuse_reads=False, minutes=30)
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        decided = {}  # tick -> (first seq, last seq) of its decisions
        for tick, first, last in db.execute("select tick_ms, min(seq), max(seq) from decisions group by tick_ms"):
            decided[tick] = (first, last)
        bars = db.execute("select seq, start_ms + interval * ? from bars", (MINUTE_MS,)).fetchall()
    live = [(seq, end) for seq, end in bars if end in decided]
    assert len(live) >= 30 * len(ALL), "every minute's bars of every symbol, past the bootstrap"
    for seq, end in live:
        assert decided[end][1] < seq, "after its tick's decisions"
        if end + MINUTE_MS in decided:
            assert seq < decided[end + MINUTE_MS][0], "before the next tick's"
