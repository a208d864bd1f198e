"""The router against the simulator over loopback: TAKE → PostOnly entry with its stop →
fill → reduce-only take-profit → break-even lock once, and nothing sent twice.

The harness drives the router core in one thread exactly as its shell does (write-ahead
through a real journal, REST through the real client), and moves the simulator's paced
clock one minute per cycle, so every step is deterministic. The scenario is read off the
shipped data: the first minute where a resting buy one tick under the close fills on the
next bar and the price then runs one risk unit up without touching the stop.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from vocabulary.messages import CycleDone, Decision, Durable, Instrument, OrderAck, WriteAhead
from actors.router import RouterCore, RouterIO
from strategy.exits import break_even_price
from vocabulary.settings import Credentials, RiskSettings, Secret, StrategySettings
from exchange.bybit.rest import BybitRest
from exchange.sim.config import SimConfig
from exchange.sim.server import SimServer
from journal.writer import JournalWriter
from tests.actors.klines import bars_1m

SYMBOL = "SOLUSDT"
MINUTE = 60_000
TICK = Decimal("0.010")


class CountingVenue:
    """The real client, with every write counted (the test's witness of "zero calls")."""

    def __init__(self, rest: BybitRest) -> None:
        self.rest = rest
        self.writes: Counter[str] = Counter()

    def execute(self, intent):
        self.writes[intent.action] += 1
        return self.rest.execute(intent)

    def __getattr__(self, name):
        return getattr(self.rest, name)


class Harness:
    def __init__(self, sim: SimServer, journal: JournalWriter, instrument: Instrument, **strategy) -> None:
        self.sim = sim
        self.journal = journal
        creds = Credentials(api_key=Secret(sim.config.api_key), api_secret=Secret(sim.config.api_secret))
        self.venue = CountingVenue(BybitRest(sim.rest_url, creds, clock=lambda: sim.now_ms() / 1000))
        self.io = RouterIO(self.venue)
        self.core = RouterCore({SYMBOL: instrument}, StrategySettings(**strategy), RiskSettings(), react_to_fills=False)
        self.acks: list[OrderAck] = []
        for event in self.io.prepare_account([SYMBOL], 10, sim.clock_ms):
            journal.record(event)
        self.send(self.io.snapshot(sim.clock_ms, fee_rates=True))  # the boot snapshot, as the shells ask it

    def send(self, message) -> None:
        queue = [message]
        while queue:
            for to, out in self.core.handle(queue.pop(0)):
                if to == "journal":
                    self.journal.record(out)
                    if isinstance(out, WriteAhead):
                        queue.append(Durable(intent=out.intent))
                elif to == "self":
                    answer = self.io.perform(out)
                    if isinstance(answer, OrderAck):
                        self.acks.append(answer)
                    queue.append(answer)

    def next_minute(self) -> int:
        """Release one minute of the paced replay and run the router's cycle on it."""
        before = self.sim.clock_ms
        self.sim.ack(before)
        assert self.sim.wait_clock_past(before) > before, "the paced replay did not move on within a minute"
        self.send(CycleDone(boundary_ms=self.sim.clock_ms))
        return self.sim.clock_ms


def find_scenario(start_ms: int):
    """(minute m, entry, stop): a buy one tick under m's close fills in the next bar and the
    high then reaches entry + 1.2 R within 15 bars while no low reaches the stop."""
    bars = bars_1m(SYMBOL, 20_000)
    index = {b.start_ms: i for i, b in enumerate(bars)}
    i = index[start_ms - MINUTE]
    while i < len(bars) - 20:
        close = bars[i].close
        entry = close - TICK
        risk = (close * Decimal("0.003") / TICK).to_integral_value() * TICK  # on the tick grid
        stop = entry - risk
        if bars[i + 1].low <= entry - TICK:
            for later in bars[i + 2 : i + 17]:
                if later.low <= stop:
                    break
                if later.high >= entry + risk * Decimal("1.2"):
                    return bars[i].start_ms + MINUTE, entry, stop, risk
        i += 1
    raise AssertionError("no scenario in the data")


@pytest.fixture
def sim():
    config = SimConfig(data_dir="data/klines", symbols=(SYMBOL,), paced=True, port=0, rate_limits=False)
    with SimServer(config) as server:
        yield server


def test_take_to_fill_to_take_profit_to_break_even_once(sim, tmp_path):
    journal = JournalWriter(tmp_path / "journal.sqlite")
    rules = sim.venue.engine.rules[SYMBOL]
    instrument = Instrument(symbol=SYMBOL, tick_size=TICK, qty_step=rules.qty_step, min_order_qty=rules.min_order_qty, min_notional=rules.min_notional)
    boundary, entry, stop, risk = find_scenario(sim.clock_ms)
    h = Harness(sim, journal, instrument, be_trigger_r=1.0, rr=10.0)
    while sim.clock_ms < boundary:
        h.next_minute()
    take = Decision(tick_ms=boundary, symbol=SYMBOL, kind="TAKE", path="cross_based", side="Buy", score=1.5,
                    entry_price=entry, stop_price=stop, target_price=entry + 10 * risk, qty=Decimal("1.0"))
    h.send(take)
    h.send(CycleDone(boundary_ms=boundary))  # the router acts on a cycle's TAKEs when it closes
    assert h.venue.writes == Counter({"create": 1})
    (entry_ack,) = h.acks
    assert entry_ack.outcome == "ok", f"{entry_ack.ret_code} {entry_ack.ret_msg}"
    assert entry_ack.intent.time_in_force == "PostOnly"
    assert entry_ack.intent.stop_loss == stop

    h.next_minute()  # the entry fills on this bar
    (position,) = [p for p in h.venue.rest.positions(SYMBOL) if p.size > 0]
    assert position.size == Decimal("1.0") and position.stop_loss is not None, "the stop rides on the exchange from the fill"
    take_profits = [o for o in h.venue.rest.open_orders(SYMBOL) if o.reduce_only]
    assert len(take_profits) == 1 and take_profits[0].qty == position.size
    assert take_profits[0].time_in_force == "PostOnly" and take_profits[0].price == entry + 10 * risk

    for _ in range(15):
        if h.venue.writes["trading_stop"]:
            break
        h.next_minute()
    assert h.venue.writes["trading_stop"] == 1, "the break-even lock moved the stop once"
    (position,) = [p for p in h.venue.rest.positions(SYMBOL) if p.size > 0]
    assert position.stop_loss > entry, "the stop now sits at entry plus fees"
    writes_before = sum(h.venue.writes.values())
    h.send(CycleDone(boundary_ms=sim.clock_ms))  # the same cycle again: nothing has changed
    assert sum(h.venue.writes.values()) == writes_before, "a second break-even pass makes zero calls"
    assert len([o for o in h.venue.rest.open_orders(SYMBOL) if o.reduce_only]) == 1, "still exactly one take-profit"

    # A restart mid-position: a fresh router that remembers nothing finds the stop and the
    # take-profit on the exchange and keeps them — nothing placed twice, nothing moved.
    fresh = Harness(sim, journal, instrument, be_trigger_r=1.0, rr=10.0)
    fresh.send(CycleDone(boundary_ms=sim.clock_ms))
    assert fresh.venue.writes == Counter()
    assert len([o for o in fresh.venue.rest.open_orders(SYMBOL) if o.reduce_only]) == 1
    journal.close()


def test_a_post_only_entry_that_would_cross_is_journaled_and_not_retried(sim, tmp_path):
    journal = JournalWriter(tmp_path / "journal.sqlite")
    rules = sim.venue.engine.rules[SYMBOL]
    instrument = Instrument(symbol=SYMBOL, tick_size=TICK, qty_step=rules.qty_step, min_order_qty=rules.min_order_qty, min_notional=rules.min_notional)
    h = Harness(sim, journal, instrument)
    close = Decimal(str(h.venue.rest.klines(SYMBOL, 1, limit=5)[-1].close))
    above = close * Decimal("1.01")
    above = above - above % TICK
    take = Decision(tick_ms=sim.clock_ms, symbol=SYMBOL, kind="TAKE", path="pre_cross", side="Buy", score=1.2,
                    entry_price=above, stop_price=above - 100 * TICK, target_price=above + 150 * TICK, qty=Decimal("1.0"))
    h.send(take)
    h.send(CycleDone(boundary_ms=sim.clock_ms))
    h.next_minute()
    h.next_minute()
    assert h.venue.writes == Counter({"create": 1}), "no retry, and never a market order"
    assert all(o.order_type == "Limit" for o in h.venue.rest.open_orders(SYMBOL))
    assert [p for p in h.venue.rest.positions(SYMBOL) if p.size > 0] == []
    assert h.core.plans == {}, "the symbol is free again"
    journal.close()


def test_the_router_reads_the_venues_fee_rates_at_boot_and_prices_break_even_with_them(tmp_path):
    config = SimConfig(data_dir="data/klines", symbols=(SYMBOL,), paced=True, port=0, rate_limits=False,
                       maker_fee=0.0001, taker_fee=0.0006)
    with SimServer(config) as server:
        journal = JournalWriter(tmp_path / "journal.sqlite")
        rules = server.venue.engine.rules[SYMBOL]
        instrument = Instrument(symbol=SYMBOL, tick_size=TICK, qty_step=rules.qty_step, min_order_qty=rules.min_order_qty)
        h = Harness(server, journal, instrument)
        assert h.core.fee_rates == ((SYMBOL, Decimal("0.0001"), Decimal("0.0006")),)
        assert h.core.account_view(server.clock_ms).fee_rates == h.core.fee_rates
        costs = h.core.costs(SYMBOL)
        # break-even for a long at 150.00: the stop whose fill at the venue, 2 bps (3.003 ticks: 4) and a
        # tick of spread below it, pays both fees: 150.16 fills at 150.11, and 150.015 + 150.11 x 0.0006
        # = 0.105 < 0.11; at 150.15 it would fill at 150.10, too near.
        assert costs.tick == TICK
        assert break_even_price(Decimal("150.00"), 1, instrument, costs) == Decimal("150.16")
        journal.close()
