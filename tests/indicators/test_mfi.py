"""ta.mfi and VuManChu's RSI+MFI area: warm-up, the tolerant direction test, zero volume, flat bars."""

import math

import numpy as np

from indicators.mfi import Mfi, RsiMfiArea
from indicators.pine import NA


def _run(machine, *columns):
    return [machine.update(*bar) for bar in zip(*columns)]


def test_mfi_warm_up_counts_the_first_bar_so_bar_length_minus_one_has_the_first_value():
    src = [10.0, 11.0, 10.5, 12.0, 11.0]
    out = _run(Mfi(3), src, [1.0] * 5)
    assert [math.isnan(v) for v in out] == [True, True, False, False, False]
    # first bar's na change counts on both sides; bar 1 rose, bar 2 fell
    upper = 10.0 + 11.0
    lower = 10.0 + 10.5
    assert out[2] == 100.0 - (100.0 / (1.0 + upper / lower))


def test_mfi_with_no_money_flowing_out_is_100():
    out = _run(Mfi(3), [1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5)
    assert out[3] == 100.0 and out[4] == 100.0


def test_mfi_of_zero_volume_is_100_not_na():
    out = _run(Mfi(3), [1.0, 2.0, 1.0, 3.0], [0.0] * 4)
    assert out[2:] == [100.0, 100.0]


def test_mfi_direction_ignores_changes_within_1e_10():
    # a rise of 5e-11 is no move: only the first bar feeds the upper side, so with the
    # lower side non-zero the result is the same as with an exactly flat bar.
    tiny = _run(Mfi(2), [2.0, 1.0, 1.0 + 5e-11], [1.0] * 3)
    flat = _run(Mfi(2), [2.0, 1.0, 1.0], [1.0] * 3)
    assert tiny[2] == flat[2] == 0.0


def test_mfi_is_na_on_an_na_source_and_skips_it():
    with_gap = _run(Mfi(2), [1.0, 2.0, NA, 3.0], [1.0] * 4)
    without = _run(Mfi(2), [1.0, 2.0, 3.0], [1.0] * 3)
    assert math.isnan(with_gap[2])
    assert with_gap[3] == without[2]


def _bars(n):
    opens = [100.0 + (i % 5) for i in range(n)]
    closes = [o + ((i * 7) % 5 - 2) * 0.5 for i, o in enumerate(opens)]
    highs = [max(o, c) + 1.0 for o, c in zip(opens, closes)]
    lows = [min(o, c) - 0.5 for o, c in zip(opens, closes)]
    return opens, highs, lows, closes


def test_rsi_mfi_area_is_na_until_the_period_then_the_sma_minus_pos_y():
    o, h, l, c = _bars(6)
    out = _run(RsiMfiArea(period=3, multiplier=150.0, pos_y=2.5), o, h, l, c)
    assert [math.isnan(v) for v in out] == [True, True, False, False, False, False]
    terms = [((c[i] - o[i]) / (h[i] - l[i])) * 150.0 for i in range(3)]
    assert math.isclose(out[2], sum(terms) / 3 - 2.5, rel_tol=1e-15)


def test_rsi_mfi_area_skips_a_flat_bar_instead_of_dividing_by_zero():
    o, h, l, c = _bars(5)
    flat = RsiMfiArea(period=3)
    normal = RsiMfiArea(period=3)
    a = _run(flat, o[:4], h[:4], l[:4], c[:4])
    _run(normal, o[:4], h[:4], l[:4], c[:4])
    assert flat.update(100.0, 100.0, 100.0, 100.0) == a[-1]  # high == low: na term, previous value
    assert flat.update(o[4], h[4], l[4], c[4]) == normal.update(o[4], h[4], l[4], c[4])


# Large flows, then zero-volume bars: the two rolling sums keep opposite residues just beyond the
# 1e-10 tolerance, so ``1 + upper / lower`` is exactly zero on the last bar.
OPPOSITE_RESIDUES = [(100.0, 0.0), (100.0, 0.0), (100.0, 0.0), (104.0, 1.0), (100.0, 12345.678), (77.7, 12345.678),
                     (100.0, 12345.678), (104.0, 12345.678), (104.0, 0.001), (52.51, 0.0), (52.5, 0.0), (104.0, 0.0)]


def test_mfi_of_opposite_residues_is_na_in_both_forms_never_an_exception_or_an_infinity():
    mfi = Mfi(3)
    streamed = [mfi.update(src, volume) for src, volume in OPPOSITE_RESIDUES]
    assert math.isnan(streamed[-1]) and not math.isnan(streamed[-2])
    batch = Mfi.batch(np.array([s for s, _ in OPPOSITE_RESIDUES]), np.array([v for _, v in OPPOSITE_RESIDUES]), 3)
    assert math.isnan(batch[-1])
    assert [x == y or (x != x and y != y) for x, y in zip(batch.tolist(), streamed)] == [True] * len(streamed)
