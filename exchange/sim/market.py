"""Market data of the venue: 1m bars loaded from the shipped CSVs, instrument rules, and the
replay-time view of both (a bar is visible only once the replay clock has passed its end)."""

from __future__ import annotations

import csv
import functools
import gzip
import io
from collections.abc import Sequence as SequenceABC
from decimal import Decimal
from pathlib import Path
from typing import Sequence

import msgspec
import numpy as np

from exchange.sim import kline_cache

MINUTE_MS = 60_000


class Bar(msgspec.Struct, frozen=True):
    """One candle. Prices keep the numeric type they were built from (Decimal in the venue)."""

    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal | None = None


class InstrumentRules(msgspec.Struct, frozen=True):
    """Trading filters of one symbol, shaped like /v5/market/instruments-info.

    The shipped CSV gives tickSize, qtyStep and minOrderQty; the other filters are
    [SIM] values of Bybit's usual magnitude, derived from those (bybit-v5.md §2.2).
    """

    symbol: str
    tick_size: Decimal
    qty_step: Decimal
    min_order_qty: Decimal
    max_order_qty: Decimal
    max_mkt_order_qty: Decimal
    min_notional: Decimal = Decimal(5)
    max_leverage: Decimal = Decimal(100)

    @property
    def base_coin(self) -> str:
        return self.symbol.removesuffix("USDT")

    @property
    def price_scale(self) -> int:
        return max(0, -self.tick_size.as_tuple().exponent)

    @property
    def min_price(self) -> Decimal:
        return self.tick_size

    @property
    def max_price(self) -> Decimal:
        return self.tick_size * 19_999_998

    def on_tick(self, price: Decimal) -> bool:
        return price % self.tick_size == 0

    def on_step(self, qty: Decimal) -> bool:
        return qty % self.qty_step == 0

    def price_text(self, price: Decimal) -> str:
        return format(price.quantize(self.tick_size), "f")

    def qty_text(self, qty: Decimal) -> str:
        return format(qty.quantize(self.qty_step), "f")


def load_instruments(path: Path) -> dict[str, InstrumentRules]:
    """Read the Lean-format rules file (columns described in data/klines/README.md)."""
    rules: dict[str, InstrumentRules] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["market"] != "bybit" or row["type"] != "cryptofuture":
                continue
            step = Decimal(row["lot_size"])
            min_qty = Decimal(row["minimum_order_size"])
            rules[row["symbol"]] = InstrumentRules(
                symbol=row["symbol"],
                tick_size=Decimal(row["minimum_price_variation"]),
                qty_step=step,
                min_order_qty=min_qty,
                max_order_qty=min_qty * 1_000_000,
                max_mkt_order_qty=min_qty * 500_000,
            )
    return rules


class KlineFileError(ValueError):
    """A kline file that is not one of the two accepted shapes; the message names file and line."""


# The shipped shape (Bybit's, with turnover) and the common export shape without it.
KLINE_COLUMNS = ("start_ms", "open", "high", "low", "close", "volume", "turnover")


def kline_row(path: Path, line: int, row: Sequence[str]) -> Bar:
    """One CSV row of 6 or 7 columns as a Bar; anything else is a ``KlineFileError`` naming the row."""
    if len(row) not in (6, 7):
        raise KlineFileError(f"{path}:{line}: expected {','.join(KLINE_COLUMNS[:6])}[,turnover], got {len(row)} columns")
    try:
        turnover = row[6] if len(row) == 7 else ""
        return Bar(int(row[0]), Decimal(row[1]), Decimal(row[2]), Decimal(row[3]), Decimal(row[4]), Decimal(row[5]),
                   Decimal(turnover) if turnover else None)
    except (ValueError, ArithmeticError):
        raise KlineFileError(f"{path}:{line}: not a kline row: {','.join(row)[:80]!r}") from None


def is_header_row(row: Sequence[str]) -> bool:
    """Whether a kline file's first row names its columns rather than holding a bar."""
    return bool(row) and not row[0].strip().lstrip("-").isdigit()


@functools.lru_cache(maxsize=16)
def load_bars(path: Path, cache_dir: Path | None = None) -> Sequence[Bar]:
    """Every 1m bar of one ``SYMBOL-1m.csv.gz`` file, ascending; cached because tests start many servers.
    A header row is skipped; rows may carry turnover or not (``kline_row``).

    A file of plain decimal numbers (digits and at most one point per field, the shipped shape)
    is read whole into integer columns (``BarColumns``: the same Bars, made when first asked
    for); anything else goes through ``csv`` and ``kline_row`` row by row, with their errors.
    With ``cache_dir`` the columns are kept there once parsed and read back on later runs
    (``exchange.sim.kline_cache``: checked against the file, never trusted blindly); files read
    row by row are not cached."""
    compressed = path.read_bytes()
    if cache_dir is not None:
        cached = kline_cache.read(path, compressed, cache_dir)
        if cached is not None:
            return BarColumns(*cached)
    data = gzip.decompress(compressed)
    columns = BarColumns.parse(data)
    if columns is not None:
        if cache_dir is not None:
            kline_cache.write(path, compressed, (columns.start_ms, columns.values, columns.scales), cache_dir)
        return columns
    bars = []
    with io.TextIOWrapper(io.BytesIO(data), newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if line == 1 and is_header_row(row):
                continue
            bars.append(kline_row(path, line, row))
    return tuple(bars)


_DIGIT_MAX = 18  # digits per field that an int64 holds exactly
_PLAIN_BYTES = b"0123456789.,\n"  # all a plain kline file holds
_NEWLINE_TO_COMMA = bytes.maketrans(b"\n", b",")


class BarColumns(SequenceABC):
    """A kline file's bars as exact integer columns: field ``value / 10**scale`` is the Decimal
    the CSV text spells (``Decimal(f"{value}E-{scale}")`` has the text's coefficient and exponent,
    so it is that Decimal, trailing zeros included). A Bar is made the first time it is asked
    for and kept, so the sequence behaves as the tuple of Bars ``kline_row`` would have built;
    ``backtest.batch_tape`` reads the columns without making any."""

    __slots__ = ("start_ms", "values", "scales", "_bars")

    def __init__(self, start_ms: np.ndarray, values: np.ndarray, scales: np.ndarray) -> None:
        self.start_ms = start_ms  # int64 [n]
        self.values = values  # int64 [n, 6]: open, high, low, close, volume, turnover (-1 scale: no turnover)
        self.scales = scales  # int64 [n, 6]
        self._bars: list[Bar | None] = [None] * len(start_ms)

    @classmethod
    def parse(cls, data: bytes) -> BarColumns | None:
        """The columns of a CSV body of 6 or 7 plain decimal fields a row (an empty turnover is
        None), after an optional header; None for anything else (the row-by-row reader decides)."""
        if data.startswith(b"\xef\xbb\xbf"):
            return None
        first_end = data.find(b"\n")
        first = data[: first_end if first_end >= 0 else len(data)].decode("utf-8", "replace")
        head = next(csv.reader([first]), [])
        body = data[first_end + 1:] if is_header_row(head) else data
        if not body:
            return None
        if not body.endswith(b"\n"):
            body += b"\n"
        if body.translate(None, _PLAIN_BYTES):
            return None  # a byte other than digits, points, commas and newlines
        b = np.frombuffer(body, dtype=np.uint8)
        seps = np.flatnonzero(b < 46)  # of those bytes, only "," (44) and "\n" (10) are below "." (46)
        lines = body.count(b"\n")
        if len(seps) % lines:
            return None
        width = len(seps) // lines
        if width not in (6, 7) or not np.all(b[seps[width - 1::width]] == 10):
            return None  # a row with another number of fields (or an empty line): the newlines are not every width-th separator
        starts = np.concatenate(([0], seps[:-1] + 1))
        size = seps - starts
        points = np.flatnonzero(b == 46)
        field_of_point = np.searchsorted(seps, points)
        if np.any(np.diff(field_of_point) == 0) or np.any(field_of_point % width == 0):
            return None  # two points in a field, or a start time with one (int() refuses it)
        scale = np.zeros(len(seps), dtype=np.int64)
        scale[field_of_point] = seps[field_of_point] - points - 1
        has_point = np.zeros(len(seps), dtype=bool)
        has_point[field_of_point] = True
        digits = size - has_point
        empty = size == 0
        kept = width
        if width == 7:
            blank = empty[6::7]
            if blank.any() and not blank.all():
                return None  # some rows with a turnover, some without
            if blank.all():
                body = body.replace(b",\n", b"\n")
                kept = 6
                empty = empty.reshape(lines, 7)[:, :6].ravel()
                digits = digits.reshape(lines, 7)[:, :6].ravel()
                scale = scale.reshape(lines, 7)[:, :6].ravel()
        if np.any(empty) or np.any(digits == 0) or digits.max() > _DIGIT_MAX:
            return None  # an empty field (turnover aside), a lone point, or too many digits for an int64
        flat = body.translate(_NEWLINE_TO_COMMA, b".")[:-1]  # the digits of every field, comma-separated
        value = np.fromstring(flat, dtype=np.int64, sep=",")  # integers only: exact
        if len(value) != lines * kept:
            return None
        value = value.reshape(lines, kept)
        scale = scale.reshape(lines, kept)
        if kept == 6:
            value = np.column_stack((value, np.zeros(lines, dtype=np.int64)))
            scale = np.column_stack((scale, np.full(lines, -1, dtype=np.int64)))
        return cls(np.ascontiguousarray(value[:, 0]), np.ascontiguousarray(value[:, 1:]), np.ascontiguousarray(scale[:, 1:]))

    def __len__(self) -> int:
        return len(self._bars)

    def _bar(self, i: int) -> Bar:
        bar = self._bars[i]
        if bar is None:
            v, s = self.values[i].tolist(), self.scales[i].tolist()
            d = [Decimal(f"{v[k]}E-{s[k]}") for k in range(5)]
            bar = Bar(int(self.start_ms[i]), d[0], d[1], d[2], d[3], d[4], None if s[5] < 0 else Decimal(f"{v[5]}E-{s[5]}"))
            self._bars[i] = bar
        return bar

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return tuple(self._bar(k) for k in range(*i.indices(len(self))))
        n = len(self._bars)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("bar index out of range")
        return self._bar(i)

    def __iter__(self):
        return (self._bar(k) for k in range(len(self._bars)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BarColumns):
            return (np.array_equal(self.start_ms, other.start_ms) and np.array_equal(self.values, other.values)
                    and np.array_equal(self.scales, other.scales))
        if isinstance(other, (tuple, list)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class KlineStore:
    """The replayed series of every symbol on one shared minute grid.

    ``first_ms``..``end_ms`` is the window every symbol covers. With ``loop`` the replay goes on
    past ``end_ms``: minute ``t`` then shows the bar of ``first_ms + (t - first_ms) % span``, so
    time stays monotonic while the prices repeat (a price jump at each lap is the cost).
    """

    def __init__(self, bars: dict[str, Sequence[Bar]], loop: bool = False):
        if not bars:
            raise ValueError("no kline data")
        # One slot per minute from a series' first bar, so a minute finds its bar by index; a
        # series with holes (a user's file with missing minutes) gets None in them rather than
        # every later bar played early.
        bars = {s: _on_minute_grid(series) for s, series in bars.items()}
        self.bars = bars
        self.loop = loop
        self.first_ms = max(series[0].start_ms for series in bars.values())
        self.end_ms = min(series[-1].start_ms for series in bars.values()) + MINUTE_MS
        # Laps must keep every timeframe aligned, so the span is a whole number of 15m bars.
        self.span_ms = (self.end_ms - self.first_ms) // (15 * MINUTE_MS) * (15 * MINUTE_MS)
        self._origin = {s: series[0].start_ms for s, series in bars.items()}

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.bars)

    def bar_at(self, symbol: str, start_ms: int) -> Bar | None:
        """The 1m bar starting at ``start_ms`` (on the replay timeline), or None outside the data."""
        series = self.bars.get(symbol)
        if series is None:
            return None
        lap_shift = 0
        if self.loop and start_ms >= self.first_ms + self.span_ms and self.span_ms > 0:
            laps = (start_ms - self.first_ms) // self.span_ms
            lap_shift = laps * self.span_ms
        source_ms = start_ms - lap_shift
        index, rem = divmod(source_ms - self._origin[symbol], MINUTE_MS)
        if rem or index < 0 or index >= len(series):
            return None
        bar = series[index]
        if bar is None:
            return None
        return bar if not lap_shift else msgspec.structs.replace(bar, start_ms=start_ms)

    def bars_between(self, symbol: str, start_ms: int, end_ms: int) -> list[Bar]:
        """1m bars with ``start_ms <= start < end_ms``, ascending."""
        out = []
        t = max(start_ms - start_ms % MINUTE_MS, self._earliest(symbol))
        while t < end_ms:
            bar = self.bar_at(symbol, t)
            if bar is None and not self.loop and t >= self.end_ms:
                break
            if bar is not None:
                out.append(bar)
            t += MINUTE_MS
        return out

    def _earliest(self, symbol: str) -> int:
        return self._origin.get(symbol, self.first_ms)

    def is_finished(self, clock_ms: int) -> bool:
        return not self.loop and clock_ms >= self.end_ms


def _on_minute_grid(series: Sequence[Bar]) -> Sequence[Bar | None]:
    """``series`` (ascending) with a None in each missing minute; the series itself when it has none."""
    if not series or series[-1].start_ms - series[0].start_ms == (len(series) - 1) * MINUTE_MS:
        return series
    first = series[0].start_ms
    grid: list[Bar | None] = [None] * ((series[-1].start_ms - first) // MINUTE_MS + 1)
    for bar in series:
        index, rem = divmod(bar.start_ms - first, MINUTE_MS)
        if rem:
            raise ValueError(f"{bar.start_ms} is not on the minute grid of a series starting at {first}")
        grid[index] = bar
    return grid


def load_store(data_dir: Path, symbols: Sequence[str] = (), loop: bool = False,
               cache_dir: Path | None = None) -> tuple[KlineStore, dict[str, InstrumentRules]]:
    """The venue's market: every ``SYMBOL-1m.csv.gz`` in ``data_dir`` (or only ``symbols``) and its
    rules; the parsed files kept in ``cache_dir`` when given (``load_bars``)."""
    rules = load_instruments(data_dir / "instruments-bybit-linear.csv")
    files = sorted(data_dir.glob("*-1m.csv.gz"))
    wanted = set(symbols)
    bars = {}
    for f in files:
        symbol = f.name.removesuffix("-1m.csv.gz")
        if (wanted and symbol not in wanted) or symbol not in rules:
            continue
        bars[symbol] = load_bars(f.resolve(), None if cache_dir is None else cache_dir.resolve())
    missing = wanted - set(bars)
    if missing:
        raise ValueError(f"no kline file or instrument rules for {sorted(missing)} in {data_dir}")
    return KlineStore(bars, loop=loop), {s: rules[s] for s in bars}
