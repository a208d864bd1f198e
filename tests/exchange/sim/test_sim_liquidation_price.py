"""The simulator reports each position's liquidation price (``liqPrice``) as the mark at which
its own cross-margin rule would take the account over, and the bot journals and shows it."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec

from exchange.bybit.models import PositionRow, position_update
from sim_builders import Market


def high_leverage_long(market: Market, qty: str = "3") -> None:
    market.engine.set_leverage({"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "100", "sellLeverage": "100"}, market.t)
    market.order(side="Buy", orderType="Market", qty=qty)


def last_position_push(market: Market) -> dict:
    return [row for topic, row in market.engine.drain_events() if topic == "position"][-1]


def test_a_long_is_liquidated_one_tick_below_its_reported_price_and_not_one_tick_above(market):
    high_leverage_long(market)
    liq = market.engine.liq_price("BTCUSDT")
    assert liq is not None and D(26_000) < liq < D(30_000)
    assert last_position_push(market)["liqPrice"] == market.engine.rules["BTCUSDT"].price_text(liq)
    tick = market.engine.rules["BTCUSDT"].tick_size
    market.bar(30000, 30010, liq, liq + tick)
    assert market.position().size == D(3), "closed above the reported price: still open"
    market.bar(liq + tick, liq + tick, liq - tick, liq - tick)
    assert market.position().size == 0, "closed below the reported price: liquidated"


def test_the_liquidation_price_solves_the_venues_own_margin_rule(market):
    high_leverage_long(market)
    e = market.engine
    liq = e.liq_price("BTCUSDT")
    tick = e.rules["BTCUSDT"].tick_size
    (pos,) = [p for p in e.positions.values() if p.size]
    equity_at = lambda mark: e.wallet + (mark - pos.avg_price) * pos.size  # noqa: E731
    # Rounded up onto the grid (towards the mark): at most a tick above the exact threshold.
    assert equity_at(liq) >= e.position_mm() > equity_at(liq - tick)


def test_a_short_rounds_down_and_a_hedged_or_fully_covered_position_has_none(hedge_market):
    e = hedge_market.engine
    e.set_leverage({"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "100", "sellLeverage": "100"}, hedge_market.t)
    hedge_market.order(side="Sell", orderType="Market", qty="3", positionIdx=2)
    short_liq = e.liq_price("BTCUSDT")
    assert short_liq is not None and short_liq > D(30_000)
    (short,) = [p for p in e.positions.values() if p.size]
    tick = e.rules["BTCUSDT"].tick_size
    equity_at = lambda mark: e.wallet + (short.avg_price - mark) * short.size  # noqa: E731
    assert equity_at(short_liq) >= e.position_mm() > equity_at(short_liq + tick)  # rounded down, towards the mark
    hedge_market.order(side="Buy", orderType="Market", qty="3", positionIdx=1)
    assert e.liq_price("BTCUSDT") is None  # long and short net to zero: this price cannot liquidate
    assert last_position_push(hedge_market)["liqPrice"] == ""


def test_a_small_position_the_wallet_covers_entirely_reports_no_price(market):
    market.order(side="Buy", orderType="Market", qty="0.001")
    assert market.engine.liq_price("BTCUSDT") is None
    assert last_position_push(market)["liqPrice"] == ""


def test_the_bot_decodes_the_price_and_reads_an_empty_one_as_none():
    row = {"symbol": "BTCUSDT", "positionIdx": 1, "side": "Buy", "size": "0.010", "avgPrice": "97000.00", "liqPrice": "88210.50"}
    assert position_update(msgspec.convert(row, PositionRow)).liq_price == D("88210.50")
    assert position_update(msgspec.convert({**row, "liqPrice": ""}, PositionRow)).liq_price is None
