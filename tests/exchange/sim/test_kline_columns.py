"""Kline files read whole into integer columns (``BarColumns``) give exactly the Bars the row
reader (``csv`` + ``kline_row``) gives: the same Decimals, trailing zeros included; a file the
column reader does not take goes to the row reader, with its errors."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import numpy as np
import pytest

from exchange.sim.market import BarColumns, KlineFileError, kline_row, load_bars

DATA = Path(__file__).resolve().parents[3] / "data" / "klines"


def read_rows(path: Path) -> list:
    """The row reader: every row through ``kline_row``, a header skipped (the reference)."""
    with io.TextIOWrapper(io.BytesIO(gzip.decompress(path.read_bytes())), newline="") as f:
        bars = []
        for line, row in enumerate(csv.reader(f), start=1):
            if line == 1 and row and not row[0].strip().lstrip("-").isdigit():
                continue
            bars.append(kline_row(path, line, row))
        return bars


def spelled(bar) -> tuple:
    """A Bar as its exact texts: Decimal('1.50') and Decimal('1.5') are equal but spelled apart."""
    return tuple(str(getattr(bar, k)) for k in ("start_ms", "open", "high", "low", "close", "volume", "turnover"))


@pytest.mark.parametrize("path", sorted(DATA.glob("*-1m.csv.gz")), ids=lambda p: p.name.split("-")[0])
def test_every_shipped_file_is_read_as_columns_into_the_row_readers_bars(path):
    columns = BarColumns.parse(gzip.decompress(path.read_bytes()))
    assert columns is not None
    rows = read_rows(path)
    assert len(columns) == len(rows)
    assert [spelled(b) for b in columns] == [spelled(b) for b in rows]
    assert columns == tuple(rows) and columns[-3:] == tuple(rows[-3:]) and columns[-1] == rows[-1]
    assert columns[5] is columns[5]  # made once, kept: the sequence behaves as a tuple of Bars


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "BTCUSDT-1m.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    return path


ROWS = ["1748736120000,104217.50,104402.7,104200,104337.8,477.605",
        "1748736180000,0.00010,.5,7.,00012,0"]


@pytest.mark.parametrize("text, columns", [
    ("start_ms,open,high,low,close,volume,turnover\n" + "\n".join(r + "," for r in ROWS) + "\n", True),
    ("\n".join(ROWS) + "\n", True),  # no header, six columns
    ("\n".join(ROWS), True),  # no newline at the end
    ("\n".join(r + ",123.40" for r in ROWS) + "\n", True),  # turnover given
    (ROWS[0] + ",1.5\n" + ROWS[1] + ",\n", False),  # turnover on some rows only
    ("\r\n".join(ROWS) + "\r\n", False),  # CRLF
    (ROWS[0] + "\n\n" + ROWS[1] + "\n", False),  # an empty line
    (ROWS[0] + "\n" + ROWS[1].replace(",7.,", ",7e1,") + "\n", False),
    (ROWS[0].replace("104217.50", '"104217.50"') + "\n", False),
    (ROWS[0].replace("477.605", "-477.605") + "\n", False),
    (ROWS[0].replace("477.605", "1234567890123456789.5") + "\n", False),  # 20 digits: beyond int64
    (ROWS[0].replace("477.605", "47.7.605") + "\n", False),
    (ROWS[0].replace("1748736120000", "1748736120000.0") + "\n", False),
    (ROWS[0].replace("104200", ".") + "\n", False),
    (ROWS[0] + ",1,2\n", False),  # eight columns
])
def test_other_shapes_are_read_as_the_row_reader_reads_them_or_refused_with_its_line(tmp_path, text, columns):
    path = write(tmp_path, text)
    assert (BarColumns.parse(text.encode()) is not None) == columns
    try:
        expected = [spelled(b) for b in read_rows(path)]
    except KlineFileError as exc:
        with pytest.raises(KlineFileError, match=re.escape(str(exc).split(": ", 1)[1])):
            load_bars.__wrapped__(path)
        return
    assert [spelled(b) for b in load_bars.__wrapped__(path)] == expected


def test_the_columns_hold_the_exact_integers_and_scales():
    columns = BarColumns.parse(("\n".join(ROWS) + "\n").encode())
    assert columns is not None
    assert columns.start_ms.tolist() == [1748736120000, 1748736180000]
    assert columns.values[:, :5].tolist() == [[10421750, 1044027, 104200, 1043378, 477605], [10, 5, 7, 12, 0]]
    assert columns.scales[:, :5].tolist() == [[2, 1, 0, 1, 3], [5, 1, 0, 0, 0]]
    assert np.all(columns.scales[:, 5] == -1)  # no turnover
