"""The fast backtest: the faithful backtest's TAKE decisions and closed trades, without stepping the
venue, the router and the journal through every minute.

``run_backtest`` (``backtest.run``) replays a window through the bot's cores and the simulator,
minute by minute. Almost all of that work decides nothing: a state on which no entry path fires
is a NO_SETUP whatever the account holds. So the fast engine

1. records the window once (``RECORD``: ``backtest.batch_tape.record_tape_batch``, the batch
   indicator kernels over the simulator's bars, held to ``backtest.tape.record_tape`` - the bot's
   own symbol cores fed by the replay - tape for tape), keeping only the states on which a path
   can fire, with their same-tick BTC/ETH bias states, made a day at a time as the trial reaches
   them (``backtest.chunked_rows``: a run holds one day's states, not the window's);
2. runs the trial on it (``backtest.trial.run_trial``): the cascade on those states on which a
   fired candidate may score ``score_min`` (``Tape.may_take``: the rest REJECT on their score
   whatever the account, so their states are never made) with the account view of the cycle
   before, each TAKE followed on the 1m bars in integer ticks by the router's and the venue's
   rules (fees, stop slippage, spread, funding, partial fills);
3. derives the per-minute equity from the followed trades exactly as the trial's account view
   computes it (the wallet from every fill, fee and funding payment at its cycle, open positions
   marked at the minute's close): the figure the router holds after each cycle's snapshot.

``tests/backtest/test_fast.py`` holds it to the faithful engine on the shipped month: the same
TAKE decisions, the same ``TradeClosed`` rows field for field, the same equity every minute.

What it does not know, and says so: the NO_SETUP and REJECT decisions (never decided), the orders,
fills and position snapshots (followed inside the trial, not kept), the messages the cores
handled. What it cannot honour, it refuses (``FastRefusal``, one line naming the condition and
``--faithful``) rather than diverge: a data gap inside the window, a course the trial does not
model, an account the venue would have liquidated.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import numpy as np

from backtest.run import FillModel, Progress, Result, Window, backtest_journal, sim_config
from backtest.batch_tape import BatchRefusal, closed_candles, record_tape_batch
from backtest.history import utc_minute
from backtest.tape import Tape
from backtest.trial import MarkedMinutes, TrialCannotFollow, TrialResult, _Trade, run_trial
from exchange.sim.aggregate import aggregate
from exchange.sim.config import SimConfig
from exchange.sim.costs import FUNDING_EVERY_MS, is_funding_time
from exchange.sim.engine import money
from exchange.sim.market import MINUTE_MS, KlineStore, load_store
from strategy.context import cooldown_until
from vocabulary.messages import Decision, JournalEvent, TradeClosed
from vocabulary.settings import Settings

Recorder = Callable[[Settings, Window, FillModel], Tape]

DAY_MS = 1440 * MINUTE_MS

#: The one name the fast engine records through: the batch recorder, a drop-in for
#: ``backtest.tape.record_tape`` (the bot's streaming cores) with an identical Tape, 14-25x faster.
RECORD: Recorder = record_tape_batch

#: The batch recorder hands the trial its rows this many ticks at a time (``backtest.chunked_rows``):
#: a run holds one chunk's states, not the window's (~400 MB a month of 25 symbols).
CHUNK_TICKS = 1440

#: What the fast engine's journal lacks, in the run's "started" event (the dashboard shows it).
NOT_JOURNALED = ("NO_SETUP and REJECT decisions (never kept: only states on which a fired candidate may reach "
                 "score_min are decided, and only their TAKEs journaled), "
                 "orders, executions and position snapshots (followed inside the trial, not kept), "
                 "the bootstrap's candles before the window; run with --faithful for them")


class FastRefusal(ValueError):
    """Something the fast engine cannot honour exactly: the faithful engine can (one line)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the fast engine cannot honour this run: {what}; run it with --faithful")


def refusal(config: SimConfig) -> str:
    """Why the fast engine cannot run on the venue ``config`` exactly, found before any work;
    empty when it can. (Gaps, unmodelled courses and liquidations are found on the way.)"""
    if config.fill_through_ticks < 0:
        return f"--fill-through-ticks {config.fill_through_ticks} is below 0"
    return ""


def run_fast_backtest(settings: Settings, window: Window = Window(), fills: FillModel = FillModel(), *,
                      journal_path: str | Path | None = None, progress: Progress | None = None,
                      record: Recorder | None = None, processes: int = 1) -> Result:
    """The faithful backtest's TAKEs, trades and equity for ``window`` (module doc); ``FastRefusal``
    when it cannot give them exactly. ``record`` overrides ``RECORD`` (benches, tests);
    ``processes=2`` has the batch recorder compute half the symbols' indicator columns in a
    forked worker (``backtest.batch_tape._forked_series``): the same result, on two cores."""
    config = sim_config(settings, window, fills)
    problem = refusal(config)
    if problem:
        raise FastRefusal(problem)
    path = None if journal_path is None else Path(journal_path)
    if path is not None and path.exists():
        raise FileExistsError(f"{path} exists: a backtest journal is written once, never appended to")
    started = time.perf_counter()
    # Hardly anything a run makes is cyclic (arrays, frozen messages, plain records), yet the
    # tape's million objects are traversed by every full collection the trial's allocations
    # trigger: about 0.15 s a month, freeing nothing. The collector is paused for the run (a
    # cycle made meanwhile is collected once it resumes).
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            recorder = record or RECORD
            options: dict = {} if processes == 1 else {"processes": processes}
            if recorder is record_tape_batch:
                options["chunk_ticks"] = CHUNK_TICKS  # the trial reads each row once, in order
            tape = recorder(settings, window, fills, **options)
        except BatchRefusal as exc:
            raise FastRefusal(str(exc)) from None
        recorded = time.perf_counter()
        gap = first_gap(tape)
        if gap:
            raise FastRefusal(gap)
        if progress is not None:
            # Every minute is replayed once the tape is recorded (~95 % of the time); the recorder
            # reports nothing while it runs, so this is the one update.
            progress(tape.minutes, tape.minutes)
        try:
            trial = run_trial(tape, settings)
        except TrialCannotFollow as exc:
            raise FastRefusal(f"a course the trial does not model ({exc})") from None
        tried = time.perf_counter()
        equity = equity_curve(tape, settings, trial.placed, config)
        finished = time.perf_counter()
        result = Result(
            symbols=tape.symbols, start_ms=tape.start_ms, end_ms=tape.end_ms, initial_equity=tape.initial_equity,
            decisions=trial.takes, trades=trial.trades, equity=equity, counts=fast_counts(tape, trial),
            wall_s=finished - started, engine="fast",
            timings={"record_s": round(recorded - started, 3), "trial_s": round(tried - recorded, 3),
                     "equity_s": round(finished - tried, 3)},
        )
    finally:
        # The tape goes first: resumed with it alive, the collector's next pass would walk all
        # of it (everything made while paused is still in the youngest generation).
        tape = trial = None  # type: ignore[assignment]
        if collecting:
            gc.enable()
    if path is not None:
        write_journal(path, result, config, tuple(settings.bot.timeframes))
    return result


def fast_counts(tape: Tape, trial: TrialResult) -> dict[str, int]:
    """What the fast engine counted; the faithful engine's counts (messages handled, grace ticks)
    have no equivalent here and are absent rather than invented."""
    return {"states": tape.states_seen, "states_recorded": len(tape.rows), "states_decided": trial.decided,
            "states_screened": trial.screened,
            "takes": len(trial.takes), "takes_refused_by_router": trial.refused}


def first_gap(tape: Tape) -> str:
    """The first minute inside the window at which the venue has no 1m bar of a symbol (the
    faithful engine backfills it and ticks after the grace time; the trial does not model that),
    or empty."""
    for symbol, bars in tape.bars.items():
        if 0 in bars.present:  # a scan in C: a year of 25 symbols is 13 M minutes
            ms = bars.first_ms + bars.present.index(0) * MINUTE_MS
            return (f"the simulator has no {symbol} 1m bar at {utc_minute(ms)} UTC ({ms} ms) inside the window "
                    "(its file is shorter than the others' or has a gap)")
    return ""


def equity_curve(tape: Tape, settings: Settings, placed: list[_Trade], config: SimConfig) -> list[tuple[int, Decimal, int]]:
    """(boundary, equity, open positions) after every minute's cycle, as ``Pipeline.equity`` holds
    them: the trial's account view's equity of every cycle (``MarkedMinutes``). Refuses
    (``FastRefusal``) where the venue liquidated the account, which the trial does not model
    (``_liquidation``, asked only of the minutes ``liquidation_screen`` cannot clear)."""
    rate = Decimal(str(config.maintenance_margin_rate))
    lowest, slack = liquidation_screen(tape, placed, rate, settings)
    out: list[tuple[int, Decimal, int]] = []
    before = tape.initial_equity
    states: dict[tuple[int, int], tuple[Decimal, Decimal]] = {}  # (id(trade), t) -> its state at t, for _liquidation
    positions = 0
    marked = MarkedMinutes(tape, settings, placed)
    lows, slacks = lowest.tolist(), slack.tolist()  # read one minute at a time: Python floats
    for m, (c, equity, now) in enumerate(marked):
        had, positions = positions, now
        if (positions or had) and (b := float(before)) + lows[m] <= slacks[m] + 1e-9 * abs(b):
            problem = _liquidation(tape, marked.live(c), c, before, rate, states)
            if problem:
                raise FastRefusal(problem)
        out.append((c, equity, positions))
        before = equity
    return out


def liquidation_screen(tape: Tape, placed: list[_Trade], rate: Decimal, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """For every minute ``m`` of the window (the one ending at ``start + (m + 1)`` minutes), in
    floats: the lowest margin ``_liquidation`` can find over its checks, less the minute-before
    equity (``lowest[m]``), and a bound on the float error of that figure (``slack[m]``).

    ``_liquidation`` is exact (Decimal) and walks each open trade every minute; most minutes are
    far from a liquidation. The same quantities in float64, for every minute at once: each
    trade's value (wallet plus unrealised PnL at the mark) and maintenance margin at each
    boundary, the minute's change per symbol (funding added at a settlement), the checks after
    the bar of each symbol ``_liquidation`` walks (one with a filled trade in the book's live list)
    in the store's order. A minute is cleared when ``before + lowest[m] >
    slack[m]``: its every check holds by more than the floats can be off (inputs rounded once
    from Decimal, sums of a few terms: relative error near 1e-15; funding's 8-decimal rounding
    at most 5e-9 a trade; the slack is 1e-9 of the magnitudes plus 1e-6), so the exact check
    could not refuse it (the caller adds 1e-9 of the equity before). Every other minute goes to
    ``_liquidation``, which decides alone."""
    minutes = (tape.end_ms - tape.start_ms) // MINUTE_MS
    lowest, magnitude = np.full(minutes, np.inf), np.zeros(minutes)
    # Boundaries t_j = start + j minutes (j = 0..minutes); minute m runs from t_m to t_(m+1).
    # Every filled trade's boundaries from its fill to its exit, all trades' end to end (in placing
    # order, the order their figures are summed in), so each line below is one array operation.
    trades = [trade for trade in placed if trade.fill_ms is not None and (trade.fill_ms - tape.start_ms) // MINUTE_MS <= minutes]
    if not trades:
        return lowest, 1e-9 * magnitude + 1e-6
    symbols = store_order({trade.symbol for trade in trades})
    row = {symbol: k for k, symbol in enumerate(symbols)}
    marks = np.empty((len(symbols), minutes + 1))
    for symbol, k in row.items():
        # mark(t_j): the close of the minute before t_j (the one before the window for j = 0).
        bars = tape.bars[symbol]
        marks[k, 0] = bars.last_before
        marks[k, 1:] = np.asarray(bars.close[:minutes], dtype=np.int64)  # the array's buffer, not 13 M ints a year
    firsts = [(trade.fill_ms - tape.start_ms) // MINUTE_MS for trade in trades]  # the first boundary it has a value at
    lasts = [minutes if trade.exit_ms is None else min(minutes, (trade.exit_ms - tape.start_ms) // MINUTE_MS) for trade in trades]
    lengths = np.array([b - a + 1 for a, b in zip(firsts, lasts)], dtype=np.int64)
    which = np.repeat(np.arange(len(trades)), lengths)  # the trade of each element
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))  # each trade's first element
    j = np.arange(len(which)) - starts[which] + np.asarray(firsts, dtype=np.int64)[which]
    t = tape.start_ms + j * MINUTE_MS

    def per_trade(values: list) -> np.ndarray:
        return np.asarray(values)[which]

    size = _steps_of([trade.sizes for trade in trades], which, t)
    wallet = _steps_of([trade.wallet for trade in trades], which, t)
    exits = per_trade([np.iinfo(np.int64).max if trade.exit_ms is None else trade.exit_ms for trade in trades])
    held = np.where(t < exits, size, 0.0)
    direction = per_trade([trade.direction for trade in trades])
    mark = direction * marks[per_trade([row[trade.symbol] for trade in trades]), j]
    tick_size, entry_ticks = per_trade([float(trade.tick_size) for trade in trades]), per_trade([trade.entry_ticks for trade in trades])
    value = wallet + tick_size * held * (mark - entry_ticks)
    mm = per_trade([float(trade.entry) for trade in trades]) * held * float(rate)
    # Minute m = j - 1 goes from value[j - 1] (0 before the fill) to value[j].
    previous, previous_mm = np.empty_like(value), np.empty_like(mm)
    previous[1:], previous_mm[1:] = value[:-1], mm[:-1]
    previous[starts], previous_mm[starts] = 0.0, 0.0
    step = value - previous
    if tape.costs.funding:
        for k in np.flatnonzero((t % FUNDING_EVERY_MS == 0) & (mm != 0)).tolist():
            # ``_Course.fund``: size x the minute's close x the rate, in the trade's direction.
            trade = trades[which[k]]
            bars = tape.bars[trade.symbol]
            close = float(bars.price(bars.close[int(j[k]) - 1]))
            step[k] += size[k] * close * float(tape.funding.rate(trade.symbol, int(t[k]))) * trade.direction
    # Boundary j closes minute j - 1 (the window's first boundary closes none), added up per
    # symbol and minute in placing order.
    closing = j > 0
    cell = (per_trade([row[trade.symbol] for trade in trades]) * minutes + j - 1)[closing]

    def by_minute(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=weights[closing], minlength=len(symbols) * minutes).reshape(len(symbols), minutes)

    change, margin_before, margin_now = by_minute(step), by_minute(previous_mm), by_minute(mm)
    sizes = np.abs(value) + np.abs(previous) + mm + previous_mm + np.abs(step)
    magnitude += np.bincount(j[closing] - 1, weights=sizes[closing], minlength=minutes)
    # The book drops a trade once its plan is forgotten and its cooldown is past (``_Book._over``):
    # the minutes at whose boundary the book walks a filled trade of the symbol.
    edges = np.zeros((len(symbols), minutes + 1), dtype=np.int64)
    for trade, first in zip(trades, firsts):
        live_to = minutes if trade.exit_ms is None else min(minutes, (max(
            trade.end_ms or 0, cooldown_until(trade.exit_ms, settings.risk) - MINUTE_MS) - tape.start_ms) // MINUTE_MS)
        if max(first - 1, 0) < live_to:
            edges[row[trade.symbol], max(first - 1, 0)] += 1
            edges[row[trade.symbol], live_to] -= 1
    checked = np.cumsum(edges, axis=1)[:, :minutes] > 0
    total = sum((margin_before[k] for k in range(len(symbols))), np.zeros(minutes))
    moved = np.zeros(minutes)
    for k in range(len(symbols)):
        moved = moved + change[k]
        total = total - margin_before[k] + margin_now[k]
        lowest = np.where(checked[k], np.minimum(lowest, moved - total), lowest)
    slack = 1e-9 * magnitude + 1e-6
    return lowest, slack


def _steps_of(changes: list[list[tuple[int, Decimal]]], which: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each element, the sum of its trade's ``(ms, change)`` entries with ``ms <= t``, in
    floats: each trade's running sums (sequential, as ``np.cumsum``'s), found for all trades at
    once in one sorted key of (trade, ms)."""
    keys, running, base = [], [], []
    for n, entries in enumerate(changes):
        base.append(len(running) - len(keys))  # where the trade's running sums start, less its keys before
        running.append(0.0)
        total = 0.0
        for ms, value in entries:
            total += float(value)
            running.append(total)
            keys.append((n, ms))
    if not keys:
        return np.zeros(len(t))
    span = max(int(t.max()), max(ms for _, ms in keys)) - min(int(t.min()), min(ms for _, ms in keys)) + 1
    low = min(int(t.min()), min(ms for _, ms in keys))
    at = np.array([n * span + ms - low for n, ms in keys], dtype=np.int64)
    found = np.searchsorted(at, which * span + (t - low), side="right")
    return np.asarray(running)[found + np.asarray(base, dtype=np.int64)[which]]


def store_order(symbols: Iterable[str]) -> list[str]:
    """``symbols`` in the order the simulator's store matches their bars each minute (by file name,
    ``exchange.sim.market.load_store``): the order its liquidation checks run in."""
    return sorted(symbols, key=lambda s: f"{s}-1m.csv.gz")


def _liquidation(tape: Tape, live: list[_Trade], c: int, before: Decimal, rate: Decimal,
                 memo: dict[tuple[int, int], tuple[Decimal, Decimal]] | None = None) -> str:
    """Whether the venue liquidated in the minute ending at ``c``. It matches the symbols' bars one
    after the other, in its store's order (``exchange.sim.market.load_store``: by file name), and
    checks after each (``Engine._check_liquidation``): wallet plus unrealised PnL at each symbol's
    last price below the positions' maintenance margin (size x entry x rate), funding being paid
    after the last bar. After the k-th bar, the first k symbols are in their end-of-minute state
    less the minute's funding, the others in the minute before's: each check is recomputed here."""
    change: dict[str, Decimal] = {}
    margin: dict[str, tuple[Decimal, Decimal]] = {}
    funding = tape.costs.funding and is_funding_time(c)
    for trade in live:
        if trade.fill_ms is None or trade.fill_ms > c:
            continue
        bars = tape.bars[trade.symbol]
        states = []
        for t in (c - MINUTE_MS, c):
            # A trade's state at t is a function of the trade and t alone: the minute before's
            # "now" is this minute's "before" (``memo``, kept by the caller over the curve).
            key = (id(trade), t)
            state = memo.get(key) if memo is not None else None
            if state is None:
                size = trade.size_at(t) if trade.exit_ms is None or t < trade.exit_ms else Decimal(0)
                i = bars.index(t - MINUTE_MS)
                mark = trade.direction * (bars.close[i] if i >= 0 else bars.last_before)
                state = (trade.wallet_at(t) + (trade.upl_at(t, mark) if size else Decimal(0)), trade.entry * size * rate)
                if memo is not None:
                    memo.pop((id(trade), t - 2 * MINUTE_MS), None)  # never asked for again
                    memo[key] = state
            states.append(state)
        (value_before, mm_before), (value_now, mm_now) = states
        if funding and mm_now:
            # ``_Course.fund``: booked at ``c`` with the bars, paid by the venue after them.
            close = bars.price(bars.close[bars.index(c - MINUTE_MS)])
            value_now += money(trade.size_at(c) * close * tape.funding.rate(trade.symbol, c)) * trade.direction
        change[trade.symbol] = change.get(trade.symbol, Decimal(0)) + value_now - value_before
        a, b = margin.get(trade.symbol, (Decimal(0), Decimal(0)))
        margin[trade.symbol] = (a + mm_before, b + mm_now)
    equity = before
    mm = {symbol: a for symbol, (a, _) in margin.items()}
    for symbol in store_order(margin):
        equity += change[symbol]
        mm[symbol] = margin[symbol][1]
        total = sum(mm.values(), Decimal(0))
        if total and equity < total:
            return (f"the account's equity {equity:.2f} USDT falls under its maintenance margin {total:.2f} after "
                    f"{symbol}'s bar in the minute before {c} ms: the venue liquidates, which the trial does not model")
    return ""


def candle_columns(store: KlineStore, symbol: str, tick: Decimal, first_ms: int, start_ms: int, end_ms: int,
                   timeframes: Iterable[int]) -> tuple[np.ndarray, ...]:
    """The candles the venue closes in ``(start_ms, end_ms]`` from the minutes it holds since
    ``first_ms``, as it builds them (``exchange.sim.aggregate``), each timeframe's ascending, shortest
    first, as columns: the tick closing each, its start, its timeframe (int64), then open, high, low,
    close, volume and turnover (float64) as the feed decodes the candle's confirmed Kline (no
    turnover: 0 on the venue's push). From the recording's columns where they hold them
    (``batch_tape.closed_candles``), else from the bars themselves."""
    timeframes = sorted(timeframes)
    columns = closed_candles(store, symbol, tick, first_ms, start_ms, end_ms, timeframes)
    if columns is not None:
        parts = [(starts + interval * MINUTE_MS, starts, np.full(len(starts), interval, dtype=np.int64), *ohlcv,
                  np.zeros(len(starts))) for interval, (starts, *ohlcv) in zip(timeframes, columns)]
        return tuple(np.concatenate(column) for column in zip(*parts))
    minutes = [bar for t in range(first_ms, end_ms, MINUTE_MS) if (bar := store.bar_at(symbol, t)) is not None]
    rows = []
    for interval in timeframes:
        step = interval * MINUTE_MS
        for bar in aggregate(minutes, interval) if interval > 1 else minutes:
            if start_ms < bar.start_ms + step <= end_ms:
                rows.append((bar.start_ms + step, bar.start_ms, interval, float(bar.open), float(bar.high), float(bar.low),
                             float(bar.close), float(bar.volume), 0.0 if bar.turnover is None else float(bar.turnover)))
    made = list(zip(*rows)) or [()] * 9
    return (*(np.array(column, dtype=np.int64) for column in made[:3]), *(np.array(column, dtype=np.float64) for column in made[3:]))


def write_journal(path: Path, result: Result, config: SimConfig, timeframes: tuple[int, ...] = (1,)) -> None:
    """What the fast engine knows, in the live schema, in time order: a "started" event naming the
    engine and what is not journaled, the candles of ``timeframes`` closed inside the window (for
    the charts), the TAKE decisions, the closed trades and the equity curve (as wallet events).
    Within a minute: its candles (symbol by symbol, shortest timeframe first), then its
    decisions, trades and equity, as the live journal has them."""
    store, rules = load_store(Path(config.data_dir), result.symbols, cache_dir=config.kline_cache)  # the recording's own columns
    longest = max(timeframes) * MINUTE_MS
    first = result.start_ms - result.start_ms % longest  # whole groups for the first closes inside the window

    names = np.array(result.symbols, dtype=object)

    def candles(lo: int, hi: int) -> list[list]:
        """The candles closing in ``(lo, hi]`` as the bars table's columns (less seq and run_id), in
        time order; within a minute symbol by symbol, each shortest timeframe first (a stable sort
        of the candles in that order by the minute closing them). A candle closing after ``lo``
        starts after ``lo - longest``: its minutes are the window's from there, so these are the
        very candles a pass from ``first`` makes."""
        parts = [candle_columns(store, symbol, rules[symbol].tick_size, max(first, lo - longest), lo, hi, timeframes)
                 for symbol in result.symbols]
        which = np.repeat(np.arange(len(parts)), [len(part[0]) for part in parts])
        closes, starts, intervals, *values = (np.concatenate(column) for column in zip(*parts))
        order = np.argsort(closes, kind="stable")
        begins = starts[order].tolist()
        # bars: tick_ms (the close), ts_ms and start_ms (the start), symbol, interval, the candle, confirmed.
        return [closes[order].tolist(), begins, names[which[order]].tolist(), intervals[order].tolist(), begins,
                *(column[order].tolist() for column in values), [1] * len(order)]

    rows: list[tuple[int, int, object]] = []  # (ms, order within a minute, message)
    decision: Decision
    for decision in result.decisions:
        rows.append((decision.tick_ms, 1, decision))
    trade: TradeClosed
    for trade in result.trades:
        rows.append((trade.exit_ms, 2, trade))
    # The equity curve as the dashboard reads a wallet report (``JournalReader.wallet_equity``):
    # each minute's equity where it changed, marked at the close, from this engine (not the venue's push).
    last = None
    for ms, equity, _ in result.equity:
        if equity != last:
            rows.append((ms, 3, JournalEvent(ts_ms=ms, kind="wallet", source="backtest.fast", level="DEBUG",
                                             data=(("total_equity", str(equity)),))))
            last = equity
    rows.sort(key=lambda r: (r[0], r[1]))
    minutes = [(ms, [message for _, _, message in group]) for ms, group in groupby(rows, key=itemgetter(0))]
    writer = backtest_journal(path)
    try:
        writer.append_now([JournalEvent(
            ts_ms=result.start_ms, kind="started", source="backtest",
            message=f"engine=fast venue=sim-inprocess symbols={len(result.symbols)}",
            data=(("engine", "fast"), ("not_journaled", NOT_JOURNALED)))])
        # The candles a day at a time (a month of 25 symbols is ~1.5 M rows: held at once they
        # were most of a journaled run's memory), each minute's before its messages.
        k = 0
        for lo in range(result.start_ms, result.end_ms, DAY_MS):
            hi = min(lo + DAY_MS, result.end_ms)
            bars = candles(lo, hi)
            closes = bars[0]
            written = 0
            while k < len(minutes) and minutes[k][0] <= hi:
                ms, messages = minutes[k]
                closed = bisect_right(closes, ms)
                writer.append_columns("bars", [column[written:closed] for column in bars])
                writer.append(messages)
                written, k = closed, k + 1
            writer.append_columns("bars", [column[written:] for column in bars])
        for _, messages in minutes[k:]:
            writer.append(messages)
        writer.commit()
    finally:
        writer.close()
