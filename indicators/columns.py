"""Every indicator column of a bar table in batch form: what ``run.py indicators`` writes.

The names are the ones a user diffs against a TradingView export of their own chart.
"""

from __future__ import annotations

import numpy as np

from indicators.ema import Ema
from indicators.heikin_ashi import HeikinAshi
from indicators.mfi import Mfi, RsiMfiArea
from indicators.params import IndicatorParams
from indicators.pine import hlc3
from indicators.vwap import SessionVwap
from indicators.wavetrend import WaveTrend

COLUMNS = (
    "ha_open", "ha_high", "ha_low", "ha_close", "ha_streak",
    "wt1", "wt2", "vmc_wt1", "vmc_wt2", "mfi", "rsi_mfi_area", "ema200", "vwap",
)


def compute_columns(
    time_ms: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    params: IndicatorParams = IndicatorParams(),
) -> dict[str, np.ndarray]:
    """One array per name in ``COLUMNS``, each as long as the input (NaN where Pine shows na)."""
    src = hlc3(high, low, close)
    ha_open, ha_high, ha_low, ha_close, streak = HeikinAshi.batch(open_, high, low, close)
    wt1, wt2 = WaveTrend.batch(src, params.lazybear)
    vmc_wt1, vmc_wt2 = WaveTrend.batch(src, params.vmc)
    return {
        "ha_open": ha_open,
        "ha_high": ha_high,
        "ha_low": ha_low,
        "ha_close": ha_close,
        "ha_streak": streak,
        "wt1": wt1,
        "wt2": wt2,
        "vmc_wt1": vmc_wt1,
        "vmc_wt2": vmc_wt2,
        "mfi": Mfi.batch(src, volume, params.mfi_length),
        "rsi_mfi_area": RsiMfiArea.batch(
            open_, high, low, close, params.rsi_mfi_period, params.rsi_mfi_multiplier, params.rsi_mfi_pos_y
        ),
        "ema200": Ema.batch(close, params.ema_length),
        "vwap": SessionVwap.batch(time_ms, src, volume, params.vwap_session_start_ms),
    }
