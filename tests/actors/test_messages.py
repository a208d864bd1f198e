"""Every message round-trips through JSON and msgpack with one decoder."""

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabulary import messages as m

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
maybe = st.none() | finite
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=-10**9, max_value=10**9)
symbols = st.from_regex(r"[A-Z]{2,6}USDT", fullmatch=True)
ms = st.integers(min_value=0, max_value=2**53)
text = st.text(max_size=20)

frame = st.builds(
    m.FrameState,
    interval=st.sampled_from([1, 3, 5, 15]),
    start_ms=ms, open=finite, high=finite, low=finite, close=finite, volume=finite,
    ha_open=finite, ha_high=finite, ha_low=finite, ha_close=finite, ha_streak=st.integers(-500, 500),
    wt1=maybe, wt2=maybe, wt_cross_up=st.booleans(), wt_cross_down=st.booleans(),
    wt_oversold=st.booleans(), wt_overbought=st.booleans(), mfi=maybe, rsi_mfi_area=maybe, ema200=maybe, vwap=maybe,
    wt1_hist=st.tuples(maybe, maybe), ha_streak_hist=st.tuples(st.integers(-9, 9)), high_hist=st.tuples(finite),
)
reason = st.builds(m.Reason, code=text, value=st.none() | finite | st.integers(-10**6, 10**6) | text)

any_message = st.one_of(
    st.builds(m.Kline, symbol=symbols, interval=st.sampled_from([1, 3, 5, 15]), start_ms=ms, open=finite, high=finite,
              low=finite, close=finite, volume=finite, turnover=maybe, confirmed=st.booleans()),
    st.builds(m.Tick, boundary_ms=ms, closed=st.tuples(st.just(1)), late=st.tuples(symbols)),
    st.builds(m.FeedGap, symbol=symbols, interval=st.sampled_from([1, 3]), from_ms=ms, to_ms=ms),
    frame,
    st.builds(m.MarketState, symbol=symbols, tick_ms=ms, frames=st.tuples(frame), is_stale=st.booleans()),
    reason,
    st.builds(m.Decision, tick_ms=ms, symbol=symbols, kind=st.sampled_from(["TAKE", "NO_SETUP", "REJECT"]),
              path=st.sampled_from([None, "cross_based", "pre_cross", "ha_reversal"]), side=st.sampled_from([None, "Buy", "Sell"]),
              score=maybe, reasons=st.tuples(reason, reason), entry_price=st.none() | decimals, qty=st.none() | decimals),
    st.builds(m.OrderIntent, action=st.sampled_from(["create", "amend", "cancel", "cancel_all", "trading_stop"]), symbol=symbols,
              order_link_id=st.none() | text, side=st.sampled_from([None, "Buy", "Sell"]), qty=st.none() | decimals,
              price=st.none() | decimals, position_idx=st.sampled_from([0, 1, 2]), reduce_only=st.booleans(),
              stop_loss=st.none() | decimals),
    st.builds(m.OrderUpdate, symbol=symbols, order_id=text, order_link_id=text, side=st.sampled_from(["Buy", "Sell"]),
              status=text, order_type=text, time_in_force=text, price=st.none() | decimals, qty=decimals,
              cum_exec_qty=decimals, avg_price=st.none() | decimals, position_idx=st.integers(0, 2), reduce_only=st.booleans()),
    st.builds(m.ExecutionUpdate, symbol=symbols, exec_id=text, order_id=text, order_link_id=text,
              side=st.sampled_from(["Buy", "Sell"]), price=decimals, qty=decimals, fee=decimals, is_maker=st.booleans(), exec_ms=ms),
    st.builds(m.PositionUpdate, symbol=symbols, position_idx=st.integers(0, 2), side=st.sampled_from([None, "Buy", "Sell"]),
              size=decimals, avg_price=st.none() | decimals, stop_loss=st.none() | decimals),
    st.builds(m.OrderAck, intent=st.builds(m.OrderIntent, action=st.just("create"), symbol=symbols, price=st.none() | decimals),
              ts_ms=ms, outcome=st.sampled_from(["ok", "would_take", "rejected", "failed"]),
              ret_code=st.none() | st.integers(0, 200000), ret_msg=text, order_id=st.none() | text),
    st.builds(m.TradeClosed, symbol=symbols, side=st.sampled_from(["Buy", "Sell"]), path=st.sampled_from([None, "pre_cross"]),
              entry_ms=ms, exit_ms=ms, entry_price=decimals, exit_price=decimals, qty=decimals, fees=decimals,
              pnl_usdt=decimals, pnl_r=maybe, exit_reason=st.sampled_from(["stop", "target", "break_even"])),
    st.builds(m.JournalEvent, ts_ms=ms, kind=text, source=text, message=text,
              level=st.sampled_from(["INFO", "ERROR"]), data=st.tuples(st.tuples(text, text))),
)


@settings(max_examples=300, deadline=None)
@given(any_message)
def test_any_message_round_trips_through_json(message):
    assert m.from_json(m.to_json(message)) == message


@settings(max_examples=300, deadline=None)
@given(any_message)
def test_any_message_round_trips_through_msgpack(message):
    assert m.from_msgpack(m.to_msgpack(message)) == message


def test_the_tag_names_the_type_on_the_wire():
    data = m.to_json(m.Tick(boundary_ms=60_000, closed=(1, 3)))
    assert msgspec.json.decode(data)["type"] == "Tick"


def test_decimals_travel_as_strings_so_no_price_is_rounded_through_a_float():
    intent = m.OrderIntent(action="create", symbol="BTCUSDT", price=Decimal("104217.5"), qty=Decimal("0.001"))
    assert b'"price":"104217.5"' in m.to_json(intent)
    assert m.from_json(m.to_json(intent)).price == Decimal("104217.5")


def test_messages_are_frozen():
    tick = m.Tick(boundary_ms=0, closed=(1,))
    with pytest.raises(AttributeError):
        tick.boundary_ms = 5  # type: ignore[misc]


def test_an_unknown_type_tag_is_a_validation_error():
    with pytest.raises(msgspec.ValidationError):
        m.from_json(b'{"type": "Nope"}')


def test_market_state_finds_a_frame_by_interval():
    def frame_of(interval):
        return m.FrameState(
            interval=interval, start_ms=0, open=1, high=1, low=1, close=1, volume=0, ha_open=1, ha_high=1, ha_low=1,
            ha_close=1, ha_streak=0, wt1=None, wt2=None, wt_cross_up=False, wt_cross_down=False, wt_oversold=False,
            wt_overbought=False, mfi=None, rsi_mfi_area=None, ema200=None, vwap=None,
        )

    state = m.MarketState(symbol="BTCUSDT", tick_ms=900_000, frames=(frame_of(1), frame_of(3)))
    assert state.frame(3).interval == 3
    assert state.frame(15) is None


def test_a_kline_knows_when_it_ends():
    kline = m.Kline(symbol="BTCUSDT", interval=3, start_ms=180_000, open=1, high=2, low=0.5, close=1.5, volume=3)
    assert kline.end_ms == 360_000


class TestInstrumentRounding:
    btc = m.Instrument(
        symbol="BTCUSDT",
        tick_size=Decimal("0.10"),
        qty_step=Decimal("0.001"),
        min_order_qty=Decimal("0.001"),
        min_notional=Decimal("5"),
    )

    def test_price_rounds_toward_the_requested_side_onto_the_tick(self):
        assert self.btc.round_price(Decimal("104217.57"), "down") == Decimal("104217.5")
        assert self.btc.round_price(Decimal("104217.51"), "up") == Decimal("104217.6")

    def test_a_price_on_the_grid_is_left_alone_either_way(self):
        assert self.btc.round_price(104217.5, "down") == Decimal("104217.5")
        assert self.btc.round_price(104217.5, "up") == Decimal("104217.5")

    def test_qty_always_rounds_down(self):
        assert self.btc.round_qty(Decimal("0.0129")) == Decimal("0.012")

    @given(st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=6))
    def test_rounded_values_are_on_their_grids(self, value):
        for direction in ("down", "up"):
            rounded = self.btc.round_price(value, direction)
            assert rounded % self.btc.tick_size == 0
            assert (rounded <= value) if direction == "down" else (rounded >= value)
        assert self.btc.round_qty(value) % self.btc.qty_step == 0

    def test_order_problems_name_the_rule(self):
        assert "minOrderQty" in self.btc.order_problem(Decimal("0"), Decimal("100000"))
        assert "minNotionalValue" in self.btc.order_problem(Decimal("0.001"), Decimal("1000"))
        assert self.btc.order_problem(Decimal("0.001"), Decimal("100000")) is None
