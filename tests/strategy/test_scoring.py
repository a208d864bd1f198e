"""One scoring engine: path base plus weighted trade-aligned votes on 3m/5m/15m and the BTC/ETH bias."""

import pytest

from vocabulary.messages import MarketState, Reason
from market_builders import T0, bullish_frame, context, frame, long_cross, market, red
from strategy.scoring import _VOTES_KEPT, FACTORS, _votes_cache, composite_bias, market_votes, score_candidate


def reasons_of(terms):
    return {r.code: r.value for r in terms}


@pytest.mark.parametrize(("factor", "bull", "bear", "neutral"), [
    ("wt_dir", dict(wt1=1.0, wt2=0.0), dict(wt1=-1.0, wt2=0.0), dict(wt1=None)),
    ("ha", dict(ha_open=99.0, ha_close=101.0), dict(ha_open=101.0, ha_close=99.0), dict(ha_open=100.0, ha_close=100.0)),
    ("mfi_area", dict(rsi_mfi_area=0.5), dict(rsi_mfi_area=-0.5), dict(rsi_mfi_area=None)),
    ("ema200", dict(ema200=99.0), dict(ema200=101.0), dict(ema200=None)),
    ("vwap", dict(vwap=99.0), dict(vwap=101.0), dict(vwap=100.0)),
])
def test_each_factor_votes_plus_one_bullish_minus_one_bearish_and_zero_when_neutral_or_na(factor, bull, bear, neutral):
    assert FACTORS[factor](frame(5, **bull)) == 1
    assert FACTORS[factor](frame(5, **bear)) == -1
    assert FACTORS[factor](frame(5, **neutral)) == 0


def test_neutral_context_scores_exactly_the_path_base():
    score, terms = score_candidate("pre_cross", 1, market(long_cross()), context())
    assert score == 0.6
    assert reasons_of(terms)["base"] == 0.6


def test_every_vote_is_weighted_by_its_timeframe():
    state = market(long_cross(), bullish_frame(3), bullish_frame(5), bullish_frame(15))
    long_score, _ = score_candidate("cross_based", 1, state, context())
    short_score, _ = score_candidate("cross_based", -1, state, context())
    assert long_score == pytest.approx(1.0 + 5 * (0.15 + 0.2 + 0.25))
    assert short_score == pytest.approx(1.0 - 5 * (0.15 + 0.2 + 0.25))


def test_one_opposing_15m_vote_costs_weight_15m():
    state = market(long_cross(), frame(15, **red()))
    score, terms = score_candidate("cross_based", 1, state, context())
    assert score == 0.75
    assert reasons_of(terms)["15m.ha"] == -1


def test_a_missing_timeframe_votes_zero():
    only_1m = MarketState(symbol="SOLUSDT", tick_ms=T0, frames=(bullish_frame(1),))
    assert set(market_votes(only_1m).values()) == {0}


def bullish_market(symbol, tick_ms=T0, **over):
    return market(frame(1), bullish_frame(3), bullish_frame(5), bullish_frame(15), symbol=symbol, tick_ms=tick_ms, **over)


def test_bias_is_the_mean_of_btc_and_eth_votes_seen_from_the_trade():
    ctx = context(btc=bullish_market("BTCUSDT"), eth=market(frame(1), symbol="ETHUSDT"))
    assert composite_bias("SOLUSDT", T0, 1, ctx)[0] == pytest.approx(0.5)
    assert composite_bias("SOLUSDT", T0, -1, ctx)[0] == pytest.approx(-0.5)
    score, terms = score_candidate("cross_based", 1, market(long_cross()), ctx)
    assert score == pytest.approx(1.0 + 0.3 * 0.5)
    assert reasons_of(terms)["bias.BTCUSDT"] == 1.0 and reasons_of(terms)["bias.ETHUSDT"] == 0.0


def test_btc_and_eth_take_their_bias_from_the_other_one_only():
    ctx = context(btc=bullish_market("BTCUSDT"), eth=market(frame(1), symbol="ETHUSDT"))
    assert composite_bias("BTCUSDT", T0, 1, ctx)[0] == 0.0
    assert composite_bias("ETHUSDT", T0, 1, ctx)[0] == 1.0


@pytest.mark.parametrize(("btc", "why"), [
    (bullish_market("BTCUSDT", tick_ms=T0 - 60_000), "stale"),
    (bullish_market("BTCUSDT", is_stale=True), "stale"),
    (None, "missing"),
])
def test_a_bias_state_from_another_tick_or_marked_stale_is_left_out_with_a_reason(btc, why):
    ctx = context(btc=btc, eth=bullish_market("ETHUSDT"))
    bias, reasons = composite_bias("SOLUSDT", T0, 1, ctx)
    assert bias == 1.0  # ETH alone
    assert Reason("bias.BTCUSDT", why) in reasons


def test_no_usable_bias_contributes_nothing():
    assert composite_bias("SOLUSDT", T0, 1, context())[0] == 0.0


def test_the_score_reason_carries_every_term():
    _, terms = score_candidate("ha_reversal", -1, market(long_cross()), context())
    codes = [r.code for r in terms]
    assert codes[0] == "base" and codes[-1] == "score"
    assert len([c for c in codes if c[:2] in ("3m", "5m") or c[:3] == "15m"]) == 15
    assert "bias" in codes


def test_votes_are_computed_once_per_state_and_never_handed_to_another_state():
    state = market(long_cross())
    assert market_votes(state) is market_votes(state)
    twin = market(long_cross())  # equal, but another object: its own votes, equal ones
    assert market_votes(twin) is not market_votes(state) and market_votes(twin) == market_votes(state)


def test_the_votes_cache_lets_go_of_its_oldest_state_one_at_a_time():
    # Emptied at once, the cache freed dozens of old states inside one symbol's decision: a
    # spike of the 25-symbol tick. Each state it takes in now pushes out the oldest alone.
    states = [market(long_cross()) for _ in range(_VOTES_KEPT + 2)]
    for state in states:
        market_votes(state)
    assert len(_votes_cache) == _VOTES_KEPT
    assert id(states[0]) not in _votes_cache and id(states[1]) not in _votes_cache
    assert all(_votes_cache[id(s)].state is s for s in states[2:])
    assert market_votes(states[0]) == market_votes(states[-1])  # asked again: computed again, the same votes


@pytest.mark.parametrize("btc", [bullish_market("BTCUSDT"), bullish_market("BTCUSDT", is_stale=True), None])
def test_a_prefix_names_every_term_for_its_path_and_changes_nothing_else(btc):
    state = market(long_cross(), bullish_frame(3), frame(15, **red()))
    ctx = context(btc=btc, eth=bullish_market("ETHUSDT"))
    for direction in (1, -1):
        score, terms = score_candidate("pre_cross", direction, state, ctx)
        named_score, named = score_candidate("pre_cross", direction, state, ctx, prefix="pre_cross.")
        assert named_score == score
        assert named == tuple(Reason(f"pre_cross.{r.code}", r.value) for r in terms)
