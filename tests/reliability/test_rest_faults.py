"""REST faults at random while orders flow: never a duplicate order, never an intent lost.

The router core runs in one thread exactly as its shell runs it (write-ahead through a real
journal, REST through the real client with short timeouts) against the in-process simulator
on loopback, paced one minute per cycle. Every cycle each free symbol gets a TAKE at a real
price (the strategy fires too rarely to exercise the order path in a short run), while the
simulator answers a seeded share of calls with timeouts after processing, 5xx, ``10006``,
``10002`` and ``10016``. Afterwards the journal is compared with what the simulator holds.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from decimal import ROUND_CEILING, Decimal

import pytest

from vocabulary.messages import Decision
from actors.router import RouterCore, RouterIO
from vocabulary.settings import Credentials, RiskSettings, Secret, StrategySettings
from exchange.bybit.rest import BybitRest
from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultPlan, RestFault
from exchange.sim.server import SimServer
from journal.writer import JournalWriter
from strategy.orders import parse_link_id
from tests.e2e.test_router_on_sim import Harness
from tests.reliability.conftest import scale

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT")
MINUTE = 60_000
CYCLES = scale(40, 400)
TIMEOUT_S = 0.4


def fault_plan(seed: int) -> FaultPlan:
    held = TIMEOUT_S * 2  # longer than the client waits: it gives up although the venue acted
    return FaultPlan(seed=seed, rest=(
        RestFault(kind="timeout_after", path_prefix="/v5/order/create", rate=0.15, stall_s=held),
        RestFault(kind="timeout_after", path_prefix="/v5/position/trading-stop", rate=0.15, stall_s=held),
        RestFault(kind="timeout_after", path_prefix="/v5/order/cancel", rate=0.1, stall_s=held),
        RestFault(kind="timeout_before", path_prefix="/v5/order", rate=0.03, stall_s=held),
        RestFault(kind="http500", path_prefix="/v5/order", rate=0.06),
        RestFault(kind="http503", path_prefix="/v5/", rate=0.04),
        RestFault(kind="10006", path_prefix="/v5/", rate=0.04),
        RestFault(kind="10002", path_prefix="/v5/", rate=0.05),
        RestFault(kind="10016", path_prefix="/v5/order", rate=0.03),
    ))


class FaultHarness(Harness):
    """The router's shell in one thread (write-ahead, wire, ack) on five symbols, with a client
    that gives up quickly: every held answer becomes a timeout the router has to live with."""

    def __init__(self, sim: SimServer, journal: JournalWriter) -> None:
        self.sim = sim
        self.journal = journal
        self.acks = []
        creds = Credentials(api_key=Secret(sim.config.api_key), api_secret=Secret(sim.config.api_secret))
        self.rest = BybitRest(sim.rest_url, creds, clock=lambda: sim.now_ms() / 1000, rate_clock=time.time, timeout_s=TIMEOUT_S,
                              backoff_base_s=0.01, backoff_cap_s=0.05)
        self.instruments = self.rest.instruments(SYMBOLS)
        self.io = RouterIO(self.rest)
        self.core = RouterCore(self.instruments, StrategySettings(be_trigger_r=0.6, entry_ttl_bars=3),
                               RiskSettings(max_positions=len(SYMBOLS), cooldown_bars=0), react_to_fills=False)
        for event in self.io.prepare_account(SYMBOLS, 10, sim.clock_ms):
            journal.record(event)
        self.send(self.io.snapshot(sim.clock_ms))

    def take(self, symbol: str, side: str, ticks_away: int) -> Decision:
        """A TAKE resting ``ticks_away`` ticks inside the last close, risking 0.3 %."""
        instrument = self.instruments[symbol]
        tick = instrument.tick_size
        close = self.sim.venue.store.bar_at(symbol, self.sim.clock_ms - MINUTE).close
        d = 1 if side == "Buy" else -1
        entry = close - d * ticks_away * tick
        risk = max((close * Decimal("0.003") / tick).to_integral_value() * tick, 5 * tick)
        qty = (Decimal(20) / close / instrument.qty_step).to_integral_value(ROUND_CEILING) * instrument.qty_step
        qty = max(qty, instrument.min_order_qty)
        return Decision(tick_ms=self.sim.clock_ms, symbol=symbol, kind="TAKE", path="cross_based", side=side, score=1.5,
                        entry_price=entry, stop_price=entry - d * risk, target_price=entry + d * risk * Decimal("1.5"), qty=qty)

    def close(self) -> None:
        self.rest.close()


@pytest.fixture
def sim():
    config = SimConfig(data_dir="data/klines", symbols=SYMBOLS, paced=True, port=0, rate_limits=False)
    with SimServer(config) as server:
        yield server


def test_random_rest_faults_leave_no_duplicate_order_and_no_intent_unaccounted(sim, tmp_path, report):
    journal = JournalWriter(tmp_path / "journal.sqlite")
    h = FaultHarness(sim, journal)
    sim.set_faults(fault_plan(seed=10))
    for cycle in range(CYCLES):
        for i, symbol in enumerate(SYMBOLS):
            h.send(h.take(symbol, "Buy" if (cycle + i) % 2 else "Sell", ticks_away=1 + (cycle + i) % 3))
        h.next_minute()
    injected = sim.faults.injected
    sim.set_faults(FaultPlan())
    for _ in range(2):  # the faults end: two clean cycles heal whatever they left
        h.next_minute()
    h.close()
    journal.close()

    db = sqlite3.connect(f"file:{tmp_path / 'journal.sqlite'}?mode=ro", uri=True)
    intents = [row[0] for row in db.execute(
        "SELECT order_link_id FROM orders WHERE kind = 'intent' AND action = 'create' ORDER BY seq")]
    last_ack = {link: (outcome, ret_msg) for link, outcome, ret_msg in db.execute(
        "SELECT order_link_id, outcome, ret_msg FROM orders WHERE kind = 'ack' AND action = 'create' ORDER BY seq")}
    engine = sim.venue.engine
    on_venue = Counter(o.order_link_id for o in engine.orders.values() if o.order_link_id)

    duplicates = sum(n - 1 for n in on_venue.values() if n > 1)
    sent_twice = sum(1 for link, n in Counter(intents).items() if n > 1)
    exists_once = [link for link in intents if sim.orders_by_link_id(link)["count"] == 1]
    failed_with_reason = [link for link in intents if link not in exists_once
                          and last_ack.get(link, ("", ""))[0] in ("failed", "rejected") and last_ack[link][1]]
    unaccounted = sorted(set(intents) - set(exists_once) - set(failed_with_reason))
    told_failed_but_exists = [link for link in exists_once if last_ack.get(link, ("ok", ""))[0] in ("failed", "rejected")]
    without_intent = sorted(set(on_venue) - set(intents) - {row[0] for row in db.execute(
        "SELECT order_link_id FROM orders WHERE kind = 'intent'")})
    # One entry per decision: the venue never holds two entries of one symbol's signal bar.
    entries = Counter((p.symbol_stem, p.stamp_ms) for p in map(parse_link_id, on_venue) if p is not None and p.kind == "entry")
    create_requests = sum(sim.orders_by_link_id(link)["createRequests"] for link in set(intents))

    rest = BybitRest(sim.rest_url, Credentials(api_key=Secret(sim.config.api_key), api_secret=Secret(sim.config.api_secret)),
                     clock=lambda: sim.now_ms() / 1000)
    positions = [p for p in rest.positions() if p.size > 0]
    working = rest.open_orders()
    rest.close()
    unprotected = [p.symbol for p in positions if p.stop_loss is None]
    take_profits = Counter((o.symbol, o.position_idx) for o in working if o.reduce_only)

    report.add("2. REST faults", cycles=CYCLES, faults_injected=injected, create_intents=len(intents),
               create_requests_received=create_requests, exist_once=len(exists_once),
               journaled_failed_with_reason=len(failed_with_reason), duplicate_orders=duplicates,
               intents_sent_twice=sent_twice, unaccounted_intents=len(unaccounted),
               journal_says_failed_but_order_exists=len(told_failed_but_exists), orders_without_intent=len(without_intent),
               open_positions_at_end=len(positions), positions_without_stop=len(unprotected))
    assert injected >= CYCLES // 2, "too few faults to prove anything"
    assert len(exists_once) >= CYCLES // 4, "too few orders reached the venue to prove anything"
    assert create_requests > len(set(intents)), "no create was ever resent: the timeouts did not bite"
    assert duplicates == 0 and max(entries.values(), default=0) == 1
    assert sent_twice == 0, "one intent was written ahead twice"
    assert unaccounted == [], f"intents neither on the venue nor journaled as failed with a reason: {unaccounted[:5]}"
    assert told_failed_but_exists == [], f"journaled as failed, yet the order exists: {told_failed_but_exists[:5]}"
    assert without_intent == [], f"orders on the venue the journal never wrote ahead: {without_intent[:5]}"
    assert unprotected == [], f"positions without a stop after the faults ended: {unprotected}"
    assert all(n <= 1 for n in take_profits.values()), f"more than one take-profit: {take_profits}"
