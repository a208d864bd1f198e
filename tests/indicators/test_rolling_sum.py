"""math.sum / ta.sma: warm-up, na bars and the re-baseline of TradingView's compensated sum."""

import math

import pytest

from indicators.pine import NA
from indicators.rolling_sum import RollingSum, Sma
from tv_oracle import load_tv


@pytest.mark.parametrize("length", [2, 3, 10, 60])
def test_bar_length_minus_one_is_na_and_bar_length_is_the_first_sum(length):
    s = RollingSum(length)
    xs = [1.0 + i / 8 for i in range(length + 1)]
    out = [s.update(x) for x in xs]
    assert all(math.isnan(v) for v in out[: length - 1])
    assert out[length - 1] == sum(xs[:length])  # small dyadic values: every sum is exact
    assert out[length] == sum(xs[1 : length + 1])


def test_na_bars_do_not_count_toward_warm_up():
    s = Sma(3)
    out = [s.update(x) for x in (1.0, NA, 2.0, NA, 3.0)]
    assert [math.isnan(v) for v in out] == [True, True, True, True, False]
    assert out[4] == 2.0


def test_na_after_warm_up_repeats_the_previous_value_and_keeps_the_window():
    s = Sma(2)
    assert [s.update(x) for x in (1.0, 3.0)][-1] == 2.0
    assert s.update(NA) == 2.0
    assert s.update(5.0) == 4.0  # window is (3, 5): the na bar was not stored


def test_length_one_is_the_value_itself_even_na():
    s = RollingSum(1)
    assert s.update(0.1) == 0.1
    assert math.isnan(s.update(NA))
    assert s.update(7.0) == 7.0


def test_rejects_non_positive_length():
    with pytest.raises(ValueError):
        RollingSum(0)


def test_the_compensated_sum_tracks_the_true_window_sum():
    closes = load_tv("ma.csv")["close"].tolist()
    s = RollingSum(10)
    for i, x in enumerate(closes):
        out = s.update(x)
        if i >= 9:
            assert math.isclose(out, math.fsum(closes[i - 9 : i + 1]), rel_tol=1e-14)


def test_rebaseline_sums_the_raw_window_newest_first():
    # Three 0.1s leave a compensation term that adding 5.5 absorbs: the machine re-baselines
    # to the plain sum of the raw window taken newest first, 0.1 + (0.1 + 5.5), which
    # differs from the oldest-first (0.1 + 0.1) + 5.5 in the last bit.
    s = RollingSum(3)
    for x in (0.1, 0.1, 0.1):
        s.update(x)
    out = s.update(5.5)
    assert out == 0.1 + (0.1 + 5.5)
    assert out != (0.1 + 0.1) + 5.5
