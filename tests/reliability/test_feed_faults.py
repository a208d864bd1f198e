"""Feed faults: the whole bot on five symbols while its WebSocket connections are dropped, its
pushes stalled and its confirms skipped or repeated at random, on the embedded simulator
paced by the bot itself.

The journal is then held against the simulator's own data: every confirmed 1m bar journaled
exactly once and equal to the data, no hole, exactly one decision per symbol per tick; and each
symbol's flight record (every message its core handled, with what it answered) shows no
decision taken before the bar it stands on was consumed (so never from a partial bar). The
journal itself cannot show that order: a tick's bars are written just after its decisions.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, defaultdict

from vocabulary.messages import Decision, JournalEvent, Kline
from actors.router import RouterCore
from vocabulary.settings import RiskSettings, StrategySettings
from actors.supervisor import Bot
from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultPlan
from tests.e2e.conftest import Running, settings_for
from tests.reliability.conftest import scale

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT")
MINUTE = 60_000
FAULTS = scale(20, 100)


def test_random_drops_and_stalls_lose_no_bar_double_no_bar_and_decide_once_per_tick(tmp_path, report):
    settings = settings_for(tmp_path, SYMBOLS)
    config = SimConfig.from_settings(settings.sim, symbols=SYMBOLS, paced=True, port=0)
    run = Running(Bot(settings, None, sim_config=config, record=[f"symbol:{s}" for s in SYMBOLS]))
    rng = random.Random(1)
    kinds = ["drop public", "drop public", "drop all", "drop private", "stall", "skip confirms", "duplicate confirms"]
    schedule = [kinds[i % len(kinds)] for i in range(FAULTS)]
    rng.shuffle(schedule)
    done: Counter[str] = Counter()
    run.bot.start()
    sim = run.bot.sim
    run.thread.start()
    try:
        run.wait_ticks(2)
        for fault in schedule:
            run.wait_ticks(run.bot.board.ticks + rng.randint(1, 2))
            # Each plan holds until the next fault replaces it.
            if fault == "stall":
                sim.set_faults(FaultPlan(ws_stall_s=rng.uniform(0.2, 1.5), seed=rng.randint(0, 999)))
            elif fault == "skip confirms":
                sim.set_faults(FaultPlan(skip_confirm_rate=0.2, seed=rng.randint(0, 999)))
            elif fault == "duplicate confirms":
                sim.set_faults(FaultPlan(duplicate_confirm_rate=0.5, seed=rng.randint(0, 999)))
            else:
                sim.set_faults(FaultPlan())
                done["connections closed"] += sim.drop_connections(fault.split()[1])
            done[fault] += 1
        sim.set_faults(FaultPlan())
        run.wait_ticks(run.bot.board.ticks + 3, timeout_s=60)
    finally:
        run.stop()
    store = sim.venue.store

    db = sqlite3.connect(f"file:{tmp_path / 'journal.sqlite'}?mode=ro", uri=True)
    bars = db.execute("SELECT seq, symbol, start_ms, open, high, low, close, volume, confirmed FROM bars WHERE interval = 1").fetchall()
    decisions = db.execute("SELECT seq, symbol, tick_ms, kind, reasons FROM decisions").fetchall()

    copies = Counter((symbol, start) for _, symbol, start, *_ in bars)
    twice = [key for key, n in copies.items() if n > 1]
    partial_rows = [row for row in bars if row[8] != 1]
    holes, differ = [], []
    for symbol in SYMBOLS:
        starts = sorted(start for s, start in copies if s == symbol)
        holes += [(symbol, t) for t in range(starts[0], starts[-1], MINUTE) if (symbol, t) not in copies]
    for _, symbol, start, o, h, low, c, v, _ in bars:
        truth = store.bar_at(symbol, start)
        if truth is None or (o, h, low, c, v) != tuple(float(x) for x in (truth.open, truth.high, truth.low, truth.close, truth.volume)):
            differ.append((symbol, start))

    per_tick = defaultdict(list)
    for seq, symbol, tick, kind, reasons in decisions:
        per_tick[tick].append((symbol, seq, kind, reasons))
    ticks = sorted(per_tick)
    # The stop may cut the very last tick between two symbols; every other tick is whole.
    whole = ticks if len(per_tick[ticks[-1]]) == len(SYMBOLS) else ticks[:-1]
    doubled = [(tick, s) for tick in ticks for s, n in Counter(x[0] for x in per_tick[tick]).items() if n > 1]
    incomplete = [tick for tick in whole if sorted(x[0] for x in per_tick[tick]) != sorted(SYMBOLS)]
    tick_holes = [t for t in range(ticks[0], ticks[-1], MINUTE) if t not in per_tick]
    stale = [x for tick in ticks for x in per_tick[tick] if "data.stale" in (x[3] or "")]
    before_its_bar = []
    witnessed = 0  # decisions seen in the flight records
    for symbol in SYMBOLS:
        consumed: set[int] = set()  # the 1m bars the symbol had consumed (it journals each one it consumes)
        for _, outbox in run.bot.recordings[f"symbol:{symbol}"]:
            for to, out in outbox:
                if to == "journal" and type(out) is Kline and out.interval == 1:
                    consumed.add(out.start_ms)
                elif to == "journal" and type(out) is Decision:
                    witnessed += 1
                    if out.tick_ms - MINUTE not in consumed and not any(r.code == "data.stale" for r in out.reasons):
                        before_its_bar.append((out.tick_ms, symbol))
    gaps_reported = run.bot._public.stats["gaps_reported"] if run.bot._public is not None else 0
    failures = db.execute("SELECT source, message FROM events WHERE kind = 'actor_failed'").fetchall()

    report.add("1. feed faults", faults=sum(n for k, n in done.items() if k != "connections closed"),
               **{k.replace(" ", "_"): v for k, v in sorted(done.items())}, public_reconnect_gaps_backfilled=gaps_reported,
               symbols=len(SYMBOLS), ticks=len(ticks), bars_1m_journaled=len(bars), bars_journaled_twice=len(twice),
               bar_holes=len(holes), bars_differing_from_data=len(differ), partial_bars_journaled=len(partial_rows),
               decisions=len(decisions), decisions_doubled=len(doubled), ticks_missing_a_symbol=len(incomplete),
               ticks_skipped=len(tick_holes), decisions_before_their_bar=len(before_its_bar),
               stale_rejects=len(stale), actor_failures=len(failures), actor_restarts=run.bot.restarts)
    assert sum(n for k, n in done.items() if k != "connections closed") == FAULTS
    assert failures == [], f"actors failed under feed faults: {failures[:3]}"
    assert len(ticks) >= FAULTS, "the run was too short to cover every fault"
    assert twice == [], f"bars journaled more than once: {twice[:5]}"
    assert partial_rows == [], "a partial bar was journaled as consumed"
    assert holes == [], f"confirmed bars never consumed: {holes[:5]}"
    assert differ == [], f"bars that differ from the simulator's data: {differ[:5]}"
    assert doubled == [], f"more than one decision for a symbol on a tick: {doubled[:5]}"
    assert incomplete == [] and tick_holes == [], f"ticks without a decision for every symbol: {(incomplete + tick_holes)[:5]}"
    assert witnessed >= len(decisions), "every journaled decision is in its symbol's flight record"
    assert before_its_bar == [], f"decisions taken before their bar was consumed: {before_its_bar[:5]}"


def test_the_private_streams_own_reports_are_journaled_not_a_router_failure():
    """Found by the run above: every private drop used to stop the router (TypeError), and a
    router replaced mid-cycle left the paced replay waiting for a CycleDone that never came."""
    core = RouterCore({}, StrategySettings(), RiskSettings())
    for kind in ("private_disconnected", "private_auth_failed", "private_subscribe_refused", "wallet"):
        event = JournalEvent(ts_ms=1, kind=kind, source="private", level="WARNING")
        assert core.handle(event) == [("journal", event)]
    reconnect = JournalEvent(ts_ms=1, kind="private_reconnect", source="private")
    assert [to for to, _ in core.handle(reconnect)] == ["journal", "self"], "a reconnect still asks for a snapshot"
