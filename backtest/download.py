"""``run.py download``: 1m klines from Bybit's public ``/v5/market/kline`` into ``data/`` in the
shipped format (``SYMBOL-1m.csv.gz``: ``start_ms,open,high,low,close,volume,turnover``, ascending,
gzip level 9 with mtime 0, so the same bars give the same bytes).

Resumable: finished pages go to ``SYMBOL-1m.csv.part`` (plain text, flushed per page) and an
existing ``.csv.gz`` is kept, so a second run fetches only what is missing. Rate-limit aware
through ``BybitRest`` (its per-IP market bucket, 10006/429 back-off and safe GET retries). Prices
are written as the shortest text of the parsed value, which is the venue's number exactly.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vocabulary.messages import Kline
from vocabulary.settings import Credentials, Settings
from backtest.cli import parse_time
from backtest.progress import ProgressLine
from exchange.bybit.errors import BybitError, TransportError
from exchange.bybit.rest import BybitRest
from exchange.bybit.venues import REST_URLS

MINUTE_MS = 60_000
PAGE = 1000  # bars per request: Bybit's maximum ``limit`` (§2.1)
HEADER = "start_ms,open,high,low,close,volume,turnover"
RULES_FILE = "instruments-bybit-linear.csv"
RULES_HEADER = ("market,symbol,type,description,quote_currency,contract_multiplier,minimum_price_variation,lot_size,"
                "market_ticker,minimum_order_size,price_magnifier,strike_multiplier")

Progress = Callable[[str, int, int], None]  # (symbol, minutes done, minutes wanted)


def _text(value: float) -> str:
    return repr(value)


def row(k: Kline) -> str:
    turnover = "" if k.turnover is None else _text(k.turnover)
    return ",".join((str(k.start_ms), _text(k.open), _text(k.high), _text(k.low), _text(k.close), _text(k.volume), turnover))


def read_rows(path: Path) -> dict[int, str]:
    """The rows of a finished ``.csv.gz`` or an interrupted ``.part``; a torn last line is dropped."""
    if not path.exists():
        return {}
    opener = gzip.open if path.suffix == ".gz" else open
    rows: dict[int, str] = {}
    with opener(path, "rt", newline="") as f:  # type: ignore[operator]
        for line in f:
            if not line.endswith("\n") or line.startswith("start_ms"):
                continue
            fields = line.rstrip("\n").split(",")
            if len(fields) == 7 and fields[0].isdigit():
                rows[int(fields[0])] = line.rstrip("\n")
    return rows


def download_symbol(rest: BybitRest, symbol: str, start_ms: int, end_ms: int, out: Path, progress: Progress | None = None) -> int:
    """Every closed 1m bar of ``symbol`` with start in [start_ms, end_ms) into ``out``; returns the
    number of bars fetched by this call (0 when the file already had them all)."""
    out.mkdir(parents=True, exist_ok=True)
    final, part = out / f"{symbol}-1m.csv.gz", out / f"{symbol}-1m.csv.part"
    rows = read_rows(final)
    rows.update(read_rows(part))
    end_ms = min(end_ms, rest.now_ms() - rest.now_ms() % MINUTE_MS)  # nothing after the last closed minute
    cursor = start_ms
    while cursor < end_ms and cursor in rows:
        cursor += MINUTE_MS  # resume after the bars already on disk
    fetched = 0
    with open(part, "a", newline="") as f:
        while cursor < end_ms:
            window_end = min(cursor + PAGE * MINUTE_MS, end_ms)
            page = [k for k in rest.klines(symbol, 1, start_ms=cursor, end_ms=window_end - 1, limit=PAGE)
                    if cursor <= k.start_ms < window_end]
            new = [k for k in page if k.start_ms not in rows]
            for k in new:
                rows[k.start_ms] = row(k)
            f.write("".join(rows[k.start_ms] + "\n" for k in new))
            f.flush()
            fetched += len(new)
            # A window without bars (a halted market) is skipped, not retried forever.
            cursor = window_end
            if progress is not None:
                progress(symbol, (cursor - start_ms) // MINUTE_MS, (end_ms - start_ms) // MINUTE_MS)
    write_final(final, rows)
    part.unlink(missing_ok=True)
    return fetched


def write_final(path: Path, rows: dict[int, str]) -> None:
    tmp = path.with_suffix(".gz.tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write((HEADER + "\n" + "".join(rows[k] + "\n" for k in sorted(rows))).encode())
    os.replace(tmp, path)


def record_rules(rest: BybitRest, symbols: list[str], out: Path) -> list[str]:
    """Add the trading rules of symbols the rules file lacks (the backtest reads them from there,
    in the shipped Lean-format columns); returns the symbols added."""
    path = out / RULES_FILE
    known: set[str] = set()
    if path.exists():
        known = {line.split(",")[1] for line in path.read_text().splitlines()[1:] if line.count(",") >= 9}
    missing = [s for s in symbols if s not in known]
    if not missing:
        return []
    added = []
    lines = [] if path.exists() else [RULES_HEADER]
    for symbol, found in sorted(rest.instrument_rows(missing).items()):
        price, lot = found.priceFilter, found.lotSizeFilter
        lines.append(f"bybit,{symbol},cryptofuture,{symbol},USDT,1,{price.tickSize},{lot.qtyStep},{symbol},{lot.minOrderQty}")
        added.append(symbol)
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))
    return added


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbols", required=True, help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT")
    parser.add_argument("--from", dest="start", type=parse_time, required=True, metavar="DATE", help="first minute, UTC")
    parser.add_argument("--to", dest="end", type=parse_time, required=True, metavar="DATE", help="end (exclusive), UTC")
    parser.add_argument("--out", default="data/klines", metavar="DIR", help="where SYMBOL-1m.csv.gz goes (default: data/klines)")
    parser.add_argument("--venue", choices=sorted(REST_URLS), default="mainnet", help="whose public data (default: mainnet)")
    parser.add_argument("--rest-url", default=None, help="another V5 REST base URL (e.g. the simulator's)")


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    if args.end <= args.start:
        print("run.py download: --to must be after --from", file=sys.stderr)
        return 2
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    rest = BybitRest(args.rest_url or REST_URLS[args.venue], None)
    out = Path(args.out)
    lines: dict[str, ProgressLine] = {}

    def progress(symbol: str, done: int, total: int) -> None:
        line = lines.get(symbol) or lines.setdefault(symbol, ProgressLine(f"download {symbol}", total, unit="min"))
        line.update(done, total)

    try:
        out.mkdir(parents=True, exist_ok=True)
        rest.sync_time()
        for symbol in record_rules(rest, symbols, out):
            print(f"{symbol}: trading rules added to {out / RULES_FILE}")
        for symbol in symbols:
            fetched = download_symbol(rest, symbol, args.start, args.end, out, progress)
            if symbol in lines:
                lines[symbol].close()
            print(f"{symbol}: {fetched} bars fetched -> {out / f'{symbol}-1m.csv.gz'}")
    except (BybitError, TransportError) as exc:
        print(f"\nrun.py download: {exc} (run the same command again to resume)", file=sys.stderr)
        return 1
    finally:
        for line in lines.values():
            line.close()
        rest.close()
    return 0
