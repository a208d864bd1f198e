"""ta.highest / ta.lowest: the window, its warm-up and na bars inside it."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from indicators.extremes import Highest, Lowest
from indicators.pine import NA


def test_na_until_length_bars_then_the_window_extreme():
    h, l = Highest(3), Lowest(3)
    xs = [2.0, 5.0, 1.0, 3.0, 4.0, 0.5]
    assert [h.update(x) for x in xs][2:] == [5.0, 5.0, 4.0, 4.0]
    out = [l.update(x) for x in xs]
    assert math.isnan(out[1]) and out[2:] == [1.0, 1.0, 1.0, 0.5]


def test_na_bars_take_a_window_slot_but_are_never_the_extreme():
    h = Highest(2)
    out = [h.update(x) for x in (1.0, NA, NA, 3.0)]
    assert out[1] == 1.0 and math.isnan(out[2]) and out[3] == 3.0


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.integers(1, 8))
def test_matches_the_window_maximum_and_minimum(xs, length):
    hi = Highest.batch(np.array(xs), length)
    lo = Lowest.batch(np.array(xs), length)
    for i in range(length - 1, len(xs)):
        assert hi[i] == max(xs[i - length + 1 : i + 1])
        assert lo[i] == min(xs[i - length + 1 : i + 1])
