"""Golden parity: every TradingView-produced value smtbot's machines cover, reproduced bit for bit.

Sources: pine.md's worked vector and the exports in tests/data/tv (see its README). An na
in the export (``NaN``) must be na here too, so each warm-up boundary is checked as well.
"""

import numpy as np
import pytest

from indicators.crosses import Cross, Crossover, Crossunder
from indicators.ema import Ema, Rma
from indicators.mfi import Mfi
from indicators.pine import NA, hl2, hlc3, hlcc4, ohlc4
from indicators.rolling_sum import Sma
from indicators.rsi import Rsi
from indicators.vwap import SessionVwap
from tv_oracle import assert_bits_equal, load_tv

MA = load_tv("ma.csv")
OSC = load_tv("mfi+rsi+stoch.csv")
VWAP = load_tv("vwap.csv")
CROSS = load_tv("cross.csv")


def _worked_vector(with_gaps: bool) -> list[float]:
    a = [100.0 + (i % 7) / 3.0 for i in range(12)]
    return [NA if with_gaps and i % 3 == 0 else x for i, x in enumerate(a)]


@pytest.mark.parametrize(
    ("machine", "with_gaps", "bar10", "bar11"),
    [
        (lambda: Ema(3), False, 100.8125, 101.07291666666666),
        (lambda: Ema(5), False, 100.79423868312757, 100.97393689986282),
        (lambda: Rma(3), False, 100.80724483056444, 100.98260766482075),
        (lambda: Rma(5), False, 100.79716266666667, 100.9043968),
        (lambda: Ema(4), True, 100.696, 100.95093333333332),
        (lambda: Rma(4), True, 100.734375, 100.88411458333333),
        (lambda: Ema(1), False, 101.0, 101.33333333333333),
    ],
    ids=["ema3", "ema5", "rma3", "rma5", "ema4_na_gaps", "rma4_na_gaps", "ema1"],
)
def test_pine_md_worked_vector(machine, with_gaps, bar10, bar11):
    m = machine()
    out = [m.update(x) for x in _worked_vector(with_gaps)]
    assert_bits_equal([bar10, bar11], out[10:12], "worked vector")


_H, _L, _C, _O = MA["high"], MA["low"], MA["close"], MA["open"]


@pytest.mark.parametrize(
    ("column", "compute"),
    [
        ("ta.sma(close, 10)", lambda: Sma.batch(_C, 10)),
        ("ta.sma(hl2, 20)", lambda: Sma.batch(hl2(_H, _L), 20)),
        ("ta.sma(hlc3, 15)", lambda: Sma.batch(hlc3(_H, _L, _C), 15)),
        ("ta.ema(close, 20)", lambda: Ema.batch(_C, 20)),
        ("ta.ema(ohlc4, 10)", lambda: Ema.batch(ohlc4(_O, _H, _L, _C), 10)),
        ("ta.rma(hlcc4, 5)", lambda: Rma.batch(hlcc4(_H, _L, _C), 5)),
        ("ta.rma(high, 15)", lambda: Rma.batch(_H, 15)),
    ],
)
def test_moving_averages_match_tradingview(column, compute):
    assert_bits_equal(MA[column], compute(), column)


def test_sma_is_not_a_fresh_window_sum():
    # The reason the compensated machine exists: the plain mean misses TradingView on ma.csv.
    c = _C.tolist()
    fresh = [NA] * 9 + [sum(c[i - 9 : i + 1]) / 10 for i in range(9, len(c))]
    expected = MA["ta.sma(close, 10)"].tolist()
    assert sum(1 for e, f in zip(expected[9:], fresh[9:]) if e != f) > 50


def test_mfi_matches_tradingview():
    assert_bits_equal(OSC["ta.mfi(close, 14)"], Mfi.batch(OSC["close"], OSC["Volume"], 14), "ta.mfi(close, 14)")


def test_rsi_matches_tradingview():
    assert_bits_equal(OSC["ta.rsi(close, 14)"], Rsi.batch(OSC["close"], 14), "ta.rsi(close, 14)")


def test_session_vwap_matches_tradingview_and_resets_at_the_session_open():
    # This FX symbol's session opens at 21:00 UTC; a crypto perpetual's at 00:00 UTC.
    time_ms = VWAP["time"].astype(np.int64) * 1000
    got = SessionVwap.batch(time_ms, VWAP["close"], VWAP["Volume"], session_start_ms=21 * 3_600_000)
    assert_bits_equal(VWAP["ta.vwap(close)"], got, "ta.vwap(close)")
    sessions = np.unique((time_ms - 21 * 3_600_000) // 86_400_000)
    assert len(sessions) >= 3  # the file spans several session opens, so the reset itself is pinned


@pytest.mark.parametrize(
    ("column", "fired_value", "machine"),
    [
        ("ta.cross(ema1, ema2)", 0.5, Cross),
        ("ta.crossover(ema1, ema2)", 1.0, Crossover),
        ("ta.crossunder(ema1, ema2)", -1.0, Crossunder),
    ],
)
def test_crosses_match_tradingview(column, fired_value, machine):
    ema1, ema2 = Ema.batch(CROSS["close"], 5), Ema.batch(CROSS["close"], 11)
    expected = CROSS[column] == fired_value
    got = machine.batch(ema1, ema2)
    assert expected.any()
    assert got.tolist() == expected.tolist(), f"bars differ: {np.flatnonzero(got != expected).tolist()}"
