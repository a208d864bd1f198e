"""The report tells where the money went, worked out by hand: gross, fees, slippage and funding
in USDT and in R, the exit mix, per path and per symbol, and the stops' distances in bps and in
multiples of the round-trip cost."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from vocabulary.messages import TradeClosed
from backtest import metrics, report
from backtest.run import Result
from exchange.sim.config import SimConfig
from exchange.sim.costs import Costs

D = Decimal
DAY = metrics.DAY_MS


def trade(symbol="BTCUSDT", path="cross_based", entry="100", stop="99", qty="10", gross="-10", fees="0.75",
          slippage="0.2", funding="0.05", reason="stop"):
    net = D(gross) - D(fees) - D(slippage) - D(funding)
    risk = abs(D(entry) - D(stop)) * D(qty)
    return TradeClosed(symbol=symbol, side="Buy", path=path, entry_ms=0, exit_ms=60_000, entry_price=D(entry),
                       exit_price=D(entry), qty=D(qty), fees=D(fees), pnl_usdt=net, pnl_r=float(net / risk),
                       exit_reason=reason, gross_usdt=D(gross), slippage_usdt=D(slippage), funding_usdt=D(funding),
                       stop_price=D(stop))


TRADES = [
    trade(),  # risk 10: -10 gross, -1 R
    trade(symbol="ETHUSDT", path="pre_cross", gross="20", fees="0.6", slippage="0", funding="-0.1", reason="target"),
    trade(entry="200", stop="199.9", qty="100", gross="0.5", fees="3", slippage="0", funding="0", reason="break_even"),
]


def test_net_is_gross_less_fees_slippage_and_funding_in_usdt_and_r():
    flow = metrics.money_flow(TRADES)
    assert (flow.gross_usdt, flow.fees_usdt, flow.slippage_usdt, flow.funding_usdt) == pytest.approx((10.5, 4.35, 0.2, -0.05))
    assert flow.net_usdt == pytest.approx(10.5 - 4.35 - 0.2 + 0.05)
    # risks 10, 10 and 10 USDT: R per trade is each part's mean over them
    assert flow.r_trades == 3
    assert flow.gross_r == pytest.approx((-1 + 2 + 0.05) / 3)
    assert flow.fees_r == pytest.approx((0.075 + 0.06 + 0.3) / 3)
    assert flow.net_r == pytest.approx(flow.gross_r - flow.fees_r - flow.slippage_r - flow.funding_r)
    assert flow.exits == {"stop": 1, "target": 1, "break_even": 1, "ttl": 0, "liquidation": 0, "manual": 0, "unknown": 0}


def test_the_split_is_given_per_path_and_per_symbol():
    m = metrics.compute(TRADES, [], D(10_000), 0, DAY)
    assert list(m.money_by_path) == ["cross_based", "pre_cross"]
    assert m.money_by_path["cross_based"].trades == 2 and m.money_by_path["pre_cross"].fees_usdt == pytest.approx(0.6)
    assert m.money_by_symbol["BTCUSDT"].exits["break_even"] == 1 and m.money_by_symbol["ETHUSDT"].exits["target"] == 1
    assert m.money is not None and m.money.trades == 3


def test_stop_distances_in_bps_and_in_round_trip_multiples():
    # stops of 100 bps, 100 bps and 5 bps against a flat 10 bps round trip
    st = metrics.stop_distances(TRADES, lambda t: 10.0)
    assert st.trades == 3 and st.round_trip_bps == 10.0
    assert st.bps is not None and (st.bps.min, st.bps.median, st.bps.max) == pytest.approx((5, 100, 100))
    assert st.cost_multiple is not None and st.cost_multiple.min == pytest.approx(0.5)
    assert (st.under_1x, st.under_2x, st.under_3x) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_the_venue_round_trip_is_both_fees_the_stop_slippage_and_half_a_spread():
    config = SimConfig(maker_fee=0.0002, taker_fee=0.00055, costs=Costs(stop_slippage_bps=2.0))
    rt = metrics.venue_round_trip(config, {"BTCUSDT": D("0.10")})
    # 7.5 bps of fees + 2 bps + one tick (0.1 on a 99 stop: 10.101 bps)
    assert rt(TRADES[0]) == pytest.approx(7.5 + 2 + 0.1 / 99 * 10_000)
    bare = metrics.venue_round_trip(SimConfig(), {"BTCUSDT": D("0.10")})
    assert bare(TRADES[0]) == pytest.approx(7.5)


def test_a_trade_without_a_stop_has_no_distance_and_its_r_comes_from_its_pnl():
    adopted = TradeClosed(symbol="BTCUSDT", side="Buy", path=None, entry_ms=0, exit_ms=1, entry_price=D(100),
                          exit_price=D(99), qty=D(1), fees=D(0), pnl_usdt=D(-2), pnl_r=-0.5, exit_reason="unknown")
    assert metrics.stop_bps(adopted) is None and metrics.risk_usdt(adopted) == D(4)
    assert metrics.stop_distances([adopted], None).trades == 0


def test_report_files_carry_the_breakdown(tmp_path: Path):
    m = metrics.compute(TRADES, [(DAY, D(10_005.5), 0)], D(10_000), 0, DAY, lambda t: 10.0)
    result = Result(symbols=("BTCUSDT", "ETHUSDT"), start_ms=0, end_ms=DAY, initial_equity=D(10_000), decisions=[],
                    trades=TRADES, equity=[(DAY, D(10_005.5), 0)], counts={}, wall_s=0.0)
    report.write(result, m, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Where the money went" in md and "### Exit mix" in md and "### Stop distances" in md
    assert "| path pre_cross" in md and "| ETHUSDT" in md
    assert "33.3 % / 33.3 % / 33.3 %" in md
    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["metrics"]["money"]["fees_usdt"] == pytest.approx(4.35)
    assert payload["metrics"]["money_by_symbol"]["ETHUSDT"]["funding_usdt"] == pytest.approx(-0.1)
    assert payload["metrics"]["stops"]["under_2x"] == pytest.approx(1 / 3)
    assert payload["trades"][0]["slippage_usdt"] == "0.2"
    text = report.terminal(result, m)
    assert "where it went (USDT)" in text and "exits" in text and "stop 1, target 1, break_even 1" in text
