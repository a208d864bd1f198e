"""PaperSim: live bars in, each counted once and in order, from two threads."""

from decimal import Decimal
from pathlib import Path

from exchange.sim.config import SimConfig
from exchange.sim.market import Bar, load_instruments
from exchange.sim.paper import PaperSim

DATA = Path(__file__).resolve().parents[3] / "data" / "klines"
T = 1_748_700_000_000 - 1_748_700_000_000 % 60_000


def bar(minute: int, close: str = "150") -> Bar:
    price = Decimal(close)
    return Bar(start_ms=T + minute * 60_000, open=price, high=price + 1, low=price - 1, close=price, volume=Decimal(10))


def paper() -> PaperSim:
    rules = load_instruments(DATA / "instruments-bybit-linear.csv")
    return PaperSim({"SOLUSDT": rules["SOLUSDT"]}, SimConfig(symbols=("SOLUSDT",)), {"SOLUSDT": bar(0)})


def test_a_newer_bar_moves_the_venue_clock_to_its_end():
    venue = paper()
    assert venue.on_bar("SOLUSDT", bar(1)) == T + 2 * 60_000
    assert venue.bars == 1


def test_history_reloaded_after_a_restart_is_not_matched_again():
    venue = paper()
    venue.on_bar("SOLUSDT", bar(1))
    venue.on_bar("SOLUSDT", bar(2))
    for minute in (0, 1, 2):  # a symbol actor's bootstrap journals these once more
        assert venue.on_bar("SOLUSDT", bar(minute, close="1")) == T + 3 * 60_000
    assert venue.bars == 2
