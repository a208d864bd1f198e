"""Instrument rules parsed from instruments-info, and the last check before the wire: prices
rounded only ever in the safe direction, quantities down, undersized orders stopped."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from bybit_venue import INSTRUMENT
from hypothesis import given
from hypothesis import strategies as st

from vocabulary.messages import OrderIntent
from exchange.bybit.instruments import InstrumentProblem, InstrumentRow, OrderCheck, is_tradable, parse_instrument, prepare_intent
from exchange.bybit.venues import venue_urls

ROW = msgspec.convert(INSTRUMENT, InstrumentRow)
RULES = parse_instrument(ROW)
prices = st.decimals(min_value=Decimal("100"), max_value=Decimal("200000"), places=4)
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"), places=6)


def create(side: str, price: Decimal, qty: Decimal, **kw) -> OrderIntent:
    return OrderIntent(action="create", symbol="BTCUSDT", order_link_id="x", side=side, price=price, qty=qty, **kw)


@given(price=prices, qty=quantities, side=st.sampled_from(["Buy", "Sell"]))
def test_limit_prices_never_get_more_aggressive_and_qty_never_grows(price, qty, side):
    checked = prepare_intent(create(side, price, qty), RULES)
    if checked.problem is not None:
        assert "notional" in checked.problem or "minOrderQty" in checked.problem
        return
    sent = checked.intent
    assert sent.price % RULES.tick_size == 0 and sent.qty % RULES.qty_step == 0
    assert abs(sent.price - price) < RULES.tick_size and qty - sent.qty < RULES.qty_step
    assert (sent.price <= price) if side == "Buy" else (sent.price >= price)
    assert sent.qty <= qty


@given(price=prices, side=st.sampled_from(["Buy", "Sell"]), stop_gap=st.decimals(min_value=Decimal("1"), max_value=Decimal("90"), places=3))
def test_attached_stops_round_toward_the_entry(price, side, stop_gap):
    stop = price - stop_gap if side == "Buy" else price + stop_gap
    sent = prepare_intent(create(side, price, Decimal("1"), stop_loss=stop), RULES).intent
    assert sent.stop_loss % RULES.tick_size == 0 and abs(sent.stop_loss - stop) < RULES.tick_size
    assert (sent.stop_loss >= stop) if side == "Buy" else (sent.stop_loss <= stop)


def test_undersized_orders_are_stopped_before_the_wire():
    assert "minOrderQty" in prepare_intent(create("Buy", Decimal("30000"), Decimal("0.0009")), RULES).problem
    assert "minNotionalValue" in prepare_intent(create("Buy", Decimal("4000"), Decimal("0.001")), RULES).problem
    assert prepare_intent(create("Sell", Decimal("4000"), Decimal("0.001"), reduce_only=True), RULES).problem is None
    assert "maxOrderQty" in prepare_intent(create("Buy", Decimal("100"), Decimal("2000")), RULES).problem
    assert "not positive" in prepare_intent(create("Buy", Decimal("-1"), Decimal("1")), RULES).problem


def test_a_trading_stop_without_a_side_must_already_be_on_the_grid():
    off = OrderIntent(action="trading_stop", symbol="BTCUSDT", stop_loss=Decimal("30000.05"))
    on = OrderIntent(action="trading_stop", symbol="BTCUSDT", stop_loss=Decimal("30000.10"))
    assert "tick grid" in prepare_intent(off, RULES).problem
    assert prepare_intent(on, RULES) == OrderCheck(on)
    cancel_tp = OrderIntent(action="trading_stop", symbol="BTCUSDT", side="Buy", take_profit=Decimal("0"))
    assert prepare_intent(cancel_tp, RULES).problem is None  # "0" cancels a take-profit


def test_rows_without_usable_filters_and_non_trading_symbols():
    assert is_tradable(ROW) and not is_tradable(msgspec.structs.replace(ROW, status="PreLaunch"))
    assert not is_tradable(msgspec.structs.replace(ROW, isPreListing=True))
    with pytest.raises(InstrumentProblem, match="BTCUSDT: lotSizeFilter.qtyStep"):
        parse_instrument(msgspec.convert({**INSTRUMENT, "lotSizeFilter": {"minOrderQty": "0.001"}}, InstrumentRow))


def test_every_venue_has_its_three_addresses():
    assert venue_urls("mainnet") == ("https://api.bybit.com", "wss://stream.bybit.com/v5/public/linear", "wss://stream.bybit.com/v5/private")
    assert venue_urls("demo").ws_public == "wss://stream.bybit.com/v5/public/linear"
    assert venue_urls("demo").ws_private == "wss://stream-demo.bybit.com/v5/private"
    assert venue_urls("testnet").rest == "https://api-testnet.bybit.com"
    assert venue_urls("sim", sim_port=9999) == ("http://127.0.0.1:9999", "ws://127.0.0.1:9999/v5/public/linear", "ws://127.0.0.1:9999/v5/private")
    with pytest.raises(ValueError, match="unknown venue"):
        venue_urls("paper")
