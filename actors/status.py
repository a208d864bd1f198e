"""The live status board: what ``GET /status`` shows, read off the messages as they pass.

The supervisor's post office shows every delivery to ``observe``; the board keeps only
the newest facts (per-symbol last bar and decision, cycle latencies, positions) under a
lock, so the web thread reads a consistent snapshot without asking any actor.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from vocabulary.messages import AccountView, CycleDone, Decision, Kline, Message, PositionUpdate, Reconnect, Tick, TradeClosed


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class StatusBoard:
    def __init__(self, *, mode: str, venue: str, symbols: tuple[str, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._started = clock()
        self.mode = mode
        self.venue = venue
        self._symbols: dict[str, dict[str, Any]] = {s: {"last_bar_ms": None, "last_close": None, "last_decision": None} for s in symbols}
        self._tick_started: dict[int, float] = {}
        self.latencies_ms: deque[float] = deque(maxlen=100)
        self.decisions: Counter[str] = Counter()
        self.ticks = 0
        self.trades = 0
        self.reconnects_ordered = 0
        self.positions: dict[str, dict[str, Any]] = {}
        self.account: AccountView | None = None
        self.extra: dict[str, Callable[[], Any]] = {}

    def observe(self, to: str, message: Message) -> None:
        """Called for every delivery; cheap for everything it does not care about."""
        kind = type(message)
        if kind is Kline and to.startswith("symbol:") and message.confirmed and message.interval == 1:
            with self._lock:
                row = self._symbols.get(message.symbol)
                if row is not None:
                    row["last_bar_ms"], row["last_close"] = message.start_ms, message.close
        elif kind is Decision and to == "journal":
            with self._lock:
                self.decisions[message.kind] += 1
                row = self._symbols.get(message.symbol)
                if row is not None:
                    row["last_decision"] = {
                        "tick_ms": message.tick_ms, "kind": message.kind, "path": message.path,
                        "side": message.side, "score": message.score,
                    }
        elif kind is Tick:
            with self._lock:
                self._tick_started.setdefault(message.boundary_ms, self._clock())
        elif kind is CycleDone and to == "journal":
            with self._lock:
                started = self._tick_started.pop(message.boundary_ms, None)
                if started is not None:
                    self.ticks += 1
                    self.latencies_ms.append((self._clock() - started) * 1000)
                for old in [b for b in self._tick_started if b < message.boundary_ms]:
                    del self._tick_started[old]
        elif kind is AccountView and self.account is not message:
            with self._lock:
                self.account = message
        elif kind is PositionUpdate and to == "journal":
            with self._lock:
                self.positions[f"{message.symbol}:{message.position_idx}"] = {
                    "symbol": message.symbol, "side": message.side, "size": str(message.size),
                    "avg_price": None if message.avg_price is None else str(message.avg_price),
                    "stop_loss": None if message.stop_loss is None else str(message.stop_loss),
                    "mark_price": None if message.mark_price is None else str(message.mark_price),
                    "unrealised_pnl": None if message.unrealised_pnl is None else str(message.unrealised_pnl),
                    "updated_ms": message.updated_ms,
                }
        elif kind is TradeClosed and to == "journal":
            with self._lock:
                self.trades += 1
        elif kind is Reconnect:
            with self._lock:
                self.reconnects_ordered += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            latencies = list(self.latencies_ms)
            account = self.account
            open_symbols = set(account.open_symbols) if account is not None else set()
            status = {
                "mode": self.mode,
                "venue": self.venue,
                "uptime_s": round(self._clock() - self._started, 3),
                "ticks": self.ticks,
                "decisions": dict(self.decisions),
                "trades": self.trades,
                "cycle_latency_ms": latencies,
                "cycle_latency_p50_ms": percentile(latencies, 50),
                "cycle_latency_p99_ms": percentile(latencies, 99),
                "symbols": {s: dict(row) for s, row in self._symbols.items()},
                "positions": [p for p in self.positions.values() if p["symbol"] in open_symbols],
                "equity": None if account is None else str(account.equity),
                "realised_pnl_today": None if account is None else str(account.realised_pnl_today),
            }
        for name, read in self.extra.items():
            status[name] = read()
        return status
