"""The in-process venue: the served simulator's REST checks and answers without a socket, the
router's Venue interface through BybitRest, its streams as the live decoders read them, and
time moved either by the replay or by bars fed from outside (paper mode)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from vocabulary.messages import ExecutionUpdate, OrderIntent, OrderUpdate, PositionUpdate
from backtest.venue import InProcessVenue
from exchange.sim.config import SimConfig
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import MINUTE_MS, Bar, load_instruments, load_store
from pathlib import Path

DATA = Path("data/klines")
CONFIG = SimConfig(symbols=("BTCUSDT", "ETHUSDT"), rate_limits=False)


@pytest.fixture(scope="module")
def store():
    return load_store(DATA, ("BTCUSDT", "ETHUSDT"))[0]


@pytest.fixture
def venue():
    v = InProcessVenue(InProcessSim.replay(CONFIG))
    yield v
    v.close()


def test_an_unsigned_private_request_is_refused_as_the_server_refuses_it():
    sim = InProcessSim.replay(CONFIG)
    with httpx.Client(base_url="http://x", transport=sim.transport) as client:
        answer = client.get("/v5/position/list", params={"category": "linear"})
        assert answer.status_code == 401
        answer = client.get("/v5/position/list", params={"category": "linear"},
                            headers={"X-BAPI-API-KEY": CONFIG.api_key, "X-BAPI-SIGN": "0" * 64,
                                     "X-BAPI-TIMESTAMP": str(sim.clock_ms), "X-BAPI-RECV-WINDOW": "5000"})
        assert answer.json()["retCode"] == 10004


def test_klines_range_is_the_files_bars_before_the_clock(venue, store):
    clock = venue.now_ms()
    bars = venue.klines_range("BTCUSDT", 1, clock - 1500 * MINUTE_MS, clock + 10 * MINUTE_MS)
    assert len(bars) == 1500, "paged backwards past one page of 1000, nothing at or after the clock"
    for bar in bars[::97]:
        truth = store.bar_at("BTCUSDT", bar.start_ms)
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == tuple(float(x) for x in (truth.open, truth.high, truth.low, truth.close, truth.volume))
    last_close = clock - clock % (15 * MINUTE_MS)
    fifteen = venue.klines_range("BTCUSDT", 15, last_close - 20 * 15 * MINUTE_MS, clock)
    assert len(fifteen) == 20 and fifteen[-1].end_ms == last_close, "the forming 15m bar is left out"


def hedge(venue):
    assert venue.switch_position_mode("BTCUSDT", hedge=True) is True
    assert venue.switch_position_mode("BTCUSDT", hedge=True) is False, "already hedge: 110025 is success"


def test_a_resting_order_fills_on_a_later_minute_and_the_router_sees_it_everywhere(venue, store):
    hedge(venue)
    last = store.bar_at("BTCUSDT", venue.now_ms() - MINUTE_MS).close
    # A buy 0.3 % under the last price rests (PostOnly), then the replay is walked until it fills.
    price = (last * Decimal("0.997")).quantize(Decimal("0.1"))
    intent = OrderIntent(action="create", symbol="BTCUSDT", order_link_id="t-buy-1", side="Buy", order_type="Limit",
                         time_in_force="PostOnly", qty=Decimal("0.010"), price=price, position_idx=1)
    ack = venue.execute(intent)
    assert ack.outcome == "ok" and ack.order_id
    assert [o.order_link_id for o in venue.open_orders()] == ["t-buy-1"]
    pushed = venue.private_messages()
    assert any(isinstance(m, OrderUpdate) and m.status == "New" for m in pushed)
    for _ in range(3000):
        venue.advance()
        if venue.positions():
            break
    (position,) = venue.positions()
    assert isinstance(position, PositionUpdate) and position.size == Decimal("0.010") and position.avg_price == price
    pushed = venue.private_messages()
    assert [type(m) for m in pushed if not isinstance(m, OrderUpdate)][:2] == [ExecutionUpdate, PositionUpdate]
    (fill,) = venue.executions("BTCUSDT", start_ms=venue.now_ms() - 3000 * MINUTE_MS, end_ms=venue.now_ms() + MINUTE_MS)
    assert fill.price == price and fill.order_link_id == "t-buy-1"
    assert venue.wallet_equity() != Decimal(CONFIG.initial_equity), "the maker fee came off the wallet"


def test_closed_klines_are_the_confirmed_bars_of_every_timeframe_closing_at_the_boundary(venue, store):
    while True:
        boundary = venue.advance()
        if boundary % (15 * MINUTE_MS) == 0:
            break
    bars = venue.closed_klines(boundary, (1, 3, 5, 15), ("BTCUSDT", "ETHUSDT"))
    assert [(b.interval, b.symbol) for b in bars] == [(i, s) for i in (1, 3, 5, 15) for s in ("BTCUSDT", "ETHUSDT")]
    assert all(b.confirmed and b.end_ms == boundary for b in bars)
    minutes = [store.bar_at("ETHUSDT", boundary - (15 - k) * MINUTE_MS) for k in range(15)]
    eth15 = bars[-1]
    assert eth15.high == float(max(m.high for m in minutes)) and eth15.low == float(min(m.low for m in minutes))
    assert eth15.open == float(minutes[0].open) and eth15.close == float(minutes[-1].close)


def test_paper_mode_bars_fed_from_outside_fill_orders_and_move_the_clock():
    rules = load_instruments(DATA / "instruments-bybit-linear.csv")
    t0 = 1_750_000_000_000 - 1_750_000_000_000 % MINUTE_MS
    seed = Bar(t0, Decimal("100.00"), Decimal("100.50"), Decimal("99.50"), Decimal("100.00"), Decimal(1))
    venue = InProcessVenue(InProcessSim.fed(rules, CONFIG, {"SOLUSDT": seed}))
    assert venue.now_ms() == t0 + MINUTE_MS
    venue.switch_position_mode("SOLUSDT", hedge=True)
    intent = OrderIntent(action="create", symbol="SOLUSDT", order_link_id="p-sell-1", side="Sell", order_type="Limit",
                         time_in_force="PostOnly", qty=Decimal("1.0"), price=Decimal("101.00"), position_idx=2)
    assert venue.execute(intent).outcome == "ok"
    quiet = Bar(t0 + MINUTE_MS, Decimal("100.00"), Decimal("100.90"), Decimal("99.90"), Decimal("100.10"), Decimal(1))
    assert venue.on_bar("SOLUSDT", quiet) == t0 + 2 * MINUTE_MS
    assert venue.positions() == [], "the path never traded through 101.00"
    spike = Bar(t0 + 2 * MINUTE_MS, Decimal("100.10"), Decimal("101.50"), Decimal("100.00"), Decimal("101.20"), Decimal(1))
    assert venue.on_bar("SOLUSDT", spike) == t0 + 3 * MINUTE_MS
    (position,) = venue.positions()
    assert position.side == "Sell" and position.avg_price == Decimal("101.00")
    late = Bar(t0 + MINUTE_MS, Decimal("100"), Decimal("100"), Decimal("100"), Decimal("100"), Decimal(1))
    assert venue.on_bar("SOLUSDT", late) == t0 + 3 * MINUTE_MS, "a late bar never moves the clock back"
    venue.close()


def test_reused_reads_answer_as_a_fresh_read_would_every_minute(store):
    venue = InProcessVenue(InProcessSim.replay(CONFIG), reuse_reads=True)
    fresh = venue.rest  # the same client, never asked through the memo

    def assert_reads_are_fresh() -> None:
        assert venue.positions() == fresh.positions()
        assert venue.open_orders() == fresh.open_orders()
        assert venue.wallet_equity() == fresh.wallet_equity()

    hedge(venue)
    last = store.bar_at("BTCUSDT", venue.now_ms() - MINUTE_MS).close
    price = (last * Decimal("0.999")).quantize(Decimal("0.1"))
    assert venue.execute(OrderIntent(action="create", symbol="BTCUSDT", order_link_id="m-buy-1", side="Buy", order_type="Limit",
                                     time_in_force="PostOnly", qty=Decimal("0.010"), price=price, position_idx=1)).outcome == "ok"
    held = 0
    for _ in range(3000):
        venue.advance()
        assert_reads_are_fresh()
        held += bool(venue.positions())
        if held == 5:
            break
    assert held == 5, "the entry filled and the position was held (its mark moving) for five minutes"
    close = OrderIntent(action="create", symbol="BTCUSDT", order_link_id="m-sell-1", side="Sell", order_type="Market",
                        qty=Decimal("0.010"), position_idx=1, reduce_only=True)
    assert venue.execute(close).outcome == "ok"
    assert_reads_are_fresh()
    assert venue.positions() == [] and venue.open_orders() == []
    reused = venue.reads_reused
    for _ in range(3):
        venue.advance()
        assert_reads_are_fresh()
    assert venue.reads_reused == reused + 9, "flat and nothing working: every read of those minutes was reused"
    venue.close()
