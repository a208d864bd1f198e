"""``record_tape`` without replaying: the same ``Tape``, computed from whole columns.

``backtest.tape.record_tape`` runs the simulator minute by minute and feeds its klines to the
bot's symbol cores; that is the slow half of a backtest. Everything it records is a function of
the 1m bars, so this module computes it directly, and identically:

- each symbol's 1m bars are the simulator's own (its ``KlineStore``), read once into arrays;
- each timeframe's bars are the ones a core receives: the bootstrap history first (from
  ``bootstrap_bars`` bars before the start, or the symbol's first bar, the edge candle holding
  only the minutes that exist, as the venue's kline endpoint aggregates it), then every candle the
  replay closes up to the end; OHLC in float64 as the feed decodes them, volumes summed exactly in
  decimal as the venue does before the decoder rounds them once;
- the indicators are the batch kernels over those series (``indicators.frame_batch``), starting
  on the bootstrap's first bar, as the streaming set did;
- a tick's state is stale when a timeframe has no bar closed at its boundary (the core's rule);
  the candidate rows are found by ``strategy.paths_batch`` with the widest levels, and only those
  rows, and their ticks' BTC/ETH states, become ``MarketState`` objects, in the order the cores
  decide them within a tick.

What the replay would do on data this does not model, it refuses with a ``BatchRefusal`` (a
``ValueError``) naming the condition rather than guess: a symbol whose 1m bars have a hole (the cores backfill and may
accept a gap, then tick after the grace), a bar the stream decoder refuses
(the feed raises, the bootstrap skips it), a looping replay that wraps inside the window.
``tests/backtest/test_batch_tape.py`` holds it to ``record_tape``, field for field.
"""

from __future__ import annotations

import functools
import gc
import os
import pickle
import struct
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain, repeat
from operator import attrgetter
from typing import Any, BinaryIO

import msgspec
import numpy as np

from actors.cores import history_length
from backtest.history import utc_minute
from backtest.run import FillModel, Window, sim_config
from backtest.chunked_rows import ChunkedRows
from backtest.tape import BIAS_COLUMNS, FIRINGS, Row, SymbolBars, Tape, widest_levels
from backtest.venue import InProcessVenue, instrument_map
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import MINUTE_MS, Bar, BarColumns, KlineStore
from indicators.frame_batch import FrameColumns, frame_columns
from indicators.params import IndicatorParams
from strategy.paths_batch import fires
from strategy.scoring import BIAS_SYMBOLS, SCORED_INTERVALS
from strategy.scoring_batch import frame_votes
from vocabulary.messages import FrameState, MarketState
from vocabulary.settings import Settings

# The stream decoder's sanity bound on prices and volumes (exchange.bybit.models.checked_kline).
KLINE_CEILING = 1e15
# How far before the data's common start the venue's kline endpoint serves (exchange.sim.venue.Venue.klines).
REST_REACH_MS = 20 * 1440 * MINUTE_MS
_EXACT_INT = 2 ** 53


class BatchRefusal(ValueError):
    """Data or settings this recorder does not model, where ``record_tape`` (the faithful replay)
    records something: the run needs the faithful engine. ``record_tape``'s own refusals (an empty
    window, a price off the tick grid, no bar before the start) stay plain ``ValueError``s with its
    own messages."""


# --- a symbol's 1m bars as arrays, converted once per loaded series --------------------------------


@dataclass
class _Minutes:
    """One symbol's 1m series (bar ``i`` starts at ``origin + i`` minutes up to ``contiguous_to``).

    Each Decimal is read once as an exact ratio ``num / den``: the float64 value is then one IEEE
    division of two exact integers (correctly rounded, as ``float(Decimal)`` and the feed's parse
    of ``format(price, "f")`` are), the tick count and the volume units are exact integer maths."""

    symbol: str
    bars: Sequence[Bar]
    tick: Decimal
    origin: int
    contiguous_to: int  # the end of the first run of consecutive minutes: the series is usable before it
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    refused: np.ndarray  # bool: a bar the stream decoder refuses (checked_kline)
    volume_units: np.ndarray  # int64: the exact volume in units of 10**-volume_scale
    volume_scale: int
    ticks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # int64 OHLC on the tick grid (0 off it)
    off_grid: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # bool: the price is not on the grid


def _on_grid(values: Callable[[], list[Decimal]], ratio: tuple[np.ndarray, np.ndarray] | None, tick: Decimal) -> tuple[np.ndarray, np.ndarray]:
    """Prices in ticks and whether each is off the grid, as ``backtest.tape._ticks`` decides."""
    tn, td = tick.as_integer_ratio()
    if ratio is not None and int(ratio[0].max(initial=0)) * td < 10 ** 17 and int(ratio[1].max(initial=1)) * tn <= 2 ** 31:
        # p / tick = (num * td) / (den * tn) exactly; small enough that the 28-digit decimal
        # division _ticks makes is exact as well, so both call the same prices off the grid.
        q_num, q_den = ratio[0] * td, ratio[1] * tn
        if int(q_num.max(initial=0)) < _EXACT_INT:
            # Both exact in float64: a quotient that is an integer is that float exactly (IEEE
            # division rounds correctly), and the nearest integer to any other times the
            # denominator is not the numerator; twice as fast as int64 division and modulo.
            n = np.rint(q_num / q_den).astype(np.int64)
            off = n * q_den != q_num
            return np.where(off, 0, n), off
        off = q_num % q_den != 0
        return np.where(off, 0, q_num // q_den), off
    quotients = [p / tick for p in values()]  # _ticks's own division
    ints = [int(q) for q in quotients]
    off = [n != q for q, n in zip(quotients, ints)]
    kept = [0 if o else n for o, n in zip(off, ints)]
    if any(abs(n) >= 2 ** 63 for n in kept):
        raise BatchRefusal(f"prices beyond 64-bit counts of the {tick} tick")
    return np.array(kept, dtype=np.int64), np.array(off, dtype=bool)


def _column_ratio(columns: BarColumns, k: int, reduced: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Column ``k`` of a file read as integers, as ``_ratio`` gives it: ``Decimal.as_integer_ratio``
    is the reduced fraction ``value / 10**scale``; None when one does not fit below 2**53.

    ``reduced=False``: ``value / 10**scale`` itself while no scale exceeds 6, the same number (a
    float from it is the same correctly rounded quotient, the tick test the same exact
    divisibility) without the gcd that is most of a cold recording's conversion (its bounds on
    the grid test hold for any tick numerator up to 2147); reduced beyond that."""
    # One column of the row-major file, gathered once: every operation below then reads
    # contiguous memory (a quarter of the time over the strided view).
    num, scales = np.ascontiguousarray(columns.values[:, k]), np.ascontiguousarray(columns.scales[:, k])
    den = 10 ** scales
    if reduced or int(scales.max(initial=0)) > 6:
        g = np.gcd(num, den)
        num, den = num // g, den // g
    if np.any(num >= _EXACT_INT) or np.any(den >= _EXACT_INT):
        return None
    return num, den


def _ratio(values: list[Decimal]) -> tuple[np.ndarray, np.ndarray] | None:
    """Each value as ``num / den`` in int64 arrays, or None when one does not fit below 2**53."""
    try:
        both = np.fromiter(chain.from_iterable(map(Decimal.as_integer_ratio, values)), dtype=np.int64,
                           count=2 * len(values)).reshape(len(values), 2)
    except OverflowError:
        return None
    if np.any(np.abs(both) >= _EXACT_INT):
        return None
    return both[:, 0], both[:, 1]


def _volume_units(volumes: Callable[[], list[Decimal]], ratio: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, int]:
    """The volumes as integers in units of 10**-scale, exactly (the smallest scale that holds them all)."""
    if ratio is not None:
        num, den = ratio
        for scale in range(19):
            unit = 10 ** scale
            if not np.any(unit % den) and int(num.max(initial=0)) * (unit // int(den.min(initial=1))) < 2 ** 62:
                return num * (unit // den), scale
    scale = max(0, max((-d.as_tuple().exponent for d in volumes()), default=0))  # type: ignore[operator]
    units = [int(d.scaleb(scale)) for d in volumes()]  # exact: every volume has at most ``scale`` decimals
    if sum(units) >= 2 ** 63:
        raise BatchRefusal(f"volumes too large to sum exactly in 64-bit units of 1e-{scale}")
    return np.array(units, dtype=np.int64), scale


_POW10 = 10 ** np.arange(19, dtype=np.int64)


def _plain_volumes(columns: BarColumns, k: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Column ``k`` (the volumes) as ``_column_ratio``'s floats and ``_volume_units``' units and
    scale, without reducing each fraction (its gcd is most of converting a month of volumes):
    the smallest scale holding every volume is the deepest of a value's own scale less its
    trailing zeros. None where the bound below does not hold: the reduced route decides."""
    num, scales = np.ascontiguousarray(columns.values[:, k]), np.ascontiguousarray(columns.scales[:, k])  # as _column_ratio
    if not len(num) or int(num.min()) < 0 or int(scales.min()) < 0:
        return None
    top, deepest = int(num.max()), int(scales.max())
    if top >= _EXACT_INT or deepest > 15:
        return None
    scale = deepest
    while scale > 0:  # a scale holds every volume if each deeper value ends in enough zeros
        rest = scales - (scale - 1)
        deeper = rest > 0
        if np.any(num[deeper] % _POW10[rest[deeper]]):
            break
        scale -= 1
    # _volume_units takes the first scale whose units pass its overflow bound, which is
    # (reduced numerator) x 10**scale / (reduced denominator) at most: under this, it is this one.
    if top * 10 ** scale >= 2 ** 62:
        return None
    shift = scale - scales
    units = np.where(shift >= 0, num * _POW10[np.maximum(shift, 0)], num // _POW10[np.maximum(-shift, 0)])
    # Both operands exact in float64: the quotient rounds as the reduced fraction's (the same number).
    return num / _POW10[scales], units, scale


_SERIES: dict[tuple[int, Decimal], tuple[Sequence[Bar], _Minutes]] = {}  # (id(series), tick) -> (series kept alive, arrays)


def _minutes(symbol: str, bars: Sequence[Bar], tick: Decimal) -> _Minutes:
    kept = _SERIES.get((id(bars), tick))
    if kept is not None and kept[0] is bars:
        return kept[1]
    grid = bars
    # The store keeps a series with holes on the minute grid (None in a missing minute): the
    # bars themselves are read here, and a hole inside a window is refused below (_check_bars).
    columns = bars if isinstance(bars, BarColumns) else None
    bars = [b for b in grid if b is not None] if columns is None and any(b is None for b in grid) else grid
    n = len(bars)
    starts = columns.start_ms if columns is not None else np.fromiter((b.start_ms for b in bars), dtype=np.int64, count=n)
    origin = int(starts[0])
    jumps = np.flatnonzero(starts != origin + np.arange(n, dtype=np.int64) * MINUTE_MS)
    contiguous_to = origin + (int(jumps[0]) if len(jumps) else n) * MINUTE_MS
    floats, ticks, off_grid = {}, [], []
    plain = _plain_volumes(columns, 4) if columns is not None else None
    for k, name in enumerate(("open", "high", "low", "close", "volume")):
        if name == "volume" and plain is not None:
            floats[name], units, scale = plain
            continue
        # The file's integer columns when it was read as such (the same exact ratios, no Decimal made).
        values = functools.cache(lambda name=name: list(map(attrgetter(name), bars)))
        # Prices need only their value (a float, a tick count); the volumes' units are sized from
        # the reduced denominators.
        ratio = _column_ratio(columns, k, reduced=name == "volume") if columns is not None else _ratio(values())
        # float(Decimal) rounds correctly; so does one IEEE division of two exact integers.
        floats[name] = np.array(values(), dtype=np.float64) if ratio is None else ratio[0] / ratio[1]
        if name == "volume":
            units, scale = _volume_units(values, ratio)
        else:
            on, off = _on_grid(values, ratio, tick)
            ticks.append(on)
            off_grid.append(off)
    o, h, low, c, v = (floats[k] for k in ("open", "high", "low", "close", "volume"))
    refused = ~((o > 0) & (h > 0) & (low > 0) & (c > 0) & (o < KLINE_CEILING) & (h < KLINE_CEILING)
                & (low < KLINE_CEILING) & (c < KLINE_CEILING)
                & (low <= np.minimum(o, c)) & (np.maximum(o, c) <= h) & (v >= 0) & (v < KLINE_CEILING))
    # Volumes are never negative here (a refused bar aside): under this bound the sum fits.
    fits = len(units) == 0 or int(units.min()) >= 0 and int(units.max()) * len(units) < 2 ** 63
    if not fits and int(units.sum(dtype=object)) >= 2 ** 63:
        raise BatchRefusal(f"{symbol}: volumes too large to sum exactly in 64-bit units of 1e-{scale}")
    minutes = _Minutes(symbol, bars, tick, origin, contiguous_to, o, h, low, c, v, refused, units, scale,
                       tuple(ticks), tuple(off_grid))  # type: ignore[arg-type]
    if len(_SERIES) >= 64:
        _SERIES.clear()
    _SERIES[(id(grid), tick)] = (grid, minutes)
    return minutes


# --- a timeframe's bars as a core receives them ----------------------------------------------------


_MAYBE = frozenset(("wt1", "wt2", "mfi", "rsi_mfi_area", "ema200", "vwap"))  # na is None in a message
_PLAIN = ("start_ms", "open", "high", "low", "close", "volume", "ha_open", "ha_high", "ha_low", "ha_close", "ha_streak",
          "wt1", "wt2", "wt_cross_up", "wt_cross_down", "wt_oversold", "wt_overbought", "mfi", "rsi_mfi_area", "ema200", "vwap")
_HIST = (("wt1_hist", "wt1"), ("wt2_hist", "wt2"), ("ha_streak_hist", "ha_streak"), ("high_hist", "high"), ("low_hist", "low"))
if FrameState.__struct_fields__ != ("interval", *_PLAIN, *(name for name, _ in _HIST)):  # _Series.build calls it positionally
    raise ImportError("FrameState's fields are not interval, _PLAIN, _HIST in that order: update backtest.batch_tape")


def _python(values: np.ndarray, maybe: bool) -> list:
    """Python values (float, int, bool), NaN as None where the message field is optional."""
    out = values.tolist()
    if maybe:
        for i in np.flatnonzero(np.isnan(values)).tolist():  # na is rare (warm-up, flat bars): fix those alone
            out[i] = None
    return out


def _distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of an integer array: sorted, each value once. Without it, a fresh process's
    first call imports ``numpy.ma`` (~6 ms: ``np.unique`` reaches for it)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


@dataclass
class _Series:
    """A timeframe's bars from the first one a core saw (``first_ms``) and their indicator columns."""

    interval: int
    first_ms: int
    columns: FrameColumns
    frames: dict[int, FrameState] = field(default_factory=dict)

    def closed_at(self, ticks: np.ndarray) -> np.ndarray:
        """The index of the bar closed at each tick (-1: none yet). Computed where asked, not kept:
        a window's ticks times its timeframes is a column as long as the 1m ones."""
        step = self.interval * MINUTE_MS
        if self.first_ms % step == 0:  # as _first_bar makes it: the same index with one division
            return np.maximum((ticks - self.first_ms) // step - 1, -1)
        return np.maximum((ticks - ticks % step - step - self.first_ms) // step, -1)

    def build(self, wanted: np.ndarray, hist: int) -> None:
        """Make the ``FrameState`` ``FrameIndicators.update`` returned for each bar in ``wanted``:
        the values gathered from the columns, the history tuples from the ``hist`` bars up to it."""
        wanted = _distinct(wanted[wanted >= 0])
        wanted = wanted[[i not in self.frames for i in wanted.tolist()]] if self.frames else wanted
        if not len(wanted):
            return
        cols = self.columns
        # The history tuples slice one tuple per column holding only the bars some history
        # reaches (a bar's window is contiguous there too): neighbouring frames share their
        # values, and no Python value is made for the bars between the wanted ones.
        firsts = np.maximum(wanted - hist + 1, 0)
        lo = int(firsts[0])
        edges = np.zeros(int(wanted[-1]) + 2 - lo, dtype=np.int64)
        np.add.at(edges, firsts - lo, 1)
        np.add.at(edges, wanted + 1 - lo, -1)
        reached = np.flatnonzero(np.cumsum(edges[:-1]) > 0) + lo
        starts = np.searchsorted(reached, firsts).tolist()
        ends = (np.searchsorted(reached, wanted) + 1).tolist()
        spans = [tuple(_python(getattr(cols, source)[reached], source in _MAYBE)) for _, source in _HIST]
        windows = list(map(slice, starts, ends))
        hists = [list(map(span.__getitem__, windows)) for span in spans]
        # A field that has a history is its history's newest value: the same object, not another.
        lasts = [b - 1 for b in ends]
        newest = {source: list(map(span.__getitem__, lasts)) for (_, source), span in zip(_HIST, spans)}
        plain = [newest[name] if name in newest else _python(getattr(cols, name)[wanted], name in _MAYBE) for name in _PLAIN]
        # Positional, in the message's field order (checked at import): a quarter of the cost of
        # the keyword call, and these frames are most of the objects a recording makes.
        self.frames.update(zip(wanted.tolist(), map(FrameState, repeat(self.interval), *plain, *hists)))


def _first_bar(m: _Minutes, interval: int, start_ms: int, bootstrap_bars: int) -> int:
    """The start of the first bar of ``interval`` the core's bootstrap loaded."""
    step = interval * MINUTE_MS
    to_ms = start_ms - start_ms % step
    return max(to_ms - bootstrap_bars * step, m.origin - m.origin % step)


def _series(m: _Minutes, interval: int, start_ms: int, end_ms: int, bootstrap_bars: int, store: KlineStore,
            params: IndicatorParams) -> _Series:
    """The bars of ``interval`` a core bootstrapped at ``start_ms`` and replayed to ``end_ms`` received.

    The bootstrap asks for ``bootstrap_bars`` closed bars before the start; the venue serves the
    candles that hold at least one minute of the symbol (the first one possibly partial), and the
    replay then pushes every candle that closes, each the minutes it holds."""
    step = interval * MINUTE_MS
    first = _first_bar(m, interval, start_ms, bootstrap_bars)
    if first < store.first_ms - REST_REACH_MS:
        raise BatchRefusal(f"{m.symbol}: the {interval}m bootstrap reaches {utc_minute(first)} UTC, beyond the venue's kline history")
    last = end_ms - end_ms % step - step  # the newest candle closed by the end
    return _Series(interval, first, frame_columns(*candles(m, interval, first, max(0, (last - first) // step + 1)), params))


def candles(m: _Minutes, interval: int, first: int, count: int) -> tuple[np.ndarray, ...]:
    """``count`` candles of ``interval`` from the one starting at ``first``, as the venue builds them
    from the minutes it holds (a candle starting before the series holds only its minutes; the
    caller keeps the span free of holes): start, open, high, low, close, volume, in float64 as
    the feed decodes them, the volume summed exactly in decimal before that one rounding."""
    step = interval * MINUTE_MS
    starts = first + np.arange(count, dtype=np.int64) * step
    if interval == 1:
        a = (first - m.origin) // MINUTE_MS
        sl = slice(a, a + count)
        return starts, m.open[sl], m.high[sl], m.low[sl], m.close[sl], m.volume[sl]
    lo = np.maximum(0, (starts - m.origin) // MINUTE_MS)
    hi = (starts + step - m.origin) // MINUTE_MS
    a, b = (int(lo[0]), int(hi[-1])) if count else (0, 0)
    at = lo - a
    o = m.open[lo]
    c = m.close[hi - 1]
    h = np.maximum.reduceat(m.high[a:b], at) if count else m.high[:0]
    low = np.minimum.reduceat(m.low[a:b], at) if count else m.low[:0]
    units = np.add.reduceat(m.volume_units[a:b], at) if count else m.volume_units[:0]
    return starts, o, h, low, c, _volumes(units, m.volume_scale, m.symbol)


def closed_candles(store: KlineStore, symbol: str, tick: Decimal, first_ms: int, start_ms: int, end_ms: int,
                   timeframes: Sequence[int]) -> list[tuple[np.ndarray, ...]] | None:
    """For each timeframe (ascending), the candles the venue closes in ``(start_ms, end_ms]`` from the
    1m bars it holds since ``first_ms``, a candle missing any minute left out, as
    ``exchange.sim.aggregate`` builds them from the same bars: start, open, high, low, close and
    volume columns, from the columns the recording read (no Decimal, no Bar made). What the fast
    engine journals for the charts. None where the columns do not hold it (a turnover among those
    minutes, or a hole before ``end_ms``): the caller builds those from the bars."""
    series = store.bars[symbol]
    if not isinstance(series, BarColumns):
        return None
    m = _minutes(symbol, series, tick)
    if end_ms > m.contiguous_to:
        return None
    # A turnover among the minutes used (the journal is written a day at a time: these alone).
    if bool(np.any(series.scales[max(0, (first_ms - m.origin) // MINUTE_MS):(end_ms - m.origin) // MINUTE_MS, 5] >= 0)):
        return None
    out = []
    for interval in sorted(timeframes):
        step = interval * MINUTE_MS
        # The first candle holding only minutes from first_ms and from the series' start, and
        # closing after start_ms; the last closing by end_ms.
        first = -(-max(first_ms, m.origin, start_ms - step + 1) // step) * step
        out.append(candles(m, interval, first, max(0, (end_ms - first) // step)))
    return out


def _volumes(units: np.ndarray, scale: int, symbol: str) -> np.ndarray:
    """``float(sum of the decimal volumes)``: the venue sums in Decimal, the decoder rounds once.
    With both operands exact in float64, IEEE division rounds the exact quotient correctly."""
    if scale <= 22 and (len(units) == 0 or int(units.max()) < _EXACT_INT):
        return units.astype(np.float64) / float(10 ** scale)
    if len(units) and int(units.max()) >= 10 ** 28:  # beyond Decimal's default precision: the venue rounds the sum
        raise BatchRefusal(f"{symbol}: an aggregated volume exceeds 28 digits")
    return np.array([int(u) / 10 ** scale for u in units], dtype=np.float64)  # int / int rounds correctly


# --- the recorder -----------------------------------------------------------------------------------


@dataclass
class _Symbol:
    name: str
    series: dict[int, _Series]
    stale: np.ndarray
    states: dict[int, MarketState] = field(default_factory=dict)
    views: dict[int, MarketState] = field(default_factory=dict)  # as a bias: ``backtest.tape.bias_view``

    def build(self, ticks: np.ndarray, wanted: np.ndarray, hist: int, as_bias: np.ndarray | None = None) -> None:
        """The states of the ticks ``wanted`` (indices into ``ticks``), as the core built them, and
        the bias views of those ``as_bias`` (their scored frames alone: the other timeframes' are
        not made for them)."""
        full = _distinct(wanted)
        bias = _distinct(as_bias) if as_bias is not None and len(as_bias) else full[:0]
        closed = {tf: series.closed_at(ticks[full]) for tf, series in self.series.items()}
        closed_bias = {tf: series.closed_at(ticks[bias]) for tf, series in self.series.items() if tf in SCORED_INTERVALS}
        for tf, series in self.series.items():
            series.build(np.concatenate((closed[tf], closed_bias[tf])) if tf in closed_bias else closed[tf], hist)
        for made, which, at_bar in ((self.states, full, closed), (self.views, bias, closed_bias)):
            if not len(which):
                continue
            held = [(self.series[tf].frames, bars.tolist()) for tf, bars in at_bar.items()]
            stale = self.stale[which].tolist()
            at = ticks[which].tolist()
            for k, j in enumerate(which.tolist()):
                frames = tuple([kept[bars[k]] for kept, bars in held if bars[k] >= 0])
                made[j] = MarketState(symbol=self.name, tick_ms=at[k], frames=frames, is_stale=stale[k])

    def forget(self) -> None:
        """Drop the states and frames made so far (a chunk's, once its rows hold them)."""
        self.states, self.views = {}, {}
        for series in self.series.values():
            series.frames = {}


def record_tape_batch(settings: Settings, window: Window, fills: FillModel = FillModel(), *,
                      widest: tuple[float, float] | None = None, hist_len: int | None = None,
                      processes: int = 1, chunk_ticks: int = 0) -> Tape:
    """``record_tape(settings, window, fills, widest=..., hist_len=...)``, computed in batch (module
    doc); with ``processes=2`` a forked worker computes half the symbols' indicator columns
    (``_forked_series``): the same tape. With ``chunk_ticks``, the rows are a ``ChunkedRows``
    made ``chunk_ticks`` ticks at a time as a reader walks them forward (the same rows; the
    indicator columns are kept for them instead): for a reader that walks them once."""
    oversold, overbought = widest or widest_levels(settings)
    hist = hist_len or history_length(settings)
    if hist < 1:  # FrameIndicators' own refusal, which record_tape meets building the cores
        raise ValueError(f"hist_len must be >= 1, got {hist}")
    wide = msgspec.structs.replace(settings.strategy, wt_oversold=oversold, wt_overbought=overbought)
    config = sim_config(settings, window, fills)
    sim = InProcessSim.replay(config, start_ms=window.start_ms)
    venue = InProcessVenue(sim)
    try:
        symbols = tuple(config.symbols)
        instruments = dict(instrument_map(venue, symbols))
    finally:
        venue.close()
    store = sim.venue.store
    start_ms = sim.clock_ms
    end_ms = store.end_ms if window.end_ms is None else min(window.end_ms, store.end_ms)
    if end_ms <= start_ms:
        raise ValueError(f"nothing to record: the window ends at {end_ms}, before its start {start_ms}")
    end_ms = start_ms - (start_ms - end_ms) // MINUTE_MS * MINUTE_MS  # the replay stops at the boundary reaching the end
    if config.loop and end_ms > store.first_ms + store.span_ms:
        raise BatchRefusal(f"the replay loops before the window ends ({utc_minute(store.first_ms + store.span_ms)} UTC): "
                         "the batch recorder does not replay laps")
    params = IndicatorParams.from_strategy(settings.strategy)
    timeframes = tuple(sorted(settings.bot.timeframes))
    ticks = np.arange(start_ms + MINUTE_MS, end_ms + 1, MINUTE_MS, dtype=np.int64)
    # The cores decide a tick in the configured order: the bias travels inside the tick.
    rank = {s: symbols.index(s) for s in symbols}
    data: dict[str, _Symbol] = {}
    bars: dict[str, SymbolBars] = {}
    keys, picks, fired_rows, wt1s, wt2s, own_votes = [], [], [], [], [], []
    bias_totals: dict[str, np.ndarray] = {}  # a bias symbol's vote total at each tick (NaN: stale)
    states_seen = 0

    def minutes_of(symbol: str) -> _Minutes:  # the arrays the loop below reads (cached by _minutes)
        return _minutes(symbol, store.bars[symbol], sim.venue.engine.rules[symbol].tick_size)

    def one_series(task: tuple[str, int]) -> _Series:
        symbol, tf = task
        return _series(minutes_of(symbol), tf, start_ms, end_ms, settings.bot.bootstrap_bars, store, params)

    tasks = [(symbol, tf) for symbol in symbols for tf in timeframes]
    computed = _forked_series(tasks, one_series, minutes_of) if processes > 1 else {}
    for symbol in symbols:
        m = minutes_of(symbol)
        _check_bars(m, min(_first_bar(m, tf, start_ms, settings.bot.bootstrap_bars) for tf in timeframes), end_ms)
        series = {tf: computed[(symbol, tf)].get() if computed else one_series((symbol, tf)) for tf in timeframes}
        closed = {tf: s.closed_at(ticks) for tf, s in series.items()}  # per symbol only: not kept
        stale = np.zeros(len(ticks), dtype=bool)
        for at in closed.values():
            stale |= at < 0  # the core's rule: no frame, or not the one closed at this boundary
        states_seen += int(np.count_nonzero(~stale))
        data[symbol] = _Symbol(symbol, series, stale)
        one = series[1].columns
        table = fires(one.wt1, one.wt2, one.wt_cross_up, one.wt_cross_down, one.ha_streak, one.ha_open,
                      one.ha_close, hist, wide)
        candidate = ~(np.isnan(one.wt1) | np.isnan(one.wt2)) & table.any(axis=1)
        i1 = closed[1]
        chosen = np.flatnonzero(~stale & candidate[np.maximum(i1, 0)])
        keys.append(chosen * len(symbols) + rank[symbol])
        picks.append(chosen)
        fired_rows.append(table[i1[chosen]])
        wt1s.append(one.wt1[i1[chosen]])
        wt2s.append(one.wt2[i1[chosen]])
        sums = _vote_sums(series, closed)
        own_votes.append(sums[chosen])
        if symbol in BIAS_COLUMNS:
            bias_totals[symbol] = np.where(stale, np.nan, sums.sum(axis=1, dtype=np.float64))
        bars[symbol] = _symbol_bars(m, store, start_ms, end_ms)
    owner = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(picks)]) if picks else np.zeros(0, np.int64)
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    tick_index = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    sort = np.argsort(key, kind="stable")
    bias_of = {s: tuple(sorted(set(b for b in BIAS_SYMBOLS if b in symbols) - {s})) for s in symbols}

    def make(positions: Sequence[int]) -> list[Row]:
        """The rows at ``positions`` (in tape order, ascending): their states and their ticks' bias states."""
        ks = sort[np.asarray(positions, dtype=np.int64)]
        own, at = owner[ks], tick_index[ks]
        # Only the rows' states and their ticks' bias states become messages: hundreds of thousands of
        # objects, none of them cyclic, so the cycle collector is paused while they are made (a quarter
        # of the time otherwise goes to collections that can free nothing).
        collecting = gc.isenabled()
        gc.disable()
        try:
            for n, symbol in enumerate(symbols):
                as_bias = [at[own == symbols.index(b)] for b in symbols if symbol in bias_of[b]]
                data[symbol].build(ticks, at[own == n], hist, np.concatenate(as_bias) if as_bias else None)
            made: list[Row] = []
            for n, j in zip(own.tolist(), at.tolist()):
                symbol = symbols[n]
                made.append(Row(data[symbol].states[j], tuple(data[b].views[j] for b in bias_of[symbol])))
        finally:
            if collecting:
                gc.enable()
        if chunk_ticks:
            for one in data.values():  # the rows hold what they need; the next chunk starts afresh
                one.forget()
        return made

    rows: list[Row] | ChunkedRows
    if chunk_ticks:
        # Chunk k: the rows of the ticks k * chunk_ticks to (k + 1) * chunk_ticks (a tick's rows stay together).
        row_ticks = key[sort] // len(symbols)
        bounds = np.searchsorted(row_ticks, np.arange(0, len(ticks) + chunk_ticks, chunk_ticks)).tolist()
        rows = ChunkedRows([*bounds[:-1], len(sort)], make)
    else:
        rows = make(range(len(sort)))
    fires_all = np.concatenate(fired_rows)[sort] if fired_rows else np.zeros((0, len(FIRINGS)), dtype=bool)
    # Each row's bias: the tick's BTC/ETH vote totals, NaN for the symbol itself or one not run.
    row_owner, row_tick = owner[sort], tick_index[sort]
    bias_votes = np.full((len(sort), len(BIAS_COLUMNS)), np.nan)
    for k, name in enumerate(BIAS_COLUMNS):
        if name in bias_totals:
            bias_votes[:, k] = np.where(row_owner == symbols.index(name), np.nan, bias_totals[name][row_tick])
    return Tape(
        settings=settings, symbols=symbols, start_ms=start_ms, end_ms=end_ms,
        widest_oversold=oversold, widest_overbought=overbought, hist_len=hist, fills=fills,
        rows=rows,
        fires=fires_all.reshape(len(rows), len(FIRINGS)),
        wt1=np.concatenate(wt1s)[sort] if wt1s else np.zeros(0),
        wt2=np.concatenate(wt2s)[sort] if wt2s else np.zeros(0),
        votes=np.concatenate(own_votes)[sort] if own_votes else np.zeros((0, len(SCORED_INTERVALS)), dtype=np.int8),
        bias_votes=bias_votes,
        bars=bars,
        instruments=instruments,
        initial_equity=Decimal(str(config.initial_equity)),
        maker_fee=Decimal(str(config.maker_fee)), taker_fee=Decimal(str(config.taker_fee)),
        fill_through_ticks=config.fill_through_ticks, intrabar_path=config.intrabar_path,
        states_seen=states_seen, costs=config.costs, funding_csv=config.funding_csv,
    )


def _vote_sums(series: dict[int, _Series], closed: dict[int, np.ndarray]) -> np.ndarray:
    """int8 [ticks, len(SCORED_INTERVALS)]: the vote sums of the frame a tick's state holds on each
    scored interval (``strategy.scoring.vote_sums``: 0 where it holds none)."""
    sums = np.zeros((len(next(iter(closed.values()))), len(SCORED_INTERVALS)), dtype=np.int8)
    for k, interval in enumerate(SCORED_INTERVALS):
        if interval not in series or not len(series[interval].columns.close):
            continue
        c = series[interval].columns
        votes = frame_votes(c.wt1, c.wt2, c.ha_open, c.ha_close, c.rsi_mfi_area, c.ema200, c.vwap, c.close)
        at = closed[interval]
        sums[:, k] = np.where(at >= 0, votes[np.maximum(at, 0)], 0)
    return sums


class _Outcome:
    """A timeframe's series, or the exception computing it raised (raised again where the
    one-process recorder would have met it, so refusals keep their order)."""

    def __init__(self, series: _Series | None = None, error: BaseException | None = None) -> None:
        self.series, self.error = series, error

    def get(self) -> _Series:
        if self.error is not None:
            raise self.error
        assert self.series is not None
        return self.series

    @classmethod
    def of(cls, compute: Callable[[tuple[str, int]], _Series], task: tuple[str, int]) -> _Outcome:
        try:
            return cls(compute(task))
        except Exception as exc:  # noqa: BLE001 - handed back to be raised in the recorder's order
            return cls(error=exc)


# A symbol's arrays (``_minutes``) cost about a sixth of its 1m columns; a timeframe's columns
# cost in proportion to its bars (1 / interval of the 1m ones).
_MINUTES_COST = 0.17


def _worker_share(tasks: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (symbol, timeframe) series the worker computes: about half the work, counted as the
    parent sees it. The parent makes every symbol's arrays (the loop after reads them all: the
    worker's symbols' while the worker runs) and the worker the arrays of the symbols it
    touches; the largest series are placed first, each where less work is queued, so the two
    finish together (whole symbols by turns left the parent a symbol's 1m columns longer)."""
    symbols = list(dict.fromkeys(symbol for symbol, _ in tasks))
    parent_load, worker_load = _MINUTES_COST * len(symbols), 0.0
    worker: list[tuple[str, int]] = []
    touched: set[str] = set()
    for task in sorted(tasks, key=lambda t: (t[1], symbols.index(t[0]))):
        cost = 1 / task[1]
        extra = 0.0 if task[0] in touched else _MINUTES_COST
        if worker_load + cost + extra < parent_load + cost:
            worker.append(task)
            touched.add(task[0])
            worker_load += cost + extra
        else:
            parent_load += cost
    return worker


def _forked_series(tasks: Sequence[tuple[str, int]], compute: Callable[[tuple[str, int]], _Series],
                   meanwhile: Callable[[str], object]) -> dict[tuple[str, int], _Outcome]:
    """Every (symbol, timeframe)'s series (``compute``), about half of them (``_worker_share``)
    in a forked child process while this one computes the others: the indicator columns are
    most of a recording and each series depends on its own bars alone. The child inherits the
    loaded bars (fork), sends its columns back pickled through a pipe and exits; this process
    then does ``meanwhile`` for every symbol (the arrays its loop reads; an error there is left
    for the caller to meet again, in order) while the child finishes. Where fork is missing, or
    when the worker would get nothing, all are computed here. The child runs only numpy and this
    module's Python code and leaves by ``os._exit``; a lock another thread held at the fork would
    still be held in it, so ask for a worker from a process without busy threads (``run.py
    backtest`` has none)."""
    theirs = _worker_share(tasks)
    ours = [t for t in tasks if t not in theirs]
    if not hasattr(os, "fork") or not theirs:
        return {task: _Outcome.of(compute, task) for task in tasks}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, exit without running the parent's exit handlers
        status = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:
                _send(pipe, {task: _Outcome.of(compute, task) for task in theirs})
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    pipe = os.fdopen(read_end, "rb")
    try:
        outcomes = {task: _Outcome.of(compute, task) for task in ours}
        for symbol in dict.fromkeys(symbol for symbol, _ in tasks):
            try:
                meanwhile(symbol)
            except Exception:  # noqa: BLE001, S110 - met again where the one-process recorder meets it
                pass
        received = _received(pipe)
    finally:
        pipe.close()  # first: a child still writing (this side interrupted) meets a broken pipe and exits
        _, status = os.waitpid(pid, 0)
    if status != 0 or received is None:
        raise RuntimeError(f"the recorder's worker process failed (wait status {status})")
    outcomes.update(received)
    return outcomes


def _send(pipe: BinaryIO, value: object) -> None:
    """``value`` pickled with its arrays' memory out of band (protocol 5): the arrays go down the
    pipe as they lie, not copied into one pickle first. Framed as: the part count, each part's
    size, the pickle, the arrays' bytes."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    parts = [memoryview(head), *(b.raw() for b in buffers)]
    pipe.write(struct.pack(f"<I{len(parts)}Q", len(parts), *(p.nbytes for p in parts)))
    for part in parts:
        pipe.write(part)


def _received(pipe: BinaryIO) -> Any:
    """What ``_send`` sent, the arrays made on the received bytes themselves; None when the
    sender stopped short."""
    count = pipe.read(4)
    if len(count) < 4:
        return None
    n = struct.unpack("<I", count)[0]
    sizes = struct.unpack(f"<{n}Q", pipe.read(8 * n))
    parts = [bytearray(size) for size in sizes]
    for part in parts:
        view, got = memoryview(part), 0
        while got < len(part):
            n = pipe.readinto(view[got:])
            if not n:
                return None
            got += n
    return pickle.loads(parts[0], buffers=parts[1:])


def _check_bars(m: _Minutes, first_ms: int, end_ms: int) -> None:
    """Refuse what the cores would meet but this module does not model."""
    if end_ms > m.contiguous_to:
        raise BatchRefusal(f"{m.symbol}: 1m bars are missing from {utc_minute(m.contiguous_to)} UTC, before the window's end: "
                         "the batch recorder does not model how the replay and the symbol cores meet a hole")
    a = max(0, (first_ms - m.origin) // MINUTE_MS)
    b = (end_ms - m.origin) // MINUTE_MS
    bad = np.flatnonzero(m.refused[a:b])
    if len(bad):
        at = m.origin + (a + int(bad[0])) * MINUTE_MS
        raise BatchRefusal(f"{m.symbol}: the 1m bar at {utc_minute(at)} UTC is one the stream decoder refuses (prices or volume)")


def _symbol_bars(m: _Minutes, store: KlineStore, start_ms: int, end_ms: int) -> SymbolBars:
    """``backtest.tape._symbol_bars`` on a series without holes: every minute present."""
    if start_ms - MINUTE_MS < max(store.first_ms, m.origin):
        raise ValueError(f"{m.symbol} has no bar before the window start {start_ms}")
    a = (start_ms - m.origin) // MINUTE_MS
    b = (end_ms - m.origin) // MINUTE_MS
    # The same refusals in record_tape's order: the close before the window, then bar by bar.
    if m.off_grid[3][a - 1]:
        raise ValueError(f"{m.symbol}: {m.bars[a - 1].close} is not on the {m.tick} grid")
    off = np.column_stack([col[a:b] for col in m.off_grid])
    bad = np.flatnonzero(off.ravel())
    if len(bad):
        i, column = divmod(int(bad[0]), 4)
        price = (m.bars[a + i].open, m.bars[a + i].high, m.bars[a + i].low, m.bars[a + i].close)[column]
        raise ValueError(f"{m.symbol}: {price} is not on the {m.tick} grid")
    o, h, low, c = (array("q", col[a:b].astype(np.int64, copy=False).tobytes()) for col in m.ticks)
    return SymbolBars(m.symbol, m.tick, start_ms, o, h, low, c, present=array("b", bytes([1]) * (b - a)),
                      last_before=int(m.ticks[3][a - 1]))
