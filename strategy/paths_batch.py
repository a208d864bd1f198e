"""The entry paths of ``strategy.paths`` over a whole 1m series at once: which (path, side) fires
on each bar's frame, as a boolean table.

Bar ``i``'s frame is the ``FrameState`` a ``FrameIndicators`` with history length ``hist_len``
returns for the ``i``-th bar it was fed: its ``*_hist`` tuples hold bars ``max(0, i - hist_len +
1) .. i``. Each test below is the scalar one of ``strategy.paths`` on the same float64 values with
the same operations (``d * value <= d * level``, ``d * (wt2 - wt1)``), so the answers agree bar
for bar; ``tests/backtest/test_batch_tape.py`` checks them against ``fired_candidates`` on every
state of a window.
"""

from __future__ import annotations

import numpy as np

from vocabulary.settings import StrategySettings
from strategy.paths import DIRECTIONS, PATHS

# Column order of ``fires``: cascade order, long before short within a path (``fired_candidates``).
FIRING_ORDER: tuple[tuple[str, int], ...] = tuple((path, d) for path, _ in PATHS for d in DIRECTIONS)


def _shift(x: np.ndarray, k: int, fill) -> np.ndarray:
    """``x[i - k]`` at ``i`` (``fill`` where ``i < k``)."""
    out = np.full(len(x), fill, dtype=x.dtype)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def fires(wt1: np.ndarray, wt2: np.ndarray, cross_up: np.ndarray, cross_down: np.ndarray, ha_streak: np.ndarray,
          ha_open: np.ndarray, ha_close: np.ndarray, hist_len: int, s: StrategySettings) -> np.ndarray:
    """bool [len(wt1), 6] in ``FIRING_ORDER``: ``(path, d)`` fires on bar ``i``'s frame with ``s``.
    NaN stands for None (Pine's na) in ``wt1``/``wt2``."""
    n = len(wt1)
    kept = np.minimum(np.arange(n) + 1, hist_len)  # length of the frame's history tuples
    with np.errstate(invalid="ignore"):
        body = ha_close - ha_open
        colour = (body > 0).astype(np.int64) - (body < 0)  # strategy.scoring.ha_colour: an exact sign, 0 for na
        window = s.pre_cross_bars + 1
        defined = ~(np.isnan(wt1) | np.isnan(wt2))
        all_defined = kept >= window
        for k in range(window):
            all_defined &= _shift(defined, k, False)
        previous_streak = _shift(ha_streak, 1, 0)
        columns = []
        for path, _ in PATHS:
            for d in DIRECTIONS:
                level = s.wt_oversold if d > 0 else s.wt_overbought
                if path == "cross_based":
                    crossed = cross_up if d > 0 else cross_down
                    streak = d * ha_streak
                    fired = crossed & (d * wt2 <= d * level) & (streak >= 1) & (streak <= s.ha_flip_window)
                elif path == "pre_cross":
                    gaps = [_shift(d * (wt2 - wt1), k, np.nan) for k in range(window)]  # gaps[k]: k bars ago
                    gap = gaps[0]
                    fired = all_defined & (d * wt1 <= d * level) & (gap > 0) & (gap <= s.pre_cross_gap)
                    for k in range(1, window):
                        fired &= gaps[k - 1] < gaps[k]
                    fired &= d * colour > 0
                elif path == "ha_reversal":
                    fired = ((d * wt1 <= d * level) & (d * ha_streak == 1) & (kept >= 2)
                             & (-d * previous_streak >= s.ha_streak_min))
                else:  # a path added to strategy.paths must be added here too
                    raise ValueError(f"no batch test for entry path {path!r}")
                columns.append(fired)
    return np.column_stack(columns) if columns else np.zeros((n, 0), dtype=bool)
