"""The supervisor on the simulator: every 1m boundary yields exactly one decision per
symbol, decisions come from confirmed bars only, a crashed actor is replaced, and
shutdown leaves nothing running and nothing unwritten."""

from __future__ import annotations

import sqlite3
import threading
import time

from vocabulary.messages import Reconnect
from tests.actors.klines import bars_1m

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def rows(bot, sql, *args):
    with sqlite3.connect(f"file:{bot.settings.journal.path}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def test_every_boundary_gets_exactly_one_decision_per_symbol(start_bot):
    run = start_bot(SYMBOLS)
    run.wait_ticks(40)
    run.stop()
    bot = run.bot
    per_tick = rows(bot, "select tick_ms, count(*), count(distinct symbol) from decisions group by tick_ms order by tick_ms")
    assert len(per_tick) >= 40
    assert all(n == 3 and distinct == 3 for _, n, distinct in per_tick), per_tick[:5]
    ticks = [t for t, _, _ in per_tick]
    assert ticks == list(range(ticks[0], ticks[0] + 60_000 * len(ticks), 60_000)), "no boundary skipped"


def test_the_bars_behind_the_decisions_are_the_venues_confirmed_bars(start_bot):
    run = start_bot(SYMBOLS)
    run.wait_ticks(20)
    run.stop()
    bot = run.bot
    recorded = rows(bot, "select start_ms, open, high, low, close, volume from bars where symbol = 'SOLUSDT' and interval = 1 order by start_ms")
    truth = {b.start_ms: b for b in bars_1m("SOLUSDT", 7000)}
    assert len(recorded) >= 250 + 20
    for start, o, h, low, c, v in recorded:
        bar = truth[start]
        assert (o, h, low, c, v) == (float(bar.open), float(bar.high), float(bar.low), float(bar.close), float(bar.volume))
    closed_at = {start + 60_000 for start, *_ in recorded}
    ticks = [t for (t,) in rows(bot, "select tick_ms from decisions where symbol = 'SOLUSDT'")]
    assert ticks and set(ticks) <= closed_at, "every decision stands on a closed bar the bot consumed"


def test_a_crashed_symbol_actor_is_replaced_and_decides_at_the_next_tick(start_bot):
    run = start_bot(SYMBOLS)
    run.wait_ticks(5)
    bot = run.bot
    # A message its core refuses is as good a crash as any: the shell catches it and reports.
    bot.post.actor("symbol:SOLUSDT").tell(Reconnect(reason="not for a symbol"))
    deadline = time.monotonic() + 30
    while bot.restarts < 1:
        assert time.monotonic() < deadline, "the supervisor never restarted the actor"
        time.sleep(0.02)
    restarted_at = bot.board.ticks
    run.wait_ticks(restarted_at + 5)
    run.stop()
    events = rows(bot, "select kind, message from events where kind in ('actor_failed', 'actor_restarted')")
    assert ("actor_restarted", "symbol:SOLUSDT") in events
    assert any(kind == "actor_failed" for kind, _ in events)
    last_ticks = rows(bot, "select tick_ms, count(distinct symbol) from decisions group by tick_ms order by tick_ms desc limit 3")
    assert all(n == 3 for _, n in last_ticks), last_ticks


def test_shutdown_leaves_no_thread_and_no_unwritten_decision(start_bot):
    before = {t.ident for t in threading.enumerate()}
    run = start_bot(SYMBOLS)
    run.wait_ticks(10)
    run.stop()
    leftover = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []
    journaled = rows(run.bot, "select count(*) from decisions")[0][0]
    assert journaled == sum(run.bot.board.decisions.values())
