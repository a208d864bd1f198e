"""The chart routes: candles with the very indicator values the bot decided on, the bot's marks
on the right bars, open orders as the venue last reported them, the equity curve's drawdown."""

from decimal import Decimal as D

import numpy as np
import pytest

from vocabulary import messages as m
from indicators.frame import FrameIndicators
from indicators.params import IndicatorParams
from indicators.wavetrend import CipherB
from journal.reader import JournalReader
from journal.writer import JournalWriter
from tests.web import chart_journal as cj
from tests.web.conftest import serving
from web.app import create_app
from web.series import bar_of, equity_curve, price_decimals

PARAMS = IndicatorParams(wt_channel=10, wt_average=21, wt_ma=4, oversold=-60.0, overbought=60.0)


@pytest.fixture
def chart_journal(tmp_path):
    path = tmp_path / "journal.sqlite"
    cj.seed(path)
    return path


@pytest.fixture
def client(chart_journal):
    app = create_app(str(chart_journal), cj.status, indicators=PARAMS, tick_sizes={"BTCUSDT": "0.10"})
    with serving(app) as c:
        yield c


@pytest.mark.parametrize("interval", [1, 3, 5, 15])
def test_series_carries_the_symbol_actors_own_wavetrend_and_heikin_ashi_bit_for_bit(client, interval):
    chart = client.get(f"/series?symbol=BTCUSDT&interval={interval}&hours=24").json()
    frames = FrameIndicators(interval, PARAMS)
    states = [frames.update(k) for k in cj.all_bars() if k.interval == interval]
    assert chart["bars"]["t"] == [s.start_ms for s in states]
    assert chart["bars"]["c"] == [s.close for s in states]
    assert chart["wt"]["wt1"] == [s.wt1 for s in states]  # None where Pine's na, else the exact float
    assert chart["wt"]["wt2"] == [s.wt2 for s in states]
    assert chart["ha"]["o"] == [s.ha_open for s in states]
    assert chart["ha"]["c"] == [s.ha_close for s in states]
    assert chart["params"] == {"wt_channel": 10, "wt_average": 21, "wt_ma": 4, "oversold": -60.0, "overbought": 60.0}


def test_series_wavetrend_equals_the_batch_form_too(client):
    chart = client.get("/series?symbol=BTCUSDT&interval=1&hours=24").json()
    bars = [k for k in cj.all_bars() if k.interval == 1]
    batch = CipherB.batch(np.array([b.high for b in bars]), np.array([b.low for b in bars]), np.array([b.close for b in bars]),
                          PARAMS.vmc, PARAMS.oversold, PARAMS.overbought)
    assert [None if np.isnan(x) else float(x) for x in batch.wt1] == chart["wt"]["wt1"]


def test_series_window_is_the_last_hours_before_the_newest_bar(client):
    chart = client.get("/series?symbol=BTCUSDT&interval=5&hours=3").json()
    assert len(chart["bars"]["t"]) == 36
    assert chart["bars"]["t"][-1] == cj.END - 5 * cj.MIN
    assert chart["last_ms"] == cj.END - 5 * cj.MIN


def test_series_marks_the_take_on_its_signal_bar_the_fills_and_the_exit_with_its_reason(client):
    chart = client.get("/series?symbol=BTCUSDT&interval=15").json()
    marks = [(mk["kind"], mk["bar_ms"], mk.get("reason")) for mk in chart["marks"]]
    assert marks == [
        ("take", bar_of(cj.TAKE_MS - cj.MIN, 15), None),          # decided at the close of the 1m bar before TAKE_MS
        ("entry", bar_of(cj.TAKE_MS + 2 * cj.MIN, 15), None),
        ("exit", bar_of(cj.TAKE_MS + 40 * cj.MIN, 15), "stop"),
        ("take", bar_of(cj.OPEN_TAKE_MS - cj.MIN, 15), None),
        ("entry", bar_of(cj.OPEN_TAKE_MS + cj.MIN, 15), None),  # the open position's fill
    ]
    assert chart["lines"] == [{"kind": "position", "price": "97010.00", "side": "Buy"},
                              {"kind": "stop", "price": "96950.00", "side": "Buy"},
                              {"kind": "target", "price": "97100.00", "side": "Buy"}]
    assert chart["price_decimals"] == 2 and chart["tick_size"] == "0.10"


def test_series_refuses_unknown_parameters_and_says_when_there_are_no_bars(client):
    assert client.get("/series?symbol=BTCUSDT&interval=2").status_code == 400
    assert "interval" in client.get("/series?symbol=BTCUSDT&interval=2").json()["error"]
    assert client.get("/series?symbol=BTCUSDT&hours=25").status_code == 400
    assert client.get("/series?interval=1").status_code == 400
    missing = client.get("/series?symbol=XRPUSDT")
    assert missing.status_code == 404 and missing.json() == {"error": "no 1m bars journaled for XRPUSDT"}


def test_series_follows_new_bars_as_the_journal_grows(client, chart_journal):
    before = client.get("/series?symbol=BTCUSDT&interval=1").json()
    writer = JournalWriter(chart_journal)
    writer.append_now([m.Kline(symbol="BTCUSDT", interval=1, start_ms=cj.END, open=97000.0, high=97020.0, low=96990.0,
                               close=97010.0, volume=3.0, confirmed=True)])
    writer.close()
    after = client.get("/series?symbol=BTCUSDT&interval=1").json()
    assert after["bars"]["t"][-1] == cj.END and after["bars"]["t"][0] == before["bars"]["t"][1]
    frames = FrameIndicators(1, PARAMS)
    for k in [k for k in cj.all_bars() if k.interval == 1]:
        frames.update(k)
    assert after["wt"]["wt1"][-1] == frames.update(m.Kline(symbol="BTCUSDT", interval=1, start_ms=cj.END, open=97000.0,
                                                           high=97020.0, low=96990.0, close=97010.0, volume=3.0,
                                                           confirmed=True)).wt1


def test_orders_lists_what_rests_on_the_venue_not_what_filled(client):
    orders = client.get("/orders").json()["orders"]
    assert [(o["symbol"], o["order_link_id"], o["status"], o["price"], o["stop_loss"]) for o in orders] == [
        ("ETHUSDT", cj.RESTING_LINK, "New", "3061.25", "3080.00")]
    assert "message" not in orders[0]


def test_an_order_reported_done_does_not_come_back_with_a_late_ack(tmp_path):
    path = tmp_path / "j.sqlite"
    intent = m.OrderIntent(action="create", symbol="SOLUSDT", order_link_id="ecL-SOL-1", side="Buy", qty=D("1"),
                           price=D("150.10"), tick_ms=cj.START)
    filled = m.OrderUpdate(symbol="SOLUSDT", order_id="o", order_link_id="ecL-SOL-1", side="Buy", status="Filled",
                           order_type="Limit", time_in_force="PostOnly", price=D("150.10"), qty=D("1"), cum_exec_qty=D("1"),
                           avg_price=D("150.10"), position_idx=1, reduce_only=False, updated_ms=cj.START + 10)
    writer = JournalWriter(path)
    writer.append_now([intent, filled, m.OrderAck(intent=intent, ts_ms=cj.START + 20, outcome="ok", ret_code=0,
                                                  ret_msg="OK", order_id="o")])
    writer.close()
    reader = JournalReader(path)
    try:
        assert reader.open_orders() == []
    finally:
        reader.close()


def test_equity_comes_from_the_wallet_reports_with_its_drawdown_from_the_running_peak(client):
    curve = client.get("/equity").json()
    assert curve["source"] == "wallet" and curve["net"] is True
    assert curve["equity"] == [eq for _, eq in cj.WALLET]
    assert curve["drawdown_pct"] == [0.0, pytest.approx(-0.01515), 0.0, round((10003.71 / 10004.10 - 1) * 100, 6)]  # percent, 6 places
    assert curve["max_drawdown_pct"] == pytest.approx(-0.01515)


def test_equity_without_wallet_reports_sums_the_closed_trades_net_pnl(journal_path):
    with serving(create_app(str(journal_path))) as c:
        curve = c.get("/equity").json()
    assert curve["source"] == "trades"
    assert curve["equity"] == ["-1.20", "1.39950"]


def test_equity_curve_drawdown_is_zero_at_each_new_high():
    assert equity_curve([(1, "100"), (2, "90"), (3, "120"), (4, "60")])["drawdown_pct"] == [0.0, -10.0, 0.0, -50.0]


def test_notable_events_leave_out_the_per_wallet_debug_rows(client):
    events = client.get("/events/notable").json()["events"]
    assert [e["kind"] for e in events] == ["reconnect"]
    assert all(e["kind"] == "wallet" for e in client.get("/events?limit=50").json()["events"][1:])


@pytest.mark.parametrize("tick, decimals", [("0.10", 2), ("0.0001", 4), ("1", 0), ("0.5", 1), ("0.00001000", 8)])
def test_price_precision_is_the_tick_sizes_decimal_places(tick, decimals):
    assert price_decimals(tick) == decimals


def test_price_precision_without_a_tick_size_is_read_off_the_exact_prices_the_bot_sent():
    assert price_decimals(None, ["155.410", "155.6", "bad"]) == 3
    assert price_decimals(None, []) is None


def test_ticks_route_gives_each_symbol_its_precision(client):
    ticks = client.get("/ticks").json()["symbols"]
    assert ticks["BTCUSDT"] == {"tick_size": "0.10", "price_decimals": 2}
    assert ticks["ETHUSDT"] == {"tick_size": None, "price_decimals": 2}  # from its resting order's prices
