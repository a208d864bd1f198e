"""The pure cores of one bot, built from settings: the one recipe the supervisor, the
backtest and replays all follow, so every run mode decides with identical parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from actors.decide import strategy_decide
from vocabulary.messages import Instrument, MarketState
from actors.router import RouterCore
from actors.scheduler import SchedulerCore
from vocabulary.settings import Settings, StrategySettings
from actors.symbol import BIAS_SYMBOLS, BiasFree, Decide, SymbolCore
from indicators.frame import FrameIndicators, build_market_state
from indicators.params import IndicatorParams
from strategy.paths import fired_candidates

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


def bias_free(strategy: StrategySettings) -> BiasFree:
    """True when ``strategy.entry.evaluate_entry`` cannot read the bias for ``state``: no 1m
    frame, WaveTrend still warming up, or no entry path fired. Those are its NO_SETUP
    branches, which return before any candidate is scored, so the symbol decides them at
    once instead of waiting a hop for the BTC/ETH states (most ticks of every symbol).
    ``tests/actors/test_symbol.py`` holds the two paths equal, decision for decision."""

    def free(state: MarketState) -> bool:
        frame = state.frame(1)
        return frame is None or frame.wt1 is None or frame.wt2 is None or not fired_candidates(frame, strategy)

    return free


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
        # A recording decide (backtest.tape) must see every state with its bias: no shortcut.
        bias_free=bias_free(settings.strategy) if decide is None else None,
    )


def router_core(settings: Settings, instruments: Mapping[str, Instrument], *, react_to_fills: bool) -> RouterCore:
    return RouterCore(dict(instruments), settings.strategy, settings.risk, react_to_fills=react_to_fills)


def scheduler_core(settings: Settings, symbols: Sequence[str]) -> SchedulerCore:
    bot = settings.bot
    return SchedulerCore(symbols, bot.timeframes, grace_ms=bot.tick_grace_ms, heartbeat_timeout_ms=bot.heartbeat_timeout_ms,
                         decide_grace_ms=bot.decide_grace_ms)
