"""The report's formulas on hand-made trades and equity curves, worked out by hand."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from vocabulary.messages import TradeClosed
from backtest import metrics

DAY = metrics.DAY_MS


def trade(symbol="BTCUSDT", side="Buy", path="cross_based", pnl="10", r=1.0, fees="0.5"):
    return TradeClosed(symbol=symbol, side=side, path=path, entry_ms=0, exit_ms=60_000, entry_price=Decimal(100),
                       exit_price=Decimal(101), qty=Decimal(1), fees=Decimal(fees), pnl_usdt=Decimal(pnl), pnl_r=r,
                       exit_reason="target")


TRADES = [
    trade(pnl="15", r=1.5),
    trade(pnl="-10", r=-1.0, side="Sell", symbol="ETHUSDT"),
    trade(pnl="-10", r=-1.0, path="pre_cross"),
    trade(pnl="15", r=1.5, side="Sell", path="ha_reversal", symbol="ETHUSDT"),
    trade(pnl="-0.4", r=None, path=None),  # adopted: no plan, no R
]


def test_win_rate_r_statistics_and_profit_factor():
    m = metrics.compute(TRADES, [(DAY, Decimal(10_009.6), 0)], Decimal(10_000), 0, DAY)
    assert m.trades == 5
    assert m.win_rate == pytest.approx(2 / 5)
    assert m.avg_r == pytest.approx(0.25) and m.expectancy_r == pytest.approx(0.25), "(1.5 - 1 - 1 + 1.5) / 4 trades with R"
    assert m.median_r == pytest.approx(0.25)
    assert m.expectancy_usdt == pytest.approx(9.6 / 5)
    assert m.profit_factor == pytest.approx(30 / 20.4)
    assert m.net_pnl_usdt == pytest.approx(9.6) and m.fees_usdt == pytest.approx(2.5)
    assert m.trades_per_day == pytest.approx(5.0)
    assert m.unexplained_usdt == pytest.approx(0.0, abs=1e-6), "every USDT of the equity change is in a trade"
    shortfall = metrics.compute(TRADES, [(DAY, Decimal(10_000), 0)], Decimal(10_000), 0, DAY)
    assert shortfall.unexplained_usdt == pytest.approx(-9.6)


def test_breakdowns_by_path_symbol_and_side():
    m = metrics.compute(TRADES, [], Decimal(10_000), 0, DAY)
    assert list(m.by_path) == ["adopted", "cross_based", "ha_reversal", "pre_cross"]
    assert m.by_path["cross_based"].trades == 2 and m.by_path["cross_based"].avg_r == pytest.approx(0.25)
    assert m.by_symbol["ETHUSDT"].net_pnl_usdt == pytest.approx(5.0) and m.by_symbol["ETHUSDT"].win_rate == pytest.approx(0.5)
    assert m.by_side["long"].trades == 3 and m.by_side["short"].trades == 2
    assert m.by_path["adopted"].avg_r is None


def test_no_losing_trade_has_no_profit_factor_and_no_trade_has_no_rates():
    assert metrics.profit_factor([Decimal(3), Decimal(1)]) is None
    empty = metrics.compute([], [], Decimal(10_000), 0, DAY)
    assert (empty.win_rate, empty.avg_r, empty.median_r, empty.expectancy_usdt) == (None, None, None, None)
    assert empty.max_drawdown.usdt == 0 and empty.final_equity == 10_000


def test_max_drawdown_is_the_deepest_fall_from_a_running_peak_and_the_longest_time_under_water():
    curve = [(0, 100.0), (1, 120.0), (2, 90.0), (3, 110.0), (4, 125.0), (5, 115.0), (9, 116.0)]
    dd = metrics.max_drawdown(curve)
    assert dd.usdt == pytest.approx(30.0) and dd.pct == pytest.approx(25.0)
    assert dd.duration_ms == 5, "under the 125 peak from t=4 to the end (t=9) beats 120 from t=1 to t=4"


def test_daily_returns_take_each_utc_days_last_equity():
    curve = [(DAY // 2, 101.0), (DAY, 102.0), (DAY + 60_000, 50.0), (2 * DAY, 51.0)]
    assert metrics.daily_returns(curve, 100.0) == pytest.approx([0.02, 51.0 / 102.0 - 1])


def test_sharpe_sortino_calmar_by_hand():
    returns = [0.01, -0.02, 0.03, 0.0]
    mean = 0.005
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert metrics.sharpe(returns) == pytest.approx(mean / sd * math.sqrt(365))
    downside = math.sqrt(0.02 ** 2 / 4)
    assert metrics.sortino(returns) == pytest.approx(mean / downside * math.sqrt(365))
    assert metrics.sharpe([0.01]) is None and metrics.sortino([0.01, 0.02]) is None, "one day, or no losing day"
    # +10 % in 365 days with a 5 % drawdown: Calmar 2.
    assert metrics.calmar(100.0, 110.0, 365.0, 5.0) == pytest.approx(2.0)
    assert metrics.calmar(100.0, 110.0, 365.0, 0.0) is None


def test_exposure_counts_minutes_with_any_position_open():
    equity = [(60_000 * i, Decimal(100), n) for i, n in enumerate([0, 1, 2, 0])]
    assert metrics.compute([], equity, Decimal(100), 0, 240_000).exposure == pytest.approx(0.5)
