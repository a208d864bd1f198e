"""record_for: which table each message lands in, and values stored without loss."""

import json
import sqlite3
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabulary import messages as m
from journal.records import record_for
from journal.schema import columns
from journal.writer import JournalWriter
from tests.journal import samples as s


@pytest.mark.parametrize(
    ("message", "table"),
    [
        (s.take(), "decisions"), (s.intent(), "orders"), (s.ack(), "orders"), (s.order_update(), "orders"),
        (s.execution(), "executions"), (s.position(), "position_snapshots"), (s.trade(), "trades"),
        (s.event(), "events"), (m.FeedGap(symbol="ETHUSDT", interval=1, from_ms=0, to_ms=60_000), "events"),
        (s.bar(), "bars"),
    ],
)
def test_every_journaled_message_maps_to_its_table_with_schema_columns_only(message, table):
    got_table, row = record_for(message)
    assert got_table == table
    assert set(row) <= set(columns(table)) - {"seq"}
    assert "tick_ms" in row and "ts_ms" in row


@pytest.mark.parametrize(
    "message",
    [
        m.Tick(boundary_ms=s.T0, closed=(1,)),
        m.Instrument(symbol="BTCUSDT", tick_size=Decimal("0.10"), qty_step=Decimal("0.001"), min_order_qty=Decimal("0.001")),
        m.MarketState(symbol="BTCUSDT", tick_ms=s.T0, frames=()),
        m.Reason(code="x"),
        m.Kline(symbol="BTCUSDT", interval=1, start_ms=s.T0, open=1, high=1, low=1, close=1, volume=0, confirmed=False),
        "not a message",
    ],
)
def test_messages_the_journal_does_not_keep_map_to_nothing(message):
    assert record_for(message) is None


def test_orders_table_tells_request_answer_and_status_apart():
    assert record_for(s.intent())[1]["kind"] == "intent"
    ack = record_for(s.ack(outcome="would_take"))[1]
    assert (ack["kind"], ack["outcome"], ack["ret_code"], ack["order_link_id"]) == ("ack", "would_take", 170218, "smt-BTC-1")
    update = record_for(s.order_update(status="PartiallyFilled"))[1]
    assert (update["kind"], update["status"], update["cum_exec_qty"]) == ("update", "PartiallyFilled", "0.010")


def test_order_rows_keep_the_whole_message_as_json():
    row = record_for(s.ack())[1]
    assert m.from_json(row["message"]) == s.ack()


def test_reasons_are_json_with_codes_and_values():
    row = record_for(s.take())[1]
    assert json.loads(row["reasons"]) == [{"code": "wt_cross_up", "value": -61.25}, {"code": "bias", "value": "long"}]


def test_event_data_is_a_json_object():
    row = record_for(s.event())[1]
    assert json.loads(row["data"]) == {"attempt": "2", "stream": "kline.1.BTCUSDT"}


def test_a_bar_belongs_to_the_tick_that_closes_it():
    row = record_for(s.bar(start_ms=s.T0, interval=5))[1]
    assert (row["ts_ms"], row["tick_ms"]) == (s.T0, s.T0 + 5 * 60_000)


decimals = st.decimals(allow_nan=False, allow_infinity=False, places=10, min_value=-10**12, max_value=10**12)


@settings(max_examples=60, deadline=None)
@given(price=decimals, qty=decimals, fee=decimals)
def test_decimals_survive_the_file_exactly_including_trailing_zeros(tmp_path_factory, price, qty, fee):
    path = tmp_path_factory.mktemp("dec") / "j.sqlite"
    writer = JournalWriter(path)
    writer.append_now([m.ExecutionUpdate(symbol="BTCUSDT", exec_id="e", order_id="o", order_link_id="l", side="Sell",
                                         price=price, qty=qty, fee=fee, is_maker=False, exec_ms=1)])
    writer.close()
    stored = sqlite3.connect(path).execute("SELECT price, qty, fee, typeof(price) FROM executions").fetchone()
    assert stored[:3] == (str(price), str(qty), str(fee))
    assert stored[3] == "text"
    assert Decimal(stored[0]) == price


def test_trailing_zero_of_a_tick_sized_price_is_kept():
    row = record_for(s.take())[1]
    assert (row["entry_price"], row["qty"]) == ("97123.40", "0.010")


floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
prices = st.one_of(st.none(), decimals)


@settings(max_examples=150, deadline=None)
@given(st.builds(m.Kline, symbol=st.sampled_from(["BTCUSDT", "DOGEUSDT"]), interval=st.sampled_from([1, 3, 5, 15]),
                 start_ms=st.integers(0, 2**41).map(lambda t: t - t % 60_000), open=floats, high=floats, low=floats,
                 close=floats, volume=floats, turnover=floats),
       st.builds(m.Decision, tick_ms=st.integers(0, 2**41), symbol=st.sampled_from(["ETHUSDT"]),
                 kind=st.sampled_from(["NO_SETUP", "TAKE", "REJECT"]), path=st.one_of(st.none(), st.just("pre_cross")),
                 side=st.one_of(st.none(), st.just("Sell")), score=st.one_of(st.none(), floats),
                 reasons=st.lists(st.builds(m.Reason, code=st.sampled_from(["data.stale", "score.low"]),
                                            value=st.one_of(st.none(), floats, st.text(max_size=5))), max_size=3).map(tuple),
                 entry_price=prices, stop_price=prices, target_price=prices, qty=prices),
       st.integers(1, 2**40), st.integers(0, 50))
def test_bars_and_decisions_are_written_as_their_mapping_says(bar, decision, seq, run_id):
    """The writer puts a tick's bars and decisions straight into their columns (``bar_values``,
    ``decision_values``); every value is the one ``record_for``'s mapping gives, column for column."""
    from journal.records import bar_values, decision_values
    for message, values in ((bar, bar_values(bar, seq, run_id)), (decision, decision_values(decision, seq, run_id))):
        table, row = record_for(message)
        assert values == tuple({**row, "seq": seq, "run_id": run_id}.get(c) for c in columns(table))
