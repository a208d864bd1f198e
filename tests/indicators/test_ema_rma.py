"""ta.ema / ta.rma / ta.rsi: warm-up boundaries, the sma seed, na bars skipped whole."""

import math

import pytest

from indicators.ema import Ema, Rma
from indicators.pine import NA
from indicators.rolling_sum import Sma
from indicators.rsi import Rsi

XS = [100.0 + ((i * 37) % 11) / 7.0 for i in range(40)]


@pytest.mark.parametrize("machine", [Ema, Rma])
@pytest.mark.parametrize("length", [2, 5, 14, 20])
def test_bar_length_minus_one_is_na_and_bar_length_is_the_sma_seed(machine, length):
    m, sma = machine(length), Sma(length)
    out = [m.update(x) for x in XS]
    seeds = [sma.update(x) for x in XS]
    assert all(math.isnan(v) for v in out[: length - 1])
    assert out[length - 1] == seeds[length - 1]
    assert not math.isnan(out[length])


def test_ema_steps_incrementally_after_the_seed():
    m = Ema(3)
    out = [m.update(x) for x in XS[:6]]
    alpha = 2 / 4
    for i in range(3, 6):
        assert out[i] == out[i - 1] + alpha * (XS[i] - out[i - 1])


def test_rma_steps_by_wilder_after_the_seed():
    m = Rma(4)
    out = [m.update(x) for x in XS[:8]]
    for i in range(4, 8):
        assert out[i] == (out[i - 1] * 3 + XS[i]) / 4


@pytest.mark.parametrize("machine", [Ema, Rma])
def test_an_na_bar_is_na_and_leaves_the_state_untouched(machine):
    with_gap, without = machine(3), machine(3)
    for x in XS[:5]:
        with_gap.update(x)
        without.update(x)
    assert math.isnan(with_gap.update(NA))
    assert [with_gap.update(x) for x in XS[5:]] == [without.update(x) for x in XS[5:]]


def test_ema_of_length_one_is_the_source():
    m = Ema(1)
    assert [m.update(x) for x in (1.0, 1e-20, -3.5)] == [1.0, 1e-20, -3.5]


def test_rsi_is_na_on_the_first_bar_and_seeds_after_length_moves():
    r = Rsi(3)
    out = [r.update(x) for x in (10.0, 11.0, 10.0, 12.0, 11.0)]
    assert [math.isnan(v) for v in out] == [True, True, True, False, False]
    assert out[3] == 100 - 100 / (1 + (3.0 / 3) / (1.0 / 3))


def test_rsi_with_no_down_move_divides_by_zero_and_is_na():
    r = Rsi(2)
    out = [r.update(x) for x in (1.0, 2.0, 3.0, 4.0)]
    assert all(math.isnan(v) for v in out)
