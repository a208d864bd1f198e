"""The three entry paths, read on the closed 1m frame: which fired, for which side, and why.

Each path is written once for a trade direction ``d`` (+1 long, -1 short); multiplying
by ``d`` turns every "below"/"falling"/"red" test of a long into the "above"/"rising"/
"green" test of its short, so the two sides mirror each other by construction.

Conventions assumed from the indicator layer (``FrameState``):
- ``ha_streak`` > 0 counts consecutive green Heikin-Ashi candles ending at the current
  bar, < 0 consecutive red ones; ``ha_streak_hist[-2]`` is the streak at the previous bar.
- the Heikin-Ashi colour of a bar is the sign of ``ha_close - ha_open``.
- ``wt_cross_up``/``wt_cross_down`` mean wt1 crossed wt2 on the current bar.
- the extreme zone uses the strategy's own ``wt_oversold``/``wt_overbought`` levels, so
  they stay tunable; at a cross the level is tested on wt2 (VuManChu's ``wt2 <= osLevel``
  buy-signal rule, where the lines meet), elsewhere on wt1, the line that leads.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from vocabulary.messages import EntryPath, FrameState, Reason, Side
from vocabulary.settings import StrategySettings
from strategy.scoring import ha_colour

DIRECTIONS: tuple[int, int] = (1, -1)


def side_of(direction: int) -> Side:
    return "Buy" if direction > 0 else "Sell"


def direction_of(side: Side) -> int:
    return 1 if side == "Buy" else -1


class Candidate(msgspec.Struct, frozen=True):
    """A path that fired, the side it fired for, and the values that made it fire."""

    path: EntryPath
    direction: int
    evidence: tuple[Reason, ...]

    @property
    def side(self) -> Side:
        return side_of(self.direction)


def in_zone(value: float, d: int, s: StrategySettings) -> bool:
    """``value`` is in the extreme zone that a trade in direction ``d`` enters from."""
    level = s.wt_oversold if d > 0 else s.wt_overbought
    return d * value <= d * level


def cross_based(frame: FrameState, d: int, s: StrategySettings) -> tuple[Reason, ...] | None:
    """wt1 crossed wt2 in the trade's direction inside the extreme zone, and the HA colour
    turned to the trade's side within the last ``ha_flip_window`` bars (a streak of the
    trade's colour that is 1..window bars long)."""
    crossed = frame.wt_cross_up if d > 0 else frame.wt_cross_down
    if not crossed or frame.wt2 is None or not in_zone(frame.wt2, d, s):
        return None
    if not 1 <= d * frame.ha_streak <= s.ha_flip_window:
        return None
    return (Reason("wt2", frame.wt2), Reason("ha_streak", frame.ha_streak))


def pre_cross(frame: FrameState, d: int, s: StrategySettings) -> tuple[Reason, ...] | None:
    """No cross yet, but wt1 converges on wt2 from the zone: wt1 still on the far side of wt2 by
    at most ``pre_cross_gap``, that gap having shrunk on each of the last ``pre_cross_bars`` bars,
    with the current HA candle in the trade's colour.

    Why the gap's slope and not wt1's: wt2 = sma(wt1, wt_ma) lags wt1, so once wt1 has risen on
    two bars the mean of its last three values is below it, i.e. it has already crossed wt2. A
    pre-cross that asks wt1 to rise on ``pre_cross_bars`` >= 2 bars while still below wt2 asks for
    the impossible (it fired on 0 of 43,170 real bars). What precedes a cross is wt1 *slowing* on
    its way into the zone: its latest step is smaller than the ones wt2 still averages, so the gap
    wt2 − wt1 shrinks while staying positive. A shrinking positive gap cannot have changed sign
    inside the window, so the path stays a pre-cross; the cross itself is ``cross_based``'s."""
    if frame.wt1 is None or frame.wt2 is None or not in_zone(frame.wt1, d, s):
        return None
    n = s.pre_cross_bars + 1
    wt1, wt2 = frame.wt1_hist[-n:], frame.wt2_hist[-n:]
    if len(wt1) < n or len(wt2) < n or any(v is None for v in (*wt1, *wt2)):
        return None
    gaps = [d * (b - a) for a, b in zip(wt1, wt2)]  # type: ignore[operator]
    gap = gaps[-1]
    if not 0 < gap <= s.pre_cross_gap:
        return None
    if not all(later < earlier for earlier, later in zip(gaps, gaps[1:])):
        return None
    if d * ha_colour(frame) <= 0:
        return None
    return (Reason("wt1", frame.wt1), Reason("gap", round(gap, 9)), Reason("gap_before", round(gaps[-2], 9)))


def ha_reversal(frame: FrameState, d: int, s: StrategySettings) -> tuple[Reason, ...] | None:
    """A streak of at least ``ha_streak_min`` HA candles against the trade ended with a
    candle of the trade's colour on the current bar, while wt1 is in the extreme zone."""
    if frame.wt1 is None or not in_zone(frame.wt1, d, s):
        return None
    if d * frame.ha_streak != 1 or len(frame.ha_streak_hist) < 2:
        return None
    broken = frame.ha_streak_hist[-2]
    if -d * broken < s.ha_streak_min:
        return None
    return (Reason("wt1", frame.wt1), Reason("broken_streak", broken))


# Cascade order: the primary path first.
PATHS: tuple[tuple[EntryPath, Callable[[FrameState, int, StrategySettings], tuple[Reason, ...] | None]], ...] = (
    ("cross_based", cross_based),
    ("pre_cross", pre_cross),
    ("ha_reversal", ha_reversal),
)


def fired_candidates(frame: FrameState, s: StrategySettings) -> list[Candidate]:
    """Every (path, side) that fired on this 1m frame, in cascade order (long before short within a path)."""
    fired = []
    for path, detect in PATHS:
        for d in DIRECTIONS:
            evidence = detect(frame, d, s)
            if evidence is not None:
                fired.append(Candidate(path, d, evidence))
    return fired
