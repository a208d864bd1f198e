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


def test_funding_is_settled_after_every_bar_of_its_minute_whichever_symbol_arrives_first():
    # 08:00 UTC is a funding time. ETH's position closes inside its bar of 07:59; BTC's bar of
    # that minute arrives first. As on the replayed venue, the closed position pays nothing: the
    # minute's funding is settled once all its bars are in (the next minute's first bar, or a
    # driver's close_minute), not at the minute's first bar.
    from exchange.sim.costs import Costs
    from exchange.sim.inprocess import InProcessSim

    rules = load_instruments(DATA / "instruments-bybit-linear.csv")
    eight = 1_748_764_800_000 + 8 * 3_600_000  # 2025-06-01 08:00 UTC
    minute = lambda t, p: Bar(start_ms=t, open=Decimal(p), high=Decimal(p) + 1, low=Decimal(p) - 1,  # noqa: E731
                              close=Decimal(p), volume=Decimal(10))
    sim = InProcessSim.fed({s: rules[s] for s in ("BTCUSDT", "ETHUSDT")}, SimConfig(symbols=("BTCUSDT", "ETHUSDT"), costs=Costs()),
                           {"BTCUSDT": minute(eight - 120_000, "100000"), "ETHUSDT": minute(eight - 120_000, "2500")})
    engine = sim.venue.engine
    for symbol, qty in (("BTCUSDT", "0.010"), ("ETHUSDT", "1")):
        engine.place_order({"category": "linear", "symbol": symbol, "side": "Buy", "orderType": "Market", "qty": qty},
                           sim.clock_ms)
    engine.place_order({"category": "linear", "symbol": "ETHUSDT", "side": "Sell", "orderType": "Limit", "qty": "1",
                        "price": "2501", "timeInForce": "GTC", "reduceOnly": True}, sim.clock_ms)
    sim.on_bar("BTCUSDT", minute(eight - 60_000, "100000"))  # the funding minute's first bar: nothing settled yet
    sim.on_bar("ETHUSDT", minute(eight - 60_000, "2505"))    # trades through 2501: the take-profit closes it
    sim.on_bar("BTCUSDT", minute(eight, "100000"))           # the next minute: 08:00 is settled now
    assert engine.funded_ms == eight
    # BTC, held through 08:00, pays; ETH, closed in the funding minute's bar, does not.
    assert [e["symbol"] for e in engine.executions if e["execType"] == "Funding"] == ["BTCUSDT"]
