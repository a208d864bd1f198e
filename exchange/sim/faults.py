"""Fault injection for reliability tests: which REST calls fail and how, and how the streams misbehave.

Decisions are deterministic for a given seed and call sequence, so a failing soak run can be replayed.
"""

from __future__ import annotations

import random
from typing import Literal

import msgspec

RestFaultKind = Literal["http500", "http503", "http403", "http429", "10000", "10002", "10006", "10016",
                        "10429", "429", "timeout_after", "timeout_before"]


class RestFault(msgspec.Struct, frozen=True, kw_only=True):
    """Inject ``kind`` into REST calls whose path starts with ``path_prefix``.

    Fires on the calls numbered in ``nth`` (1-based, counted per fault over matching calls) and
    otherwise with probability ``rate``; at most ``times`` injections when set. ``timeout_after``
    processes the request and then holds the answer for ``stall_s`` (the client times out although
    the order exists); ``timeout_before`` holds it without processing.
    """

    kind: RestFaultKind
    path_prefix: str = "/v5/"
    rate: float = 0.0
    nth: tuple[int, ...] = ()
    times: int | None = None
    stall_s: float = 15.0


class FaultPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The whole fault configuration, replaced at once by ``POST /sim/faults``.

    Streams: ``ws_stall_s`` holds every push for that long (pings are still answered);
    ``silent_topics`` are never pushed while the plan holds (the connection stays healthy, so only a
    data watchdog notices); ``skip_confirm_rate`` / ``duplicate_confirm_rate`` drop or repeat
    ``confirm:true`` kline pushes.

    Venue events: ``deliver`` names symbols whose contract is delivered (delisted) at the next
    minute boundary after the plan is set: their orders are cancelled and every position is closed
    at the mark with a ``Delivery`` execution, once per plan.
    """

    rest: tuple[RestFault, ...] = ()
    ws_stall_s: float = 0.0
    silent_topics: tuple[str, ...] = ()
    skip_confirm_rate: float = 0.0
    duplicate_confirm_rate: float = 0.0
    deliver: tuple[str, ...] = ()
    seed: int = 0


class FaultState:
    """Counters and the seeded random source behind a FaultPlan."""

    def __init__(self, plan: FaultPlan = FaultPlan()):
        self.set_plan(plan)

    def set_plan(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._calls = [0] * len(plan.rest)
        self._fired = [0] * len(plan.rest)
        self.injected = 0
        self._deliveries_due = plan.deliver

    def rest_fault(self, path: str) -> RestFault | None:
        """The fault to apply to this REST call, if any (every matching fault's counter advances)."""
        chosen = None
        for i, fault in enumerate(self.plan.rest):
            if not path.startswith(fault.path_prefix):
                continue
            self._calls[i] += 1
            if chosen is not None or (fault.times is not None and self._fired[i] >= fault.times):
                continue
            if self._calls[i] in fault.nth or (fault.rate and self._rng.random() < fault.rate):
                self._fired[i] += 1
                self.injected += 1
                chosen = fault
        return chosen

    def take_deliveries(self) -> tuple[str, ...]:
        """Symbols to deliver now; each plan delivers once."""
        due, self._deliveries_due = self._deliveries_due, ()
        return due

    def skip_confirm(self) -> bool:
        return bool(self.plan.skip_confirm_rate) and self._rng.random() < self.plan.skip_confirm_rate

    def duplicate_confirm(self) -> bool:
        return bool(self.plan.duplicate_confirm_rate) and self._rng.random() < self.plan.duplicate_confirm_rate
