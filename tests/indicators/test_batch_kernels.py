"""The batch kernels' edges: lengths beyond the data, all-na input, Pine's length-1 shortcuts."""

import math

import numpy as np
import pytest

from indicators import kernels
from indicators.ema import Ema, Rma
from indicators.rolling_sum import RollingSum, Sma

NAN = math.nan


@pytest.mark.parametrize("batch", [RollingSum.batch, Sma.batch, Ema.batch, Rma.batch])
def test_a_series_shorter_than_the_length_is_all_na(batch):
    assert np.isnan(batch(np.array([1.0, 2.0, 3.0]), 4)).all()
    assert np.isnan(batch(np.array([NAN, NAN, NAN, NAN]), 2)).all()
    assert len(batch(np.array([]), 3)) == 0


def test_length_one_sum_and_ema_are_the_source_na_included():
    x = np.array([1.5, NAN, -2.0])
    for batch in (RollingSum.batch, Sma.batch, Ema.batch):
        out = batch(x, 1)
        assert out[0] == 1.5 and math.isnan(out[1]) and out[2] == -2.0


@pytest.mark.parametrize("batch", [RollingSum.batch, Ema.batch, Rma.batch])
def test_non_positive_lengths_are_refused(batch):
    with pytest.raises(ValueError):
        batch(np.array([1.0]), 0)


def test_streak_kernel_counts_signed_runs_and_zero_for_doji():
    assert kernels.streak(np.array([1, 1, -1, 0, -1, -1, 1])).tolist() == [1, 2, -1, 0, -1, -2, 1]


def _bits(values) -> list:
    """Each float as its exact bits (NaN as one value): ``-0.0`` and ``0.0`` differ."""
    return [("nan",) if v != v else (v, math.copysign(1.0, v)) for v in np.asarray(values, dtype=np.float64).tolist()]


def test_the_sum_kernel_equals_the_streaming_machine_bit_for_bit_where_it_rebaselines():
    """The default install's list kernel (``_rolling_sum_lists``) against ``RollingSum.update`` on
    series built to reach every branch: re-baselines (a large value next to small ones leaves a
    compensation that absorbs the next input), zeros and negative zeros, na bars, infinities,
    magnitudes from 1e-8 to 1e16, values on a cent grid."""
    rng = np.random.default_rng(19)
    rebaselined = 0
    for case in range(1500):
        m, n = int(rng.integers(0, 80)), int(rng.integers(2, 10))
        x = rng.normal(size=m) * 10.0 ** rng.integers(-8, 12, size=m)
        kind = case % 6
        if kind == 1:
            x[rng.random(m) < 0.4] = 0.0
        elif kind == 2:
            x[rng.random(m) < 0.3] = NAN
        elif kind == 3:
            x = np.round(x, 2)
        elif kind == 4:
            x[rng.random(m) < 0.2] = -0.0
            x[rng.random(m) < 0.1] = math.inf * float(rng.choice([-1, 1]))
        elif kind == 5:
            x = np.where(rng.random(m) < 0.5, 1e16, 1.0) * rng.choice([-1.0, 1.0], size=m)
        streaming = RollingSum(n)
        expected = []
        for v in x.tolist():
            c = streaming._comp  # the machine's own re-baseline test, counted
            r = v + abs(c)
            rebaselined += c != 0.0 and v != 0.0 and r != 0.0 and r - r == 0.0 and abs(c) - (r - v) > 0.0
            expected.append(streaming.update(v))
        assert _bits(RollingSum.batch(x, n)) == _bits(expected), (case, x.tolist(), n)
        assert _bits(Sma.batch(x, n)) == _bits(np.array(expected) / n), (case, x.tolist(), n)
    assert rebaselined > 50  # the re-baseline branch was taken, not only the compensated one


def test_the_streak_equals_the_loop_for_any_signed_colours():
    """The default install's run-start form against the loop it replaces (``_streak``), on colours
    of any magnitude: the loop reads only their signs."""
    rng = np.random.default_rng(5)
    for _ in range(500):
        colour = rng.integers(-3, 4, size=int(rng.integers(0, 40)))
        looped = [0] * len(colour)
        loop = getattr(kernels._streak, "py_func", kernels._streak)  # the plain loop, compiled or not
        loop(colour.tolist(), looped)
        assert kernels.streak(colour).tolist() == looped


def test_the_ha_open_list_kernel_equals_the_loop_bit_for_bit():
    """The default install's list form (``_ha_open_lists``) against the loop numba compiles
    (``_ha_open``), on series with na bars (which reseed the open), zeros and magnitudes far apart."""
    rng = np.random.default_rng(11)
    loop = getattr(kernels._ha_open, "py_func", kernels._ha_open)
    for case in range(400):
        m = int(rng.integers(0, 60))
        seed = rng.normal(size=m) * 10.0 ** rng.integers(-6, 9, size=m)
        close = rng.normal(size=m) * 10.0 ** rng.integers(-6, 9, size=m)
        if case % 3 == 1:
            seed[rng.random(m) < 0.2] = NAN
            close[rng.random(m) < 0.2] = NAN
        elif case % 3 == 2:
            close[rng.random(m) < 0.3] = 0.0
        looped = [0.0] * m
        loop(seed.tolist(), close.tolist(), looped)
        assert _bits(kernels._ha_open_lists(seed.tolist(), close.tolist())) == _bits(looped), case
