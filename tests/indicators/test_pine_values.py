"""Pine's value rules: na, nz, division by zero, tolerant comparison, source formulas."""

import math

import numpy as np
import pytest

from indicators.pine import NA, Change, History, div, div_array, eq, ge, gt, hlcc4, le, lt, nz, pine_max, pine_min
from tv_oracle import load_tv, ulp_distance


def test_nz_replaces_only_na():
    assert nz(NA) == 0.0
    assert nz(NA, 7.5) == 7.5
    assert nz(-0.25, 7.5) == -0.25


def test_division_by_zero_is_na_not_infinity():
    assert math.isnan(div(1.0, 0.0))
    assert math.isnan(div(0.0, 0.0))
    assert div(1.0, 4.0) == 0.25
    out = div_array(np.array([1.0, 0.0, 3.0]), np.array([0.0, 0.0, 2.0]))
    assert math.isnan(out[0]) and math.isnan(out[1]) and out[2] == 1.5


def test_script_comparisons_are_tolerant_by_1e_10():
    assert eq(1.0, 1.0 + 5e-11)
    assert not gt(1.0 + 5e-11, 1.0)
    assert gt(1.0 + 2e-10, 1.0)
    assert ge(1.0 - 5e-11, 1.0) and le(1.0 + 5e-11, 1.0)
    assert lt(1.0, 1.0 + 2e-10) and not lt(1.0, 1.0 + 5e-11)


def test_comparisons_with_na_are_false():
    for op in (eq, gt, lt, ge, le):
        assert not op(NA, 1.0)
        assert not op(1.0, NA)


def test_math_max_and_min_propagate_na_whatever_the_order():
    assert math.isnan(pine_max(NA, 1.0)) and math.isnan(pine_max(1.0, NA))
    assert math.isnan(pine_min(NA, 1.0)) and math.isnan(pine_min(1.0, NA))
    assert pine_max(2.0, 3.0) == 3.0 and pine_min(2.0, 3.0) == 2.0


def test_change_is_na_on_the_first_bar_and_skips_na_bars():
    ch = Change()
    assert math.isnan(ch.update(5.0))
    assert ch.update(7.0) == 2.0
    assert math.isnan(ch.update(NA))
    assert ch.update(6.0) == -1.0


def test_history_reads_k_bars_back_and_na_beyond_what_is_kept():
    h = History(max_bars_back=2)
    assert math.isnan(h[0])
    for x in (1.0, 2.0, 3.0, 4.0):
        h.append(x)
    assert (h[0], h[1], h[2]) == (4.0, 3.0, 2.0)
    assert math.isnan(h[3]) and math.isnan(h[-1])
    short = History(max_bars_back=5)
    short.append(7.0)
    assert short[0] == 7.0 and math.isnan(short[1])


def test_hlcc4_doubles_the_close_rather_than_adding_it_twice():
    # pine.md: ``(h + l + c + c) / 4`` misses TradingView on ma.csv; the rma built on it is
    # exported, so the two forms must actually differ on that data for the rule to matter.
    d = load_tv("ma.csv")
    h, l, c = d["high"].tolist(), d["low"].tolist(), d["close"].tolist()
    differ = [i for i in range(len(c)) if hlcc4(h[i], l[i], c[i]) != (h[i] + l[i] + c[i] + c[i]) / 4]
    assert len(differ) >= 10


@pytest.mark.parametrize(("a", "b", "ulps"), [(1.0, 1.0, 0), (1.0, math.nextafter(1.0, 2.0), 1), (-0.0, 0.0, 0),
                                              (math.nextafter(0.0, -1.0), math.nextafter(0.0, 1.0), 2)])
def test_ulp_distance_of_the_mismatch_report(a, b, ulps):
    assert ulp_distance(a, b) == ulps
