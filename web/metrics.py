"""Prometheus text exposition (format 0.0.4) of the bot's health: pure, values in, text out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: Cycle latency buckets in ms: a 25-symbol cycle should sit well under 50 ms.
LATENCY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        label_text = ""
        if labels:
            label_text = "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"
        self.lines.append(f"{name}{label_text} {_number(value)}")

    def counter_by(self, name: str, help_text: str, label: str, counts: Mapping[str, int], known: Iterable[str] = ()) -> None:
        self.family(name, "counter", help_text)
        # Known label values appear at 0 from the start, so rate() has a series to work on.
        for key in sorted({*known, *(k for k in counts if k is not None)}):
            self.sample(name, counts.get(key, 0), {label: key})

    def histogram(self, name: str, help_text: str, samples: Iterable[float], buckets: Iterable[float]) -> None:
        values = sorted(float(v) for v in samples)
        self.family(name, "histogram", help_text)
        for bound in buckets:
            self.sample(f"{name}_bucket", sum(1 for v in values if v <= bound), {"le": _number(float(bound))})
        self.sample(f"{name}_bucket", len(values), {"le": "+Inf"})
        self.sample(f"{name}_sum", sum(values))
        self.sample(f"{name}_count", len(values))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(counters: Mapping[str, Any], open_positions: int, status: Mapping[str, Any], last_seq: int) -> str:
    """The /metrics body from the journal's counters and the supervisor's live status."""
    out = Exposition()
    latencies = status.get("cycle_latency_ms")
    if isinstance(latencies, (list, tuple)):
        # The supervisor keeps a window of recent cycles; this is that window's histogram.
        out.histogram("smtbot_cycle_latency_ms", "Tick-to-last-decision latency of recent cycles, in ms.",
                      (v for v in latencies if isinstance(v, (int, float))), LATENCY_BUCKETS_MS)
    out.counter_by("smtbot_decisions_total", "Decisions journaled, by kind.", "kind",
                   counters["decisions_by_kind"], ("TAKE", "NO_SETUP", "REJECT"))
    out.counter_by("smtbot_orders_total", "Order requests answered, by result.", "result",
                   counters["orders_by_result"], ("ok", "would_take", "rejected", "failed"))
    out.family("smtbot_reconnects_total", "counter", "Feed and private-stream reconnects journaled.")
    out.sample("smtbot_reconnects_total", counters["reconnects"])
    out.family("smtbot_executions_total", "counter", "Fills journaled.")
    out.sample("smtbot_executions_total", counters["executions"])
    out.family("smtbot_trades_total", "counter", "Closed round trips journaled.")
    out.sample("smtbot_trades_total", counters["trades"])
    out.family("smtbot_bars_total", "counter", "Closed bars consumed and journaled.")
    out.sample("smtbot_bars_total", counters["bars"])
    out.family("smtbot_open_positions", "gauge", "Positions whose latest snapshot has a non-zero size.")
    out.sample("smtbot_open_positions", open_positions)
    out.family("smtbot_journal_last_seq", "gauge", "Sequence number of the newest journal row.")
    out.sample("smtbot_journal_last_seq", last_seq)
    equity = status.get("equity")
    if isinstance(equity, (int, float, str)) and _is_number(equity):
        out.family("smtbot_equity_usdt", "gauge", "Account equity in USDT, as the supervisor last saw it.")
        out.sample("smtbot_equity_usdt", float(equity))
    depths = status.get("queue_depth")
    if isinstance(depths, Mapping):
        out.family("smtbot_actor_queue_depth", "gauge", "Messages waiting in each actor's inbox.")
        for actor, depth in sorted(depths.items()):
            if isinstance(depth, (int, float)):
                out.sample("smtbot_actor_queue_depth", depth, {"actor": str(actor)})
    return out.text()


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False

