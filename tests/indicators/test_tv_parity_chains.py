"""Golden parity on chained machines (tests/indicators/data, TradingView exports): emas of series
that start na, emas of emas, window extremes. WaveTrend is built from exactly these chains."""

import numpy as np
import pytest

from indicators.ema import Ema
from indicators.extremes import Highest, Lowest
from indicators.pine import Change
from tv_oracle import MORE_TV_DIR, assert_bits_equal, load_tv

MACD = load_tv("macd.csv", MORE_TV_DIR)
TSI = load_tv("tsi.csv", MORE_TV_DIR)
EXTREMES = load_tv("highest+lowest.csv", MORE_TV_DIR)


def test_macd_signal_is_an_ema_seeded_on_the_first_non_na_values():
    close = MACD["close"]
    macd = Ema.batch(close, 12) - Ema.batch(close, 26)
    signal = Ema.batch(macd, 9)
    assert_bits_equal(MACD["ta.macd(close, 12, 26, 9).macd"], macd, "macd")
    assert_bits_equal(MACD["ta.macd(close, 12, 26, 9).signal"], signal, "signal")
    assert_bits_equal(MACD["ta.macd(close, 12, 26, 9).hist"], macd - signal, "hist")


def test_macd_signal_streams_to_the_same_bits():
    fast, slow, sig = Ema(12), Ema(26), Ema(9)
    out = [sig.update(fast.update(c) - slow.update(c)) for c in MACD["close"].tolist()]
    assert_bits_equal(MACD["ta.macd(close, 12, 26, 9).signal"], out, "signal (streaming)")


def test_tsi_is_a_ratio_of_double_smoothed_changes():
    change = Change.batch(TSI["close"])

    def double_smooth(x):
        return Ema.batch(Ema.batch(x, 26), 12)

    assert_bits_equal(TSI["ta.tsi(close, 12, 26)"], double_smooth(change) / double_smooth(np.abs(change)), "tsi")


@pytest.mark.parametrize(
    ("column", "machine", "source"),
    [
        ("ta.highest(10)", Highest, "high"),
        ("ta.highest(close, 10)", Highest, "close"),
        ("ta.lowest(10)", Lowest, "low"),
        ("ta.lowest(close, 10)", Lowest, "close"),
    ],
)
def test_window_extremes_match_tradingview(column, machine, source):
    assert_bits_equal(EXTREMES[column], machine.batch(EXTREMES[source], 10), column)
