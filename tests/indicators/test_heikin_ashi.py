"""Heikin Ashi by the Pine recipe, and the signed same-colour streak (a doji scores 0)."""

import math

from indicators.heikin_ashi import HeikinAshi
from indicators.pine import NA


def test_first_candle_opens_at_the_bar_midpoint_then_at_the_previous_ha_midpoint():
    ha = HeikinAshi()
    first = ha.update(10.0, 14.0, 9.0, 12.0)
    assert first.open == (10.0 + 12.0) / 2
    assert first.close == (10.0 + 14.0 + 9.0 + 12.0) / 4
    assert first.high == 14.0 and first.low == 9.0
    second = ha.update(12.0, 13.0, 11.0, 12.5)
    assert second.open == (first.open + first.close) / 2
    assert second.close == (12.0 + 13.0 + 11.0 + 12.5) / 4


def test_ha_high_and_low_include_the_ha_body():
    ha = HeikinAshi()
    ha.update(20.0, 21.0, 19.0, 20.5)
    c = ha.update(10.0, 11.0, 9.0, 10.5)  # a gap down: ha_open stays near 20
    assert c.high == c.open and c.open > 11.0
    assert c.low == 9.0


def _streaks(bars):
    ha = HeikinAshi()
    return [ha.update(*bar).streak for bar in bars]


UP = (10.0, 12.0, 9.5, 11.5)


def test_streak_counts_consecutive_colours_signed_and_restarts_on_a_change():
    # ha (open, close): (10.4, 10.2) (10.3, 11.3) (10.8, 12.3) (11.55, 11.45) (11.5, 9.1) (10.3, 9.5) (9.9, 10.75)
    bars = [(10.0, 11.0, 9.0, 10.8), (10.8, 12.0, 10.5, 11.9), (11.9, 13.0, 11.5, 12.8),
            (12.8, 12.9, 10.0, 10.1), (10.1, 10.2, 8.0, 8.1), (8.1, 11.0, 8.0, 10.9), (9.5, 12.0, 9.5, 12.0)]
    assert _streaks(bars) == [-1, 1, 2, -1, -2, -3, 1]


def test_a_doji_has_no_colour_scores_zero_and_the_next_candle_starts_afresh():
    # ha (open, close): (10.5, 10.25) red; (10.375, 10.375) doji; (10.375, 9.71875) red again.
    bars = [(10.0, 11.0, 9.0, 11.0), (10.375, 10.375, 10.375, 10.375), (10.375, 10.4, 9.0, 9.1)]
    assert _streaks(bars) == [-1, 0, -1]


def test_a_body_within_the_1e_10_tolerance_is_a_doji():
    ha = HeikinAshi()
    ha.update(10.0, 10.0, 10.0, 10.0)
    # ha_open = 10.0; ohlc4 of these is 10.0 + 4e-11: a tolerant tie.
    tiny = 4e-11
    assert ha.update(10.0, 10.0 + 2 * tiny, 10.0 + tiny, 10.0 + tiny).streak == 0


def test_an_na_bar_propagates_until_ha_open_reseeds_from_a_real_bar():
    # Pine: ha_open = na(ha_open[1]) ? (open + close) / 2 : (ha_open[1] + ha_close[1]) / 2
    ha = HeikinAshi()
    first = ha.update(10.0, 11.0, 9.0, 10.5)
    gap = ha.update(NA, NA, NA, NA)
    assert gap.open == (first.open + first.close) / 2
    assert math.isnan(gap.close) and math.isnan(gap.high) and gap.streak == 0
    after = ha.update(20.0, 21.0, 19.0, 20.4)  # ha_close[1] is na, so ha_open is too
    assert math.isnan(after.open) and after.streak == 0
    assert ha.update(20.0, 21.0, 19.0, 20.4).open == (20.0 + 20.4) / 2


def test_batch_streak_matches_across_colour_changes():
    bars = [(10.0, 11.0, 9.0, 10.8), (10.8, 12.0, 10.5, 11.9), (12.8, 12.9, 10.0, 10.1), (10.5, 11.0, 10.0, 10.5)]
    import numpy as np

    cols = [np.array(c) for c in zip(*bars)]
    assert HeikinAshi.batch(*cols)[4].tolist() == _streaks(bars)
