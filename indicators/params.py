"""Indicator parameters with the defaults the strategy was designed on (pine.md)."""

from __future__ import annotations

from typing import Protocol

import msgspec


class WaveTrendSettings(Protocol):
    """The WaveTrend keys of settings.toml's ``[strategy]`` (``vocabulary.settings.StrategySettings``)."""

    wt_channel: int
    wt_average: int
    wt_ma: int
    wt_oversold: float
    wt_overbought: float


class WaveTrendParams(msgspec.Struct, frozen=True, kw_only=True):
    """``channel``: esa/d EMA length; ``average``: wt1 EMA length; ``ma``: wt2 sma length."""

    channel: int = 9
    average: int = 12
    ma: int = 3


LAZYBEAR = WaveTrendParams(channel=10, average=21, ma=4)


class IndicatorParams(msgspec.Struct, frozen=True, kw_only=True):
    wt_channel: int = 9
    wt_average: int = 12
    wt_ma: int = 3
    oversold: float = -53.0
    overbought: float = 53.0
    lazybear_n1: int = 10
    lazybear_n2: int = 21
    mfi_length: int = 14
    rsi_mfi_period: int = 60
    rsi_mfi_multiplier: float = 150.0
    rsi_mfi_pos_y: float = 2.5
    ema_length: int = 200
    # 0 = the UTC day; a perpetual trades 24/7, so its session is the calendar day.
    vwap_session_start_ms: int = 0

    @classmethod
    def from_strategy(cls, strategy: WaveTrendSettings) -> IndicatorParams:
        """The parameters the bot runs with: WaveTrend lengths and levels from ``[strategy]``."""
        return cls(
            wt_channel=strategy.wt_channel,
            wt_average=strategy.wt_average,
            wt_ma=strategy.wt_ma,
            oversold=strategy.wt_oversold,
            overbought=strategy.wt_overbought,
        )

    @property
    def vmc(self) -> WaveTrendParams:
        return WaveTrendParams(channel=self.wt_channel, average=self.wt_average, ma=self.wt_ma)

    @property
    def lazybear(self) -> WaveTrendParams:
        # LazyBear's WT smooths wt2 over 4 bars; only n1 and n2 are his inputs.
        return WaveTrendParams(channel=self.lazybear_n1, average=self.lazybear_n2, ma=4)
