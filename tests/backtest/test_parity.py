"""Parity: the supervisor on the served simulator (paced, speed "max": what ``make run`` does)
and a backtest over the same data make the same decisions, tick by tick and symbol by symbol."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from vocabulary.settings import load_settings
from actors.supervisor import Bot
from backtest.replay import replay
from backtest.run import Window, run_backtest
from exchange.sim.config import SimConfig

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
# Every order the router sent, in the order it was written ahead; every trade it closed.
INTENTS = ("select tick_ms, symbol, action, order_link_id, side, price, qty, stop_loss, take_profit "
           "from orders where kind = 'intent' order by seq")
TRADES = "select exit_ms, symbol, side, entry_ms, entry_price, exit_price, qty, fees, pnl_usdt, exit_reason from trades order by seq"


def settings_for(tmp_path: Path, symbols: tuple[str, ...]):
    # Entries rest entry_offset_bps behind the close so they fill: parity then covers orders and fills too.
    text = f"""
[bot]
symbols = {list(symbols)!r}
bootstrap_bars = 250
[strategy]
entry_offset_bps = 0.5
[journal]
path = "{tmp_path / 'live.sqlite'}"
[web]
enabled = false
"""
    return load_settings(text.replace("'", '"'), {})


def live_decisions(tmp_path: Path, symbols: tuple[str, ...], ticks: int) -> tuple:
    settings = settings_for(tmp_path, symbols)
    config = SimConfig.from_settings(settings.sim, symbols=symbols, paced=True, port=0)
    bot = Bot(settings, None, sim_config=config)
    stop = threading.Event()
    supervisor = threading.Thread(target=bot.supervise, args=(stop,), daemon=True)
    try:
        bot.start()
        supervisor.start()
        deadline = time.monotonic() + 20 + ticks * 0.2
        while bot.board.ticks < ticks:
            assert time.monotonic() < deadline, f"only {bot.board.ticks} of {ticks} ticks"
            time.sleep(0.02)
    finally:
        stop.set()
        if supervisor.is_alive():
            supervisor.join(timeout=10)
        bot.stop()
    with sqlite3.connect(settings.journal.path) as db:
        rows = db.execute("select tick_ms, symbol, kind, path, side, score from decisions order by tick_ms, symbol").fetchall()
        intents = db.execute(INTENTS).fetchall()
        trades = db.execute(TRADES).fetchall()
    return settings, rows, intents, trades


def backtest_run(settings, symbols, last_tick: int, journal: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    result = run_backtest(settings, Window(symbols=symbols, end_ms=last_tick), journal_path=journal)
    with sqlite3.connect(journal) as db:
        intents = db.execute(INTENTS).fetchall()
        trades = db.execute(TRADES).fetchall()
    return sorted((d.tick_ms, d.symbol, d.kind, d.path, d.side, d.score) for d in result.decisions), intents, trades


def check_parity(tmp_path: Path, symbols: tuple[str, ...], ticks: int) -> None:
    settings, live, live_intents, live_trades = live_decisions(tmp_path, symbols, ticks)
    complete = sorted({t for t, *_ in live if sum(1 for r in live if r[0] == t) == len(symbols)})
    assert len(complete) >= ticks - 1
    replayed, intents, trades = backtest_run(settings, symbols, complete[-1], tmp_path / "backtest.sqlite")
    live_part = [r for r in live if r[0] <= complete[-1]]
    assert [r[:2] for r in replayed] == [r[:2] for r in live_part], "the same ticks and symbols"
    for ours, theirs in zip(replayed, live_part):
        assert ours == theirs, f"first difference at tick {ours[0]} {ours[1]}: backtest {ours[2:]} vs bot {theirs[2:]}"
    assert len({r[2] for r in live_part}) >= 2, "more than one kind of decision, or parity proves little"
    # The orders too (the bot's last cycle may have been cut short by the stop). Within one tick
    # the symbols' TAKEs reach the bot's router in thread order, so orders compare per tick and
    # symbol; each symbol's own orders keep their sequence (a stable sort).
    def per_tick(rows: list[tuple]) -> list[tuple]:
        return sorted((r for r in rows if r[0] < complete[-1]), key=lambda r: r[:2])

    assert per_tick(intents) == per_tick(live_intents)
    assert len(per_tick(live_intents)) >= 3, "entries and their exits reached the venue in this window"
    assert per_tick(trades) == per_tick(live_trades)
    # The bot's own journal is a flight recorder the one-thread replay reads back identically.
    compared, difference = replay(settings, Path(settings.journal.path), rules_file=Path("data/klines/instruments-bybit-linear.csv"))
    assert difference is None and compared == len(live)


def test_backtest_and_the_bot_on_the_simulator_decide_alike(tmp_path):
    check_parity(tmp_path, SYMBOLS, 150)


@pytest.mark.soak
@pytest.mark.skipif(not os.environ.get("SMTBOT_SOAK"), reason="long form: set SMTBOT_SOAK=1")
def test_backtest_and_the_bot_decide_alike_over_a_day_of_seven_symbols(tmp_path):
    check_parity(tmp_path, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT"), 1440)

