"""The scoring engine over columns casts the scalar engine's votes, and estimates a candidate's
score within its stated slack (the trial's screen: tests/backtest/test_trial.py holds the screen
to deciding every row)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from vocabulary.settings import StrategySettings
from strategy.scoring import FACTORS, SCORED_INTERVALS, score_candidate
from strategy.scoring_batch import estimated_scores, frame_votes, may_reach, score_slack, state_votes
from tests.strategy.market_builders import bullish_frame, context, frame, long_cross, market

# Values near each other and equal ones: the signs' ties (0) are what a vote gets wrong first.
levels = st.sampled_from([99.0, 100.0, 100.0 + 2 ** -40, 101.0])
maybe = st.none() | levels


@hypothesis_settings(max_examples=300, deadline=None)
@given(wt1=maybe, wt2=maybe, ha_open=levels, ha_close=levels, area=st.none() | st.sampled_from([-1.5, 0.0, 2.0]),
       ema200=maybe, vwap=maybe, close=levels)
def test_a_frames_votes_over_columns_are_the_factors_sum(wt1, wt2, ha_open, ha_close, area, ema200, vwap, close) -> None:
    f = frame(wt1=wt1, wt2=wt2, ha_open=ha_open, ha_close=ha_close, rsi_mfi_area=area, ema200=ema200, vwap=vwap, close=close)
    column = lambda v: np.array([math.nan if v is None else v])  # noqa: E731 - None is NaN in a column
    got = frame_votes(column(wt1), column(wt2), column(ha_open), column(ha_close), column(area), column(ema200),
                      column(vwap), column(close))
    assert got.dtype == np.int8 and int(got[0]) == sum(factor(f) for factor in FACTORS.values())


def test_a_states_votes_are_its_sums_per_interval_and_the_usable_bias_totals() -> None:
    state = market(long_cross(), bullish_frame(15))
    btc = market(frame(1), bullish_frame(3), bullish_frame(5), bullish_frame(15), symbol="BTCUSDT")
    eth_stale = market(frame(1), symbol="ETHUSDT", is_stale=True)
    own, bias = state_votes(state, (btc, eth_stale))
    assert own == (0, 0, 5) and len(own) == len(SCORED_INTERVALS)
    assert bias[0] == 15.0 and math.isnan(bias[1])  # a stale state is left out, as entry_context leaves it
    # BTC never takes its own bias; a state of another tick is not read late.
    assert all(math.isnan(v) for v in state_votes(btc, (btc,))[1])
    late = market(frame(1), symbol="ETHUSDT", tick_ms=state.tick_ms - 60_000)
    assert math.isnan(state_votes(state, (late,))[1][1])


def test_the_estimate_is_the_cascades_score_within_the_slack() -> None:
    btc = market(frame(1), bullish_frame(3), bullish_frame(15), symbol="BTCUSDT")
    ctx = context(btc=btc)
    state = market(long_cross(), bullish_frame(5))
    own, bias = state_votes(state, (btc,))
    for path in ("cross_based", "pre_cross", "ha_reversal"):
        for direction in (1, -1):
            exact, _ = score_candidate(path, direction, state, ctx)
            estimate = estimated_scores(path, direction, np.array([own]), np.array([bias]), ctx.strategy)[0]
            assert abs(estimate - exact) < score_slack(ctx.strategy) / 100


def test_a_row_is_screened_out_only_when_no_fired_candidate_comes_within_the_slack() -> None:
    s = StrategySettings()
    firings = (("cross_based", 1), ("cross_based", -1))
    votes = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=np.int8)
    bias = np.full((3, 2), np.nan)
    # cross_based's base is score_min: a long with neutral votes reaches it exactly; nothing fired; a
    # short whose bias opposes it by one vote falls short.
    bias[2, 0] = 1.0
    fired = np.array([[True, False], [False, False], [False, True]])
    assert s.base_cross_based == s.score_min
    assert may_reach(fired, firings, votes, bias, s).tolist() == [True, False, False]
