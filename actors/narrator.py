"""What the console says while the bot runs: one line per trade opened and closed, one line
when a risk gate starts (or stops) refusing every entry, and a periodic summary.

A pure core: ``observe`` sees the supervisor's deliveries and returns the lines to log;
``summary`` is asked by the supervisor's loop with the wall time and the status board's
snapshot. Nothing here logs, reads a clock or holds a thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from typing import Any

from vocabulary.messages import AccountView, Decision, ExecutionUpdate, Message, TradeClosed
from strategy.orders import TradePlan, parse_link_id, trade_plan

#: (level, message, extra fields) — logged as one key=value line by the supervisor.
Line = tuple[str, str, dict[str, Any]]


class Narrator:
    def __init__(self, *, max_positions: int, daily_loss_limit: float, summary_every_ms: int) -> None:
        self._lock = threading.Lock()  # deliveries arrive on every actor's thread
        self.max_positions = max_positions
        self.daily_loss_limit = Decimal(str(daily_loss_limit))
        self.summary_every_ms = summary_every_ms
        self._plans: dict[str, TradePlan] = {}
        self._opened: set[str] = set()
        self._gates: set[str] = set()
        self._account: AccountView | None = None
        self._decisions: Counter[str] = Counter()
        self._last_summary_ms: int | None = None

    def observe(self, to: str, message: Message) -> list[Line]:
        kind = type(message)
        if kind is Decision and to == "journal":
            return self._on_decision(message)
        if kind is ExecutionUpdate and to == "journal":
            return self._on_execution(message)
        if kind is TradeClosed and to == "journal":
            return [_closed(message)]
        if kind is AccountView and message is not self._account:
            return self._on_account(message)
        return []

    def _on_decision(self, decision: Decision) -> list[Line]:
        with self._lock:
            self._decisions[decision.kind] += 1
            if decision.kind == "TAKE":
                try:
                    plan = trade_plan(decision)
                except ValueError:
                    return []
                self._plans[plan.order_link_id] = plan
        return []

    def _on_execution(self, fill: ExecutionUpdate) -> list[Line]:
        link = parse_link_id(fill.order_link_id)
        if link is None or link.kind != "entry":
            return []
        with self._lock:
            if fill.order_link_id in self._opened:
                return []  # a partial fill after the first: the trade is already open
            self._opened.add(fill.order_link_id)
            plan = self._plans.pop(fill.order_link_id, None)
        extra: dict[str, Any] = {"symbol": fill.symbol, "side": fill.side, "path": link.path, "price": str(fill.price),
                                 "qty": str(fill.qty)}
        if plan is not None:
            reward = abs(plan.target - plan.entry)
            extra.update(stop=str(plan.stop), target=str(plan.target),
                         r=f"{reward / plan.risk_per_unit:.2f}" if plan.risk_per_unit else "n/a")
        extra["fees"] = str(fill.fee)
        return [("INFO", "trade opened", extra)]

    def _on_account(self, view: AccountView) -> list[Line]:
        lines: list[Line] = []
        with self._lock:
            self._account = view
            busy = len(set(view.open_symbols) | set(view.working_entry_symbols))
            states = {
                "daily_loss": view.realised_pnl_today <= -self.daily_loss_limit,
                "max_positions": busy >= self.max_positions,
            }
            for gate, refusing in states.items():
                if refusing and gate not in self._gates:
                    self._gates.add(gate)
                    lines.append(_gate_on(gate, view, busy, self))
                elif not refusing and gate in self._gates:
                    self._gates.discard(gate)
                    lines.append(("INFO", "entries allowed again", {"gate": gate}))
        return lines

    def summary(self, wall_ms: int, status: dict[str, Any]) -> Line | None:
        """The periodic line, once ``summary_every_ms`` has passed since the last (0: never)."""
        if self.summary_every_ms <= 0:
            return None
        with self._lock:
            if self._last_summary_ms is None:
                self._last_summary_ms = wall_ms
                return None
            if wall_ms - self._last_summary_ms < self.summary_every_ms:
                return None
            minutes = (wall_ms - self._last_summary_ms) / 60_000
            self._last_summary_ms = wall_ms
            decided, self._decisions = self._decisions, Counter()
            gates = sorted(self._gates)
        p99 = status.get("cycle_latency_p99_ms")
        extra = {
            "minutes": f"{minutes:.1f}", "take": decided["TAKE"], "reject": decided["REJECT"], "no_setup": decided["NO_SETUP"],
            "open_positions": len(status.get("positions") or ()), "equity": status.get("equity") or "n/a",
            "cycle_p99_ms": "n/a" if p99 is None else f"{p99:.1f}", "ticks": status.get("ticks", 0),
        }
        if gates:
            extra["refusing_entries"] = ",".join(gates)
        return ("INFO", "summary", extra)


def _gate_on(gate: str, view: AccountView, busy: int, narrator: Narrator) -> Line:
    if gate == "daily_loss":
        return ("WARNING", "entries stopped: daily loss limit reached, none until 00:00 UTC",
                {"realised_pnl_today": str(view.realised_pnl_today), "daily_loss_limit": str(narrator.daily_loss_limit)})
    return ("WARNING", "entries paused: max positions reached", {"open_or_opening": busy, "max_positions": narrator.max_positions})


def _closed(trade: TradeClosed) -> Line:
    return ("INFO", "trade closed", {
        "symbol": trade.symbol, "side": trade.side, "path": trade.path or "n/a", "entry": str(trade.entry_price),
        "exit": str(trade.exit_price), "reason": trade.exit_reason,
        "r": "n/a" if trade.pnl_r is None else f"{trade.pnl_r:.2f}", "net_usdt": str(trade.pnl_usdt), "fees": str(trade.fees),
    })
