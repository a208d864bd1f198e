"""A backtest on the shipped month, with the shipped settings, keeps the risk model's promises:
no trade with a stop under the floor, pre_cross reaches the wire, and every stop-out the venue did
not gap through costs at most the risk budget (+1 % for the venue's fee rounding, plus what the
venue's tick rounding and half spread cost beyond the slippage allowance, plus funding); most
stop-outs are such ungapped ones.

The window is a few days of all seven symbols, the CI-sized piece of the month around SOLUSDT's
real pre-cross that tests/strategy/test_paths.py pins; the whole month is bench/stop_floor.py's.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

from vocabulary.settings import load_settings
from backtest.run import Window, run_backtest
from exchange.sim.market import MINUTE_MS
from strategy.orders import order_link_id

BASE = Path("settings.toml").read_text()
START_MS = 1_750_820_640_000 - 2 * 1440 * MINUTE_MS  # 2025-06-23 03:04 UTC
DAYS = 3


@pytest.fixture(scope="module")
def month_piece():
    settings = load_settings(BASE, {})
    result = run_backtest(settings, Window(start_ms=START_MS, end_ms=START_MS + DAYS * 1440 * MINUTE_MS))
    return settings, result


def settings_tick(symbol):
    from exchange.sim.market import load_instruments
    return load_instruments(Path("data/klines/instruments-bybit-linear.csv"))[symbol].tick_size


def ungapped_charge(stop: Decimal, slippage: Decimal, tick: Decimal) -> Decimal:
    """What the venue charges a stop it did not gap through, beyond its trigger: the slippage
    rounded up to whole ticks, and half a one-tick spread (a tick). Rounded with ROUND_CEILING:
    Decimal's ``//`` truncates toward zero, so the int idiom ``-(-x // tick)`` floors a Decimal."""
    return (stop * slippage / tick).to_integral_value(ROUND_CEILING) * tick + tick


def reason(decision, code):
    return next((r.value for r in decision.reasons if r.code == code), None)


def test_no_take_has_a_stop_under_the_floor(month_piece):
    _, result = month_piece
    takes = [d for d in result.decisions if d.kind == "TAKE"]
    assert len(takes) >= 10
    for d in takes:
        sign = 1 if d.side == "Buy" else -1
        stop_bps = float(sign * (d.entry_price - d.stop_price) / d.entry_price * 10_000)
        assert stop_bps >= reason(d, "size.floor_bps") - 1e-4, d
        assert reason(d, "size.floor_bps") >= 2 * reason(d, "size.round_trip_bps") - 1e-4


def test_pre_cross_is_taken_with_the_default_settings(month_piece):
    _, result = month_piece
    assert [d for d in result.decisions if d.kind == "TAKE" and d.path == "pre_cross"]


def test_every_stop_out_within_the_slippage_allowance_costs_at_most_the_budget(month_piece):
    settings, result = month_piece
    budget = Decimal(str(settings.risk.risk_per_trade))
    slippage = Decimal(str(settings.risk.slippage_bps)) / 10_000
    plans = {order_link_id(d.symbol, d.tick_ms, d.path, d.side): d for d in result.decisions if d.kind == "TAKE"}
    stops = [t for t in result.trades if t.exit_reason == "stop"]
    assert len(stops) >= 5
    for trade in stops:
        take = plans[trade.order_link_id]
        sign = 1 if trade.side == "Buy" else -1
        # The venue slips a stop by stop_slippage_bps rounded up to whole ticks and charges a
        # taker half a spread (one tick): the allowance covers the bps, not the tick rounding or
        # the spread, so a fill within them is not a gap; what they cost beyond the allowance is
        # added to the budget: up to 0.12 R on ADAUSDT and BNBUSDT (a tick is 1.6-1.8 bps there),
        # ~0 on BTCUSDT and ETHUSDT (the whole-month counts are in docs/wave3/reliability.md).
        tick = settings_tick(trade.symbol)
        stop = trade.stop_price if trade.stop_price is not None else take.stop_price
        within = ungapped_charge(stop, slippage, tick)
        beyond = sign * (stop - trade.exit_price)
        if beyond > within:
            continue  # filled beyond what the venue charges an ungapped stop: counted apart (below)
        # Funding paid while open is no part of what a stop costs (the risk model prices fees and
        # slippage): a trade held over a settlement pays it on top.
        extra = max(Decimal(0), beyond - stop * slippage) * trade.qty + max(Decimal(0), trade.funding_usdt)
        # A part-filled entry risks its share of the budget: 1 R of this trade.
        budget_filled = budget * trade.qty / take.qty
        assert -trade.pnl_usdt <= budget_filled * Decimal("1.01") + extra, trade
        assert trade.pnl_r is not None and trade.pnl_r >= -1.01 - float(extra / budget_filled), trade


def test_most_stop_outs_fill_within_what_the_venue_charges_an_ungapped_stop(month_piece):
    # Gaps are rare in 1m bars that open at the previous close: the budget check above must meet
    # most stop-outs, not skip them.
    settings, result = month_piece
    slippage = Decimal(str(settings.risk.slippage_bps)) / 10_000
    stops = [t for t in result.trades if t.exit_reason == "stop" and t.stop_price is not None]
    assert len(stops) >= 5
    ungapped = [t for t in stops
                if (1 if t.side == "Buy" else -1) * (t.stop_price - t.exit_price)
                <= ungapped_charge(t.stop_price, slippage, settings_tick(t.symbol))]
    assert len(ungapped) * 2 > len(stops), f"{len(ungapped)} of {len(stops)} stop-outs within the ungapped charge"
