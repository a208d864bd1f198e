"""End to end against the embedded simulator on 127.0.0.1: the same client a live venue gets,
over real sockets, for orders, positions, fills, klines and both streams with injected drops."""

from __future__ import annotations

import logging
import queue
import time
from collections import Counter
from decimal import Decimal

import pytest

from vocabulary.messages import FeedGap, JournalEvent, Kline, OrderIntent, OrderUpdate
from vocabulary.settings import Credentials, Secret
from exchange.bybit.bridge import StreamThread
from exchange.bybit.models import is_post_only_refusal
from exchange.bybit.rest import BybitRest
from exchange.bybit.ws_private import PrivateStream
from exchange.bybit.ws_public import PublicStream
from exchange.sim.config import SimConfig
from exchange.sim.faults import FaultPlan, RestFault
from exchange.sim.server import SimServer

MINUTE = 60_000
FAST = dict(ping_interval_s=0.2, silence_timeout_s=2.0, backoff_initial_s=0.01, backoff_max_s=0.05, open_timeout_s=2.0)


@pytest.fixture
def sim():
    with SimServer(SimConfig(port=0, symbols=("BTCUSDT", "ETHUSDT"), paced=True)) as server:
        yield server


@pytest.fixture
def rest(sim):
    client = BybitRest(sim.rest_url, Credentials(Secret(sim.config.api_key), Secret(sim.config.api_secret)), timeout_s=10.0,
                       backoff_base_s=0.01, backoff_cap_s=0.05)
    client.sync_time()
    yield client
    client.close()


def wait(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError("condition not met before the deadline")


def step(sim: SimServer, minutes: int = 1) -> None:
    for _ in range(minutes):
        before = sim.clock_ms
        sim.ack(before)
        wait(lambda: sim.clock_ms > before)


def last_price(rest: BybitRest, symbol: str = "BTCUSDT") -> Decimal:
    return Decimal(str(rest.klines(symbol, 1, limit=2)[-1].close))


def test_market_data_round_trip(sim, rest):
    rules = rest.instruments(["BTCUSDT", "ETHUSDT", "NOPEUSDT"])
    assert sorted(rules) == ["BTCUSDT", "ETHUSDT"] and rules["BTCUSDT"].tick_size == Decimal("0.10")
    bars = rest.klines("BTCUSDT", 1, limit=30)
    starts = [b.start_ms for b in bars]
    assert starts == sorted(starts) and len(bars) >= 29
    assert bars[-1].end_ms <= sim.clock_ms and all(b.confirmed for b in bars)
    five = rest.klines_range("BTCUSDT", 5, sim.clock_ms - 3000 * MINUTE, sim.clock_ms)
    assert [b.start_ms % (5 * MINUTE) for b in five] == [0] * len(five) and len(five) >= 599
    assert five[-1].end_ms <= sim.clock_ms


def test_place_amend_cancel_round_trip(sim, rest, caplog):
    caplog.set_level(logging.DEBUG)
    price = last_price(rest) * Decimal("0.99")
    entry = OrderIntent(action="create", symbol="BTCUSDT", order_link_id="e2e-entry-1", side="Buy", qty=Decimal("0.0105"),
                        price=price, stop_loss=price * Decimal("0.99"))
    ack = rest.execute(entry)
    assert ack.outcome == "ok" and ack.order_id
    opened = {o.order_link_id: o for o in rest.open_orders("BTCUSDT")}["e2e-entry-1"]
    assert (opened.price, opened.qty, opened.time_in_force) == (ack.intent.price, Decimal("0.010"), "PostOnly")
    assert opened.stop_loss == ack.intent.stop_loss
    amend = rest.execute(OrderIntent(action="amend", symbol="BTCUSDT", order_link_id="e2e-entry-1", side="Buy", price=price - 50))
    assert amend.outcome == "ok"
    assert rest.order("BTCUSDT", "e2e-entry-1").price == amend.intent.price
    cancel = OrderIntent(action="cancel", symbol="BTCUSDT", order_link_id="e2e-entry-1")
    assert rest.execute(cancel).outcome == "ok"
    assert rest.order("BTCUSDT", "e2e-entry-1").status == "Cancelled"
    again = rest.execute(cancel)
    assert (again.outcome, again.ret_code) == ("rejected", 110001)
    assert rest.open_orders("BTCUSDT") == []
    assert "httpx" in caplog.text  # the HTTP stack did log at DEBUG ...
    assert sim.config.api_key not in caplog.text and sim.config.api_secret not in caplog.text  # ... but no credential


def test_a_crossing_post_only_entry_ends_as_would_take(rest):
    crossing = OrderIntent(action="create", symbol="BTCUSDT", order_link_id="e2e-cross-1", side="Buy", qty=Decimal("0.01"),
                           price=last_price(rest) * Decimal("1.002"))
    assert rest.execute(crossing).outcome == "ok"  # accepted, then cancelled by the venue (§5.10)
    refused = rest.order("BTCUSDT", "e2e-cross-1")
    assert refused is not None and is_post_only_refusal(refused)
    assert rest.execute(crossing).outcome == "would_take"


def test_a_create_whose_answer_times_out_is_retried_and_exists_exactly_once(sim, rest):
    rest.instruments(["BTCUSDT"])
    sim.set_faults(FaultPlan(rest=(RestFault(kind="timeout_after", path_prefix="/v5/order/create", nth=(1,), stall_s=3.0),)))
    slow = BybitRest(sim.rest_url, Credentials(Secret(sim.config.api_key), Secret(sim.config.api_secret)), timeout_s=0.3,
                     backoff_base_s=0.01, backoff_cap_s=0.02)
    slow.sync_time()
    intent = OrderIntent(action="create", symbol="BTCUSDT", order_link_id="e2e-slow-1", side="Buy", qty=Decimal("0.01"),
                         price=last_price(rest) * Decimal("0.98"))
    ack = slow.execute(intent)
    slow.close()
    counted = sim.orders_by_link_id("e2e-slow-1")
    assert (counted["count"], counted["createRequests"]) == (1, 2)
    assert ack.outcome == "ok" and ack.ret_code == 110072 and ack.order_id == rest.order("BTCUSDT", "e2e-slow-1").order_id


@pytest.mark.parametrize("kind", ["10429", "429"])
def test_a_create_refused_as_system_busy_is_resent_and_exists_once(sim, rest, kind):
    rest.instruments(["BTCUSDT"])
    sim.set_faults(FaultPlan(rest=(RestFault(kind=kind, path_prefix="/v5/order/create", nth=(1, 2)),)))
    intent = OrderIntent(action="create", symbol="BTCUSDT", order_link_id=f"e2e-busy-{kind}", side="Buy", qty=Decimal("0.01"),
                         price=last_price(rest) * Decimal("0.98"))
    ack = rest.execute(intent)
    counted = sim.orders_by_link_id(f"e2e-busy-{kind}")
    assert (ack.outcome, counted["count"], counted["createRequests"], rest.stats["busy"]) == ("ok", 1, 1, 2)


def test_a_tick_on_which_25_symbols_take_places_every_entry_without_one_10006(sim, rest):
    """25 creates asked for at once (a tick on which every symbol takes): the client spaces them by
    the venue's own rolling window (10 per second per UID and endpoint, counted from each answer),
    so the simulator, which applies that rule at each request's arrival, answers every one ok and
    none 10006, however slow the machine. A token bucket as deep as its rate sent 19 in the
    venue's first second."""
    rest.instruments(["BTCUSDT"])
    price = last_price(rest) * Decimal("0.95")
    acks = [rest.execute(OrderIntent(action="create", symbol="BTCUSDT", order_link_id=f"e2e-burst-{i}", side="Buy",
                                     qty=Decimal("0.001"), price=price)) for i in range(25)]
    assert [a.outcome for a in acks] == ["ok"] * 25
    assert rest.stats["rate_limited"] == 0
    assert len(rest.open_orders("BTCUSDT")) == 25


def test_a_fill_makes_a_position_whose_stop_moves_idempotently(sim, rest):
    buy = OrderIntent(action="create", symbol="BTCUSDT", order_link_id="e2e-mkt-1", side="Buy", order_type="Market",
                      time_in_force="IOC", qty=Decimal("0.01"))
    assert rest.execute(buy).outcome == "ok"
    position = wait(lambda: [p for p in rest.positions() if p.symbol == "BTCUSDT" and p.size > 0])[0]
    assert position.side == "Buy" and position.size == Decimal("0.010") and position.avg_price is not None
    fills = rest.executions("BTCUSDT")
    assert [f.order_link_id for f in fills] == ["e2e-mkt-1"] and fills[0].qty == Decimal("0.010") and not fills[0].is_maker
    stop = OrderIntent(action="trading_stop", symbol="BTCUSDT", side="Buy", stop_loss=position.avg_price * Decimal("0.98"))
    first, second = rest.execute(stop), rest.execute(stop)
    assert (first.outcome, first.ret_code, second.outcome, second.ret_code) == ("ok", 0, "ok", 34040)
    assert rest.positions("BTCUSDT")[0].stop_loss == first.intent.stop_loss
    assert rest.open_orders("BTCUSDT") == []  # the position's stop is not a stray order
    stops = rest.open_orders("BTCUSDT", conditional=True)
    assert [(o.status, o.side, o.order_link_id) for o in stops] == [("Untriggered", "Sell", "")]
    assert rest.wallet_equity() < Decimal(10_000)  # the taker fee was paid


def test_every_confirmed_bar_arrives_exactly_once_across_twenty_simulator_drops(sim, rest):
    inbox: queue.Queue = queue.Queue()
    stream = PublicStream(sim.ws_public_url, ["BTCUSDT"], [1], inbox.put, clock=lambda: rest.now_ms() / 1000, **FAST)
    bridge = StreamThread([stream])
    consumed: dict[int, Kline] = {}
    ws_confirms: Counter[int] = Counter()

    def drain(until_empty_for: float = 0.0) -> None:
        while True:
            try:
                message = inbox.get(timeout=until_empty_for) if until_empty_for else inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(message, Kline) and message.confirmed:
                ws_confirms[message.start_ms] += 1
                consumed.setdefault(message.start_ms, message)
            elif isinstance(message, FeedGap):
                for bar in rest.klines_range(message.symbol, message.interval, message.from_ms, message.to_ms):
                    consumed.setdefault(bar.start_ms, bar)

    bridge.start()
    try:
        wait(lambda: stream.healthy)
        step(sim)
        first = wait(lambda: drain() or min(consumed, default=None))
        drops = 0
        for _ in range(20):
            step(sim, 2)
            wait(lambda: stream.healthy)
            drops += sim.drop_connections("public")
            step(sim)  # a bar closes while the client is away
            wait(lambda: stream.healthy and stream.stats["gaps_reported"] == drops)
            drain()
        step(sim)
        last_closed = sim.clock_ms - MINUTE
        wait(lambda: drain() or last_closed in consumed)
        drain(0.1)
    finally:
        assert bridge.stop(timeout=5)
    assert drops == 20 and stream.connections == 21
    assert sorted(consumed) == list(range(first, last_closed + MINUTE, MINUTE))
    assert max(ws_confirms.values()) == 1
    truth = {b.start_ms: b for b in rest.klines_range("BTCUSDT", 1, first, last_closed + MINUTE)}
    assert all((consumed[s].open, consumed[s].close, consumed[s].volume) == (truth[s].open, truth[s].close, truth[s].volume) for s in truth)


def test_private_stream_reports_orders_and_asks_for_reconciliation_after_a_drop(sim, rest):
    inbox: queue.Queue = queue.Queue()
    creds = Credentials(Secret(sim.config.api_key), Secret(sim.config.api_secret))
    stream = PrivateStream(sim.ws_private_url, creds, inbox.put, server_time_ms=rest.now_ms, **FAST)
    bridge = StreamThread([stream])
    seen: list = []

    def first(match):
        def look():
            while True:
                try:
                    seen.append(inbox.get_nowait())
                except queue.Empty:
                    break
            return next((m for m in seen if match(m)), None)
        return wait(look)

    bridge.start()
    try:
        wait(lambda: stream.healthy)
        price = last_price(rest) * Decimal("0.97")
        rest.execute(OrderIntent(action="create", symbol="BTCUSDT", order_link_id="e2e-ws-1", side="Buy", qty=Decimal("0.01"), price=price))
        step(sim)
        update = first(lambda m: isinstance(m, OrderUpdate) and m.order_link_id == "e2e-ws-1")
        assert update.status == "New" and update.price == Decimal(format(price.quantize(Decimal("0.1"), "ROUND_FLOOR"), "f"))
        assert sim.drop_connections("private") == 1
        event = first(lambda m: isinstance(m, JournalEvent) and m.kind == "private_reconnect")
        assert event.level == "WARNING" and stream.connections == 2
    finally:
        assert bridge.stop(timeout=5)


def test_ticker_fee_rates_leverage_mode_and_closed_pnl(sim, rest):
    ticker = rest.ticker("BTCUSDT")
    assert ticker.symbol == "BTCUSDT" and ticker.last_price is not None and ticker.mark_price is not None
    fees = rest.fee_rates("BTCUSDT")
    assert (fees["BTCUSDT"].maker, fees["BTCUSDT"].taker) == (Decimal("0.0002"), Decimal("0.00055"))
    assert rest.set_leverage("BTCUSDT", 10) is False  # already 10: 110043 is success
    assert rest.set_leverage("BTCUSDT", 5) is True
    assert rest.switch_position_mode("BTCUSDT", hedge=False) is False  # already one-way: 110025
    for side, link in (("Buy", "e2e-pnl-open"), ("Sell", "e2e-pnl-close")):
        ack = rest.execute(OrderIntent(action="create", symbol="BTCUSDT", order_link_id=link, side=side, order_type="Market",
                                       time_in_force="IOC", qty=Decimal("0.01"), reduce_only=side == "Sell"))
        assert ack.outcome == "ok"
    closed = wait(lambda: rest.closed_pnl("BTCUSDT"))
    assert len(closed) == 1 and closed[0].closed_size == Decimal("0.010") and closed[0].side == "Sell"
    fees_paid = closed[0].open_fee + closed[0].close_fee
    assert closed[0].closed_pnl == (closed[0].avg_exit_price - closed[0].avg_entry_price) * Decimal("0.010") - fees_paid
