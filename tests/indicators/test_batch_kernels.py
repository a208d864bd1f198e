"""The batch kernels' edges: lengths beyond the data, all-na input, Pine's length-1 shortcuts; each
kernel this install has (numba, the C loops, the list loops) against the streaming machines or
the plain Python loops, bit for bit."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indicators import kernels
from indicators.ema import Ema, Rma
from indicators.rolling_sum import RollingSum, Sma

NAN = math.nan


@pytest.mark.usefixtures("each_kernel")
@pytest.mark.parametrize("batch", [RollingSum.batch, Sma.batch, Ema.batch, Rma.batch])
def test_a_series_shorter_than_the_length_is_all_na(batch):
    assert np.isnan(batch(np.array([1.0, 2.0, 3.0]), 4)).all()
    assert np.isnan(batch(np.array([NAN, NAN, NAN, NAN]), 2)).all()
    assert len(batch(np.array([]), 3)) == 0


@pytest.mark.usefixtures("each_kernel")
def test_length_one_sum_and_ema_are_the_source_na_included():
    x = np.array([1.5, NAN, -2.0])
    for batch in (RollingSum.batch, Sma.batch, Ema.batch):
        out = batch(x, 1)
        assert out[0] == 1.5 and math.isnan(out[1]) and out[2] == -2.0


@pytest.mark.usefixtures("each_kernel")
@pytest.mark.parametrize("batch", [RollingSum.batch, Ema.batch, Rma.batch])
def test_non_positive_lengths_are_refused(batch):
    with pytest.raises(ValueError):
        batch(np.array([1.0]), 0)


def test_streak_kernel_counts_signed_runs_and_zero_for_doji():
    assert kernels.streak(np.array([1, 1, -1, 0, -1, -1, 1])).tolist() == [1, 2, -1, 0, -1, -2, 1]


def _bits(values) -> list:
    """Each float as its exact bits (NaN as one value): ``-0.0`` and ``0.0`` differ."""
    return [("nan",) if v != v else (v, math.copysign(1.0, v)) for v in np.asarray(values, dtype=np.float64).tolist()]


def _adversarial(rng, case: int, m: int) -> np.ndarray:
    """The sum test's series: re-baselines, zeros and negative zeros, na, infinities, 1e-8 to 1e16."""
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
    return x


@pytest.mark.usefixtures("each_kernel")
def test_the_sum_kernel_equals_the_streaming_machine_bit_for_bit_where_it_rebaselines():
    """Each kernel (the list one, ``_rolling_sum_lists``; the C one; numba's) against ``RollingSum.update`` on
    series built to reach every branch: re-baselines (a large value next to small ones leaves a
    compensation that absorbs the next input), zeros and negative zeros, na bars, infinities,
    magnitudes from 1e-8 to 1e16, values on a cent grid."""
    rng = np.random.default_rng(19)
    rebaselined = 0
    for case in range(1500):
        m, n = int(rng.integers(0, 80)), int(rng.integers(2, 10))
        x = _adversarial(rng, case, m)
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


# --- the C loops (indicators/_kernels.c): the default install's kernels where a compiler was present

c_only = pytest.mark.skipif(kernels.C_KERNELS is None, reason="the C kernels were not built (no C compiler at install)")


def _loop(kernel):
    return getattr(kernel, "py_func", kernel)  # the plain Python loop, whether numba compiled it or not


@c_only
def test_the_c_sum_kernel_equals_the_python_loop_bit_for_bit():
    rng = np.random.default_rng(23)
    for case in range(1500):
        m, n = int(rng.integers(0, 80)), int(rng.integers(2, 12))
        x = _adversarial(rng, case, m)
        for scale in (1.0, float(n)):
            looped = [0.0] * m
            _loop(kernels._rolling_sum)(x.tolist(), n, scale, looped, [0.0] * n, [0.0] * n)
            out = np.empty(m)
            kernels.C_KERNELS.rolling_sum(x, n, scale, out)
            assert _bits(out) == _bits(looped), (case, x.tolist(), n, scale)


@c_only
def test_the_c_average_kernel_equals_the_python_loop_bit_for_bit():
    rng = np.random.default_rng(29)
    for case in range(1500):
        m = int(rng.integers(1, 80))
        x = _adversarial(rng, case, m)
        n = int(rng.integers(1, 30))
        start = int(rng.integers(0, m))
        seed = float(rng.normal() * 10.0 ** rng.integers(-4, 8))
        for wilder in (False, True):
            looped = [NAN] * m
            _loop(kernels._average_tail)(x.tolist(), start, seed, n, 2 / (n + 1), wilder, looped)
            out = np.full(m, NAN)
            kernels.C_KERNELS.average_tail(x, start, seed, n, 2 / (n + 1), wilder, out)
            assert _bits(out) == _bits(looped), (case, x.tolist(), start, seed, n, wilder)


@c_only
def test_the_c_ha_open_kernel_equals_the_python_loop_bit_for_bit():
    rng = np.random.default_rng(31)
    for case in range(500):
        m = int(rng.integers(0, 60))
        seed, close = _adversarial(rng, case, m), _adversarial(rng, case + 1, m)
        looped = [0.0] * m
        _loop(kernels._ha_open)(seed.tolist(), close.tolist(), looped)
        out = np.empty(m)
        kernels.C_KERNELS.ha_open(seed, close, out)
        assert _bits(out) == _bits(looped), case


@c_only
def test_the_c_kernels_refuse_what_they_cannot_read_or_write():
    c = kernels.C_KERNELS
    with pytest.raises(TypeError, match="float64"):
        c.rolling_sum(np.arange(5), 2, 1.0, np.empty(5))
    with pytest.raises(ValueError, match="shorter"):
        c.rolling_sum(np.ones(5), 2, 1.0, np.empty(4))
    with pytest.raises(ValueError, match="n must be >= 2"):
        c.rolling_sum(np.ones(5), 1, 1.0, np.empty(5))
    with pytest.raises(ValueError, match="start outside"):
        c.average_tail(np.ones(3), 3, 1.0, 2, 0.5, False, np.empty(3))
    frozen = np.empty(3)
    frozen.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        c.ha_open(np.ones(3), np.ones(3), frozen)


def test_the_kernels_in_use_are_named():
    # A fresh process: this module's other tests switch kernels.KERNELS (``each_kernel``).
    code = "from indicators import kernels; print(kernels.KERNELS)"
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("c" if kernels.C_KERNELS is not None else "numba" if kernels.IS_COMPILED else "python")
