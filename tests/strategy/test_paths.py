"""Each entry path fires exactly at its thresholds, for the side it is built for, and not otherwise."""

import pytest

from actors.settings import StrategySettings
from market_builders import long_cross, long_ha_reversal, long_pre_cross, mirror_frame, red
from strategy.paths import cross_based, fired_candidates, ha_reversal, pre_cross

S = StrategySettings()  # wt_oversold -53, ha_flip_window 3, pre_cross_gap 5, pre_cross_bars 2, ha_streak_min 3


def fires(detect, frame, d=1):
    return detect(frame, d, S) is not None


@pytest.mark.parametrize(("change", "expected"), [
    ({}, True),
    ({"wt2": -53.0}, True),                                    # on the oversold level is in the zone
    ({"wt2": -52.9}, False),                                   # just above it is not
    ({"wt_cross_up": False}, False),                           # no cross, no cross_based
    ({"wt2": None}, False),
    ({"ha_streak": 3, "ha_streak_hist": (-1, 1, 2, 3)}, True),  # green for 3 bars: flip is within the window
    ({"ha_streak": 4, "ha_streak_hist": (-1, 1, 2, 3, 4)}, False),  # 4 bars ago is outside ha_flip_window 3
    ({"ha_streak": 0}, False),                                 # doji: no colour
    ({"ha_streak": -1, **red()}, False),                       # still red
])
def test_cross_based_long_needs_a_cross_up_in_the_oversold_zone_and_a_recent_green_flip(change, expected):
    assert fires(cross_based, long_cross(**change)) is expected


@pytest.mark.parametrize(("change", "expected"), [
    ({}, True),
    ({"wt1": -60.0, "wt1_hist": (-66.0, -63.0, -60.0)}, True),   # gap exactly 5 = pre_cross_gap
    ({"wt1": -60.1, "wt1_hist": (-66.0, -63.0, -60.1)}, False),  # gap 5.1
    ({"wt1": -55.0, "wt1_hist": (-64.0, -61.0, -55.0)}, False),  # gap 0: touching is not "before the cross"
    ({"wt1": -54.0, "wt1_hist": (-64.0, -61.0, -54.0)}, False),  # already above wt2
    ({"wt1": -52.0, "wt2": -49.0, "wt1_hist": (-64.0, -61.0, -52.0)}, False),  # wt1 above the oversold level
    ({"wt1": -53.0, "wt2": -50.0, "wt1_hist": (-64.0, -61.0, -53.0)}, True),   # wt1 on the level
    ({"wt1_hist": (-61.0, -61.0, -58.0)}, False),             # flat on one of the pre_cross_bars
    ({"wt1_hist": (-58.0, -61.0, -58.0)}, False),             # fell before it rose
    ({"wt1_hist": (-61.0, -58.0)}, False),                    # not enough history for two bars of slope
    ({"wt1_hist": (None, -61.0, -58.0)}, False),
    ({"wt1_hist": (-99.0, -50.0, -64.0, -61.0, -58.0)}, True),  # only the last pre_cross_bars count
    ({"ha_streak": -2, **red()}, False),                       # HA not green
    ({"ha_open": 100.0, "ha_close": 100.0}, False),            # doji is not the trade's colour
])
def test_pre_cross_long_needs_wt1_closing_in_from_below_within_the_gap(change, expected):
    assert fires(pre_cross, long_pre_cross(**change)) is expected


@pytest.mark.parametrize(("change", "expected"), [
    ({}, True),
    ({"ha_streak_hist": (-1, -2, 1)}, False),                  # broken streak of 2 < ha_streak_min 3
    ({"ha_streak_hist": (-1, -2, -3, -4, -5, 1)}, True),       # longer streaks qualify
    ({"ha_streak": 2, "ha_streak_hist": (-2, -3, 1, 2)}, False),  # the break was a bar ago: too late
    ({"ha_streak_hist": (1,)}, False),                          # no previous bar to have been a streak
    ({"wt1": -53.0}, True),
    ({"wt1": -52.9}, False),
    ({"wt1": None}, False),
])
def test_ha_reversal_long_needs_a_red_streak_broken_by_green_now_with_wt1_oversold(change, expected):
    assert fires(ha_reversal, long_ha_reversal(**change)) is expected


@pytest.mark.parametrize("build", [long_cross, long_pre_cross, long_ha_reversal])
def test_a_long_setup_never_fires_short_and_its_mirror_fires_only_short(build):
    for detect in (cross_based, pre_cross, ha_reversal):
        assert not fires(detect, build(), d=-1)
        assert not fires(detect, mirror_frame(build(), centre=1000), d=1)
        assert fires(detect, mirror_frame(build(), centre=1000), d=-1) == fires(detect, build(), d=1)


@pytest.mark.parametrize(("build", "path"), [
    (long_cross, "cross_based"), (long_pre_cross, "pre_cross"), (long_ha_reversal, "ha_reversal"),
])
def test_each_builder_fires_exactly_its_own_path(build, path):
    assert [(c.path, c.side) for c in fired_candidates(build(), S)] == [(path, "Buy")]


def test_candidates_come_in_cascade_order_when_two_paths_fire():
    both = long_cross(ha_streak_hist=(-1, -2, -3, 1), wt1=-57.0)
    assert [c.path for c in fired_candidates(both, S)] == ["cross_based", "ha_reversal"]


def test_thresholds_follow_the_settings():
    wider = StrategySettings(pre_cross_gap=6.0, ha_flip_window=4, ha_streak_min=2, wt_oversold=-70.0)
    assert pre_cross(long_pre_cross(wt1=-61.0, wt1_hist=(-67.0, -64.0, -61.0)), 1, wider) is None  # wt1 -61 not <= -70
    assert pre_cross(long_pre_cross(wt1=-76.0, wt2=-70.5, wt1_hist=(-80.0, -78.0, -76.0)), 1, wider) is not None
    assert cross_based(long_cross(wt2=-71.0, ha_streak=4), 1, wider) is not None
    assert ha_reversal(long_ha_reversal(wt1=-71.0, ha_streak_hist=(-2, 1)), 1, wider) is not None
