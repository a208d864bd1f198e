"""The pure cores of one bot, built from settings: the one recipe the supervisor, the
backtest and replays all follow, so every run mode decides with identical parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from actors.decide import strategy_decide
from vocabulary.messages import Instrument
from actors.router import RouterCore
from actors.scheduler import SchedulerCore
from vocabulary.settings import Settings
from actors.symbol import Decide, SymbolCore
from strategy.scoring import BIAS_SYMBOLS
from indicators.frame import FrameIndicators, build_market_state
from indicators.params import IndicatorParams

# How far back each buffer reaches. The indicators stream (the bootstrap warms them and is
# not kept), so a buffer only has to recognise repeats and gaps: two hours is ample for
# every timeframe (120 1m bars, 8 15m bars), and keeps memory flat at 500 symbols x 4
# timeframes (the same two hours as 120 bars of every timeframe held 2.5x the bars).
BUFFER_MINUTES = 120


def buffer_bars(timeframes: Sequence[int]) -> dict[int, int]:
    """Bars each timeframe's buffer keeps: ``BUFFER_MINUTES`` of it, at least two bars."""
    return {tf: max(2, BUFFER_MINUTES // tf) for tf in timeframes}


def history_length(settings: Settings) -> int:
    """How many past values each FrameState carries: enough for every strategy lookback."""
    s = settings.strategy
    return max(16, s.swing_lookback, s.pre_cross_bars + 2, s.ha_flip_window + 2)


def symbol_core(settings: Settings, symbol: str, instrument: Instrument, symbols: Sequence[str], *,
                decide: Decide | None = None, hist_len: int | None = None) -> SymbolCore:
    """``decide`` and ``hist_len`` replace the strategy and its history length only where market
    states are recorded for tuning (``backtest.tape``); every run mode leaves them alone."""
    params = IndicatorParams.from_strategy(settings.strategy)
    hist = history_length(settings) if hist_len is None else hist_len
    return SymbolCore(
        symbol, settings.bot.timeframes,
        capacity=buffer_bars(settings.bot.timeframes),
        indicators=lambda tf: FrameIndicators(tf, params, hist_len=hist),
        build_state=build_market_state,
        decide=decide or strategy_decide(settings.strategy, settings.risk, instrument),
        bias_symbols=tuple(s for s in BIAS_SYMBOLS if s in symbols),
    )


def router_core(settings: Settings, instruments: Mapping[str, Instrument], *, react_to_fills: bool) -> RouterCore:
    return RouterCore(dict(instruments), settings.strategy, settings.risk, react_to_fills=react_to_fills)


def scheduler_core(settings: Settings, symbols: Sequence[str]) -> SchedulerCore:
    bot = settings.bot
    return SchedulerCore(symbols, bot.timeframes, grace_ms=bot.tick_grace_ms, heartbeat_timeout_ms=bot.heartbeat_timeout_ms,
                         decide_grace_ms=bot.decide_grace_ms)
