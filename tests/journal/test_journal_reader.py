"""JournalReader: read-only, bounded, and never stale after the writer commits."""

import sqlite3
from decimal import Decimal

import msgspec
import pytest

from vocabulary import messages as m
from journal.reader import DAY_MS, MAX_LIMIT, JournalReader, JournalUnavailable
from journal.writer import JournalWriter
from tests.journal import samples as s

D = Decimal

NOW = s.T0 + 60 * s.MIN  # 10:40 UTC on the sample day


@pytest.fixture
def path(tmp_path):
    return tmp_path / "journal.sqlite"


@pytest.fixture
def writer(path):
    w = JournalWriter(path)
    yield w
    w.close()


@pytest.fixture
def reader(path, writer):
    r = JournalReader(path)
    yield r
    r.close()


def test_a_write_through_the_reader_fails_inside_sqlite(path, writer, reader):
    writer.append_now(s.one_of_each())
    size = path.stat().st_size
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        reader.execute("INSERT INTO events (kind, source, level) VALUES ('x', 'y', 'INFO')")
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        reader.execute("CREATE TABLE scratch (x)")
    assert reader.execute("SELECT count(*) AS n FROM events") == [{"n": 2}]
    assert path.stat().st_size == size


def test_a_missing_journal_is_reported_as_unavailable(tmp_path):
    with pytest.raises(JournalUnavailable, match="no journal"):
        JournalReader(tmp_path / "nowhere.sqlite").decisions()


def test_decisions_come_newest_first_filtered_and_paged_by_seq(writer, reader):
    for i in range(6):
        writer.append([s.decision(tick_ms=s.T0 + i * s.MIN, symbol=sym, kind="REJECT" if i % 2 else "NO_SETUP")
                       for sym in ("BTCUSDT", "ETHUSDT")])
    writer.append([s.take(tick_ms=s.T0 + 6 * s.MIN)])
    writer.commit()
    newest = reader.decisions(limit=3)
    assert [d["seq"] for d in newest] == [14, 13, 12]  # seq 1 is the run row
    assert newest[0]["kind"] == "TAKE" and newest[0]["reasons"][0] == {"code": "wt_cross_up", "value": -61.25}
    eth_rejects = reader.decisions(symbol="ETHUSDT", kind="REJECT", limit=10)
    assert [d["tick_ms"] for d in eth_rejects] == [s.T0 + i * s.MIN for i in (5, 3, 1)]
    page2 = reader.decisions(symbol="ETHUSDT", kind="REJECT", limit=2, before=eth_rejects[1]["seq"])
    assert [d["tick_ms"] for d in page2] == [s.T0 + s.MIN]


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_limits_outside_the_bounds_are_refused(reader, limit):
    for query in (reader.decisions, reader.trades, reader.events):
        with pytest.raises(ValueError, match="limit"):
            query(limit=limit)


def test_trades_since_filters_on_exit_time(writer, reader):
    writer.append_now([s.trade(exit_ms=s.T0 + i * s.MIN, pnl=str(i)) for i in range(5)])
    assert [t["pnl_usdt"] for t in reader.trades(since=s.T0 + 3 * s.MIN)] == ["4", "3"]
    assert reader.trades(symbol="ETHUSDT") == []


def test_positions_are_the_latest_open_snapshot_per_symbol(writer, reader):
    writer.append_now([s.position("BTCUSDT", "0.010", ts=1), s.position("ETHUSDT", "0.5", ts=1),
                       s.position("BTCUSDT", "0.020", upnl="3.5", ts=2)])
    assert [(p["symbol"], p["size"], p["unrealised_pnl"]) for p in reader.positions()] == [
        ("BTCUSDT", "0.020", "3.5"), ("ETHUSDT", "0.5", "1.25")]
    writer.append_now([s.position("ETHUSDT", "0", ts=3)])
    assert [p["symbol"] for p in reader.positions()] == ["BTCUSDT"]


def test_pnl_ledger_sums_usdt_exactly_and_r_per_window_and_symbol(writer, reader):
    writer.append_now([
        s.trade("BTCUSDT", exit_ms=NOW - 5 * s.MIN, pnl="0.1", r=1.0),
        s.trade("ETHUSDT", exit_ms=NOW - 6 * s.MIN, pnl="0.2", r=-0.5),
        s.trade("BTCUSDT", exit_ms=NOW - 3 * DAY_MS, pnl="-1.05", r=-1.0),
        s.trade("BTCUSDT", exit_ms=NOW - 10 * DAY_MS, pnl="7.00", r=None),
    ])
    ledger = reader.pnl(NOW)
    assert ledger["today"]["total"]["pnl_usdt"] == "0.3"  # not 0.30000000000000004
    assert ledger["today"]["from_ms"] == NOW - NOW % DAY_MS
    assert ledger["today"]["total"]["pnl_r"] == 0.5
    assert ledger["7d"]["total"]["pnl_usdt"] == "-0.75"
    assert ledger["7d"]["by_symbol"]["BTCUSDT"]["pnl_usdt"] == "-0.95"
    assert ledger["all"]["from_ms"] is None and ledger["all"]["total"]["pnl_r"] == -0.5
    assert (ledger["all"]["total"]["trades"], ledger["all"]["total"]["wins"], ledger["all"]["total"]["losses"]) == (4, 3, 1)
    assert ledger["all"]["total"]["pnl_usdt"] == "6.25"
    assert ledger["all"]["total"]["r_trades"] == 3
    assert ledger["all"]["by_symbol"]["ETHUSDT"]["pnl_r"] == -0.5


def test_pnl_ledger_says_where_the_money_went_per_symbol_and_path(writer, reader):
    stopped = msgspec.structs.replace(
        s.trade("BTCUSDT", exit_ms=NOW - 5 * s.MIN, pnl="-1.27", r=-1.27, reason="stop"),
        path="pre_cross", entry_price=D("100000"), qty=D("0.010"), stop_price=D("99900"), fees=D("0.17"),
        gross_usdt=D("-1"), slippage_usdt=D("0.06"), funding_usdt=D("0.04"))
    won = msgspec.structs.replace(
        s.trade("ETHUSDT", exit_ms=NOW - 6 * s.MIN, pnl="1.9", r=1.9), entry_price=D("2000"), qty=D("1"),
        stop_price=D("1999"), fees=D("0.1"), gross_usdt=D("2"))
    writer.append_now([stopped, won])
    for window in ("today", "all"):
        total = reader.pnl(NOW)[window]["total"]
        assert (total["gross_usdt"], total["slippage_usdt"], total["funding_usdt"]) == ("1", "0.06", "0.04")
        assert Decimal(total["gross_usdt"]) - Decimal(total["fees"]) - Decimal(total["slippage_usdt"]) \
            - Decimal(total["funding_usdt"]) == Decimal(total["pnl_usdt"]) == D("0.63")
        assert total["exits"] == {"stop": 1, "target": 1, "break_even": 0, "ttl": 0, "liquidation": 0, "manual": 0, "unknown": 0}
        assert total["stop_bps"] == {"trades": 2, "min": 5.0, "p25": 5.0, "median": 7.5, "p75": 10.0, "max": 10.0}
    ledger = reader.pnl(NOW)["today"]
    assert ledger["by_path"]["pre_cross"]["per_trade_r"] == {
        "gross_usdt": -1.0, "fees": 0.17, "slippage_usdt": 0.06, "funding_usdt": 0.04, "pnl_usdt": -1.27}
    assert ledger["by_symbol"]["ETHUSDT"]["per_trade_r"]["pnl_usdt"] == 1.9


def test_counters_and_cached_views_follow_new_commits(writer, reader):
    writer.append_now([s.decision(), s.ack(), s.ack(link="x", outcome="would_take"), s.event("reconnect")])
    first = reader.counters()
    assert first["decisions_by_kind"] == {"NO_SETUP": 1}
    assert first["orders_by_result"] == {"ok": 1, "would_take": 1}
    assert first["reconnects"] == 1
    assert reader.pnl(NOW)["all"]["total"]["trades"] == 0
    writer.append_now([s.take(), s.decision(kind="REJECT"), s.ack(link="y"), s.event("reconnect"), s.bar(), s.trade()])
    again = reader.counters()
    assert again["decisions_by_kind"] == {"NO_SETUP": 1, "TAKE": 1, "REJECT": 1}
    assert again["orders_by_result"] == {"ok": 2, "would_take": 1}
    assert (again["reconnects"], again["bars"], again["trades"]) == (2, 1, 1)
    assert reader.pnl(NOW)["all"]["total"]["trades"] == 1


def test_symbols_and_overview_cover_configured_and_journaled_symbols(writer, reader):
    writer.append_now([s.bar("ETHUSDT", close=3000.5), s.decision(symbol="ETHUSDT"), s.take(symbol="BTCUSDT"),
                       s.position("BTCUSDT")])
    assert reader.symbols() == ["BTCUSDT", "ETHUSDT"]
    rows = {r["symbol"]: r for r in reader.overview(["SOLUSDT", "ETHUSDT"])}
    assert list(rows) == ["SOLUSDT", "ETHUSDT", "BTCUSDT"]
    assert rows["SOLUSDT"] == {"symbol": "SOLUSDT", "last_bar": None, "last_decision": None, "positions": []}
    assert rows["ETHUSDT"]["last_bar"]["close"] == 3000.5
    assert rows["BTCUSDT"]["last_decision"]["kind"] == "TAKE"
    assert rows["BTCUSDT"]["positions"][0]["size"] == "0.010"


def test_facts_name_the_schema_version_and_the_last_tick(writer, reader):
    writer.append_now([m.Tick(boundary_ms=s.T0, closed=(1,)), s.decision(tick_ms=s.T0 + s.MIN), s.bar()])
    facts = reader.facts()
    assert facts["last_seq"] == 3 and facts["last_tick_ms"] == s.T0 + s.MIN and facts["bars"] == 1
    assert facts["schema_version"] >= 2


def test_a_snapshot_sees_one_journal_version_while_the_writer_commits(writer, reader):
    writer.append_now([s.decision(symbol="BTCUSDT")])
    with reader.snapshot():
        before = reader.last_seq()
        writer.append_now([s.take(symbol="BTCUSDT"), s.decision(symbol="ETHUSDT")])
        assert reader.last_seq() == before
        assert [d["kind"] for d in reader.decisions()] == ["NO_SETUP"]
    assert reader.last_seq() == before + 2
    assert [d["kind"] for d in reader.decisions()] == ["NO_SETUP", "TAKE", "NO_SETUP"]


def test_the_facts_of_a_journal_without_decisions_yet_are_answered(tmp_path):
    from journal.reader import JournalReader
    from journal.writer import JournalWriter

    writer = JournalWriter(tmp_path / "j.sqlite")
    writer.close()
    facts = JournalReader(tmp_path / "j.sqlite").facts()
    assert facts["last_tick_ms"] is None and facts["bars"] == 0
