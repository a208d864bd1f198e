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

import time
from dataclasses import dataclass
from decimal import Decimal

import msgspec

from actors.cores import history_length
from actors.decide import entry_context
from actors.messages import AccountView, Decision, ExecutionUpdate, FrameState, Instrument, MarketState, TradeClosed
from actors.settings import Settings
from backtest.tape import SymbolBars, Tape
from exchange.sim.engine import money
from exchange.sim.intrabar import path_points
from exchange.sim.market import MINUTE_MS
from strategy.context import cooldown_until
from strategy.costs import costs_for, worst_case_loss
from strategy.entry import evaluate_entry
from strategy.exits import break_even_price, maker_exit_price
from strategy.orders import TradePlan, link_id, opposite, trade_plan
from strategy.sizing import dec
from strategy.trades import trade_closed

DAY_MS = 86_400_000
# Event priority along a path, as the venue's: the stop before a limit met at the same point.
_STOP, _LIMIT = 0, 3


class TrialResult(msgspec.Struct, kw_only=True):
    takes: list[Decision]  # TAKE decisions, in (tick, symbol) order, placed or refused
    trades: list[TradeClosed]  # closed inside the window, in (exit, symbol) order
    decided: int  # states the cascade ran on
    refused: int  # TAKEs the router refused (a full book, a plan already open)
    bars: int  # 1m bars the window holds (minutes x symbols)
    wall_s: float


@dataclass
class _Trade:
    """A placed entry and what became of it; times are cycle boundaries in ms (None: beyond the window)."""

    symbol: str
    placed_ms: int
    end_ms: int | None  # the cycle whose snapshot forgets the plan (None: not inside the window)
    router_end_ms: int | None = None  # the last cycle whose takes still see the plan
    fill_ms: int | None = None
    exit_ms: int | None = None
    entry_fee: Decimal = Decimal(0)
    upl_per_tick: Decimal = Decimal(0)  # unrealised PnL per tick of mark move, in the trade's direction
    entry_ticks: int = 0  # in the trade's direction (negated for a short)
    direction: int = 1
    entry: Decimal = Decimal(0)
    qty: Decimal = Decimal(0)
    stop: Decimal = Decimal(0)  # the stop attached to the entry
    lock_ms: int | None = None  # the cycle that sent the break-even lock (the exchange holds it after)
    lock_stop: Decimal = Decimal(0)
    working_until_ms: int | None = None  # the last cycle at whose takes the unfilled entry still rests
    closed: TradeClosed | None = None
    booked: bool = False  # realised PnL counted into its UTC day

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

    def view(self, c: int) -> AccountView:
        """The account view the router sends after the snapshot of cycle ``c``."""
        busy, open_symbols, cooldowns = set(), set(), {}
        equity = self.tape.initial_equity
        keep = []
        exiting = Decimal(0)  # PnL of the trades that exit at ``c``: booked after this view
        open_risk = Decimal(0)
        for trade in self.live:
            exit_ms = trade.exit_ms
            until = None
            if exit_ms is not None and trade.closed is not None:
                if exit_ms <= c and not trade.booked:
                    trade.booked = True
                    self.wallet_closed += trade.closed.pnl_usdt
                    day = exit_ms // DAY_MS
                    self.realised[day] = self.realised.get(day, Decimal(0)) + trade.closed.pnl_usdt
                if exit_ms == c:
                    exiting += trade.closed.pnl_usdt
                until = cooldown_until(exit_ms, self.risk)
                if trade.cooldown_visible_ms <= c < until:
                    cooldowns[trade.symbol] = max(cooldowns.get(trade.symbol, 0), until)
            if trade.placed_ms <= c and (trade.end_ms is None or c < trade.end_ms):
                busy.add(trade.symbol)
            fill = trade.fill_ms
            if fill is not None and fill <= c and (exit_ms is None or c < exit_ms):
                open_symbols.add(trade.symbol)
                bars = self.tape.bars[trade.symbol]
                mark = trade.direction * bars.close[bars.index(c - MINUTE_MS)]
                equity += trade.upl_per_tick * (mark - trade.entry_ticks) - trade.entry_fee
                stop = trade.lock_stop if trade.lock_ms is not None and trade.lock_ms < c else trade.stop
                costs = costs_for(trade.symbol, self.fee_rates, self.risk)
                open_risk += worst_case_loss(trade.entry, stop, trade.direction, trade.qty, costs)
            over = trade.end_ms is not None and trade.end_ms < c and (exit_ms is None or (trade.booked and until is not None and until <= c))
            if not over:
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
            margin = trade.entry * trade.qty / leverage
            if trade.fill_ms is None or trade.fill_ms > t:
                if trade.working_until_ms is not None and trade.placed_ms <= t <= trade.working_until_ms:
                    total -= margin
            elif trade.exit_ms is not None and trade.exit_ms <= t:
                if not trade.booked:
                    assert trade.closed is not None
                    total += trade.closed.pnl_usdt
            else:
                bars = self.tape.bars[trade.symbol]
                mark = trade.direction * bars.close[bars.index(t - MINUTE_MS)]
                total += trade.upl_per_tick * (mark - trade.entry_ticks) - trade.entry_fee - margin
        return total


def run_trial(tape: Tape, settings: Settings) -> TrialResult:
    """The TAKEs and closed trades the pipeline would produce on ``tape``'s window with ``settings``."""
    started = time.perf_counter()
    problem = tape.covers(settings.strategy)
    if problem:
        raise ValueError(f"this tape cannot answer for these settings: {problem}")
    strategy, risk = settings.strategy, settings.risk
    hist = history_length(settings)
    book = _Book(tape, settings)
    takes: list[Decision] = []
    decided = refused = 0
    rows = tape.rows
    selected = tape.fired(strategy)
    i, n = 0, len(selected)
    while i < n:
        tick = rows[selected[i]].state.tick_ms
        view = book.view(tick - MINUTE_MS)
        cycle: list[Decision] = []
        while i < n and rows[selected[i]].state.tick_ms == tick:
            index = int(selected[i])
            row = rows[index]
            i += 1
            state, bias = row.state, row.bias
            if hist != tape.hist_len:
                key = (index, hist)
                trimmed = tape.cache.get(key)
                if trimmed is None:
                    trimmed = tape.cache[key] = (_trimmed(state, hist), tuple(_trimmed(b, hist) for b in bias))
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
                trade = _follow(tape, settings, tape.instruments[decision.symbol], plan, book.fee_rates)
            book.trades.append(trade)
            book.live.append(trade)
    trades = sorted((t.closed for t in book.trades if t.closed is not None), key=lambda t: (t.exit_ms, t.symbol))
    return TrialResult(takes=takes, trades=trades, decided=decided, refused=refused, bars=tape.bars_replayed,
                       wall_s=time.perf_counter() - started)


def _trimmed(state: MarketState, hist: int) -> MarketState:
    """The state a symbol core keeping ``hist`` past values would have built: the newest ``hist``."""
    def frame(f: FrameState) -> FrameState:
        return msgspec.structs.replace(
            f, wt1_hist=f.wt1_hist[-hist:], wt2_hist=f.wt2_hist[-hist:], ha_streak_hist=f.ha_streak_hist[-hist:],
            high_hist=f.high_hist[-hist:], low_hist=f.low_hist[-hist:])
    return msgspec.structs.replace(state, frames=tuple(frame(f) for f in state.frames))


# --- one trade on the venue ---------------------------------------------------------------------


class _Order:
    __slots__ = ("kind", "point", "falling", "priority", "seq", "price")

    def __init__(self, kind: str, point: int, falling: bool, priority: int, seq: int, price: int) -> None:
        self.kind, self.point, self.falling, self.priority, self.seq, self.price = kind, point, falling, priority, seq, price


def _follow(tape: Tape, settings: Settings, instrument: Instrument, plan: TradePlan,
            fee_rates: tuple[tuple[str, Decimal, Decimal], ...]) -> _Trade:
    """Place ``plan``'s entry at its tick and follow it to its end, in the trade's direction:
    prices are negated for a short, so a short walks as a long does."""
    s = settings.strategy
    bars: SymbolBars = tape.bars[plan.symbol]
    d = 1 if plan.side == "Buy" else -1
    t = plan.opened_ms
    trade = _Trade(plan.symbol, t, None, direction=d)
    off = tape.fill_through_ticks
    entry = d * bars.ticks(plan.entry)
    first = bars.index(t)  # the first minute the entry rests through
    last = d * (bars.close[first - 1] if first > 0 else bars.last_before)
    if entry >= last:  # PostOnly at or through the last price: cancelled, the plan dies next cycle
        trade.end_ms = trade.router_end_ms = t + MINUTE_MS
        return trade
    trade.entry, trade.qty, trade.stop = plan.entry, plan.qty, plan.stop
    costs = costs_for(plan.symbol, fee_rates, settings.risk)
    trade.working_until_ms = t + s.entry_ttl_bars * MINUTE_MS  # the TTL cycle cancels it after its takes
    n = len(bars.close)
    model = tape.intrabar_path
    orders = [_Order("entry", entry - off, True, _LIMIT, 0, entry)]
    stop_ticks = d * bars.ticks(plan.stop)
    be_needed = dec(s.be_trigger_r) * plan.risk_per_unit / bars.tick_size  # ticks of profit that lock
    fill_at = exit_at = None
    target_placed = False
    exit_price = 0
    exit_kind = ""
    j = first
    while j < n:
        boundary = bars.first_ms + (j + 1) * MINUTE_MS
        if fill_at is None and boundary > t + s.entry_ttl_bars * MINUTE_MS:
            trade.end_ms = trade.router_end_ms = t + (s.entry_ttl_bars + 1) * MINUTE_MS  # forgotten the cycle after
            return trade
        if bars.present[j]:
            points = path_points(bars.open[j], bars.high[j], bars.low[j], bars.close[j], model)
            walk = [last, *(d * p for p in points)]
            for event, price in _walk(walk, orders, stop_ticks):
                if event == "entry":
                    fill_at = boundary
                else:
                    exit_at, exit_price, exit_kind = boundary, price, event
            last = walk[-1]
        if exit_at is not None:
            break
        if fill_at is not None:
            # The cycle after this minute: take-profit once, then the break-even lock when due.
            mark = last
            if not target_placed:
                target_placed = True
                target = d * bars.ticks(plan.target)
                if mark >= target:
                    target = d * bars.ticks(maker_exit_price(bars.price(d * mark), d, instrument))
                orders.append(_Order("target", target + off, False, _LIMIT, 2, target))
            stop = orders[0]
            if mark - entry >= be_needed:
                lock_price = break_even_price(plan.entry, d, instrument, costs)
                lock = d * bars.ticks(lock_price)
                if stop.point < lock < mark:
                    stop.point = stop.price = lock
                    trade.lock_ms, trade.lock_stop = boundary, lock_price
        j += 1
    if fill_at is None:
        return trade  # still resting when the window ends
    qty = plan.qty
    trade.fill_ms = fill_at
    trade.entry_ticks = entry
    trade.entry_fee = money(plan.entry * qty * tape.maker_fee)
    trade.upl_per_tick = bars.tick_size * qty
    if exit_at is None:
        return trade  # open when the window ends
    trade.exit_ms = trade.end_ms = trade.router_end_ms = exit_at
    exit_real = bars.price(d * exit_price)
    is_target = exit_kind == "target"
    fee = money(exit_real * qty * (tape.maker_fee if is_target else tape.taker_fee))
    fills = [
        ExecutionUpdate(symbol=plan.symbol, exec_id="entry", order_id="entry", order_link_id=plan.order_link_id,
                        side=plan.side, price=plan.entry, qty=qty, fee=trade.entry_fee, is_maker=True, exec_ms=fill_at),
        ExecutionUpdate(symbol=plan.symbol, exec_id="exit", order_id="exit",
                        order_link_id=link_id("take_profit", plan.symbol, plan.side, fill_at) if is_target else "",
                        side=opposite(plan.side), price=exit_real, qty=qty, fee=fee, is_maker=is_target, exec_ms=exit_at),
    ]
    trade.closed = trade_closed(plan.side, fills, plan)
    return trade


def _walk(points: list[int], orders: list[_Order], stop: int) -> list[tuple[str, int]]:
    """The events of one bar's path (in ticks, the trade's direction up), as the venue's
    ``walk_segment`` meets them: each segment monotone, nearest event first, the stop first on a
    tie. An entry's fill attaches the stop at ``stop``, which may trigger further along the same
    path. Returns (order kind, fill price) as they happened; ``orders`` is left holding what rests."""
    low, high = min(points), max(points)
    if not any(o.point >= low if o.falling else o.point <= high for o in orders):
        return []
    events: list[tuple[str, int]] = []
    for a, b in zip(points, points[1:]):
        directions = (b < a,) if a != b else (True, False)
        while True:
            best = None
            for order in orders:
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
                events.append(("entry", order.price))
                orders[:] = [_Order("stop", stop, True, _STOP, 1, stop)]
                continue
            # A stop fills where the path stood when it triggered; a limit at its own price.
            events.append((order.kind, here if order.kind == "stop" else order.price))
            orders[:] = []
            return events
    return events
