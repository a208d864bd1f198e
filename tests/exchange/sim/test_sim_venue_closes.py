"""Closes the venue makes on its own, end to end: the simulator liquidates (``BustTrade``) or
delivers a delisted contract (``Delivery``, on demand through the fault plan), the real REST
client reads the executions back, and the router books a ``TradeClosed`` with its own exit
reason into a real journal and into the day's realised PnL, the figure the daily-loss gate reads.

The router core runs in one thread exactly as its shell drives it (write-ahead through the
journal, REST through the client), one paced minute per cycle, as in tests/e2e.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from vocabulary.messages import CycleDone, Durable, Instrument, MarketState, OrderIntent, WriteAhead
from actors.router import RouterCore, RouterIO
from vocabulary.settings import Credentials, RiskSettings, Secret, StrategySettings
from exchange.bybit.rest import BybitRest
from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultPlan
from exchange.sim.server import SimServer
from journal.writer import JournalWriter
from strategy.costs import fallback_costs
from strategy.context import EntryContext
from strategy.entry import account_gates
from tests.actors.klines import bars_1m

SYMBOL = "BTCUSDT"
MINUTE = 60_000
LEVERAGE = 100
# Maintenance margin just under the initial margin at 100x: the position is liquidated once the
# mark moves ~0.1 % against it, which the shipped data does within minutes.
MM_RATE = 0.0095


class Harness:
    def __init__(self, sim: SimServer, journal: JournalWriter, leverage: int) -> None:
        self.sim = sim
        self.journal = journal
        creds = Credentials(api_key=Secret(sim.config.api_key), api_secret=Secret(sim.config.api_secret))
        self.rest = BybitRest(sim.rest_url, creds, clock=lambda: sim.now_ms() / 1000)
        self.io = RouterIO(self.rest)
        rules = sim.venue.engine.rules[SYMBOL]
        self.instrument = Instrument(symbol=SYMBOL, tick_size=rules.tick_size, qty_step=rules.qty_step,
                                     min_order_qty=rules.min_order_qty, min_notional=rules.min_notional)
        self.core = RouterCore({SYMBOL: self.instrument}, StrategySettings(), RiskSettings(), react_to_fills=False)
        self.journaled: list = []
        for event in self.io.prepare_account([SYMBOL], leverage, sim.clock_ms):
            self.record(event)

    def record(self, message) -> None:
        self.journaled.append(message)
        self.journal.record(message)

    def send(self, message) -> None:
        queue = [message]
        while queue:
            for to, out in self.core.handle(queue.pop(0)):
                if to == "journal":
                    self.record(out)
                    if isinstance(out, WriteAhead):
                        queue.append(Durable(intent=out.intent))
                elif to == "self":
                    queue.append(self.io.perform(out))
                    for event in self.io.venue_events():
                        self.record(event)

    def next_minute(self) -> None:
        before = self.sim.clock_ms
        self.sim.ack(before)
        _until(lambda: self.sim.clock_ms > before)
        self.send(CycleDone(boundary_ms=self.sim.clock_ms))

    def open(self, side: str, qty: Decimal, link: str = "by-hand-1") -> None:
        """A position opened by hand (the router adopts it and puts its fallback stop on it)."""
        ack = self.rest.execute(OrderIntent(action="create", symbol=SYMBOL, side=side, order_type="Market", qty=qty,
                                            position_idx=1 if side == "Buy" else 2, order_link_id=link))
        assert ack.outcome == "ok", f"{ack.ret_code} {ack.ret_msg}"
        self.send(self.io.snapshot(self.sim.clock_ms))
        assert SYMBOL in self.core.account_view(self.sim.clock_ms).open_symbols

    def trades(self) -> list:
        return [m for m in self.journaled if type(m).__name__ == "TradeClosed"]


def _until(predicate, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the simulator did not advance")
        time.sleep(0.002)
    return True


def losing_side(start_ms: int, entry: Decimal) -> str:
    """The side the shipped data moves against first by 0.3 % (closes, from ``start_ms`` on)."""
    for bar in bars_1m(SYMBOL, 20_000):
        if bar.start_ms < start_ms:
            continue
        if bar.close <= entry * Decimal("0.997"):
            return "Buy"
        if bar.close >= entry * Decimal("1.003"):
            return "Sell"
    raise AssertionError("no 0.3 % move in the data")


def venue(**overrides) -> SimServer:
    return SimServer(SimConfig(symbols=(SYMBOL,), paced=True, port=0, rate_limits=False, maintenance_margin_rate=MM_RATE,
                               **overrides))


@pytest.fixture
def sim():
    with venue() as server:
        yield server


def run_until_a_trade(h: Harness, minutes: int = 240) -> None:
    for _ in range(minutes):
        if h.trades():
            return
        h.next_minute()


def test_a_liquidation_is_a_trade_closed_by_the_venue_and_trips_the_daily_loss_gate(sim, tmp_path):
    journal = JournalWriter(tmp_path / "journal.sqlite")
    h = Harness(sim, journal, LEVERAGE)
    engine = sim.venue.engine
    entry = engine.last_price[SYMBOL]
    side = losing_side(sim.clock_ms, entry)
    # Nearly all the equity as initial margin at 100x.
    qty = (Decimal("9000") * LEVERAGE / entry).quantize(Decimal("0.001"))
    h.open(side, qty)
    run_until_a_trade(h)

    busts = [e for e in engine.executions if e["execType"] == "BustTrade"]
    assert len(busts) == 1, "the position was not liquidated"
    (bust,) = busts
    # As Bybit reports a takeover: the venue's own market order, no orderLinkId of ours.
    assert (bust["orderLinkId"], bust["createType"], bust["orderType"], bust["isMaker"], bust["execQty"]) == (
        "", "CreateByLiq", "Market", False, format(qty, "f"))
    assert not [p for p in h.rest.positions(SYMBOL) if p.size > 0]
    fills = h.rest.executions(SYMBOL, start_ms=sim.clock_ms - 300 * MINUTE, end_ms=sim.clock_ms + MINUTE)
    assert [f.exec_type for f in fills] == ["Trade", "BustTrade"]

    (trade,) = h.trades()
    assert (trade.exit_reason, trade.side, trade.qty) == ("liquidation", side, qty)
    assert trade.pnl_usdt == sum((f.price - fills[0].price) * f.qty * (1 if side == "Buy" else -1) for f in fills[1:]) - sum(
        f.fee for f in fills)
    assert trade.pnl_usdt < 0
    assert [e.kind for e in h.journaled if getattr(e, "kind", "") == "position_liquidation"] == ["position_liquidation"]
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        ((reason, pnl),) = db.execute("SELECT exit_reason, pnl_usdt FROM trades").fetchall()
    assert (reason, Decimal(pnl)) == ("liquidation", trade.pnl_usdt)

    # The day's realised PnL carries the loss, and the daily-loss gate refuses the next entry.
    view = h.core.account_view(sim.clock_ms)
    risk = RiskSettings()
    assert view.realised_pnl_today == trade.pnl_usdt <= -Decimal(str(risk.daily_loss_limit))
    ctx = EntryContext(strategy=StrategySettings(), risk=risk, instrument=h.instrument, realised_pnl_today=view.realised_pnl_today,
                       costs=fallback_costs(risk, h.instrument.tick_size))
    gates = account_gates(MarketState(symbol=SYMBOL, tick_ms=sim.clock_ms, frames=()), ctx)
    assert [g.code for g in gates] == ["gate.daily_loss"]
    journal.close()


def test_a_small_liquidation_is_booked_but_leaves_the_gate_open(tmp_path):
    """The gate trips on the day's loss, not on the word "liquidation": a 30 USDT account can
    lose less than the daily limit however it is closed, and entries stay allowed."""
    with venue(initial_equity=30.0) as sim:
        journal = JournalWriter(tmp_path / "journal.sqlite")
        h = Harness(sim, journal, LEVERAGE)
        entry = sim.venue.engine.last_price[SYMBOL]
        qty = (Decimal("25") * LEVERAGE / entry).quantize(Decimal("0.001"))
        h.open(losing_side(sim.clock_ms, entry), qty)
        run_until_a_trade(h)
        (trade,) = h.trades()
        assert trade.exit_reason == "liquidation" and -Decimal(str(RiskSettings().daily_loss_limit)) < trade.pnl_usdt < 0
        ctx = EntryContext(strategy=StrategySettings(), risk=RiskSettings(), instrument=h.instrument,
                           realised_pnl_today=h.core.account_view(sim.clock_ms).realised_pnl_today,
                           costs=fallback_costs(RiskSettings(), h.instrument.tick_size))
        assert account_gates(MarketState(symbol=SYMBOL, tick_ms=sim.clock_ms, frames=()), ctx) == ()
        journal.close()


def test_a_delivery_on_demand_closes_the_position_as_a_delivery_trade(sim, tmp_path):
    journal = JournalWriter(tmp_path / "journal.sqlite")
    h = Harness(sim, journal, 10)
    h.open("Buy", Decimal("0.010"))
    resting = h.rest.execute(OrderIntent(action="create", symbol=SYMBOL, side="Buy", order_type="Limit", qty=Decimal("0.010"),
                                         price=(sim.venue.engine.last_price[SYMBOL] * Decimal("0.5")).quantize(Decimal("0.1")),
                                         position_idx=1, order_link_id="resting-1", time_in_force="GTC"))
    assert resting.outcome == "ok"
    sim.set_faults(FaultPlan(deliver=(SYMBOL,)))
    run_until_a_trade(h, minutes=2)  # delivered at the next boundary; that cycle's snapshot finds it flat
    (trade,) = h.trades()
    assert (trade.exit_reason, trade.qty, trade.side) == ("delivery", Decimal("0.010"), "Buy")
    deliveries = [e for e in sim.venue.engine.executions if e["execType"] == "Delivery"]
    assert len(deliveries) == 1 and deliveries[0]["orderLinkId"] == ""
    assert h.rest.order(SYMBOL, "resting-1").status == "Cancelled"
    assert [e.kind for e in h.journaled if getattr(e, "kind", "").startswith("position_")] == ["position_delivery"]
    # Once per plan: the next minute delivers nothing more.
    h.open("Buy", Decimal("0.010"), link="by-hand-2")
    h.next_minute()
    assert [p.size for p in h.rest.positions(SYMBOL) if p.size > 0] == [Decimal("0.010")]
    journal.close()
