"""One tuning trial over a recorded tape: the pipeline's trades for one set of parameters, fast.

A trial reads a ``Tape`` (``backtest.tape``) instead of replaying the window: the market states
are the pipeline's own, so only the rows on which a path fires with the trial's zone levels are
decided, each by the bot's cascade (``strategy.entry.evaluate_entry``) in the context
``actors.decide.entry_context`` assembles from an account view. What the router and the venue
would do with a TAKE is then followed for that one trade alone, on the symbol's 1m bars in integer
ticks, by the rules they run:

- the router (``actors.router``): a cycle's TAKEs in symbol order; refused while the symbol has a
  plan or position, or ``max_positions`` symbols are open or opening; the entry's age counted from
  its signal tick and cancelled after ``entry_ttl_bars`` cycles; at each cycle with a position,
  the take-profit placed once (re-priced to the nearest maker price when the mark is through it)
  and the break-even lock when the mark is ``be_trigger_r`` in profit (``strategy.exits``);
- the account view a decision sees is the one of the cycle before its tick (positions, plans,
  cooldowns, the UTC day's realised PnL, equity with the open positions marked, the open positions'
  worst case at the stop the exchange holds: the entry's, or the break-even lock from the cycle
  after the one that sent it; the venue's fee rates, read at boot);
- the venue (``exchange.sim``): PostOnly refused at the last price, limits fill at their price once
  the bar's path trades ``fill_through_ticks`` through them, the stop triggers on the path and
  fills where it triggered, events along a segment nearest first and the stop first on a tie
  (``exchange.sim.intrabar``), fees per fill rounded to 8 decimals (``exchange.sim.engine``);
- the trade's result from its two fills by ``strategy.trades.trade_closed``.

A trade's course depends only on decisions before it, so each is followed to its end when it is
taken, and later decisions see its plan, position, cooldown and PnL at the right cycles.
``tests/backtest/test_trial.py`` holds the trial to the pipeline: same TAKE decisions, same trades.
"""

from __future__ import annotations

import math
import time
from bisect import insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np

from actors.cores import history_length
from actors.decide import entry_context
from vocabulary.messages import AccountView, Decision, ExecutionUpdate, FrameState, Instrument, MarketState, TradeClosed
from vocabulary.settings import Settings
from backtest.chunked_rows import ChunkedRows
from backtest.tape import SymbolBars, Tape
from exchange.sim.costs import FUNDING_EVERY_MS, is_funding_time, stop_fill_ticks, touch_fill_qty
from exchange.sim.engine import money
from exchange.sim.intrabar import path_points
from exchange.sim.market import MINUTE_MS
from strategy.context import cooldown_until
from strategy.costs import Costs, instrument_costs, worst_case_loss
from strategy.entry import evaluate_entry
from strategy.exits import break_even_price, maker_exit_price
from strategy.orders import TradePlan, link_id, opposite, trade_plan
from strategy.sizing import dec
from strategy.trades import trade_closed

DAY_MS = 86_400_000
# A chunked tape's selected rows are made at least this many at a time (``ChunkedRows.select``):
# a week of the shipped month's may-be-TAKE rows of 7 symbols (2,094 in all, ~17 KB each): larger
# groups make no faster, and the last group's rows are freed at the run's end (~24 ms for all).
ROWS_PER_MAKE = 512

# Event priority along a path, as the venue's: the stop before a limit met at the same point.
_STOP, _LIMIT = 0, 3


class TrialResult(msgspec.Struct, kw_only=True):
    takes: list[Decision]  # TAKE decisions, in (tick, symbol) order, placed or refused
    trades: list[TradeClosed]  # closed inside the window, in (exit, symbol) order
    decided: int  # states the cascade ran on
    screened: int  # states on which a path fired but no candidate could score score_min (REJECT, not decided)
    refused: int  # TAKEs the router refused (a full book, a plan already open)
    bars: int  # 1m bars the window holds (minutes x symbols)
    wall_s: float
    placed: list[Any] = msgspec.field(default_factory=list)  # every placed entry's course (_Trade): the fast backtest's equity


@dataclass
class _Trade:
    """A placed entry and what became of it; times are cycle boundaries in ms (None: beyond the window)."""

    symbol: str
    placed_ms: int
    end_ms: int | None  # the cycle whose snapshot forgets the plan (None: not inside the window)
    router_end_ms: int | None = None  # the last cycle whose takes still see the plan
    fill_ms: int | None = None
    exit_ms: int | None = None
    tick_size: Decimal = Decimal(0)
    entry_ticks: int = 0  # in the trade's direction (negated for a short)
    # The account's side of the trade, as (cycle boundary ms, change): the position's size and
    # the wallet (fees, realised PnL, funding), and the entry's filled qty (its margin is the rest's).
    sizes: list[tuple[int, Decimal]] = field(default_factory=list)
    wallet: list[tuple[int, Decimal]] = field(default_factory=list)
    entry_fills: list[tuple[int, Decimal]] = field(default_factory=list)
    direction: int = 1
    entry: Decimal = Decimal(0)
    qty: Decimal = Decimal(0)
    stop: Decimal = Decimal(0)  # the stop attached to the entry
    lock_ms: int | None = None  # the cycle that sent the break-even lock (the exchange holds it after)
    lock_stop: Decimal = Decimal(0)
    working_until_ms: int | None = None  # the last cycle at whose takes the unfilled entry still rests
    closed: TradeClosed | None = None
    booked: bool = False  # realised PnL counted into its UTC day
    # The running sums of ``sizes`` and ``wallet`` (made when first read, again if they grew): the
    # account views and the equity curve read them every minute the trade is live.
    _running: dict[str, tuple[int, list[tuple[int, Decimal]]]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def size_at(self, c: int) -> Decimal:
        """The sum of the size changes up to cycle ``c``."""
        return self._sum_at("sizes", self.sizes, c)

    def wallet_at(self, c: int) -> Decimal:
        """The sum of the wallet changes up to cycle ``c``."""
        return self._sum_at("wallet", self.wallet, c)

    def running(self, name: str, changes: list[tuple[int, Decimal]]) -> list[tuple[int, Decimal]]:
        """``changes``' running sums, (ms, the sum up to it): the changes are in time order (the
        course books them minute by minute), so the sum up to a time is the last one at or before
        it, the same additions from Decimal(0) in the same order."""
        running = self._running.get(name)
        if running is None or running[0] != len(changes):
            total, sums = Decimal(0), []
            for ms, change in changes:
                total += change
                sums.append((ms, total))
            running = self._running[name] = (len(changes), sums)
        return running[1]

    def _sum_at(self, name: str, changes: list[tuple[int, Decimal]], c: int) -> Decimal:
        result = Decimal(0)
        for ms, total in self.running(name, changes):
            if ms > c:
                break
            result = total
        return result

    def upl_at(self, c: int, mark: int) -> Decimal:
        """Unrealised PnL at cycle ``c`` with the mark at ``mark`` ticks (the trade's direction)."""
        return self.tick_size * self.size_at(c) * (mark - self.entry_ticks)

    def entry_margin_at(self, t: int, leverage: float) -> Decimal:
        """The initial margin of what still rests of the entry when an order is created at ``t``."""
        if self.working_until_ms is None or not self.placed_ms <= t <= self.working_until_ms:
            return Decimal(0)
        left = self.qty - sum((q for ms, q in self.entry_fills if ms <= t), Decimal(0))
        return self.entry * left / leverage

    @property
    def cooldown_visible_ms(self) -> int:
        """The first account view that carries the cooldown: the exit's own cycle when the
        position was seen open, else the next (the router learns of it from the fills)."""
        assert self.exit_ms is not None
        return self.exit_ms if self.fill_ms is not None and self.fill_ms < self.exit_ms else self.exit_ms + MINUTE_MS


class _Book:
    """The router's and the account's view of every placed trade, cycle by cycle."""

    def __init__(self, tape: Tape, settings: Settings) -> None:
        self.tape = tape
        self.risk = settings.risk
        self.trades: list[_Trade] = []
        self.live: list[_Trade] = []  # not yet over for the account view
        self.wallet_closed = Decimal(0)
        self.realised: dict[int, Decimal] = {}
        # The router reads the venue's rates at boot: the simulator's, the tape's.
        self.fee_rates = tuple((symbol, tape.maker_fee, tape.taker_fee) for symbol in sorted(tape.symbols))
        self.costs: dict[str, Costs] = {}

    def _book_exit(self, trade: _Trade, c: int) -> int | None:
        """Book ``trade``'s realised PnL once its exit cycle ``c`` has come; its cooldown's end
        (None while it has not closed inside the window)."""
        exit_ms = trade.exit_ms
        if exit_ms is None or trade.closed is None:
            return None
        if exit_ms <= c and not trade.booked:
            trade.booked = True
            self.wallet_closed += trade.closed.pnl_usdt
            day = exit_ms // DAY_MS
            self.realised[day] = self.realised.get(day, Decimal(0)) + trade.closed.pnl_usdt
        return cooldown_until(exit_ms, self.risk)

    def _open_value(self, trade: _Trade, c: int) -> Decimal | None:
        """What an open position adds to the equity at cycle ``c`` (its wallet side and its PnL
        marked at the minute's close); None when it is not open then."""
        fill, exit_ms = trade.fill_ms, trade.exit_ms
        if fill is None or c < fill or (exit_ms is not None and c >= exit_ms):
            return None
        bars = self.tape.bars[trade.symbol]
        mark = trade.direction * bars.close[bars.index(c - MINUTE_MS)]
        return trade.upl_at(c, mark) + trade.wallet_at(c)

    @staticmethod
    def _over(trade: _Trade, c: int, until: int | None) -> bool:
        """Whether no later view can see ``trade`` (its plan forgotten, its PnL booked, its cooldown past)."""
        exit_ms = trade.exit_ms
        return trade.end_ms is not None and trade.end_ms < c and (exit_ms is None or (trade.booked and until is not None and until <= c))

    def view(self, c: int) -> AccountView:
        """The account view the router sends after the snapshot of cycle ``c``."""
        busy, open_symbols, cooldowns = set(), set(), {}
        equity = self.tape.initial_equity
        keep = []
        exiting = Decimal(0)  # PnL of the trades that exit at ``c``: booked after this view
        open_risk = Decimal(0)
        for trade in self.live:
            exit_ms = trade.exit_ms
            until = self._book_exit(trade, c)
            if until is not None:
                assert exit_ms is not None and trade.closed is not None
                if exit_ms == c:
                    exiting += trade.closed.pnl_usdt
                if trade.cooldown_visible_ms <= c < until:
                    cooldowns[trade.symbol] = max(cooldowns.get(trade.symbol, 0), until)
            if trade.placed_ms <= c and (trade.end_ms is None or c < trade.end_ms):
                busy.add(trade.symbol)
            value = self._open_value(trade, c)
            if value is not None:
                open_symbols.add(trade.symbol)
                equity += value
                stop = trade.lock_stop if trade.lock_ms is not None and trade.lock_ms < c else trade.stop
                costs = self.costs.get(trade.symbol)
                if costs is None:  # a function of the symbol alone here: the rates are read at boot
                    costs = self.costs[trade.symbol] = instrument_costs(self.tape.instruments[trade.symbol], self.fee_rates, self.risk)
                open_risk += worst_case_loss(trade.entry, stop, trade.direction, trade.size_at(c), costs)
            if not self._over(trade, c, until):
                keep.append(trade)
        self.live = keep
        # The router adds a trade's PnL to the day's sum after the view of its exit cycle, and
        # resets the sum at the first cycle of a UTC day.
        realised = self.realised.get(c // DAY_MS, Decimal(0)) - exiting
        return AccountView(
            ts_ms=c, equity=equity + self.wallet_closed,
            realised_pnl_today=realised,
            open_symbols=tuple(sorted(open_symbols)),
            working_entry_symbols=tuple(sorted(busy - open_symbols)),
            cooldown_until_ms=tuple(sorted(cooldowns.items())),
            open_risk=open_risk,
            fee_rates=self.fee_rates,
        )

    def refusal(self, symbol: str, b: int, accepted: set[str]) -> bool:
        """The router's check at the takes of cycle ``b``: plans are forgotten only at a snapshot,
        which comes after the takes, so a plan ending at ``b`` still counts."""
        opening = set(accepted)
        for trade in self.live:
            if trade.placed_ms < b and (trade.router_end_ms is None or b <= trade.router_end_ms):
                opening.add(trade.symbol)
        return symbol in opening or len(opening) >= self.risk.max_positions

    def available(self, t: int) -> Decimal:
        """The venue's available balance when an entry is created in cycle ``t`` (after ``view(t - 1m)``,
        which booked every exit before ``t``): wallet plus unrealised PnL, less the margin of open
        positions and of resting entries."""
        leverage = self.risk.leverage
        total = self.tape.initial_equity + self.wallet_closed
        for trade in self.live:
            if trade.fill_ms is None or trade.fill_ms > t:
                total -= trade.entry_margin_at(t, leverage)
            elif trade.exit_ms is not None and trade.exit_ms <= t:
                if not trade.booked:
                    assert trade.closed is not None
                    total += trade.closed.pnl_usdt
                total -= trade.entry_margin_at(t, leverage)  # part of a partly filled entry may still rest
            else:
                bars = self.tape.bars[trade.symbol]
                mark = trade.direction * bars.close[bars.index(t - MINUTE_MS)]
                position_margin = trade.entry * trade.size_at(t) / leverage
                total += trade.upl_at(t, mark) + trade.wallet_at(t) - position_margin - trade.entry_margin_at(t, leverage)
        return total


class MarkedMinutes:
    """The equity and open positions of ``_Book.view`` at every minute's cycle of the window, for a
    book that takes in ``placed`` (in placing order) at the cycles they were placed in, as the
    trial's does (iterate: ``(boundary, equity, positions)``); and the trades it still walks after
    a minute's view (``live``).

    A view walks every trade not yet over, each minute: its exit booked, its value added if it is
    open, dropped once no later view can see it (``_Book._over``). Those minutes are worked out
    once per trade here (when it joins, is open, is booked, is dropped), so a minute touches only
    the trades open in it, and each of those steps its size and wallet forward instead of summing
    them again: the same Decimal operations in the same order as the view (the open trades'
    values in placing order, then the realised PnL booked so far), so the same equity."""

    def __init__(self, tape: Tape, settings: Settings, placed: Sequence[_Trade]) -> None:
        self.tape, self.placed = tape, placed
        self.first = first = tape.start_ms + MINUTE_MS
        self.never = never = tape.end_ms + MINUTE_MS  # beyond the last boundary

        def boundary(ms: int) -> int:
            """The first cycle boundary at or after ``ms``."""
            return first + max(0, -((first - ms) // MINUTE_MS)) * MINUTE_MS

        self.opens: dict[int, list[int]] = {}
        self.closes: dict[int, list[int]] = {}
        self.bookings: dict[int, list[int]] = {}
        self.joined: list[int] = []
        self.dropped: list[int] = []  # the view after which the book drops it (it still counts in that one)
        for i, trade in enumerate(placed):
            joins = boundary(trade.placed_ms)
            exit_ms, closed = trade.exit_ms, trade.closed
            if trade.end_ms is None or (exit_ms is not None and closed is None):
                over = never
            elif exit_ms is None:
                over = trade.end_ms + 1
            else:
                over = max(trade.end_ms + 1, exit_ms, cooldown_until(exit_ms, settings.risk))
            drop = boundary(max(joins, over))
            self.joined.append(joins)
            self.dropped.append(drop)
            if exit_ms is not None and closed is not None:
                self.bookings.setdefault(boundary(max(joins, exit_ms)), []).append(i)
            if trade.fill_ms is not None:
                start = boundary(max(joins, trade.fill_ms))
                end = min(never if exit_ms is None else boundary(exit_ms), drop + MINUTE_MS)
                if start < end:
                    self.opens.setdefault(start, []).append(i)
                    self.closes.setdefault(end, []).append(i)

    def live(self, c: int) -> list[_Trade]:
        """The trades the book still walks after the view of cycle ``c``, in placing order."""
        return [t for t, joins, drop in zip(self.placed, self.joined, self.dropped) if joins <= c < drop]

    def __iter__(self) -> Iterator[tuple[int, Decimal, int]]:
        placed, bars_of = self.placed, self.tape.bars
        initial = self.tape.initial_equity
        wallet_closed = Decimal(0)
        flat = initial + wallet_closed
        active: list[int] = []  # the trades open in this minute, by their place in ``placed``
        state: dict[int, _Marking] = {}
        for c in range(self.first, self.never, MINUTE_MS):
            for i in self.closes.get(c, ()):
                active.remove(i)
                del state[i]
            for i in self.opens.get(c, ()):
                insort(active, i)
                state[i] = _Marking(placed[i], bars_of[placed[i].symbol])
            booked = self.bookings.get(c)
            if booked:
                for i in booked:
                    wallet_closed += placed[i].closed.pnl_usdt  # type: ignore[union-attr]
                flat = initial + wallet_closed
            if not active:
                yield c, flat, 0
                continue
            equity = initial
            symbols = set()
            for i in active:
                equity += state[i].value(c)
                symbols.add(placed[i].symbol)
            yield c, equity + wallet_closed, len(symbols)


class _Marking:
    """An open trade's ``upl_at(c, mark) + wallet_at(c)`` minute after minute, its size and wallet
    stepped forward through their running sums (``_Trade._sum_at``'s) as ``c`` grows."""

    __slots__ = ("trade", "bars", "sizes", "wallets", "s", "w", "tick_size", "scaled", "wallet")

    def __init__(self, trade: _Trade, bars: SymbolBars) -> None:
        self.trade, self.bars = trade, bars
        self.sizes, self.wallets = trade.running("sizes", trade.sizes), trade.running("wallet", trade.wallet)
        self.s = self.w = 0
        self.tick_size = trade.tick_size
        self.scaled = trade.tick_size * Decimal(0)  # tick size x size, as upl_at multiplies them
        self.wallet = Decimal(0)

    def value(self, c: int) -> Decimal:
        sizes, wallets = self.sizes, self.wallets
        while self.s < len(sizes) and sizes[self.s][0] <= c:
            self.scaled = self.tick_size * sizes[self.s][1]
            self.s += 1
        while self.w < len(wallets) and wallets[self.w][0] <= c:
            self.wallet = wallets[self.w][1]
            self.w += 1
        trade, bars = self.trade, self.bars
        mark = trade.direction * bars.close[bars.index(c - MINUTE_MS)]  # as _Book._open_value marks it
        return self.scaled * (mark - trade.entry_ticks) + self.wallet


def run_trial(tape: Tape, settings: Settings, *, screen: bool = True, skip_quiet: bool = True) -> TrialResult:
    """The TAKEs and closed trades the pipeline would produce on ``tape``'s window with ``settings``.
    ``screen=False`` decides every row on which a path fires, the screened-out ones included;
    ``skip_quiet=False`` follows each trade through every minute of its position (``_quiet_until``):
    the same result, slower (what the screen and the skip are held to)."""
    started = time.perf_counter()
    problem = tape.covers(settings.strategy)
    if problem:
        raise ValueError(f"this tape cannot answer for these settings: {problem}")
    strategy, risk = settings.strategy, settings.risk
    hist = history_length(settings)
    book = _Book(tape, settings)
    takes: list[Decision] = []
    decided = refused = 0
    # Only the rows that may be TAKE: on the others no fired candidate can score score_min,
    # so the cascade would REJECT them whatever the account (most of the rows where a path fires).
    firing = tape.firing(strategy)
    fired = firing.any(axis=1)
    chosen = tape.may_take(strategy, firing) if screen else np.flatnonzero(fired)
    selected = chosen.tolist()  # Python ints: indexed three times a row
    screened = int(np.count_nonzero(fired)) - len(selected)
    rows = tape.rows
    if isinstance(rows, ChunkedRows):
        rows.select(selected, per_make=ROWS_PER_MAKE)  # its chunks make these rows alone, a few chunks at once
    i, n = 0, len(selected)
    while i < n:
        tick = rows[selected[i]].state.tick_ms
        view = book.view(tick - MINUTE_MS)
        cycle: list[Decision] = []
        while i < n and rows[selected[i]].state.tick_ms == tick:
            index = selected[i]
            row = rows[index]
            i += 1
            state, bias = row.state, row.bias
            if hist != tape.hist_len:
                key = (index, hist)
                trimmed = tape.cache.get(key)
                if trimmed is None:
                    frames = tape.cache.setdefault(("frames", hist), {})
                    trimmed = tape.cache[key] = (_trimmed(state, hist, frames), tuple(_trimmed(b, hist, frames) for b in bias))
                state, bias = trimmed
            instrument = tape.instruments[state.symbol]
            decision = evaluate_entry(state, entry_context(strategy, risk, instrument, state, bias, view))
            decided += 1
            if decision.kind == "TAKE":
                cycle.append(decision)
        accepted: set[str] = set()
        for decision in sorted(cycle, key=lambda d: d.symbol):
            takes.append(decision)
            if book.refusal(decision.symbol, tick, accepted):
                refused += 1
                continue
            accepted.add(decision.symbol)
            plan = trade_plan(decision)
            value = plan.entry * plan.qty
            if value / risk.leverage + value * tape.taker_fee > book.available(tick):
                # 110007: the venue refuses the create; the router drops the plan at its answer.
                trade = _Trade(plan.symbol, tick, tick + MINUTE_MS, router_end_ms=tick - MINUTE_MS)
            else:
                trade = _follow(tape, settings, tape.instruments[decision.symbol], plan, book.fee_rates, skip_quiet)
            book.trades.append(trade)
            book.live.append(trade)
    trades = sorted((t.closed for t in book.trades if t.closed is not None), key=lambda t: (t.exit_ms, t.symbol))
    return TrialResult(takes=takes, trades=trades, decided=decided, screened=screened, refused=refused, bars=tape.bars_replayed,
                       wall_s=time.perf_counter() - started, placed=book.trades)


def _trimmed(state: MarketState, hist: int, frames: dict[int, tuple[FrameState, FrameState]]) -> MarketState:
    """The state a symbol core keeping ``hist`` past values would have built: the newest ``hist``.
    A frame is trimmed once (``frames``: by the recorded frame's identity, which it holds), so the
    states sharing a frame share its trimmed copy, as a core's consecutive states share theirs."""
    def frame(f: FrameState) -> FrameState:
        kept = frames.get(id(f))
        if kept is None or kept[0] is not f:
            kept = frames[id(f)] = (f, msgspec.structs.replace(
                f, wt1_hist=f.wt1_hist[-hist:], wt2_hist=f.wt2_hist[-hist:], ha_streak_hist=f.ha_streak_hist[-hist:],
                high_hist=f.high_hist[-hist:], low_hist=f.low_hist[-hist:]))
        return kept[1]
    return msgspec.structs.replace(state, frames=tuple(frame(f) for f in state.frames))


# --- one trade on the venue ---------------------------------------------------------------------


class _Order:
    __slots__ = ("kind", "point", "falling", "priority", "seq", "price", "left")

    def __init__(self, kind: str, point: int, falling: bool, priority: int, seq: int, price: int,
                 left: Decimal = Decimal(0)) -> None:
        self.kind, self.point, self.falling, self.priority, self.seq, self.price = kind, point, falling, priority, seq, price
        self.left = left  # a limit's unfilled qty


class TrialCannotFollow(ValueError):
    """A course the trial does not model (the venue's answer would need the whole router)."""


class _Course:
    """One trade on the venue, in ticks of the trade's direction: the resting entry, the stop
    and the take-profit, the position, and the fills and funding payments as the venue books
    them (``exchange.sim.engine``, ``exchange.sim.costs``)."""

    def __init__(self, tape: Tape, plan: TradePlan, bars: SymbolBars, trade: _Trade, d: int, entry: int, stop: int) -> None:
        self.tape, self.plan, self.bars, self.trade, self.d = tape, plan, bars, trade, d
        self.costs = tape.costs
        self.step = tape.instruments[plan.symbol].qty_step
        self.entry = _Order("entry", entry - tape.fill_through_ticks, True, _LIMIT, 0, entry, plan.qty)
        self.stop_at = stop
        self.stop: _Order | None = None
        self.target: _Order | None = None
        self.position = Decimal(0)
        self.fills: list[ExecutionUpdate] = []
        self.seq = 2  # the entry is 0, its stop 1; take-profits count on from here

    def orders(self) -> list[_Order]:
        return [o for o in (self.entry, self.stop, self.target) if o is not None]

    def _book(self, ms: int, side: str, price_ticks: int, qty: Decimal, maker: bool, link: str, reference: int | None) -> None:
        bars, plan, trade = self.bars, self.plan, self.trade
        price = bars.price(self.d * price_ticks)
        fee = money(price * qty * (self.tape.maker_fee if maker else self.tape.taker_fee))
        opening = side == plan.side
        self.position += qty if opening else -qty
        trade.sizes.append((ms, qty if opening else -qty))
        realised = Decimal(0) if opening else money(self.d * (price - plan.entry) * qty)
        trade.wallet.append((ms, realised - fee))
        if opening:
            trade.entry_fills.append((ms, qty))
            if trade.fill_ms is None:
                trade.fill_ms = ms
        self.fills.append(ExecutionUpdate(
            symbol=plan.symbol, exec_id=f"x{len(self.fills)}", order_id=link, order_link_id=link, side=side,  # type: ignore[arg-type]
            price=price, qty=qty, fee=fee, is_maker=maker, exec_ms=ms,
            order_price=bars.price(self.d * reference) if reference is not None else None))

    def fill_entry(self, ms: int, qty: Decimal) -> None:
        entry = self.entry
        assert entry is not None
        self._book(ms, self.plan.side, entry.price, qty, True, self.plan.order_link_id, None)
        entry.left -= qty
        if entry.left <= 0:
            self.entry = None
        if self.stop is None:  # the venue attaches the entry's stop-loss to a position without one
            self.stop = _Order("stop", self.stop_at, True, _STOP, 1, self.stop_at)

    def fill_target(self, ms: int, qty: Decimal) -> None:
        target = self.target
        assert target is not None
        qty = min(qty, self.position)
        self._book(ms, opposite(self.plan.side), target.price, qty, True, target.kind, None)
        target.left -= qty
        if target.left <= 0 or self.position <= 0:
            self.target = None
        if self.position <= 0:
            self.stop = None

    def fill_stop(self, ms: int, at: int, gapped_at: int | None) -> None:
        stop = self.stop
        assert stop is not None
        price = stop_fill_ticks(self.costs, stop.price, at, gapped_at, falling=True)
        self._book(ms, opposite(self.plan.side), price, self.position, False, "", stop.price)
        self.stop = self.target = None

    def fund(self, ms: int, mark: int) -> None:
        """The 8-hourly funding on the open position (``Engine.settle_funding``)."""
        bars, plan = self.bars, self.plan
        price = bars.price(self.d * mark)
        rate = self.tape.funding.rate(plan.symbol, ms)
        fee = money(self.position * price * rate) * self.d
        self.trade.wallet.append((ms, -fee))
        self.fills.append(ExecutionUpdate(
            symbol=plan.symbol, exec_id=f"f{len(self.fills)}", order_id="", order_link_id="", side=plan.side,
            price=price, qty=self.position, fee=fee, is_maker=False, exec_ms=ms, exec_type="Funding"))

    def walk(self, ms: int, points: list[int], high: int, low: int) -> None:
        """One bar's path (``exchange.sim.intrabar.walk_segment``): each segment monotone, nearest
        event first, the stop first on a tie; an entry's fill attaches the stop, which may trigger
        further along the same path. Then the limits the bar only touched fill in part."""
        lo, hi = min(points), max(points)
        for o in (self.entry, self.stop, self.target):  # self.orders(), without making the list: once a minute
            if o is not None and (o.point >= lo if o.falling else o.point <= hi):
                reached = True
                break
        else:
            reached = False
        if reached:
            for i, (a, b) in enumerate(zip(points, points[1:])):
                directions = (b < a,) if a != b else (True, False)
                while True:
                    best = None
                    for order in self.orders():
                        if order.falling not in directions or not (order.point >= b if order.falling else order.point <= b):
                            continue
                        distance = max(0, a - order.point) if order.falling else max(0, order.point - a)
                        key = (distance, order.priority, order.seq)
                        if best is None or key < best[0]:
                            best = (key, order)
                    if best is None:
                        break
                    (distance, _, _), order = best
                    here = a if distance == 0 else order.point
                    if distance:
                        a = order.point
                    if order.kind == "entry":
                        self.fill_entry(ms, order.left)
                    elif order.kind == "stop":
                        gapped = here != order.point or (i == 0 and b < order.point)
                        self.fill_stop(ms, here, (b if i == 0 else here) if gapped else None)
                    else:
                        self.fill_target(ms, order.left)
        if not (self.costs.partial_fills and self.costs.touch_fill_fraction > 0):
            return
        # ``Engine._fill_touched``: the resting limits by creation (entry, then take-profit).
        for order in [o for o in (self.entry, self.target) if o is not None]:
            touched = low <= order.price if order.falling else high >= order.price
            if not touched:
                continue
            qty = touch_fill_qty(self.costs, order.left, self.step)
            if qty <= 0:
                continue
            if order is self.entry:
                self.fill_entry(ms, qty)
            elif order is self.target:
                self.fill_target(ms, qty)


def _follow(tape: Tape, settings: Settings, instrument: Instrument, plan: TradePlan,
            fee_rates: tuple[tuple[str, Decimal, Decimal], ...], skip_quiet: bool = True) -> _Trade:
    """Place ``plan``'s entry at its tick and follow it to its end, in the trade's direction:
    prices are negated for a short, so a short walks as a long does."""
    s = settings.strategy
    bars: SymbolBars = tape.bars[plan.symbol]
    d = 1 if plan.side == "Buy" else -1
    t = plan.opened_ms
    trade = _Trade(plan.symbol, t, None, direction=d)
    entry = d * bars.ticks(plan.entry)
    first = bars.index(t)  # the first minute the entry rests through
    last = d * (bars.close[first - 1] if first > 0 else bars.last_before)
    if entry >= last:  # PostOnly at or through the last price: cancelled, the plan dies next cycle
        trade.end_ms = trade.router_end_ms = t + MINUTE_MS
        return trade
    trade.entry, trade.qty, trade.tick_size, trade.entry_ticks = plan.entry, plan.qty, bars.tick_size, entry
    trade.stop = plan.stop
    costs = instrument_costs(instrument, fee_rates, settings.risk)
    ttl_end = t + s.entry_ttl_bars * MINUTE_MS
    trade.working_until_ms = ttl_end  # the TTL cycle cancels it after its takes
    n = len(bars.close)
    model = tape.intrabar_path
    off = tape.fill_through_ticks
    course = _Course(tape, plan, bars, trade, d, entry, d * bars.ticks(plan.stop))
    funding = tape.costs.funding
    # Ticks of profit that lock: a whole count of ticks reaches the Decimal threshold once it
    # reaches its ceiling (an exact comparison, in ints).
    be_needed = math.ceil(dec(s.be_trigger_r) * plan.risk_per_unit / bars.tick_size)
    lock: tuple[int, Decimal] | None = None  # the break-even lock (ticks, price): the same each time it is due
    touches = tape.costs.partial_fills and tape.costs.touch_fill_fraction > 0
    j = first
    while j < n:
        resting = course.target
        if skip_quiet and course.entry is None and resting is not None and course.position > 0 and resting.left == course.position:
            # Only the stop and the whole take-profit rest: skip to the first minute that may move
            # anything (most of a position's minutes move nothing but the last price).
            assert course.stop is not None
            lock_pending = lock is None or course.stop.point < lock[0]
            j, last = _quiet_until(bars, j, _next_funding(bars, j, n) if funding else n, d, last, course.stop.point,
                                   min(resting.point, resting.price) if touches else resting.point,
                                   entry + be_needed if lock_pending else None)
            if j >= n:
                break
        boundary = bars.first_ms + (j + 1) * MINUTE_MS
        if course.entry is not None and boundary > ttl_end:
            course.entry = None  # cancelled at the TTL cycle
        if trade.fill_ms is None and course.entry is None:
            trade.end_ms = trade.router_end_ms = ttl_end + MINUTE_MS  # forgotten the cycle after
            return trade
        if bars.present[j]:
            points = path_points(bars.open[j], bars.high[j], bars.low[j], bars.close[j], model)
            walk = [last, *points] if d == 1 else [last, *(-p for p in points)]
            high, low = (bars.high[j], bars.low[j]) if d == 1 else (-bars.low[j], -bars.high[j])
            course.walk(boundary, walk, high, low)
            last = walk[-1]
        if trade.fill_ms is not None and course.position <= 0:
            break
        if course.position > 0 and funding and is_funding_time(boundary):
            course.fund(boundary, d * bars.close[j])
        if course.position > 0:
            # The cycle after this minute: the take-profit (placed, or its qty amended to the
            # position), then the break-even lock when due (``strategy.exits.plan_exits``).
            mark = last
            if course.target is None:
                target = d * bars.ticks(plan.target)
                if mark >= target:
                    target = d * bars.ticks(maker_exit_price(bars.price(d * mark), d, instrument))
                link = link_id("take_profit", plan.symbol, plan.side, boundary)
                course.target = _Order(link, target + off, False, _LIMIT, course.seq, target, course.position)
                course.seq += 1
            elif course.target.left != course.position:
                course.target.left = course.position
            stop = course.stop
            assert stop is not None
            if mark - entry >= be_needed:
                if lock is None:
                    lock_price = break_even_price(plan.entry, d, instrument, costs)
                    lock = (d * bars.ticks(lock_price), lock_price)
                if stop.point < lock[0] < mark:
                    stop.point = stop.price = lock[0]
                    trade.lock_ms, trade.lock_stop = boundary, lock[1]
        j += 1
    if trade.fill_ms is None:
        return trade  # still resting when the window ends
    if course.position > 0:
        return trade  # open when the window ends
    exit_at = course.fills[-1].exec_ms
    trade.exit_ms = trade.end_ms = trade.router_end_ms = exit_at
    trade.closed = trade_closed(plan.side, course.fills, plan)
    if course.entry is not None:
        # The position closed while part of its entry still rests: the order keeps the symbol
        # busy until the TTL cycle cancels it, as an unfilled entry does.
        trade.end_ms = trade.router_end_ms = ttl_end + MINUTE_MS
        _rest_of_entry(tape, course, last, j + 1, ttl_end)
    return trade


def _next_funding(bars: SymbolBars, j: int, n: int) -> int:
    """The first minute from ``j`` (``n`` at most) whose boundary is a funding settlement."""
    boundary = bars.first_ms + (j + 1) * MINUTE_MS
    return min(n, j + (-boundary % FUNDING_EVERY_MS) // MINUTE_MS)


# Beyond any tick count: a break-even lock that is no longer due.
_NEVER = 1 << 62


def _quiet_until(bars: SymbolBars, j: int, end: int, d: int, last: int, stop: int, hit: int, mark_from: int | None) -> tuple[int, int]:
    """The first minute from ``j`` (``end`` at most) at which an open position whose entry has filled
    and whose take-profit rests for all of it may meet anything, and the last price before it (in
    the trade's direction, as ``_follow`` holds prices). A minute may move something when its path
    (``[last, *path_points]``: the last price, then the bar's four prices) reaches the stop (at or
    below ``stop``, the walk's own test) or ``hit`` (the take-profit's point, or its price where a
    touch fills part of it), or when its close reaches ``mark_from`` (the mark at which the
    break-even lock is due; None: locked already). Every other minute changes only the last price,
    so ``_follow`` steps over them: the same answer as walking them (funding minutes are the
    caller's ``end``). One pass in C-level iteration over the bars' arrays (zero-copy views), about
    a twentieth of walking a minute."""
    mark_from = _NEVER if mark_from is None else mark_from
    if not stop < last < hit or last >= mark_from:
        return j, last
    views = (memoryview(bars.present)[j:end], memoryview(bars.open)[j:end], memoryview(bars.high)[j:end],
             memoryview(bars.low)[j:end], memoryview(bars.close)[j:end])
    if d > 0:
        top = min(hit, mark_from)
        for k, (here, o, h, low, c) in enumerate(zip(*views), j):
            if here:
                if not (stop < low < hit and stop < h < hit and stop < o < hit and stop < c < top):
                    return k, last
                last = c
        return end, last
    # A short's prices are the bars' negated: x in the trade's direction is -x.
    floor, ceiling = -hit, -stop
    bottom = max(floor, -mark_from)
    for k, (here, o, h, low, c) in enumerate(zip(*views), j):
        if here:
            if not (floor < low < ceiling and floor < h < ceiling and floor < o < ceiling and bottom < c < ceiling):
                return k, last
            last = -c
    return end, last


def _rest_of_entry(tape: Tape, course: _Course, last: int, j: int, ttl_end: int) -> None:
    """The rest of an entry whose position is gone, until its TTL: if it would fill again, the
    router would trade a position without a plan, which the trial does not model."""
    entry, bars, d = course.entry, course.bars, course.d
    assert entry is not None
    while j < len(bars.close) and bars.first_ms + (j + 1) * MINUTE_MS <= ttl_end:
        if bars.present[j]:
            low = bars.low[j] if d == 1 else -bars.high[j]
            through = min(last, low) <= entry.point
            touched = low <= entry.price and touch_fill_qty(course.costs, entry.left, course.step) > 0
            if through or (touched and course.costs.partial_fills):
                raise TrialCannotFollow(f"{course.plan.symbol} {course.plan.order_link_id}: the rest of a partly "
                                        "filled entry fills after its position closed")
            last = d * bars.close[j]
        j += 1
