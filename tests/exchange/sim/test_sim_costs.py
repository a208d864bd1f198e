"""What the venue charges beyond its fee rates (exchange/sim/costs.py), each against fills
computed by hand. BTCUSDT: tick 0.10, qty step 0.001; 2 bps of 29 900 is 5.98 USDT, which
rounds against the taker to 60 ticks (6.0); a one-tick spread costs a taker one tick (0.1)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from exchange.sim.costs import NO_COSTS, Costs, FundingRates, stop_fill_ticks
from sim_builders import Market, btc_engine

EIGHT_AM = 1_700_006_400_000  # 2023-11-15 00:00 UTC: a funding settlement (a multiple of 8 h)
COSTS = Costs(funding=False, partial_fills=False)  # stops and spread only, unless a test says otherwise


def market_with(costs: Costs, **config) -> Market:
    return Market(btc_engine(costs=costs, **config))


def post_only(m: Market, side: str, price, qty="0.01", **extra):
    return m.order(side=side, orderType="Limit", qty=qty, price=str(price), timeInForce="PostOnly", **extra)


def open_long(m: Market, sl="29900", qty="0.01", **extra):
    entry = m.get(post_only(m, "Buy", "29990", qty=qty, stopLoss=sl, tpslMode="Full", **extra))
    m.bar(30000, 30005, 29980, 29995)
    assert entry.status == "Filled"
    return entry


def open_short(m: Market, sl="30100", qty="0.01"):
    entry = m.get(post_only(m, "Sell", "30010", qty=qty, stopLoss=sl, tpslMode="Full"))
    m.bar(30000, 30020, 29995, 30005)
    assert entry.status == "Filled"
    return entry


def last_fill(m: Market) -> dict:
    return m.engine.executions[-1]


# --- stop slippage ------------------------------------------------------------------------------


def test_a_long_stop_fills_the_slippage_and_half_a_spread_below_its_trigger():
    m = market_with(COSTS)
    open_long(m)
    m.bar(29995, 29996, 29850, 29860)
    fill = last_fill(m)
    # 29900 - ceil(299000 ticks x 2 bps = 59.8) ticks - 1 tick of half spread
    assert (fill["execPrice"], fill["orderPrice"], fill["isMaker"]) == ("29893.90", "29900.00", False)
    assert D(fill["execFee"]) == D("29893.9") * D("0.01") * D("0.00055")


def test_a_short_stop_mirrors_it_above_the_trigger():
    m = market_with(COSTS)
    open_short(m)
    m.bar(30005, 30200, 30000, 30150)
    fill = last_fill(m)
    # 30100 + ceil(301000 x 2 bps = 60.2) = 61 ticks + 1 tick
    assert (fill["side"], fill["execPrice"], fill["orderPrice"]) == ("Buy", "30106.20", "30100.00")


def test_a_stop_the_price_already_stands_beyond_pays_the_slippage_beyond_that_price_not_the_bars_low():
    m = market_with(COSTS)
    open_long(m)
    m.engine.set_last_price("BTCUSDT", D("29800"))
    m.bar(29800, 29810, 29700, 29750)
    # 29800 - ceil(298000 ticks x 2 bps = 59.6) = 60 ticks - 1 tick of half spread; the low (29700)
    # trades later in the minute, after the stop's market order met the book
    assert last_fill(m)["execPrice"] == "29793.90"


def test_a_bar_that_opens_through_the_stop_is_a_gap_filled_beyond_its_open():
    m = market_with(COSTS)
    open_long(m)
    m.bar(29850, 29860, 29840, 29855)  # last close 29995, open 29850: nothing traded in between
    # 29850 - ceil(298500 x 2 bps = 59.7) = 60 ticks - 1 tick; not the low 29840
    assert last_fill(m)["execPrice"] == "29843.90"


def test_a_short_stop_gapped_through_mirrors_it_above_the_open():
    m = market_with(COSTS)
    open_short(m)
    m.bar(30150, 30300, 30140, 30200)  # last close 30005, open 30150 above the 30100 stop
    # 30150 + ceil(301500 x 2 bps = 60.3) = 61 ticks + 1 tick; not the high 30300
    assert last_fill(m)["execPrice"] == "30156.20"


def test_a_gap_shallower_than_the_slippage_pays_the_slippage_beyond_the_open():
    m = market_with(COSTS)
    open_long(m)
    m.bar(29899, 29899, 29897, 29898)
    # the open 29899 - ceil(298990 x 2 bps = 59.8) = 60 ticks - 1 tick: one tick worse than at the trigger
    assert last_fill(m)["execPrice"] == "29892.90"


def test_without_costs_a_stop_fills_at_its_trigger_and_a_gap_where_the_path_stood():
    m = market_with(NO_COSTS)
    open_long(m)
    m.bar(29995, 29996, 29850, 29860)
    assert last_fill(m)["execPrice"] == "29900.00"
    m2 = market_with(NO_COSTS)
    open_long(m2)
    m2.engine.set_last_price("BTCUSDT", D("29800"))
    m2.bar(29800, 29810, 29700, 29750)
    assert last_fill(m2)["execPrice"] == "29800.00"


def test_a_break_even_stop_reports_its_moved_trigger_as_the_reference():
    m = market_with(COSTS)
    open_long(m)
    m.engine.set_trading_stop({"category": "linear", "symbol": "BTCUSDT", "positionIdx": 0, "stopLoss": "29992",
                               "tpslMode": "Full"}, m.t)
    m.bar(29994, 29994, 29980, 29985)
    fill = last_fill(m)
    # 299920 ticks x 2 bps = 59.98 -> 60 ticks, then a tick of half spread
    assert (fill["orderPrice"], fill["execPrice"]) == ("29992.00", "29985.90")


def test_stop_fill_ticks_is_one_rule_for_both_directions_in_the_trade_frame():
    costs = Costs()
    long_fill = stop_fill_ticks(costs, 299_000, 299_000, None, falling=True)
    short_fill = -stop_fill_ticks(costs, -301_000, -301_000, None, falling=True)  # a short, negated
    assert (long_fill, short_fill) == (299_000 - 60 - 1, 301_000 + 61 + 1)


# --- spread -------------------------------------------------------------------------------------


def test_a_market_order_pays_half_a_one_tick_spread_by_default():
    m = market_with(COSTS)
    m.order(side="Buy", orderType="Market", qty="0.01")
    assert last_fill(m)["execPrice"] == "30000.10"
    m.order(side="Sell", orderType="Market", qty="0.01")
    assert last_fill(m)["execPrice"] == "29999.90"


def test_a_spread_in_bps_costs_half_of_it_rounded_against_the_taker():
    m = market_with(Costs(spread_bps=3.0, funding=False, partial_fills=False))
    m.order(side="Buy", orderType="Market", qty="0.01")
    assert last_fill(m)["execPrice"] == "30004.50"  # 300000 ticks x 1.5 bps = 45 ticks


def test_a_crossing_limit_pays_the_spread_but_never_beyond_its_price():
    m = market_with(Costs(spread_bps=10.0, funding=False, partial_fills=False))
    m.order(side="Buy", orderType="Limit", qty="0.01", price="30005")
    assert (last_fill(m)["execPrice"], last_fill(m)["isMaker"]) == ("30005.00", False)


def test_a_maker_fill_pays_no_spread():
    m = market_with(COSTS)
    open_long(m)
    assert m.engine.executions[0]["execPrice"] == "29990.00"


def test_without_the_spread_a_market_order_takes_at_the_last_price():
    m = market_with(NO_COSTS)
    m.order(side="Buy", orderType="Market", qty="0.01")
    assert last_fill(m)["execPrice"] == "30000.00"


# --- funding ------------------------------------------------------------------------------------


def test_funding_charges_a_long_size_times_mark_times_rate_as_a_bybit_funding_execution():
    m = market_with(Costs(stop_slippage=False, spread=False, partial_fills=False))
    open_long(m)
    wallet = m.engine.wallet
    m.engine.settle_funding(EIGHT_AM)
    fill = last_fill(m)
    assert (fill["execType"], fill["orderType"], fill["side"], fill["execQty"], fill["execPrice"]) == (
        "Funding", "UNKNOWN", "Buy", "0.010", "29995.00")
    assert D(fill["execFee"]) == D("0.029995")  # 0.01 x 29995 x 0.0001
    assert (D(fill["feeRate"]), fill["execTime"]) == (D("0.0001"), str(EIGHT_AM))
    assert m.engine.wallet == wallet - D("0.029995")
    assert m.engine.drain_events()[-3][0] == "execution"


def test_a_short_receives_a_positive_rate():
    m = market_with(Costs(stop_slippage=False, spread=False, partial_fills=False))
    open_short(m)
    wallet = m.engine.wallet
    m.engine.settle_funding(EIGHT_AM)
    assert D(last_fill(m)["execFee"]) == D("-0.030005")  # 0.01 x 30005 x 0.0001, received
    assert m.engine.wallet == wallet + D("0.030005")


def test_funding_settles_only_at_00_08_16_utc_and_once_per_settlement():
    m = market_with(Costs(stop_slippage=False, spread=False, partial_fills=False))
    open_long(m)
    count = len(m.engine.executions)
    m.engine.settle_funding(EIGHT_AM - 60_000)
    m.engine.settle_funding(EIGHT_AM)
    m.engine.settle_funding(EIGHT_AM)
    assert len(m.engine.executions) == count + 1


def test_no_position_no_funding_and_funding_off_charges_nothing():
    m = market_with(Costs(stop_slippage=False, spread=False, partial_fills=False))
    m.engine.settle_funding(EIGHT_AM)
    assert m.engine.executions == []
    off = market_with(NO_COSTS)
    open_long(off)
    off.engine.settle_funding(EIGHT_AM)
    assert [e["execType"] for e in off.engine.executions] == ["Trade"]


def test_a_funding_csv_gives_the_rate_of_each_settlement(tmp_path: Path):
    csv = tmp_path / "funding.csv"
    csv.write_text(f"symbol,fundingRateTimestamp,fundingRate\nBTCUSDT,{EIGHT_AM},-0.0003\n")
    m = market_with(Costs(stop_slippage=False, spread=False, partial_fills=False), funding_csv=str(csv))
    open_long(m)
    m.engine.settle_funding(EIGHT_AM)
    assert D(last_fill(m)["execFee"]) == D("-0.089985")  # a negative rate pays the long
    assert FundingRates.load(0.0001, csv).rate("BTCUSDT", EIGHT_AM + 28_800_000) == D("0.0001")


def test_a_malformed_funding_csv_is_one_clear_error(tmp_path: Path):
    csv = tmp_path / "funding.csv"
    csv.write_text("symbol,fundingRateTimestamp,fundingRate\nBTCUSDT,soon,0.0001\n")
    with pytest.raises(ValueError, match=r"funding.csv:2: expected symbol,fundingRateTimestamp,fundingRate"):
        FundingRates.load(0.0001, csv)


# --- partial fills ------------------------------------------------------------------------------


def test_a_bar_that_only_touches_a_resting_limit_fills_the_fraction_of_what_is_left():
    m = market_with(Costs(stop_slippage=False, spread=False, funding=False))
    entry = m.get(post_only(m, "Buy", "29990", stopLoss="29900", tpslMode="Full"))
    m.bar(30000, 30010, "29990", 30005)  # touches 29990, never 29989.9
    assert (entry.status, entry.cum_exec_qty) == ("PartiallyFilled", D("0.005"))
    fill = last_fill(m)
    assert (fill["execQty"], fill["leavesQty"], fill["execPrice"], fill["isMaker"]) == ("0.005", "0.005", "29990.00", True)
    assert m.position().size == D("0.005") and m.position().stop_loss == D("29900")
    m.bar(30005, 30006, "29990", 30000)
    assert entry.cum_exec_qty == D("0.007")  # 0.0025 floored to the 0.001 step
    m.bar(30000, 30001, "29989.9", 29995)  # through: the rest fills
    assert (entry.status, entry.cum_exec_qty, m.position().size) == ("Filled", D("0.01"), D("0.01"))


def test_the_stop_attaches_once_and_a_later_partial_fill_keeps_a_moved_stop():
    m = market_with(Costs(stop_slippage=False, spread=False, funding=False))
    m.get(post_only(m, "Buy", "29990", stopLoss="29900", tpslMode="Full"))
    m.bar(30000, 30010, "29990", 30005)
    m.engine.set_trading_stop({"category": "linear", "symbol": "BTCUSDT", "positionIdx": 0, "stopLoss": "29950",
                               "tpslMode": "Full"}, m.t)
    m.bar(30005, 30006, "29990", 30000)
    assert m.position().stop_loss == D("29950")


def test_a_touch_too_small_for_one_qty_step_fills_nothing():
    m = market_with(Costs(stop_slippage=False, spread=False, funding=False))
    entry = m.get(post_only(m, "Buy", "29990", qty="0.001"))
    m.bar(30000, 30010, "29990", 30005)
    assert (entry.status, m.engine.executions) == ("New", [])


def test_a_touched_take_profit_closes_part_of_the_position():
    m = market_with(Costs(stop_slippage=False, spread=False, funding=False))
    open_long(m)
    tp = m.get(m.order(side="Sell", orderType="Limit", qty="0.01", price="30100", timeInForce="PostOnly", reduceOnly=True))
    m.bar(29995, "30100", 29990, 30050)
    assert (tp.status, tp.cum_exec_qty, m.position().size) == ("PartiallyFilled", D("0.005"), D("0.005"))


def test_without_partial_fills_a_touch_fills_nothing():
    m = market_with(Costs(partial_fills=False, funding=False))
    entry = m.get(post_only(m, "Buy", "29990"))
    m.bar(30000, 30010, "29990", 30005)
    assert entry.status == "New"


def test_the_replay_settles_funding_once_at_the_boundary_after_its_bars():
    from exchange.sim.config import SimConfig
    from exchange.sim.market import KlineStore, load_instruments
    from exchange.sim.venue import Venue
    from sim_builders import DATA, make_bar

    start = EIGHT_AM - 3 * 60_000
    bars = [make_bar(start + i * 60_000, 30000, 30010, 29990, 30000) for i in range(6)]
    rules = load_instruments(DATA / "instruments-bybit-linear.csv")
    venue = Venue(KlineStore({"BTCUSDT": bars}), {"BTCUSDT": rules["BTCUSDT"]},
                  SimConfig(warmup_minutes=1, costs=Costs(stop_slippage=False, spread=False, partial_fills=False)))
    venue.engine.place_order({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.01"},
                             venue.clock_ms)
    while not venue.is_finished:
        venue.advance()
    funding = [e for e in venue.engine.executions if e["execType"] == "Funding"]
    assert [(e["execTime"], e["execFee"]) for e in funding] == [(str(EIGHT_AM), "0.03000000")]  # 0.01 x 30000 x 0.0001
