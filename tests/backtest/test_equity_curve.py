"""The fast engine's equity curve takes two shortcuts, each held here to the exact form it skips:
``MarkedMinutes`` is ``_Book.view``'s equity and open count, minute by minute, and knows the
trades the book still walks after each view; and
``liquidation_screen`` clears only minutes the exact Decimal check (``_liquidation``) would not
refuse, while every minute it cannot clear is one that check could refuse, whatever the
maintenance margin rate (swept from the venue's 0.5 % to 500 %, so that many minutes come close
to it or fall under). Runs: three days around test_fast's liquidation day, with the default
account and with the one the venue liquidates, and the month at 40 % a trade at 100x, whose
equity comes down to 0.04 USDT without a liquidation."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.batch_tape import record_tape_batch
from backtest.fast import _liquidation, liquidation_screen
from backtest.run import Window
from backtest.tape import Tape
from backtest.trial import MarkedMinutes, TrialResult, _Book, run_trial
from exchange.sim.market import MINUTE_MS
from vocabulary.settings import Settings, load_settings

BASE = Path("settings.toml").read_text()
DAY = 1_750_204_800_000  # 2025-06-18 00:00 UTC: test_fast's liquidation day
# test_fast's liquidating account: 80 % of equity at risk per trade at 100x, seven slots.
LIQUIDATING = {"RISK__RISK_MODE": '"pct"', "RISK__RISK_PER_TRADE": "80", "RISK__LEVERAGE": "100",
               "RISK__MAX_POSITIONS": "7", "RISK__DAILY_LOSS_LIMIT": "1000000", "RISK__COOLDOWN_BARS": "0"}


def settings_with(overrides: dict[str, str]) -> Settings:
    return load_settings(BASE, {f"SMTBOT__{k}": v for k, v in overrides.items()})


# The month at 40 % a trade at 100x: the venue never liquidates, the equity comes down to 0.04 USDT.
NEAR = {**LIQUIDATING, "RISK__RISK_PER_TRADE": "40"}


@pytest.fixture(scope="module", params=["defaults", "liquidating", "the month near liquidation"])
def run(request) -> tuple[Settings, Tape, TrialResult]:
    overrides = {"defaults": {}, "liquidating": LIQUIDATING, "the month near liquidation": NEAR}[request.param]
    settings = settings_with(overrides)
    days = Window(start_ms=DAY - 2 * 1440 * MINUTE_MS, end_ms=DAY + 1440 * MINUTE_MS)
    tape = record_tape_batch(settings, Window() if overrides is NEAR else days)
    return settings, tape, run_trial(tape, settings)


def boundaries(tape: Tape) -> range:
    return range(tape.start_ms + MINUTE_MS, tape.end_ms + MINUTE_MS, MINUTE_MS)


def walk(tape: Tape, settings: Settings, trial: TrialResult):
    """Each minute's boundary and a book that has taken in the trades placed by then (as the trial
    feeds its book), after that minute's view, beside ``MarkedMinutes``' figures for it."""
    book = _Book(tape, settings)
    book.trades = [dataclasses.replace(t, booked=False) for t in trial.placed]
    waiting = book.trades[::-1]
    marked = MarkedMinutes(tape, settings, trial.placed)
    for c, equity, positions in marked:
        while waiting and waiting[-1].placed_ms <= c:
            book.live.append(waiting.pop())
        yield c, book.view(c), book, (equity, positions), marked


def live(trades: list, book: _Book) -> list[int]:
    """Which trades, by their place in the book (its copies of the placed trades or those themselves)."""
    place = {(t.symbol, t.placed_ms): i for i, t in enumerate(book.trades)}
    return [place[(t.symbol, t.placed_ms)] for t in trades]


def test_marked_minutes_are_the_views_equity_and_open_count_every_minute(run):
    settings, tape, trial = run
    assert len(trial.placed) > 10
    opened = changed = 0
    before = None
    for c, view, book, (equity, positions), marked in walk(tape, settings, trial):
        assert (equity, positions) == (view.equity, len(view.open_symbols)), c
        assert str(equity) == str(view.equity), c  # the same Decimal, exponent included
        assert live(marked.live(c), book) == live(book.live, book), c
        opened += bool(view.open_symbols)
        changed += before is not None and equity != before
        before = equity
    assert opened > 100 and changed > 100  # positions were open, and marked at the close, in many minutes


@pytest.mark.parametrize("rate", ["0.005", "0.05", "0.5", "1", "5"])
def test_the_screen_clears_only_minutes_the_exact_check_passes(run, rate):
    settings, tape, trial = run
    rate_d = Decimal(rate)
    lowest, slack = liquidation_screen(tape, trial.placed, rate_d, settings)
    before, positions = tape.initial_equity, 0
    refused = cleared = flagged = 0
    for m, (c, _, book, (equity, positions_now), _) in enumerate(walk(tape, settings, trial)):
        had, positions = positions, positions_now
        if positions or had:
            b = float(before)
            margin = b + lowest[m]
            exact = _liquidation(tape, book.live, c, before, rate_d)
            if margin > slack[m] + 1e-9 * abs(b):  # cleared: the exact check must agree
                assert exact == "", (c, margin, exact)
                cleared += 1
            else:
                flagged += 1
            if margin < -1e-3:  # clearly under: the screen's figure is the exact one's, not a loose bound
                assert exact != "", (c, margin)
            refused += exact != ""
        before = equity
    assert flagged >= refused
    if rate == "0.005":
        assert cleared > 100  # the venue's rate: most minutes are far from it
    if rate in ("1", "5") or (rate == "0.005" and settings.risk.risk_per_trade == 80):
        assert refused > 0  # the exact check refused, and the screen flagged each of those minutes
