"""The batch twin of ``FrameIndicators``: every ``FrameState`` field of one timeframe as columns.

``FrameIndicators`` advances bar by bar; a backtest that knows the whole series computes the same
values at once with the batch kernels (``indicators.kernels``, bit-identical to the streaming
machines) and reads a bar's snapshot out of the columns. Column ``i`` is what ``update`` returns
for the ``i``-th bar fed, provided the columns start at the first bar the streaming set saw: every
recurrence here depends on where it started. ``tests/indicators/test_frame_batch.py`` holds the two
equal field for field.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from indicators.ema import Ema
from indicators.heikin_ashi import HeikinAshi
from indicators.mfi import Mfi, RsiMfiArea
from indicators.params import IndicatorParams
from indicators.pine import EPSILON, hlc3
from indicators.vwap import SessionVwap
from indicators.wavetrend import WaveTrend


class FrameColumns(NamedTuple):
    """One array per ``FrameState`` value field (NaN where the message says None)."""

    start_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    ha_open: np.ndarray
    ha_high: np.ndarray
    ha_low: np.ndarray
    ha_close: np.ndarray
    ha_streak: np.ndarray  # int64
    wt1: np.ndarray
    wt2: np.ndarray
    wt_cross_up: np.ndarray  # bool
    wt_cross_down: np.ndarray
    wt_oversold: np.ndarray
    wt_overbought: np.ndarray
    mfi: np.ndarray
    rsi_mfi_area: np.ndarray
    ema200: np.ndarray
    vwap: np.ndarray


def cross_flags(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ta.cross(a, b)`` as ``indicators.crosses.Cross`` streams it, without a Python loop.

    The remembered side after each bar is the last tolerantly unequal relation so far (0 before
    any): a forward fill of the bars' own sides. A bar fires when the side remembered *before*
    it is strictly left. Only comparisons, so there are no bits to lose."""
    with np.errstate(invalid="ignore"):
        diff = a - b
        own = np.where(diff < -EPSILON, -1, np.where(diff > EPSILON, 1, 0))
        where = np.where(own != 0, np.arange(len(own)), -1)
        np.maximum.accumulate(where, out=where)
        after = np.where(where >= 0, own[np.maximum(where, 0)], 0)
        before = np.concatenate(([0], after[:-1]))
        return ((before < 0) & (a > b)) | ((before > 0) & (a < b))


def frame_columns(start_ms: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                  volume: np.ndarray, params: IndicatorParams = IndicatorParams()) -> FrameColumns:
    """The columns of bars fed in this order to a fresh ``FrameIndicators(interval, params)``."""
    ha_open, ha_high, ha_low, ha_close, streak = HeikinAshi.batch(open_, high, low, close)
    src = hlc3(high, low, close)
    wt1, wt2 = WaveTrend.batch(src, params.vmc)
    with np.errstate(invalid="ignore"):
        # CipherB's script tests, in its order of operations (indicators.wavetrend.CipherB.update).
        crossed = cross_flags(wt1, wt2)
        gap = wt2 - wt1
        cross_up = crossed & (gap <= EPSILON)
        cross_down = crossed & (gap >= -EPSILON)
        oversold = wt2 - params.oversold <= EPSILON
        overbought = wt2 - params.overbought >= -EPSILON
    return FrameColumns(
        start_ms, open_, high, low, close, volume, ha_open, ha_high, ha_low, ha_close, streak, wt1, wt2,
        cross_up, cross_down, oversold, overbought,
        Mfi.batch(src, volume, params.mfi_length),
        RsiMfiArea.batch(open_, high, low, close, params.rsi_mfi_period, params.rsi_mfi_multiplier, params.rsi_mfi_pos_y),
        Ema.batch(close, params.ema_length),
        SessionVwap.batch(start_ms, src, volume, params.vwap_session_start_ms),
    )
