"""WaveTrend (LazyBear and VuManChu Cipher B): warm-up, flat markets, the cross and zone flags."""

import math

import numpy as np
import pytest

from indicators.params import LAZYBEAR, IndicatorParams, WaveTrendParams
from indicators.pine import hlc3
from indicators.wavetrend import CipherB, WaveTrend


def _wave(n: int) -> list[float]:
    return [100.0 + 5.0 * math.sin(i / 4.0) + (i % 3) * 0.25 for i in range(n)]


def _first_value(values) -> int:
    return next(i for i, v in enumerate(values) if not math.isnan(v))


@pytest.mark.parametrize(
    ("params", "wt1_first", "wt2_first"),
    [
        # esa at channel-1; d needs channel deviations more; wt1 average-1 more; wt2 ma-1 more.
        (WaveTrendParams(channel=9, average=12, ma=3), 8 + 8 + 11, 8 + 8 + 11 + 2),
        (LAZYBEAR, 9 + 9 + 20, 9 + 9 + 20 + 3),
    ],
    ids=["vmc", "lazybear"],
)
def test_first_values_arrive_when_each_stage_has_warmed_up(params, wt1_first, wt2_first):
    wt = WaveTrend(params)
    out = [wt.update(x) for x in _wave(80)]
    assert _first_value([o[0] for o in out]) == wt1_first
    assert _first_value([o[1] for o in out]) == wt2_first


def test_default_params_are_vumanchu_and_lazybear_is_10_21_4():
    p = IndicatorParams()
    assert (p.vmc.channel, p.vmc.average, p.vmc.ma) == (9, 12, 3)
    assert (p.lazybear.channel, p.lazybear.average, p.lazybear.ma) == (10, 21, 4)
    assert (p.oversold, p.overbought) == (-53.0, 53.0)


def test_a_flat_market_divides_by_zero_so_wt1_stays_na():
    wt = WaveTrend(WaveTrendParams())
    out = [wt.update(100.0) for _ in range(60)]
    assert all(math.isnan(w1) for w1, _ in out)


def test_ci_uses_pines_operation_order():
    # wt1 of length 1 and ma 1 expose ci itself: (ap - esa) / (0.015 * d)
    wt = WaveTrend(WaveTrendParams(channel=2, average=1, ma=1))
    xs = [10.0, 11.0, 13.0, 12.5]
    out = [wt.update(x) for x in xs]
    esa = [math.nan, 10.5]
    esa.append(esa[1] + (2 / 3) * (13.0 - esa[1]))
    esa.append(esa[2] + (2 / 3) * (12.5 - esa[2]))
    dev = [x - e for x, e in zip(xs, esa)]
    d2 = (abs(dev[1]) + abs(dev[2])) / 2
    d3 = d2 + (2 / 3) * (abs(dev[3]) - d2)
    assert out[2][0] == dev[2] / (0.015 * d2)
    assert out[3][0] == dev[3] / (0.015 * d3)


def _feed(cb: CipherB, closes):
    return [cb.update(c + 0.5, c - 0.5, c) for c in closes]


def _turn(sign: float) -> list[float]:
    """A choppy warm-up, an accelerating move (wt1 runs away from wt2), then a reversal."""
    chop = [100.0 + (i % 2) for i in range(20)]
    move = [100.0 + sign * 0.08 * i * i for i in range(20)]
    return chop + move + [move[-1] - sign * 2.0 * i for i in range(1, 11)]


def test_cross_up_fires_once_where_wt1_climbs_through_wt2_in_the_oversold_zone():
    out = _feed(CipherB(), _turn(-1.0))
    ups = [i for i, s in enumerate(out) if s.cross_up]
    assert len(ups) == 1 and not any(s.cross_down for s in out)
    i = ups[0]
    assert out[i - 1].wt1 < out[i - 1].wt2 and out[i].wt1 > out[i].wt2
    assert out[i].oversold and not out[i].overbought


def test_cross_down_fires_once_where_wt1_falls_through_wt2_in_the_overbought_zone():
    out = _feed(CipherB(), _turn(1.0))
    downs = [i for i, s in enumerate(out) if s.cross_down]
    assert len(downs) == 1 and not any(s.cross_up for s in out)
    i = downs[0]
    assert out[i - 1].wt1 > out[i - 1].wt2 and out[i].wt1 < out[i].wt2
    assert out[i].overbought and not out[i].oversold


def test_na_wt2_is_neither_oversold_nor_overbought():
    out = CipherB.batch(np.array([1.0]), np.array([1.0]), np.array([1.0]))
    assert out.oversold.tolist() == [False] and out.overbought.tolist() == [False]


def test_zone_flags_follow_wt2_at_the_levels_exactly():
    closes = [100.0] * 5 + [100.0 - 1.5 * i for i in range(30)]
    out = _feed(CipherB(), closes)
    for s in out:
        if math.isnan(s.wt2):
            assert not s.oversold and not s.overbought
        else:
            assert s.oversold == (s.wt2 - (-53.0) <= 1e-10)
            assert s.overbought == (s.wt2 - 53.0 >= -1e-10)


def test_cipher_b_reads_hlc3():
    h, l, c = np.array([11.0, 12.0]), np.array([9.0, 10.5]), np.array([10.0, 11.0])
    assert np.array_equal(CipherB.batch(h, l, c, WaveTrendParams(channel=1, average=1, ma=1)).wt1,
                          WaveTrend.batch(hlc3(h, l, c), WaveTrendParams(channel=1, average=1, ma=1))[0],
                          equal_nan=True)


def test_zone_levels_compare_with_pines_1e_10_tolerance():
    closes = _turn(-1.0)
    k = 35
    wt2 = _feed(CipherB(), closes)[k].wt2
    just_above = _feed(CipherB(oversold=wt2 - 5e-11, overbought=wt2 + 5e-11), closes)[k]
    assert just_above.oversold and just_above.overbought  # both within tolerance of wt2
    clear = _feed(CipherB(oversold=wt2 - 2e-10, overbought=wt2 + 2e-10), closes)[k]
    assert not clear.oversold and not clear.overbought
