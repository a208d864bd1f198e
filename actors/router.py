"""The order router: the only caller of private REST, one call at a time.

``RouterCore`` is pure. It turns a TAKE into its entry order, and every cycle compares
the exchange's own view (a ``VenueSnapshot``) with the exit doctrine: the planners in
``strategy.exits`` say what must change, the core sends exactly that. Nothing is
remembered that the exchange could contradict: stops, take-profits and break-even are
re-derived from the venue every cycle (level-triggered), so a crash, a restart or a
hand-placed position is healed by the next cycle.

Every intent is journaled *before* it reaches the wire: the core asks the journal for
``WriteAhead`` and sends only on ``Durable``; every answer is journaled as an ``OrderAck``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

import msgspec

from vocabulary.messages import (
    AccountView,
    CycleDone,
    Decision,
    Durable,
    ExecutionUpdate,
    Fills,
    FillsRequest,
    Instrument,
    JournalEvent,
    Message,
    OrderAck,
    OrderIntent,
    OrderUpdate,
    PositionUpdate,
    SnapshotRequest,
    VenueSnapshot,
    WriteAhead,
)
from vocabulary.settings import RiskSettings, StrategySettings
from actors.shell import CoreActor, Deliver, Outbox, Recorder
from strategy.context import cooldown_until
from strategy.costs import Costs, costs_for, worst_case_loss
from strategy.exits import TradePlan, entry_intent, plan_exits, stale_entries, trade_plan
from strategy.trades import trade_closed

log = logging.getLogger("smtbot.router")

DAY_MS = 86_400_000
WORKING = ("New", "PartiallyFilled", "Untriggered")


class RouterCore:
    """Entries from TAKEs, exits from the exchange's view, all through write-ahead."""

    def __init__(
        self,
        instruments: dict[str, Instrument],
        strategy: StrategySettings,
        risk: RiskSettings,
        *,
        react_to_fills: bool = True,
    ) -> None:
        self.instruments = instruments
        self.strategy = strategy
        self.risk = risk
        # Against a paced simulator fills only happen between cycles, so reacting to the
        # private stream would only make the run depend on thread timing.
        self.react_to_fills = react_to_fills
        self.positions: dict[tuple[str, int], PositionUpdate] = {}
        self.orders: dict[str, OrderUpdate] = {}  # working orders by order id
        self.plans: dict[str, TradePlan] = {}
        # Each symbol's stop-loss trigger as last set (an entry's attached stop, a break-even lock,
        # both once acked) or seen on the position: a stop-out's slippage is measured from it, as
        # Bybit reports a stop-market's protection bound, not its trigger, as its orderPrice.
        self.stops: dict[str, Decimal] = {}
        # Plans whose fills are being read: a closed position, or an entry that vanished (it
        # may have filled and been stopped inside one minute, never seen as a position).
        self._closing: dict[str, tuple[TradePlan | None, bool]] = {}
        self.inflight: dict[str, OrderIntent] = {}
        self.is_protective = True  # until the first good snapshot: manage exits, open nothing
        self.now_ms = 0
        self.equity = Decimal(0)
        self.realised_today = Decimal(0)
        self._day = 0
        # The account's (symbol, maker, taker) rates and the UTC day they were read on (None: never).
        self.fee_rates: tuple[tuple[str, Decimal, Decimal], ...] = ()
        self._rates_day: int | None = None
        self.cooldowns: dict[str, int] = {}
        self.counts: Counter[str] = Counter()
        self._cycle: int | None = None
        self._snapshot_due = False
        self._requoted: set[str] = set()
        self._takes: list[Decision] = []
        self._seq = 0

    # --- dispatch ---------------------------------------------------------------------

    def handle(self, message: Message) -> Outbox:
        if isinstance(message, Decision):
            return self._on_decision(message)
        if isinstance(message, Durable):
            return [("self", message.intent)]
        if isinstance(message, OrderAck):
            return self._on_ack(message)
        if isinstance(message, CycleDone):
            return self._on_cycle(message.boundary_ms)
        if isinstance(message, VenueSnapshot):
            return self._on_snapshot(message)
        if isinstance(message, Fills):
            return self._on_fills(message)
        if isinstance(message, OrderUpdate):
            return self._on_order_update(message)
        if isinstance(message, ExecutionUpdate):
            self.counts["executions"] += 1
            out: Outbox = [("journal", message)]
            if self.react_to_fills:
                out.append(("self", SnapshotRequest(ts_ms=message.exec_ms)))  # fill → protect, at once
            return out
        if isinstance(message, PositionUpdate):
            return [("journal", message)]
        if isinstance(message, JournalEvent):
            # The private stream's own reports (lost, auth refused, reconnected) are journaled;
            # only a reconnect asks for more: whatever happened meanwhile, the exchange knows it.
            if message.kind == "private_reconnect":
                return [("journal", message), ("self", SnapshotRequest(ts_ms=self.now_ms))]
            return [("journal", message)]
        raise TypeError(f"router cannot handle {type(message).__name__}")

    # --- entries ----------------------------------------------------------------------

    def _on_decision(self, decision: Decision) -> Outbox:
        """TAKEs wait for their cycle to close: symbol threads deliver them in any order, and
        the last free position slot must not go to whichever thread was fastest."""
        if decision.kind == "TAKE":
            self._takes.append(decision)
        return []

    def _take(self, decision: Decision) -> Outbox:
        symbol = decision.symbol
        refusal = self._refusal(symbol)
        if refusal:
            self.counts["take_refused"] += 1
            return [("journal", JournalEvent(
                ts_ms=decision.tick_ms, kind="take_refused", source="router", message=refusal,
                data=(("symbol", symbol),),
            ))]
        plan = trade_plan(decision)
        self.plans[symbol] = plan
        return self._send(entry_intent(decision))

    def _refusal(self, symbol: str) -> str:
        """Why a TAKE must not reach the wire now; the strategy's gates saw last cycle's view."""
        if self.is_protective:
            return "protective mode: the exchange has not been reconciled"
        if symbol not in self.instruments:
            return f"no instrument rules for {symbol}"
        if any(key[0] == symbol for key in self.positions) or symbol in self._entry_symbols():
            return f"{symbol} already has a position or a working entry"
        open_or_opening = {key[0] for key in self.positions} | self._entry_symbols()
        if len(open_or_opening) >= self.risk.max_positions:
            return f"max_positions {self.risk.max_positions} reached"
        return ""

    def _entry_symbols(self) -> set[str]:
        working = {o.symbol for o in self.orders.values() if not o.reduce_only}
        sending = {i.symbol for i in self.inflight.values() if i.action == "create" and not i.reduce_only}
        return working | sending | set(self.plans)

    # --- the wire ---------------------------------------------------------------------

    def _send(self, intent: OrderIntent) -> Outbox:
        key = self._key(intent)
        if key in self.inflight:
            return []  # the same change is already on its way
        self.inflight[key] = intent
        self.counts[f"sent_{intent.action}"] += 1
        return [("journal", WriteAhead(intent=intent))]

    def _key(self, intent: OrderIntent) -> str:
        if intent.action == "trading_stop":
            return f"trading_stop:{intent.symbol}:{intent.position_idx}"
        if intent.order_link_id:
            return f"{intent.action}:{intent.order_link_id}"
        self._seq += 1
        return f"{intent.action}:{intent.symbol}:{self._seq}"

    def _on_ack(self, ack: OrderAck) -> Outbox:
        intent = ack.intent
        for key, pending in list(self.inflight.items()):
            if pending == intent:
                del self.inflight[key]
                break
        self.counts[f"ack_{ack.outcome}"] += 1
        out: Outbox = [("journal", ack)]
        is_entry = intent.action == "create" and not intent.reduce_only
        if ack.outcome == "ok" and intent.stop_loss is not None and (is_entry or intent.action == "trading_stop"):
            self.stops[intent.symbol] = intent.stop_loss
        if is_entry and ack.outcome != "ok":
            plan = self.plans.get(intent.symbol)
            if plan is not None and plan.order_link_id == intent.order_link_id:
                del self.plans[intent.symbol]
            out.append(("journal", JournalEvent(
                ts_ms=ack.ts_ms, kind="entry_not_placed", source="router", level="WARNING",
                message=f"{intent.symbol} {ack.outcome}: {ack.ret_code} {ack.ret_msg}"[:300],
                data=(("order_link_id", intent.order_link_id or ""),),
            )))
        elif intent.reduce_only and ack.outcome == "would_take" and intent.symbol not in self._requoted:
            # The target is already through the book: read the mark now and let the planner
            # re-place it at the nearest maker price (never a market exit). Once per cycle.
            self._requoted.add(intent.symbol)
            out.append(("self", SnapshotRequest(ts_ms=ack.ts_ms)))
        elif ack.outcome == "failed" and intent.action == "trading_stop":
            out.append(("journal", JournalEvent(
                ts_ms=ack.ts_ms, kind="stop_not_set", source="router", level="ERROR",
                message=f"{intent.symbol}: {ack.ret_msg}"[:300],
            )))
        return out + self._release_if_settled()

    # --- the cycle --------------------------------------------------------------------

    def _on_cycle(self, boundary_ms: int) -> Outbox:
        self.now_ms = max(self.now_ms, boundary_ms)
        if self.now_ms // DAY_MS != self._day:
            self._day = self.now_ms // DAY_MS
            self.realised_today = Decimal(0)
        self._cycle = boundary_ms
        self._requoted.clear()
        out: Outbox = []
        takes, self._takes = sorted(self._takes, key=lambda d: (d.tick_ms, d.symbol)), []
        for decision in takes:
            out += self._take(decision)
        self._snapshot_due = True
        # Fee rates change with the VIP level: read at boot, again on the first cycle of every UTC
        # day, and every cycle after a failed read until one succeeds.
        rates_due = self._rates_day != self.now_ms // DAY_MS
        return out + [("self", SnapshotRequest(ts_ms=boundary_ms, fee_rates=rates_due))]

    def _on_snapshot(self, snap: VenueSnapshot) -> Outbox:
        self._snapshot_due = False
        if snap.error:
            self.counts["snapshot_failed"] += 1
            return [("journal", JournalEvent(
                ts_ms=snap.ts_ms, kind="reconcile_failed", source="router", level="ERROR",
                message=snap.error[:300] + (" (protective mode: no new entries)" if self.is_protective else ""),
            ))] + self._release_if_settled()
        out: Outbox = []
        before = dict(self.positions)
        self.positions = {(p.symbol, p.position_idx): p for p in snap.positions if p.size > 0}
        self.stops.update((p.symbol, p.stop_loss) for p in self.positions.values() if p.stop_loss is not None)
        self.orders = {o.order_id: o for o in snap.orders if o.status in WORKING}
        if snap.equity is not None:
            self.equity = snap.equity
        if snap.fee_rates:
            self.fee_rates, self._rates_day = snap.fee_rates, snap.ts_ms // DAY_MS
        elif snap.fee_error:
            self.counts["fee_rates_failed"] += 1
            out.append(("journal", JournalEvent(
                ts_ms=snap.ts_ms, kind="fee_rates_unread", source="router", level="WARNING",
                message=f"fee rates could not be read, {'keeping the last ones' if self.fee_rates else 'using [risk] maker_fee/taker_fee'}: {snap.fee_error}"[:300],
            )))
        if self.is_protective:
            self.is_protective = False
            adopted = sorted(p.symbol for p in self.positions.values() if p.symbol not in self.plans)
            out.append(("journal", JournalEvent(
                ts_ms=snap.ts_ms, kind="reconciled", source="router",
                message=f"{len(self.positions)} positions ({len(adopted)} adopted), {len(self.orders)} working orders",
                data=tuple(("adopted", s) for s in adopted),
            )))
        for key, position in before.items():
            if key not in self.positions:
                out += self._position_closed(position, snap.ts_ms)
        out += self._forget_dead_plans(snap.ts_ms)
        out += [("journal", p) for p in self.positions.values()]
        out += self._plan(snap.ts_ms)
        out.append(("symbols", self.account_view(snap.ts_ms)))
        return out + self._release_if_settled()

    def _plan(self, now_ms: int) -> Outbox:
        working = tuple(self.orders.values())
        intents: list[OrderIntent] = []
        for position in self.positions.values():
            instrument = self.instruments.get(position.symbol)
            if instrument is None:
                continue
            intents += plan_exits(position, working, self.plans.get(position.symbol), instrument, self.strategy, now_ms,
                                  costs=self.costs(position.symbol))
        # Our take-profits left behind by a position that is gone.
        held = set(self.positions)
        for symbol, idx in sorted({(o.symbol, o.position_idx) for o in working if o.reduce_only} - held):
            flat = PositionUpdate(symbol=symbol, position_idx=idx, side=None, size=Decimal(0), avg_price=None, updated_ms=now_ms)
            if symbol in self.instruments:
                intents += plan_exits(flat, working, None, self.instruments[symbol], self.strategy, now_ms,
                                      costs=self.costs(symbol))
        intents += stale_entries(working, now_ms, self.strategy)
        out: Outbox = []
        for intent in intents:
            out += self._send(intent)
        return out

    def _position_closed(self, position: PositionUpdate, now_ms: int) -> Outbox:
        plan = self.plans.pop(position.symbol, None)
        self.cooldowns[position.symbol] = cooldown_until(now_ms, self.risk)
        since = plan.opened_ms if plan is not None else position.updated_ms
        self._closing[position.symbol] = (plan, False)  # the plan's risk makes the trade's R
        assert position.side is not None
        return [("self", FillsRequest(symbol=position.symbol, side=position.side, since_ms=since, until_ms=now_ms))]

    def _forget_dead_plans(self, now_ms: int) -> Outbox:
        """A plan whose entry is neither working, nor sending, nor a position has ended: its
        fills say whether it never filled or made a whole round trip between two cycles."""
        out: Outbox = []
        links = {o.order_link_id for o in self.orders.values()} | {i.order_link_id for i in self.inflight.values()}
        for symbol, plan in list(self.plans.items()):
            if plan.order_link_id in links or any(key[0] == symbol for key in self.positions):
                continue
            del self.plans[symbol]
            self._closing[symbol] = (plan, True)
            out.append(("self", FillsRequest(symbol=symbol, side=plan.side, since_ms=plan.opened_ms, until_ms=now_ms)))
        return out

    def _on_fills(self, result: Fills) -> Outbox:
        request = result.request
        plan, entry_vanished = self._closing.pop(request.symbol, (None, False))
        stop = self.stops.pop(request.symbol, None)
        if entry_vanished and not result.error and not result.fills:
            assert plan is not None
            return [("journal", JournalEvent(
                ts_ms=request.until_ms, kind="entry_ended_unfilled", source="router",
                message=f"{request.symbol} entry {plan.order_link_id} is gone without a fill",
                data=(("order_link_id", plan.order_link_id),),
            ))]
        if result.error:
            return [("journal", JournalEvent(
                ts_ms=request.until_ms, kind="trade_unaccounted", source="router", level="WARNING",
                message=f"{request.symbol}: fills could not be read: {result.error}"[:300],
            ))]
        try:
            trade = trade_closed(request.side, result.fills, plan, stop)
        except ValueError as exc:
            return [("journal", JournalEvent(
                ts_ms=request.until_ms, kind="trade_unaccounted", source="router", level="WARNING",
                message=f"{request.symbol}: {exc}"[:300],
            ))]
        self.realised_today += trade.pnl_usdt
        self.counts["trades"] += 1
        if entry_vanished:
            self.cooldowns[request.symbol] = cooldown_until(request.until_ms, self.risk)
        out: Outbox = [("journal", trade), ("status", trade)]
        if trade.exit_reason in ("liquidation", "adl", "delivery"):
            # The venue closed it, not our exits: the operator must hear of it at once.
            self.counts[f"closed_by_{trade.exit_reason}"] += 1
            out.append(("journal", JournalEvent(
                ts_ms=trade.exit_ms, kind=f"position_{trade.exit_reason}", source="router", level="ERROR",
                message=f"{trade.symbol} {trade.side} {trade.qty} closed by the venue ({trade.exit_reason}): {trade.pnl_usdt} USDT net",
                data=(("symbol", trade.symbol), ("pnl_usdt", str(trade.pnl_usdt))),
            )))
        return out

    def _on_order_update(self, update: OrderUpdate) -> Outbox:
        if update.status in WORKING:
            self.orders[update.order_id] = update
        else:
            self.orders.pop(update.order_id, None)
        return [("journal", update)]

    def _release_if_settled(self) -> Outbox:
        """Tell the pacer the cycle is over once nothing is in flight: against a paced
        simulator this releases the next minute, so every order of this cycle rests before it."""
        if self._cycle is None or self.inflight or self._snapshot_due:
            return []
        done, self._cycle = self._cycle, None
        return [("pacer", CycleDone(boundary_ms=done))]

    def costs(self, symbol: str) -> Costs:
        """The symbol's rates and allowance at its tick; a position on a symbol without instrument
        rules (not one the bot trades) is counted at the flat allowance (``strategy.costs.Costs``)."""
        instrument = self.instruments.get(symbol)
        return costs_for(symbol, instrument.tick_size if instrument is not None else None, self.fee_rates, self.risk)

    def open_risk(self) -> Decimal:
        """What the open positions lose if every stop fills now, fees and slippage allowance
        included: each at the stop the exchange holds (a break-even stop risks nothing), else the
        plan's, else the adopted fallback ``max_stop_pct`` from the entry."""
        total = Decimal(0)
        for position in self.positions.values():
            if position.side is None or position.avg_price is None:
                continue
            d = 1 if position.side == "Buy" else -1
            plan = self.plans.get(position.symbol)
            stop = position.stop_loss
            if stop is None:
                stop = plan.stop if plan is not None else position.avg_price * (1 - d * Decimal(str(self.strategy.max_stop_pct)))
            total += worst_case_loss(position.avg_price, stop, d, position.size, self.costs(position.symbol))
        return total

    def account_view(self, ts_ms: int) -> AccountView:
        return AccountView(
            ts_ms=ts_ms,
            equity=self.equity,
            realised_pnl_today=self.realised_today,
            open_symbols=tuple(sorted({key[0] for key in self.positions})),
            working_entry_symbols=tuple(sorted(self._entry_symbols())),
            cooldown_until_ms=tuple(sorted((s, t) for s, t in self.cooldowns.items() if t > ts_ms)),
            open_risk=self.open_risk(),
            fee_rates=self.fee_rates,
        )


class Venue(Protocol):
    """What the router shell needs from an exchange: ``BybitRest``, or the paper venue."""

    def execute(self, intent: OrderIntent) -> OrderAck: ...

    def positions(self, symbol: str | None = None) -> list[PositionUpdate]: ...

    def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]: ...

    def wallet_equity(self) -> Decimal: ...

    def executions(self, symbol: str | None = None, *, start_ms: int | None = None, end_ms: int | None = None) -> list[ExecutionUpdate]: ...

    def switch_position_mode(self, symbol: str, *, hedge: bool) -> bool: ...

    def set_leverage(self, symbol: str, leverage: int | Decimal) -> bool: ...

    def fee_rates(self, symbol: str | None = None) -> Mapping[str, FeeRate]: ...


class FeeRate(Protocol):
    """One symbol's rates as the venue reports them (``exchange.bybit.models.FeeRate``)."""

    @property
    def maker(self) -> Decimal: ...

    @property
    def taker(self) -> Decimal: ...


class RouterIO:
    """The router's side effects, apart from any thread: each request of the core becomes
    the venue's answer as a message. The pykka shell and the one-thread backtest share it."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def prepare_account(self, symbols: Sequence[str], leverage: int, ts_ms: int) -> list[JournalEvent]:
        """Hedge mode and the configured leverage on every traded symbol, before any order:
        entries use positionIdx 1/2. Already-set is success; a refusal is journaled, and that
        symbol's entries will be refused by the venue (reported, never silently retried)."""
        events = []
        for symbol in symbols:
            try:
                changed = [self.venue.switch_position_mode(symbol, hedge=True), self.venue.set_leverage(symbol, leverage)]
            except Exception as exc:  # noqa: BLE001 - the venue's reason goes to the journal
                events.append(JournalEvent(ts_ms=ts_ms, kind="account_setup_failed", source="router", level="ERROR",
                                           message=f"{symbol}: {type(exc).__name__}: {exc}"[:300]))
                continue
            if any(changed):
                events.append(JournalEvent(ts_ms=ts_ms, kind="account_setup", source="router",
                                           message=f"{symbol}: hedge mode, leverage {leverage}"))
        return events

    def perform(self, request: Message) -> Message:
        if isinstance(request, OrderIntent):
            return self.venue.execute(request)
        if isinstance(request, SnapshotRequest):
            return self.snapshot(request.ts_ms, fee_rates=request.fee_rates)
        if isinstance(request, FillsRequest):
            return self.fills(request)
        raise TypeError(f"the router performs no {type(request).__name__}")

    def snapshot(self, ts_ms: int, *, fee_rates: bool = False) -> VenueSnapshot:
        try:
            snap = VenueSnapshot(
                ts_ms=ts_ms,
                positions=tuple(self.venue.positions()),
                orders=tuple(self.venue.open_orders()),
                equity=self.venue.wallet_equity(),
            )
        except Exception as exc:  # noqa: BLE001 - a failed read is journaled; the next cycle reads again
            return VenueSnapshot(ts_ms=ts_ms, positions=(), orders=(), error=f"{type(exc).__name__}: {exc}")
        if not fee_rates:
            return snap
        try:
            rates = tuple(sorted((s, r.maker, r.taker) for s, r in self.venue.fee_rates().items()))
        except Exception as exc:  # noqa: BLE001 - positions still count; the router keeps its last rates
            return msgspec.structs.replace(snap, fee_error=f"{type(exc).__name__}: {exc}")
        if not rates:
            return msgspec.structs.replace(snap, fee_error="the venue reported no fee rates")
        return msgspec.structs.replace(snap, fee_rates=rates)

    def venue_events(self) -> list[JournalEvent]:
        """What the venue client could not use (undecodable rows, unknown enum values), to journal."""
        drain = getattr(self.venue, "drain_events", None)
        return drain() if drain is not None else []

    def fills(self, request: FillsRequest) -> Fills:
        try:
            fills = self.venue.executions(request.symbol, start_ms=request.since_ms, end_ms=request.until_ms + 60_000)
        except Exception as exc:  # noqa: BLE001 - journaled as an unaccounted trade
            return Fills(request=request, error=f"{type(exc).__name__}: {exc}")
        return Fills(request=request, fills=tuple(f for f in fills if f.symbol == request.symbol))


class RouterActor(CoreActor):
    """Shell: reconciles on start, and performs the core's REST calls one at a time."""

    name = "router"

    def __init__(
        self, core: RouterCore, deliver: Deliver, venue: Venue, *, now_ms: Callable[[], int], leverage: int,
        recorder: Recorder | None = None,
    ) -> None:
        super().__init__(core, deliver, recorder=recorder)
        self.io = RouterIO(venue)
        self._now_ms = now_ms
        self._leverage = leverage

    def on_start(self) -> None:
        try:
            for event in self.io.prepare_account(sorted(self.core.instruments), self._leverage, self._now_ms()):
                self._deliver("journal", event)
            self.perform(SnapshotRequest(ts_ms=self._now_ms(), fee_rates=True))
        except Exception as exc:  # noqa: BLE001 - same contract as a failure in on_receive
            self._fail(SnapshotRequest(ts_ms=0), exc)

    def perform(self, request: Message) -> None:
        answer = self.io.perform(request)
        for event in self.io.venue_events():
            self._deliver("journal", event)
        self.dispatch(answer)
