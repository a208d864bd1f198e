"""Journal speed: rows/s of per-tick batches (25 symbols), append_now latency (an order
event made durable), and the web reader's query latency on a large journal.

Run with ``python bench/journal.py [--rows N]`` (default 1,000,000 rows in the large
journal). The files live in a temporary directory under var/, the same disk the default
journal uses, with the journal's own settings (WAL; a batch of decisions and bars commits
with synchronous=NORMAL, anything with an order or a fill with FULL). Prints a table
(what, figure, target, peer ratio) and, as its last line, one JSON object with the figures.
The peer is sqlite-utils' ``insert_all`` writing the same batches in one transaction; the
per-tick batches are also shown with every commit fsynced (FULL), in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocabulary import messages as m  # noqa: E402
from journal.reader import JournalReader  # noqa: E402
from journal.records import record_for  # noqa: E402
from journal.schema import open_journal  # noqa: E402
from journal.writer import JournalWriter  # noqa: E402

SYMBOLS = tuple(f"{name}USDT" for name in (
    "BTC", "ETH", "SOL", "BNB", "ADA", "DOGE", "DOT", "XRP", "LTC", "LINK", "AVAX", "ATOM", "NEAR",
    "APT", "ARB", "OP", "SUI", "TRX", "BCH", "ETC", "FIL", "INJ", "TIA", "SEI", "WLD",
))
T0 = 1_764_150_000_000
MIN = 60_000
KINDS = ("NO_SETUP",) * 17 + ("REJECT",) * 7 + ("TAKE",)


def decision(i: int, symbol: str, tick_ms: int) -> m.Decision:
    kind = KINDS[i % len(KINDS)]
    if kind == "NO_SETUP":
        return m.Decision(tick_ms=tick_ms, symbol=symbol, kind=kind)
    return m.Decision(
        tick_ms=tick_ms, symbol=symbol, kind=kind, path="cross_based", side="Buy", score=0.8 + (i % 7) / 10,
        reasons=(m.Reason(code="wt_cross_up", value=-58.5), m.Reason(code="score_below_min", value=0.9)),
        entry_price=Decimal("97123.40"), stop_price=Decimal("96950.10"), target_price=Decimal("97383.35"),
        qty=Decimal("0.010"),
    )


def bar(symbol: str, tick_ms: int) -> m.Kline:
    return m.Kline(symbol=symbol, interval=1, start_ms=tick_ms - MIN, open=100.0, high=101.5, low=99.25,
                   close=100.75, volume=1234.5, turnover=124_000.0)


def tick_messages(t: int) -> list[m.Message]:
    tick_ms = T0 + t * MIN
    return [decision(t + j, s, tick_ms) for j, s in enumerate(SYMBOLS)] + [bar(s, tick_ms) for s in SYMBOLS]


def ack(i: int) -> m.OrderAck:
    intent = m.OrderIntent(action="create", symbol=SYMBOLS[i % 25], order_link_id=f"smt-{i}", side="Buy",
                           qty=Decimal("0.010"), price=Decimal("97123.40"), stop_loss=Decimal("96950.10"),
                           tick_ms=T0 + i * MIN, reason="entry")
    return m.OrderAck(intent=intent, ts_ms=T0 + i * MIN + 120, outcome="ok", ret_code=0, ret_msg="OK", order_id=f"o-{i}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def tick_batches(path: Path, ticks: int, synchronous: str = "NORMAL") -> float:
    """rows/s: one 25-symbol tick (25 decisions + 25 bars) appended and committed per batch."""
    writer = JournalWriter(path)
    writer.batch_synchronous = synchronous
    batches = [tick_messages(t) for t in range(ticks)]
    start = time.perf_counter()
    for batch in batches:
        writer.append(batch)
        writer.commit()
    elapsed = time.perf_counter() - start
    writer.close()
    return ticks * 50 / elapsed


def bulk_writer(path: Path, batches: int, size: int) -> float:
    writer = JournalWriter(path)
    messages = [[decision(b * size + i, SYMBOLS[i % 25], T0 + b * MIN) for i in range(size)] for b in range(batches)]
    start = time.perf_counter()
    for batch in messages:
        writer.append(batch)
        writer.commit()
    elapsed = time.perf_counter() - start
    writer.close()
    return batches * size / elapsed


def bulk_sqlite_utils(path: Path, batches: int, size: int) -> float:
    """The peer: the same rows through sqlite-utils' insert_all, one transaction per batch."""
    db = open_journal(path)
    rows = []
    seq = 0
    for b in range(batches):
        batch = []
        for i in range(size):
            seq += 1
            batch.append({**record_for(decision(b * size + i, SYMBOLS[i % 25], T0 + b * MIN))[1], "seq": seq})
        rows.append(batch)
    start = time.perf_counter()
    for batch in rows:
        with db.atomic():
            db["decisions"].insert_all(batch)
    elapsed = time.perf_counter() - start
    db.close()
    return batches * size / elapsed


def append_now_latency(path: Path, count: int) -> tuple[float, float]:
    writer = JournalWriter(path)
    samples = []
    for i in range(count):
        message = ack(i)
        start = time.perf_counter_ns()
        writer.append_now((message,))
        samples.append((time.perf_counter_ns() - start) / 1e6)
    writer.close()
    return statistics.median(samples), percentile(samples, 0.99)


def build_large(path: Path, rows: int) -> tuple[int, float]:
    """A journal of ``rows`` rows shaped like a long run: per tick 25 decisions, plus bars,
    position snapshots, orders, fills, trades and events at realistic ratios."""
    writer = JournalWriter(path)
    ticks = max(1, rows // 31)
    written = 0
    start = time.perf_counter()
    for t in range(ticks):
        tick_ms = T0 + t * MIN
        batch: list[m.Message] = [decision(t + j, s, tick_ms) for j, s in enumerate(SYMBOLS)]
        if t % 5 == 0:
            batch += [bar(s, tick_ms) for s in SYMBOLS]
        if t % 10 == 0:
            s = SYMBOLS[t % 25]
            size = Decimal("0") if t % 20 == 0 else Decimal("0.5")
            batch.append(m.PositionUpdate(symbol=s, position_idx=0, side="Buy", size=size, avg_price=Decimal("100.5"),
                                          unrealised_pnl=Decimal("1.5"), updated_ms=tick_ms))
        if t % 40 == 0:
            batch += [ack(t), m.ExecutionUpdate(symbol=SYMBOLS[t % 25], exec_id=f"e{t}", order_id=f"o-{t}",
                                                order_link_id=f"smt-{t}", side="Buy", price=Decimal("100.5"),
                                                qty=Decimal("0.5"), fee=Decimal("0.01"), is_maker=True, exec_ms=tick_ms)]
            batch.append(m.TradeClosed(symbol=SYMBOLS[t % 25], side="Buy", path="cross_based", entry_ms=tick_ms - 9 * MIN,
                                       exit_ms=tick_ms, entry_price=Decimal("100.5"), exit_price=Decimal("101.25"),
                                       qty=Decimal("0.5"), fees=Decimal("0.02"),
                                       pnl_usdt=Decimal("0.355") if t % 80 else Decimal("-0.52"), pnl_r=0.7,
                                       exit_reason="target"))
        if t % 200 == 0:
            batch.append(m.JournalEvent(ts_ms=tick_ms, kind="reconnect", source="feed", message="ws reconnected"))
        writer.append(batch)
        if t % 100 == 99:
            written += writer.commit()
    written += writer.commit()
    elapsed = time.perf_counter() - start
    writer.close()
    return written, written / elapsed


def timed(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples), percentile(samples, 0.99)


def once(fn) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def reader_latencies(path: Path, now_ms: int) -> list[tuple[str, str, tuple[float, float] | float]]:
    """(json key, label, figure): a figure is (p50, p99) in ms, or one cold call in ms."""
    reader = JournalReader(path)
    out: list[tuple[str, str, tuple[float, float] | float]] = []
    # First calls fold or scan from nothing: what the web pays once after a restart.
    out.append(("cold_counters", "cold counters(): folds every row once", once(reader.counters)))
    out.append(("cold_pnl", "cold pnl()", once(lambda: reader.pnl(now_ms))))
    out.append(("cold_overview", "cold overview(25 symbols)", once(lambda: reader.overview(SYMBOLS))))
    queries = (
        ("decisions", "decisions(limit=50)", lambda: reader.decisions(limit=50)),
        ("decisions_symbol_kind", "decisions(symbol, kind=TAKE, limit=50)",
         lambda: reader.decisions(symbol="SOLUSDT", kind="TAKE", limit=50)),
        ("decisions_page_500", "decisions(limit=500, before=middle)",
         lambda: reader.decisions(limit=500, before=reader.last_seq() // 2)),
        ("trades_since", "trades(since=last day, limit=50)", lambda: reader.trades(since=now_ms - 86_400_000, limit=50)),
        ("events", "events(limit=50)", lambda: reader.events(limit=50)),
        ("facts", "facts() (for /status)", reader.facts),
        ("overview_warm", "overview(25 symbols), journal unchanged", lambda: reader.overview(SYMBOLS)),
        ("positions_warm", "positions(), journal unchanged", reader.positions),
        ("pnl_warm", "pnl(), journal unchanged", lambda: reader.pnl(now_ms)),
        ("counters_warm", "counters(), journal unchanged", reader.counters),
    )
    for key, label, fn in queries:
        out.append((key, label, timed(fn, 300)))
    # One more tick committed each time: cached views recompute, counters fold only the new rows.
    writer = JournalWriter(path)
    overview, counters = [], []
    for t in range(30):
        writer.append_now(tick_messages(10_000_000 + t))
        overview.append(once(lambda: reader.overview(SYMBOLS)))
        counters.append(once(reader.counters))
    writer.close()
    reader.close()
    out.append(("overview_new_tick", "overview(25 symbols) after a new tick",
                (statistics.median(overview), percentile(overview, 0.99))))
    out.append(("counters_new_tick", "counters() after a new tick", (statistics.median(counters), percentile(counters, 0.99))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the large journal for reader latency")
    args = parser.parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    results: dict[str, float | int] = {}
    table: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(dir=ROOT / "var", prefix="bench-journal-") as tmp:
        d = Path(tmp)
        rate = tick_batches(d / "ticks.sqlite", 400)
        # The same with every tick's commit fsynced (FULL): what the NORMAL batch policy saves.
        full = tick_batches(d / "ticks-full.sqlite", 400, "FULL")
        results.update(tick_batch_rows_per_s=round(rate), tick_batch_sync_full_rows_per_s=round(full))
        table.append(("append+commit, one 25-symbol tick per commit (50 rows)", f"{rate:,.0f} rows/s", ">= 50,000 rows/s",
                      f"{rate / full:.2f}x the same fsynced per commit ({full:,.0f} rows/s)"))

        ours = bulk_writer(d / "bulk.sqlite", 100, 1000)
        peer = bulk_sqlite_utils(d / "peer.sqlite", 100, 1000)
        results.update(bulk_decisions_rows_per_s=round(ours), bulk_sqlite_utils_rows_per_s=round(peer))
        table.append(("decisions, 1000 per commit", f"{ours:,.0f} rows/s", ">= 50,000 rows/s",
                      f"{ours / peer:.2f}x sqlite-utils insert_all ({peer:,.0f} rows/s)"))

        p50, p99 = append_now_latency(d / "now.sqlite", 500)
        results.update(append_now_p50_ms=round(p50, 3), append_now_p99_ms=round(p99, 3))
        table.append(("append_now(OrderAck): durable before return", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", "", ""))

        large = d / "large.sqlite"
        written, build_rate = build_large(large, args.rows)
        results.update(large_rows=written, large_build_rows_per_s=round(build_rate))
        table.append((f"large journal built ({written:,} rows, 100 ticks per commit)", f"{build_rate:,.0f} rows/s", "", ""))

        last_tick = T0 + (args.rows // 31) * MIN
        for key, label, figure in reader_latencies(large, last_tick):
            if isinstance(figure, tuple):
                results[f"reader_{key}_p50_ms"], results[f"reader_{key}_p99_ms"] = round(figure[0], 3), round(figure[1], 3)
                text = f"p50 {figure[0]:.3f} ms, p99 {figure[1]:.3f} ms"
            else:
                results[f"reader_{key}_ms"] = round(figure, 1)
                text = f"{figure:.1f} ms once"
            table.append((f"reader {label}", text, "", ""))

    width = max(len(r[0]) for r in table)
    print(f"{'measure':<{width}}  {'figure':<30}  {'target':<18}  peer")
    for name, figure, target, peer_text in table:
        print(f"{name:<{width}}  {figure:<30}  {target:<18}  {peer_text}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
