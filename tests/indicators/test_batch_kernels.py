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
