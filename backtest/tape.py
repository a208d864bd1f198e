"""A window's market, recorded once so that tuning trials need not recompute it.

A tuning study runs the same window again and again with other ``[strategy]``/``[risk]`` values.
Its indicators do not depend on those values, so ``record_tape`` computes them once, by the live
route: the in-process simulator replays the window, its confirmed klines go through the public
stream decoder into the bot's own symbol cores (``actors.cores.symbol_core``, bootstrap included),
and every ``MarketState`` a core would decide on is captured with its same-tick BTC/ETH states.
The states are the pipeline's bit for bit; a trial (``backtest.trial``) only has to run the
cascade on them.

Only states on which some entry path can fire are kept: each path's test is the same whatever the
parameters, except its extreme-zone level, so the paths are run once with the widest levels the
study may try, and a trial narrows that set with its own levels (``Tape.fired``), exactly.

Each row also keeps its votes (``strategy.scoring_batch``): the state's vote sums per scored
interval and each usable bias state's total. They do not depend on the parameters either, and a
trial that keeps only TAKEs (``Tape.may_take``) skips the rows on which no fired candidate can
score ``score_min`` with its weights, without building their states.

The 1m bars are kept as integer ticks per symbol (``SymbolBars``): fills compare prices on the
tick grid, where integers are exact and fast. They are compact arrays (8 bytes a price, 1 a
presence flag), not lists of Python ints (~4x that): a year of 25 symbols is 13 M minutes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import msgspec
import numpy as np

from actors.cores import history_length, symbol_core
from vocabulary.messages import AccountView, BackfillResult, BarReady, Decision, MarketState, Message, Tick
from vocabulary.settings import Settings, StrategySettings
from actors.symbol import SymbolIO
from backtest.run import FillModel, Window, sim_config
from backtest.venue import InProcessVenue, instrument_map
from exchange.sim.costs import NO_COSTS, Costs, FundingRates
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import MINUTE_MS
from strategy.paths import PATHS, fired_candidates
from strategy.scoring import BIAS_SYMBOLS, SCORED_INTERVALS
from strategy.scoring_batch import may_reach, state_votes

# (path, direction) in cascade order, and which WaveTrend line each one's zone test reads.
FIRINGS: tuple[tuple[str, int], ...] = tuple((path, d) for path, _ in PATHS for d in (1, -1))
ZONE_LINE = {"cross_based": "wt2", "pre_cross": "wt1", "ha_reversal": "wt1"}
# The columns of ``Tape.bias_votes``: the symbols the scoring engine takes its bias from.
BIAS_COLUMNS = BIAS_SYMBOLS
# Strategy settings that decide whether a path fires, besides the zone levels: a tape answers
# for trials that leave them as they were recorded.
PATH_SETTINGS = ("ha_flip_window", "pre_cross_gap", "pre_cross_bars", "ha_streak_min",
                 "wt_channel", "wt_average", "wt_ma")


class Row(msgspec.Struct, frozen=True):
    """One state on which a path can fire, and the same-tick states of the bias symbols as the
    bias reads them (``bias_view``)."""

    state: MarketState
    bias: tuple[MarketState, ...]


def bias_view(state: MarketState) -> MarketState:
    """A bias symbol's state as a decision reads it (``strategy.scoring.composite_bias``: the votes
    of its scored frames, its tick, whether it is stale): its other frames left out. The 1m frame
    and its histories are most of a state and no bias reads them, so a row keeps this form: the
    same decisions from a tape a fraction of the size, made in a fraction of the time."""
    kept = tuple(f for f in state.frames if f.interval in SCORED_INTERVALS)
    return state if len(kept) == len(state.frames) else msgspec.structs.replace(state, frames=kept)


@dataclass(frozen=True)
class SymbolBars:
    """A symbol's 1m bars over the window in ticks of its price grid, one slot per minute from
    ``first_ms``; a minute without a bar repeats the last close and is marked absent (the venue
    matches nothing then)."""

    symbol: str
    tick_size: Decimal
    first_ms: int
    open: array  # array('q'): int64 ticks, read one at a time as Python ints
    high: array
    low: array
    close: array
    present: array  # array('b'): 1 where the minute has a bar
    last_before: int  # the close before ``first_ms``: the venue's last price when the window opens

    def index(self, start_ms: int) -> int:
        return (start_ms - self.first_ms) // MINUTE_MS

    def price(self, ticks: int) -> Decimal:
        return self.tick_size * ticks

    def ticks(self, price: Decimal) -> int:
        return _ticks(price, self.tick_size, self.symbol)


@dataclass
class Tape:
    """Everything a trial reads: the candidate rows in (tick, symbol) order, each row's firing
    flags and WaveTrend values as arrays for the trial's exact zone test, the bars, the rules."""

    settings: Settings  # as recorded: the path settings, indicator lengths, venue and fill model
    symbols: tuple[str, ...]
    start_ms: int  # the venue clock at the start; the first decision is at start + 1m
    end_ms: int  # the last boundary replayed
    widest_oversold: float
    widest_overbought: float
    hist_len: int
    fills: FillModel
    rows: Sequence[Row]  # a list; the fast backtest's: a ChunkedRows made as the trial walks it (backtest.chunked_rows)
    fires: np.ndarray  # bool [len(rows), len(FIRINGS)]: fired with the widest levels
    wt1: np.ndarray
    wt2: np.ndarray
    votes: np.ndarray  # int8 [len(rows), len(SCORED_INTERVALS)]: each row state's vote sums (strategy.scoring_batch)
    bias_votes: np.ndarray  # float64 [len(rows), len(BIAS_COLUMNS)]: each usable bias state's vote total, NaN if none
    bars: dict[str, SymbolBars]
    instruments: dict
    initial_equity: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    fill_through_ticks: int
    intrabar_path: str
    states_seen: int = 0
    costs: Costs = NO_COSTS  # what the venue charged beyond fees (exchange.sim.costs)
    funding_csv: str = ""

    @property
    def funding(self) -> FundingRates:
        rates = self.cache.get("funding")
        if rates is None:
            rates = self.cache["funding"] = FundingRates.load(self.costs.funding_rate, self.funding_csv)
        return rates
    cache: dict = field(default_factory=dict)  # states trimmed to a trial's history length, by (row, length); their frames by ("frames", length)

    @property
    def minutes(self) -> int:
        return (self.end_ms - self.start_ms) // MINUTE_MS

    @property
    def bars_replayed(self) -> int:
        return self.minutes * len(self.symbols)

    def covers(self, strategy: StrategySettings) -> str:
        """Why this tape cannot answer for ``strategy``; empty when it can."""
        recorded = self.settings.strategy
        for name in PATH_SETTINGS:
            if getattr(strategy, name) != getattr(recorded, name):
                return f"strategy.{name} is {getattr(strategy, name)}, the tape was recorded with {getattr(recorded, name)}"
        if strategy.wt_oversold > self.widest_oversold or strategy.wt_overbought < self.widest_overbought:
            return (f"zone levels ({strategy.wt_oversold}, {strategy.wt_overbought}) are wider than the tape's "
                    f"({self.widest_oversold}, {self.widest_overbought})")
        return ""

    def firing(self, strategy: StrategySettings) -> np.ndarray:
        """bool [len(rows), len(FIRINGS)]: the (path, direction)s that fire on each row with
        ``strategy``'s zone levels: the same comparisons as ``strategy.paths.in_zone``, on the same
        float64 values."""
        oversold, overbought = strategy.wt_oversold, strategy.wt_overbought
        table = np.zeros(self.fires.shape, dtype=bool)
        for column, (path, d) in enumerate(FIRINGS):
            line = self.wt2 if ZONE_LINE[path] == "wt2" else self.wt1
            in_zone = line <= oversold if d > 0 else line >= overbought
            table[:, column] = self.fires[:, column] & in_zone
        return table

    def fired(self, strategy: StrategySettings) -> np.ndarray:
        """Indices of the rows on which some path fires with ``strategy``'s zone levels."""
        return np.flatnonzero(self.firing(strategy).any(axis=1))

    def may_take(self, strategy: StrategySettings, firing: np.ndarray | None = None) -> np.ndarray:
        """Indices of the rows that may be TAKE with ``strategy``: some path fires and some fired
        candidate may score ``score_min`` (``strategy.scoring_batch.may_reach``). Every other row
        is a NO_SETUP or a REJECT whatever the account holds. ``firing``: ``self.firing(strategy)``
        where the caller has it."""
        table = self.firing(strategy) if firing is None else firing
        return np.flatnonzero(may_reach(table, FIRINGS, self.votes, self.bias_votes, strategy))


def widest_levels(settings: Settings, oversold: Iterable[float] = (), overbought: Iterable[float] = ()) -> tuple[float, float]:
    """The zone levels that let the most states fire: the highest oversold, the lowest overbought."""
    return (max([settings.strategy.wt_oversold, *oversold]), min([settings.strategy.wt_overbought, *overbought]))


def record_tape(settings: Settings, window: Window, fills: FillModel = FillModel(), *,
                widest: tuple[float, float] | None = None, hist_len: int | None = None) -> Tape:
    """Replay ``window`` through the symbol cores once and keep what trials need (module doc)."""
    oversold, overbought = widest or widest_levels(settings)
    hist = hist_len or history_length(settings)
    wide = msgspec.structs.replace(settings.strategy, wt_oversold=oversold, wt_overbought=overbought)
    config = sim_config(settings, window, fills)
    sim = InProcessSim.replay(config, start_ms=window.start_ms)
    venue = InProcessVenue(sim)
    symbols = tuple(config.symbols)
    instruments = dict(instrument_map(venue, symbols))
    start_ms = sim.clock_ms
    end_ms = sim.venue.store.end_ms if window.end_ms is None else min(window.end_ms, sim.venue.store.end_ms)
    if end_ms <= start_ms:
        raise ValueError(f"nothing to record: the window ends at {end_ms}, before its start {start_ms}")
    rows: list[Row] = []
    fires: list[list[bool]] = []
    votes: list[tuple[int, ...]] = []
    bias_votes: list[tuple[float, ...]] = []
    seen = [0]
    views: dict[int, tuple[MarketState, MarketState]] = {}  # id(bias state) -> (it, its view): a tick's rows share them

    def view(bias: MarketState) -> MarketState:
        kept = views.get(id(bias))
        if kept is None or kept[0] is not bias:
            if len(views) >= 64:
                views.clear()
            kept = views[id(bias)] = (bias, bias_view(bias))
        return kept[1]

    def recorder(state: MarketState, bias: tuple[MarketState, ...], _account: AccountView | None) -> Decision:
        seen[0] += 1
        frame = state.frame(1)
        if frame is not None and frame.wt1 is not None and frame.wt2 is not None and not state.is_stale:
            fired = {(c.path, c.direction) for c in fired_candidates(frame, wide)}
            if fired:
                rows.append(Row(state, tuple(view(b) for b in bias)))
                fires.append([f in fired for f in FIRINGS])
                own, others = state_votes(state, bias)
                votes.append(own)
                bias_votes.append(others)
        return Decision(tick_ms=state.tick_ms, symbol=state.symbol, kind="NO_SETUP")

    cores = {s: symbol_core(settings, s, instruments[s], symbols, decide=recorder, hist_len=hist) for s in symbols}
    io = SymbolIO(venue.klines_range)
    # What the scheduler does with the bias: BTC/ETH announce their state of a boundary with
    # their bars (BarReady) and the boundary's tick carries those states to every symbol.
    announced: dict[str, MarketState] = {}

    def run(symbol: str, message: Message) -> None:
        for to, out in cores[symbol].handle(message):
            if to == "self":
                run(symbol, io.backfill(out))  # a gap inside the window: backfilled as live
            elif to == "scheduler" and isinstance(out, BarReady) and out.state is not None:
                announced[out.symbol] = out.state

    try:
        for symbol, core in cores.items():
            for request in SymbolIO.bootstrap_requests(symbol, core.timeframes, settings.bot.bootstrap_bars, start_ms):
                result: BackfillResult = io.backfill(request, is_bootstrap=True)
                run(symbol, result)
        timeframes = tuple(settings.bot.timeframes)
        while not venue.is_finished and sim.clock_ms < end_ms:
            boundary = venue.advance()
            venue.private_messages()
            announced.clear()
            for kline in venue.closed_klines(boundary, timeframes, symbols):
                run(kline.symbol, kline)
            closed = tuple(tf for tf in timeframes if boundary % (tf * MINUTE_MS) == 0)
            bias = tuple(announced[s] for s in sorted(announced) if announced[s].tick_ms == boundary)
            tick = Tick(boundary_ms=boundary, closed=closed, bias=bias)
            for symbol in symbols:
                run(symbol, tick)
    finally:
        venue.close()
    end_ms = sim.clock_ms
    frames = [row.state.frame(1) for row in rows]
    return Tape(
        settings=settings, symbols=symbols, start_ms=start_ms, end_ms=end_ms,
        widest_oversold=oversold, widest_overbought=overbought, hist_len=hist, fills=fills,
        rows=rows,
        fires=np.array(fires, dtype=bool).reshape(len(rows), len(FIRINGS)),
        wt1=np.array([f.wt1 for f in frames], dtype=np.float64),
        wt2=np.array([f.wt2 for f in frames], dtype=np.float64),
        votes=np.array(votes, dtype=np.int8).reshape(len(rows), len(SCORED_INTERVALS)),
        bias_votes=np.array(bias_votes, dtype=np.float64).reshape(len(rows), len(BIAS_COLUMNS)),
        bars={s: _symbol_bars(sim, s, start_ms, end_ms) for s in symbols},
        instruments=instruments,
        initial_equity=Decimal(str(config.initial_equity)),
        maker_fee=Decimal(str(config.maker_fee)), taker_fee=Decimal(str(config.taker_fee)),
        fill_through_ticks=config.fill_through_ticks, intrabar_path=config.intrabar_path,
        states_seen=seen[0], costs=config.costs, funding_csv=config.funding_csv,
    )


def _symbol_bars(sim: InProcessSim, symbol: str, start_ms: int, end_ms: int) -> SymbolBars:
    store = sim.venue.store
    tick = sim.venue.engine.rules[symbol].tick_size
    columns: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    present: list[bool] = []
    last = None
    t = start_ms - MINUTE_MS
    while last is None and t >= store.first_ms:
        bar = store.bar_at(symbol, t)
        last = None if bar is None else _ticks(bar.close, tick, symbol)
        t -= MINUTE_MS
    if last is None:
        raise ValueError(f"{symbol} has no bar before the window start {start_ms}")
    previous = last
    for t in range(start_ms, end_ms, MINUTE_MS):
        bar = store.bar_at(symbol, t)
        if bar is None:
            values: Sequence[int] = (previous,) * 4
        else:
            values = tuple(_ticks(p, tick, symbol) for p in (bar.open, bar.high, bar.low, bar.close))
            previous = values[3]
        for column, value in zip(columns, values):
            column.append(value)
        present.append(bar is not None)
    return SymbolBars(symbol, tick, start_ms, *(array("q", column) for column in columns), present=array("b", present),
                      last_before=last)


def _ticks(price: Decimal, tick: Decimal, symbol: str) -> int:
    q = price / tick
    if q != q.to_integral_value():
        raise ValueError(f"{symbol}: {price} is not on the {tick} grid")
    return int(q)


# --- slices and the on-disk cache -----------------------------------------------------------------

TAPE_FORMAT = 5  # bump when Tape's fields change: cached tapes of another format are recorded again


def slice_tape(tape: Tape, start_ms: int, end_ms: int) -> Tape:
    """The part of ``tape`` a run from ``start_ms`` to ``end_ms`` decides on: the states of the
    ticks after ``start_ms`` up to ``end_ms`` and the bars between. The states are those of the
    window's continuous replay (the bot running since the window began, as a live bot would be);
    the account starts afresh at ``start_ms``."""
    if not tape.start_ms <= start_ms < end_ms <= tape.end_ms:
        raise ValueError(f"[{start_ms}, {end_ms}) is not inside the tape's [{tape.start_ms}, {tape.end_ms})")
    ticks = np.fromiter((row.state.tick_ms for row in tape.rows), dtype=np.int64, count=len(tape.rows))
    keep = np.flatnonzero((ticks > start_ms) & (ticks <= end_ms))
    lo, hi = (int(keep[0]), int(keep[-1]) + 1) if len(keep) else (0, 0)
    return dataclasses.replace(
        tape, start_ms=start_ms, end_ms=end_ms, rows=tape.rows[lo:hi], fires=tape.fires[lo:hi],
        wt1=tape.wt1[lo:hi], wt2=tape.wt2[lo:hi], votes=tape.votes[lo:hi], bias_votes=tape.bias_votes[lo:hi], cache={},
        bars={s: _bars_between(b, start_ms, end_ms) for s, b in tape.bars.items()})


def _bars_between(bars: SymbolBars, start_ms: int, end_ms: int) -> SymbolBars:
    a, b = bars.index(start_ms), bars.index(end_ms)
    before = bars.close[a - 1] if a > 0 else bars.last_before
    return SymbolBars(bars.symbol, bars.tick_size, start_ms, bars.open[a:b], bars.high[a:b], bars.low[a:b],
                      bars.close[a:b], bars.present[a:b], last_before=before)


def tape_key(fingerprint: str, settings: Settings, start_ms: int, end_ms: int, widest: tuple[float, float], hist_len: int,
             fills: FillModel = FillModel()) -> str:
    """What a recording depends on: the data (its fingerprint), the settings it was recorded with
    (all but the search ranges), the window, the zone levels and history length, the fill model."""
    recorded = msgspec.structs.replace(settings, tune={})
    text = msgspec.json.encode([TAPE_FORMAT, fingerprint, recorded, start_ms, end_ms, widest, hist_len, fills])
    return hashlib.sha256(text).hexdigest()[:24]


def cached_tape(directory: Path, key: str, record: Callable[[], Tape]) -> tuple[Tape, bool]:
    """The tape stored under ``key`` in ``directory``, or ``record()``'s, stored there for every
    later run and every worker sharing the directory. Returns (tape, whether it was recorded now)."""
    path = directory / f"tape-{key}.pickle"
    if path.is_file():
        try:
            with path.open("rb") as f:
                return pickle.load(f), False
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError):
            path.unlink(missing_ok=True)  # a torn or outdated file: record it again
    tape = record()
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with partial.open("wb") as f:
        pickle.dump(dataclasses.replace(tape, cache={}), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)  # atomic: a reader sees a whole tape or none
    return tape, True
