"""Each entry path fires exactly at its thresholds, for the side it is built for, and not otherwise."""

import csv
import gzip
from pathlib import Path

import pytest

from vocabulary.messages import Kline
from vocabulary.settings import StrategySettings
from indicators.frame import FrameIndicators
from market_builders import REAL_PRE_CROSS, REAL_PRE_CROSS_MS, long_cross, long_ha_reversal, long_pre_cross, mirror_frame, red
from strategy.paths import cross_based, fired_candidates, ha_reversal, pre_cross

S = StrategySettings()  # wt_oversold -53, ha_flip_window 3, pre_cross_gap 5, pre_cross_bars 2, ha_streak_min 3
KLINES = Path(__file__).resolve().parents[2] / "data" / "klines"


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


GAP = REAL_PRE_CROSS["wt2"] - REAL_PRE_CROSS["wt1"]  # 0.5523: wt1 still under wt2


@pytest.mark.parametrize(("settings", "change", "expected"), [
    ({}, {}, True),
    ({"pre_cross_gap": GAP}, {}, True),                           # the gap exactly at pre_cross_gap
    ({"pre_cross_gap": 0.55}, {}, False),                         # a gap wider than pre_cross_gap
    ({"wt_oversold": REAL_PRE_CROSS["wt1"]}, {}, True),           # wt1 on the oversold level
    ({"wt_oversold": -56.42}, {}, False),                         # wt1 above it
    ({"pre_cross_bars": 3}, {}, False),                           # not enough history for three bars of shrinking
    ({"pre_cross_bars": 1}, {"wt1_hist": (None, -59.56703385905092, -56.41043649145205)}, True),  # only the last bars count
    ({}, {"wt1_hist": (None, -59.56703385905092, -56.41043649145205)}, False),
    ({}, {"wt2_hist": (-39.0, -60.0, -55.85814753513716)}, False),  # the gap grew on the bar before: diverging
    ({}, {"wt1": -55.85814753513716, "wt1_hist": (-51.596972254908515, -59.56703385905092, -55.85814753513716)}, False),  # gap 0: touching is not before the cross
    ({}, {"ha_streak": -2, **red()}, False),                      # HA not green
    ({}, {"ha_open": 100.0, "ha_close": 100.0}, False),           # doji is not the trade's colour
])
def test_pre_cross_long_needs_wt1_under_wt2_by_at_most_the_gap_and_the_gap_shrinking(settings, change, expected):
    assert (pre_cross(long_pre_cross(**change), 1, StrategySettings(**settings)) is not None) is expected


def real_frames(symbol):
    """Every 1m FrameState the indicators compute over ``symbol``'s shipped month, warm-up excluded."""
    out, indicators = [], FrameIndicators(1, hist_len=16)
    with gzip.open(KLINES / f"{symbol}-1m.csv.gz", "rt", newline="") as f:
        for r in csv.DictReader(f):
            state = indicators.update(Kline(symbol=symbol, interval=1, start_ms=int(r["start_ms"]), open=float(r["open"]),
                                            high=float(r["high"]), low=float(r["low"]), close=float(r["close"]),
                                            volume=float(r["volume"])))
            if state.wt1 is not None and state.wt2 is not None:
                out.append(state)
    return out


@pytest.fixture(scope="module")
def sol_month():
    return real_frames("SOLUSDT")


def test_the_pre_cross_fixture_is_what_the_real_indicators_computed(sol_month):
    real = next(f for f in sol_month if f.start_ms == REAL_PRE_CROSS_MS)
    for key, value in REAL_PRE_CROSS.items():
        have = getattr(real, key)
        assert (have[-len(value):] if isinstance(value, tuple) else have) == value, key
    assert [(c.path, c.side) for c in fired_candidates(real, S)] == [("pre_cross", "Buy")]


def test_pre_cross_fires_on_real_data_both_ways_and_never_after_a_cross(sol_month):
    # The old rule (wt1 rising on pre_cross_bars bars while still under wt2 = sma(wt1, 3)) cannot hold.
    old = [f for f in sol_month if f.wt1 < f.wt2 and f.wt1_hist[-3] < f.wt1_hist[-2] < f.wt1_hist[-1]]
    assert old == []
    fired = {d: [f for f in sol_month if pre_cross(f, d, S) is not None] for d in (1, -1)}
    assert len(fired[1]) > 0 and len(fired[-1]) > 0
    for d, frames in fired.items():
        for f in frames:
            gaps = [d * (w2 - w1) for w1, w2 in zip(f.wt1_hist[-3:], f.wt2_hist[-3:])]
            assert all(g > 0 for g in gaps) and not (f.wt_cross_up or f.wt_cross_down)


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
    assert pre_cross(long_pre_cross(), 1, wider) is None  # wt1 -56.4 is not <= -70
    assert cross_based(long_cross(wt2=-71.0, ha_streak=4), 1, wider) is not None
    assert ha_reversal(long_ha_reversal(wt1=-71.0, ha_streak_hist=(-2, 1)), 1, wider) is not None
