"""evaluate_entry: the cascade's outcome, its hard gates and the reasons it journals."""

from decimal import Decimal

import pytest

from vocabulary.messages import Decision, Reason, from_json, to_json
from market_builders import (
    LONG_QTY, T0, bullish_frame, context, frame, long_cross, long_ha_reversal, long_pre_cross, market, red, with_risk,
    with_strategy,
)
from strategy.context import cooldown_until
from strategy.entry import evaluate_entry

D = Decimal


def codes(decision):
    return [r.code for r in decision.reasons]


def value(decision, code):
    return next(r.value for r in decision.reasons if r.code == code)


def test_a_cross_with_neutral_context_is_taken_with_prices_and_size_on_the_grids():
    d = evaluate_entry(market(long_cross()), context())
    assert (d.kind, d.path, d.side, d.score) == ("TAKE", "cross_based", "Buy", 1.0)
    # close 100.0; lowest low of the lookback 99.0 minus 20 bps; 1.5 R net of fees; 10 USDT over 1.2 + fees and the
    # allowance (market_builders: LONG_LOSS_PER_UNIT 1.47445, so the target (100.02 + 2.2117) / 0.9998 = 102.25 -> 102.2)
    assert (d.entry_price, d.stop_price, d.target_price, d.qty) == (D("100.0"), D("98.8"), D("102.2"), LONG_QTY)
    assert d.tick_ms == T0 and d.symbol == "SOLUSDT"


def test_nothing_fired_is_no_setup_with_what_was_seen():
    d = evaluate_entry(market(frame(1, wt1=-20.0, wt2=-25.0, ha_streak=2)), context())
    assert d.kind == "NO_SETUP" and d.path is None and d.entry_price is None
    assert d.reasons == (Reason("wt1", -20.0), Reason("wt2", -25.0), Reason("ha_streak", 2))


def test_warm_up_is_no_setup():
    assert evaluate_entry(market(long_cross(wt1=None)), context()).reasons == (Reason("data.warmup", "wt"),)


def test_stale_data_is_rejected_whatever_the_setup():
    d = evaluate_entry(market(long_cross(), is_stale=True), context())
    assert d.kind == "REJECT" and codes(d) == ["data.stale"]


def test_a_fired_path_whose_score_fails_is_rejected_with_every_factor():
    against = market(long_pre_cross(), frame(15, **red()))  # 0.6 - 0.25
    d = evaluate_entry(against, context())
    assert (d.kind, d.path, d.side) == ("REJECT", "pre_cross", "Buy")
    assert d.score == pytest.approx(0.35)
    assert value(d, "pre_cross.15m.ha") == -1 and value(d, "score_min") == 1.0
    assert len([c for c in codes(d) if c.startswith("pre_cross.") and c.count(".") == 2 and "m." in c]) == 15
    assert d.entry_price is None and d.qty is None


def test_pre_cross_is_taken_when_the_context_lifts_it_to_score_min():
    lifted = market(long_pre_cross(), bullish_frame(15), frame(5, ema200=90.0, vwap=95.0))  # 0.6 + 5*0.25 + 2*0.2
    d = evaluate_entry(lifted, context())
    assert (d.kind, d.path) == ("TAKE", "pre_cross")
    assert d.score == pytest.approx(2.25)


@pytest.mark.parametrize(("score_min", "kind"), [(0.4, "TAKE"), (0.41, "REJECT")])
def test_ha_reversal_fires_at_its_base_score_edge(score_min, kind):
    d = evaluate_entry(market(long_ha_reversal()), with_strategy(context(), score_min=score_min))
    assert (d.kind, d.path) == (kind, "ha_reversal")


def test_primary_path_wins_when_two_fire_and_the_score_is_counted_once():
    both = market(long_cross(ha_streak_hist=(-1, -2, -3, 1)))
    d = evaluate_entry(both, context())
    assert (d.kind, d.path, d.score) == ("TAKE", "cross_based", 1.0)
    assert not any(c.startswith("ha_reversal.") for c in codes(d))


def test_a_failed_primary_falls_through_to_the_next_path_that_passes():
    both = market(long_cross(ha_streak_hist=(-1, -2, -3, 1)))
    ctx = with_strategy(context(), base_cross_based=0.5, base_ha_reversal=1.2)
    d = evaluate_entry(both, ctx)
    assert (d.kind, d.path, d.score) == ("TAKE", "ha_reversal", 1.2)
    assert value(d, "cross_based.score") == 0.5  # the failed primary is still journaled


def test_when_every_candidate_fails_the_reject_names_the_primary_and_lists_all_of_them():
    both = market(long_cross(ha_streak_hist=(-1, -2, -3, 1)))
    d = evaluate_entry(both, with_strategy(context(), score_min=1.5))
    assert (d.kind, d.path, d.score) == ("REJECT", "cross_based", 1.0)
    assert value(d, "cross_based.score") == 1.0 and value(d, "ha_reversal.score") == 0.4


@pytest.mark.parametrize(("ctx_change", "gate"), [
    (dict(has_position_or_entry=True), "gate.position_or_entry_open"),
    (dict(open_positions=3), "gate.max_positions"),
    (dict(cooldown_until_ms=T0 + 1), "gate.cooldown_until_ms"),
    (dict(realised_pnl_today=D("-100")), "gate.daily_loss"),
    (dict(realised_pnl_today=D("-60"), open_risk=D("40")), "gate.daily_loss"),  # the open stops count as filled
    (dict(open_risk=D("100")), "gate.daily_loss"),
])
def test_account_gates_reject_a_setup_that_would_otherwise_be_taken(ctx_change, gate):
    d = evaluate_entry(market(long_cross()), context(**ctx_change))
    assert (d.kind, d.path, d.side) == ("REJECT", "cross_based", "Buy")
    assert gate in codes(d) and d.entry_price is None


@pytest.mark.parametrize("ctx_change", [
    dict(open_positions=2), dict(cooldown_until_ms=T0),
    dict(realised_pnl_today=D("-90.0")),  # -90 less this trade's 9.9995 at its stop stays above -100
    dict(realised_pnl_today=D("-40.0"), open_risk=D("50.0")),
])
def test_account_gates_open_just_inside_their_limits(ctx_change):
    assert evaluate_entry(market(long_cross()), context(**ctx_change)).kind == "TAKE"


def test_gates_do_not_turn_no_setup_into_reject():
    assert evaluate_entry(market(frame(1)), context(has_position_or_entry=True)).kind == "NO_SETUP"


def test_cooldown_lasts_cooldown_bars_after_the_exit():
    exit_ms = T0 - 5 * 60_000
    assert evaluate_entry(market(long_cross()), context(cooldown_until_ms=cooldown_until(exit_ms, context().risk))).kind == "TAKE"
    assert evaluate_entry(market(long_cross()), context(cooldown_until_ms=cooldown_until(exit_ms + 1, context().risk))).kind == "REJECT"


def test_every_decision_round_trips_through_the_journal_encoding():
    for state, ctx in [
        (market(long_cross()), context()),
        (market(long_pre_cross(), frame(15, **red())), context()),
        (market(frame(1)), context()),
        (market(long_cross()), with_risk(context(), risk_per_trade=0.001)),
    ]:
        d = evaluate_entry(state, ctx)
        assert from_json(to_json(d)) == d and isinstance(d, Decision)


def test_a_candidate_failing_a_sizing_gate_falls_through_to_the_next_candidate():
    # Zone levels of -1/+1 let a cross_based long and a pre_cross short fire on one bar. The long's
    # stop beyond the swing low of 97.0 is 3.2 % away, wider than max_stop_pct; the short's, beyond
    # the swing high of 100.4, fits: the cascade goes on to the short instead of stopping.
    both = long_cross(wt1=2.0, wt2=-1.0, wt1_hist=(4.0, 3.0, 2.0), wt2_hist=(-1.0, -1.0, -1.0), ha_open=100.2,
                      ha_close=99.8, low_hist=(99.6, 97.0, 99.0, 99.4), low=99.4)
    ctx = with_strategy(context(), max_stop_pct=0.02, score_min=0.6, wt_oversold=-1.0, wt_overbought=1.0)
    d = evaluate_entry(market(both), ctx)
    assert (d.kind, d.path, d.side) == ("TAKE", "pre_cross", "Sell")
    assert "cross_based.gate.stop_too_wide" in codes(d)
    assert d.stop_price == D("100.6")
    # With the short gated too, the REJECT names the first candidate that reached sizing.
    neither = evaluate_entry(market(both), with_strategy(ctx, max_stop_pct=0.005))
    assert (neither.kind, neither.path, neither.side) == ("REJECT", "cross_based", "Buy")
    assert {"cross_based.gate.stop_too_wide", "pre_cross.gate.stop_too_wide"} <= set(codes(neither))
