"""Per-actor replay: what a running actor handled (recorded in flight, with what its core
returned) fed to a fresh core gives exactly the same outputs — decisions, ticks, orders.

The records pass through msgpack on the way, as a flight recorder on disk would, so the
replay also proves that every message an actor sees survives serialisation unchanged."""

from __future__ import annotations

from decimal import Decimal

from vocabulary import messages as m
from actors.cores import router_core, scheduler_core, symbol_core
from vocabulary.messages import Decision, Instrument, Tick
from vocabulary.settings import load_settings
from actors.shell import Outbox
from actors.supervisor import Bot
from exchange.sim.config import SimConfig
from tests.actors.klines import feed
from tests.e2e.conftest import Running, settings_for

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
RECORDED = ("symbol:SOLUSDT", "symbol:BTCUSDT", "scheduler", "router")


def through_disk(record: list[tuple[m.Message, Outbox]]) -> list[tuple[m.Message, Outbox]]:
    def again(message: m.Message) -> m.Message:
        return m.from_msgpack(m.to_msgpack(message))
    return [(again(message), [(to, again(out)) for to, out in outbox]) for message, outbox in record]


def replay(core, record) -> None:
    for message, outbox in record:
        assert core.handle(message) == outbox, f"{type(message).__name__} replayed differently"


def test_every_recorded_actor_replays_identically(tmp_path):
    settings = settings_for(tmp_path, SYMBOLS)
    config = SimConfig.from_settings(settings.sim, symbols=SYMBOLS, paced=True, port=0)
    run = Running(Bot(settings, None, sim_config=config, record=RECORDED))
    run.bot.start()
    run.thread.start()
    try:
        run.wait_ticks(30)
    finally:
        run.stop()
    bot = run.bot
    records = {name: through_disk(bot.recordings[name]) for name in RECORDED}

    sol = records["symbol:SOLUSDT"]
    decisions = [out for _, outbox in sol for to, out in outbox if to == "journal" and isinstance(out, Decision)]
    assert len(decisions) >= 30, "the record covers every tick of the run"
    replay(symbol_core(settings, "SOLUSDT", bot.instruments["SOLUSDT"], SYMBOLS), sol)
    replay(symbol_core(settings, "BTCUSDT", bot.instruments["BTCUSDT"], SYMBOLS), records["symbol:BTCUSDT"])

    scheduler = records["scheduler"]
    assert sum(isinstance(out, Tick) and to == "symbols" for _, outbox in scheduler for to, out in outbox) >= 30
    replay(scheduler_core(settings, SYMBOLS), scheduler)

    router = records["router"]
    assert any(isinstance(message, m.VenueSnapshot) for message, _ in router), "reconciliation is in the record"
    replay(router_core(settings, bot.instruments, react_to_fills=not bot.paced), router)


def test_a_replay_notices_a_different_core():
    """The replay is a real check: a core built with other settings answers differently."""
    settings = load_settings("[bot]\nsymbols = [\"SOLUSDT\"]\n", {})
    sol = Instrument(symbol="SOLUSDT", tick_size=Decimal("0.01"), qty_step=Decimal("0.1"), min_order_qty=Decimal("0.1"))
    core = symbol_core(settings, "SOLUSDT", sol, ("SOLUSDT",))
    record = []
    for k in feed("SOLUSDT", 300):
        record.append((k, core.handle(k)))
    boundary = record[-1][0].end_ms
    tick = Tick(boundary_ms=boundary, closed=(1,))
    record.append((tick, core.handle(tick)))
    other = load_settings("[bot]\nsymbols = [\"SOLUSDT\"]\n[strategy]\nwt_channel = 10\n", {})
    different = symbol_core(other, "SOLUSDT", sol, ("SOLUSDT",))
    outputs = [different.handle(message) for message, _ in record]
    assert outputs != [outbox for _, outbox in record]
