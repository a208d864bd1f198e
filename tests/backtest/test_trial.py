"""A tuning trial on a recorded tape is the backtest, only faster: the same TAKE decisions and
the same closed trades, field for field, whatever the tuned parameters; and a tape refuses to
answer for settings it was not recorded for."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from vocabulary.settings import load_settings
from backtest.run import Window, run_backtest
from backtest.tape import FIRINGS, Tape, bias_view, record_tape
from backtest.trial import run_trial
from exchange.sim.market import MINUTE_MS, load_store
from strategy.orders import order_link_id
from strategy.paths import fired_candidates
from strategy.scoring import SCORED_INTERVALS, score_candidate
from strategy.scoring_batch import estimated_scores, score_slack
from actors.decide import entry_context

BASE = Path("settings.toml").read_text()
MINUTES = 1440
# Ranges wider than settings.toml's defaults: the tape is recorded once for all of them.
WIDEST = (-35.0, 35.0)
HIST = 22

CASES = {
    "defaults": {},
    # A 1 R target with the net-RR gate below it (at rr, every target rounded toward the entry fails it).
    "loose entries, quick lock": {"STRATEGY__SCORE_MIN": "0.6", "STRATEGY__RR": "1.0", "STRATEGY__MIN_NET_RR": "0.8",
                                  "STRATEGY__BE_TRIGGER_R": "0.5"},
    "one slot, no cooldown, wide zones": {"STRATEGY__WT_OVERSOLD": "-40", "STRATEGY__WT_OVERBOUGHT": "38",
                                          "RISK__MAX_POSITIONS": "1", "RISK__COOLDOWN_BARS": "0"},
    "long history, entries at the close (PostOnly refused)": {
        "STRATEGY__SWING_LOOKBACK": "20", "STRATEGY__ENTRY_OFFSET_BPS": "0.0", "STRATEGY__ENTRY_TTL_BARS": "1"},
    "short history, deep entries, far targets, stops under the floor rejected": {
        "STRATEGY__SWING_LOOKBACK": "5", "STRATEGY__ENTRY_OFFSET_BPS": "3.0", "STRATEGY__ENTRY_TTL_BARS": "6",
        "STRATEGY__STOP_BUFFER_BPS": "0.0", "STRATEGY__RR": "3.0", "RISK__STOP_FLOOR": '"reject"'},
    "equity risk, margin refusals, daily loss with open risk": {
        "RISK__RISK_MODE": '"pct"', "RISK__RISK_PER_TRADE": "5", "RISK__DAILY_LOSS_LIMIT": "700",
        "STRATEGY__WT_OVERSOLD": "-35", "STRATEGY__WT_OVERBOUGHT": "35", "RISK__MAX_POSITIONS": "5"},
}


def settings_with(overrides: dict[str, str]):
    return load_settings(BASE, {f"SMTBOT__{k}": v for k, v in overrides.items()})


@pytest.fixture(scope="module")
def window() -> Window:
    base = settings_with({})
    store, _ = load_store(Path(base.sim.data_dir), base.bot.symbols)
    start = store.first_ms + 5000 * MINUTE_MS
    return Window(start_ms=start, end_ms=start + MINUTES * MINUTE_MS)


@pytest.fixture(scope="module")
def tape(window: Window) -> Tape:
    return record_tape(settings_with({}), window, widest=WIDEST, hist_len=HIST)


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_a_trial_takes_the_backtests_decisions_and_closes_its_trades(tape: Tape, window: Window, overrides: dict[str, str]) -> None:
    settings = settings_with(overrides)
    backtest = run_backtest(settings, window)
    trial = run_trial(tape, settings)

    takes = sorted((d for d in backtest.decisions if d.kind == "TAKE"), key=lambda d: (d.tick_ms, d.symbol))
    assert trial.takes == takes
    by_entry = lambda t: (t.entry_ms, t.symbol)  # noqa: E731
    assert sorted(trial.trades, key=by_entry) == sorted(backtest.trades, key=by_entry)


def test_the_cases_exercise_what_they_are_named_for(tape: Tape) -> None:
    """Guards the parity test against passing on nothing: trades close, the router refuses,
    the venue refuses margin and PostOnly, exits hit both the target and the stop."""
    results = {name: run_trial(tape, settings_with(o)) for name, o in CASES.items()}
    assert len(results["defaults"].trades) >= 10
    assert {t.exit_reason for t in results["defaults"].trades} >= {"stop", "target"}
    # The venue's costs are on by default, and the trial prices them: slipped stops, funding,
    # entries filled in part by a bar that only touched them.
    defaults = results["defaults"]
    assert any(t.slippage_usdt > 0 for t in defaults.trades) and any(t.funding_usdt != 0 for t in defaults.trades)
    def partly_filled(result):
        asked = {order_link_id(d.symbol, d.tick_ms, d.path, d.side): d.qty for d in result.takes if d.path and d.side}
        return [t for t in result.trades if t.qty < asked[t.order_link_id]]
    assert any(partly_filled(result) for result in results.values())
    assert results["one slot, no cooldown, wide zones"].refused > 0
    assert results["loose entries, quick lock"].trades, "a 1 R target passes a net-RR gate set below it"
    assert results["long history, entries at the close (PostOnly refused)"].takes
    assert not results["long history, entries at the close (PostOnly refused)"].trades
    assert len(results["equity risk, margin refusals, daily loss with open risk"].takes) > len(
        results["equity risk, margin refusals, daily loss with open risk"].trades)


@hypothesis_settings(max_examples=30, deadline=None)
@given(oversold=st.floats(-90.0, WIDEST[0]), overbought=st.floats(WIDEST[1], 90.0))
def test_the_rows_a_trial_decides_are_exactly_those_on_which_a_path_fires(tape: Tape, oversold: float, overbought: float) -> None:
    strategy = msgspec.structs.replace(tape.settings.strategy, wt_oversold=oversold, wt_overbought=overbought)
    chosen = set(tape.fired(strategy).tolist())
    firing = {i for i, row in enumerate(tape.rows) if fired_candidates(row.state.frame(1), strategy)}
    assert chosen == firing


@hypothesis_settings(max_examples=25, deadline=None)
@given(score_min=st.floats(0.3, 2.2), weights=st.tuples(*[st.floats(0.1, 0.6) | st.floats(-0.6, -0.1)] * 4),
       bases=st.tuples(*[st.floats(0.45, 1.2)] * 3), oversold=st.floats(-60.0, WIDEST[0]))
def test_the_screen_leaves_out_only_rows_the_cascade_rejects_on_their_score(
        tape: Tape, score_min: float, weights: tuple, bases: tuple, oversold: float) -> None:
    """Each fired candidate's estimated score is within the slack of the cascade's score, so a row
    the screen leaves out has no candidate reaching score_min: the same TAKEs and trades as deciding
    every row on which a path fires, whatever the weights, bases and threshold."""
    w3, w5, w15, wb = weights
    best = 5 * (abs(w3) + abs(w5) + abs(w15)) + abs(wb)
    # The settings refuse a threshold out of a path's reach, and check it at each end of the [tune]
    # ranges too: with weight_bias at its low end (0), and score_min at its high end (2.0, which
    # the weights' magnitudes and the bases' low end keep within reach).
    score_min = min(score_min, min(bases) + best - abs(wb) - 1e-6)
    settings = settings_with({"STRATEGY__SCORE_MIN": repr(score_min), "STRATEGY__WEIGHT_3M": repr(w3),
                              "STRATEGY__WEIGHT_5M": repr(w5), "STRATEGY__WEIGHT_15M": repr(w15),
                              "STRATEGY__WEIGHT_BIAS": repr(wb), "STRATEGY__BASE_CROSS_BASED": repr(bases[0]),
                              "STRATEGY__BASE_PRE_CROSS": repr(bases[1]), "STRATEGY__BASE_HA_REVERSAL": repr(bases[2]),
                              "STRATEGY__WT_OVERSOLD": repr(oversold)})
    s = settings.strategy
    firing = tape.firing(s)
    slack = score_slack(s)
    for k in np.flatnonzero(firing.any(axis=1)).tolist():
        row = tape.rows[k]
        ctx = entry_context(s, settings.risk, tape.instruments[row.state.symbol], row.state, row.bias, None)
        for column, (path, direction) in enumerate(FIRINGS):
            if firing[k, column]:
                exact, _ = score_candidate(path, direction, row.state, ctx)
                estimate = estimated_scores(path, direction, tape.votes[k:k + 1], tape.bias_votes[k:k + 1], s)[0]
                assert abs(estimate - exact) < slack / 100
    screened, everything = run_trial(tape, settings), run_trial(tape, settings, screen=False)
    assert screened.takes == everything.takes and screened.trades == everything.trades
    assert screened.decided + screened.screened == everything.decided and everything.screened == 0


@hypothesis_settings(max_examples=20, deadline=None)
@given(rr=st.floats(0.8, 4.0), be_trigger_r=st.floats(0.3, 2.0), max_positions=st.integers(1, 6),
       oversold=st.floats(-60.0, WIDEST[0]), overbought=st.floats(WIDEST[1], 60.0))
def test_stepping_over_a_positions_quiet_minutes_changes_no_trade(
        tape: Tape, rr: float, be_trigger_r: float, max_positions: int, oversold: float, overbought: float) -> None:
    """The minutes ``_quiet_until`` steps over are minutes where nothing happens: following every
    minute of every position gives the same trades field for field (fills, funding, the
    break-even lock and its minute, partial take-profits, the exit), whatever the target's
    distance, the lock's trigger and how many positions are open at once. The tape's venue
    charges funding and fills touched limits in part (the shipped settings)."""
    assert tape.costs.funding and tape.costs.partial_fills
    settings = settings_with({"STRATEGY__RR": repr(rr), "STRATEGY__MIN_NET_RR": repr(min(0.8, rr - 0.1)),
                              "STRATEGY__BE_TRIGGER_R": repr(be_trigger_r), "RISK__MAX_POSITIONS": str(max_positions),
                              "STRATEGY__WT_OVERSOLD": repr(oversold), "STRATEGY__WT_OVERBOUGHT": repr(overbought)})
    skipped, walked = run_trial(tape, settings), run_trial(tape, settings, skip_quiet=False)
    assert skipped.placed == walked.placed and skipped.trades == walked.trades and skipped.takes == walked.takes
    assert walked.trades  # the window trades whatever was drawn: the comparison is never of nothing


def quiet_by_walking(o, h, low, c, present, j, end, d, last, stop, hit, mark_from):
    """What ``_quiet_until`` answers, minute by minute in the trade's direction (a short's prices
    negated), as ``_follow`` sees a minute: its path from the last price through the bar's four
    prices reaching the stop or the take-profit, or its close reaching the lock's trigger. A last
    price already at a level (or at the trigger) is the caller's to walk at once; then a minute
    without a bar moves nothing."""
    due = mark_from is not None
    if not stop < last < hit or (due and last >= mark_from):
        return j, last
    for k in range(j, end):
        if present[k]:
            path = [last, *(d * x for x in (o[k], h[k], low[k], c[k]))]
            if min(path) <= stop or max(path) >= hit or (due and d * c[k] >= mark_from):
                return k, last
            last = d * c[k]
    return end, last


def test_the_quiet_minutes_are_those_a_walk_would_find_quiet() -> None:
    """``_quiet_until`` against the walk's own test, on 5,000 drawn cases (a fixed seed: the same
    cases every run): gaps, minutes without a bar, bars whose open or close lies outside their
    high-low range (as a file may hold them), levels on either side of every price, a lock due or
    not, shorts as longs negated. Most cases skip minutes, and most of those stop at an event."""
    import random
    from array import array

    from backtest.tape import SymbolBars
    from backtest.trial import _quiet_until

    rng = random.Random(19)
    skipped = 0
    for _ in range(5000):
        d, minutes = rng.choice((1, -1)), rng.randint(1, 40)
        opens = [rng.randint(90, 110) for _ in range(minutes)]
        closes = [rng.randint(90, 110) for _ in range(minutes)]
        highs = [max(o, c) + rng.randint(-2, 4) for o, c in zip(opens, closes)]
        lows = [min(o, c) - rng.randint(-2, 4) for o, c in zip(opens, closes)]
        present = [rng.random() < 0.9 for _ in range(minutes)]
        bars = SymbolBars("X", None, 0, array("q", opens), array("q", highs), array("q", lows), array("q", closes),  # type: ignore[arg-type]
                          array("b", present), 100)
        j = rng.randint(0, minutes - 1)
        end = rng.randint(j, minutes)
        # Levels in the trade's direction, mostly outside the prices' range so that runs of quiet minutes occur.
        low_d, high_d = sorted((d * 90, d * 110))
        last = d * rng.randint(90, 110)
        stop = rng.randint(low_d - 30, low_d + 8)
        hit = rng.randint(max(stop + 1, high_d - 8), high_d + 30)
        mark_from = rng.choice((None, rng.randint(low_d, high_d + 30)))
        expected = quiet_by_walking(opens, highs, lows, closes, present, j, end, d, last, stop, hit, mark_from)
        assert _quiet_until(bars, j, end, d, last, stop, hit, mark_from) == expected, (d, j, end, last, stop, hit, mark_from)
        skipped += expected[0] > j
    assert skipped > 1500


def test_on_the_defaults_the_screen_spares_most_decisions(tape: Tape) -> None:
    result = run_trial(tape, settings_with({}))
    assert result.takes and result.screened > 2 * result.decided


def test_the_tape_keeps_only_states_on_which_a_path_can_fire(tape: Tape) -> None:
    assert 0 < len(tape.rows) < tape.states_seen
    assert tape.states_seen == MINUTES * len(tape.symbols)


def test_a_rows_bias_states_are_what_the_bias_reads_of_the_whole_states(tape: Tape) -> None:
    """A row keeps its BTC/ETH states without their 1m frame (``bias_view``): the scored frames,
    the tick and the staleness of the whole state, and every candidate scores the same with them
    as with the whole states (compared where the tape holds the whole state: its own row)."""
    settings = settings_with({})
    whole = {(r.state.symbol, r.state.tick_ms): r.state for r in tape.rows}
    compared = 0
    for row in tape.rows:
        for b in row.bias:
            assert b.frame(1) is None and {f.interval for f in b.frames} <= set(SCORED_INTERVALS)
            full = whole.get((b.symbol, b.tick_ms))
            if full is None:
                continue
            assert full.frame(1) is not None and b == bias_view(full)
            alike = tuple(whole.get((o.symbol, o.tick_ms), o) for o in row.bias)
            instrument = tape.instruments[row.state.symbol]
            for c in fired_candidates(row.state.frame(1), settings.strategy):
                scored = [score_candidate(c.path, c.direction, row.state, entry_context(
                    settings.strategy, settings.risk, instrument, row.state, bias, None)) for bias in (row.bias, alike)]
                assert scored[0] == scored[1]
                compared += 1
    assert compared > 20


def test_a_tape_refuses_settings_it_was_not_recorded_for(tape: Tape) -> None:
    with pytest.raises(ValueError, match="wider than the tape"):
        run_trial(tape, settings_with({"STRATEGY__WT_OVERSOLD": "-30"}))
    with pytest.raises(ValueError, match="pre_cross_gap"):
        run_trial(tape, settings_with({"STRATEGY__PRE_CROSS_GAP": "7.5"}))


def test_a_frame_shared_by_states_is_trimmed_once_and_stays_shared():
    """A trial keeping fewer past values than the tape trims each frame once: states that shared a
    frame share its trimmed copy (as a core's consecutive states share theirs), and it holds the
    newest values only."""
    from backtest.trial import _trimmed
    from tests.strategy.market_builders import frame, long_cross, market
    from vocabulary.messages import MarketState

    first = market(long_cross(), frame(15, wt1_hist=(1.0, 2.0, 3.0), low_hist=(7.0, 8.0, 9.0)))
    later = MarketState(symbol=first.symbol, tick_ms=first.tick_ms + 60_000, frames=(frame(1), *first.frames[1:]))
    memo: dict = {}
    a, b = _trimmed(first, 2, memo), _trimmed(later, 2, memo)
    assert all(x is y for x, y in zip(a.frames[1:], b.frames[1:])) and a.frames[0] is not b.frames[0]
    assert a.frames[3].wt1_hist == (2.0, 3.0) and a.frames[3].low_hist == (8.0, 9.0)
    for trimmed, original in zip(a.frames, first.frames):
        assert trimmed.wt1_hist == original.wt1_hist[-2:] and trimmed.low_hist == original.low_hist[-2:]
        assert trimmed.wt1 == original.wt1 and trimmed.start_ms == original.start_ms
