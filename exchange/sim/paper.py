"""Paper trading: live public bars in, fills simulated in the process, nothing sent to the
exchange's private API. ``InProcessSim`` is single-threaded; here bars arrive on the stream
thread and requests on the router's, so one lock makes them take turns."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import httpx

from exchange.sim.config import SimConfig
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import Bar, InstrumentRules


class PaperSim:
    def __init__(self, rules: Mapping[str, InstrumentRules], config: SimConfig, last_bars: Mapping[str, Bar]) -> None:
        self._sim = InProcessSim.fed(rules, config, last_bars)
        self._lock = threading.Lock()
        self._newest = {symbol: bar.start_ms for symbol, bar in last_bars.items()}
        self.bars = 0

    def on_bar(self, symbol: str, bar: Bar) -> int:
        """A closed live 1m bar: match ``symbol``'s resting orders against it. Each bar counts
        once, in time order: history a symbol reloads (a restart's bootstrap) is not replayed
        against orders resting now."""
        with self._lock:
            if bar.start_ms <= self._newest.get(symbol, -1):
                return self._sim.now_ms()
            self._newest[symbol] = bar.start_ms
            self.bars += 1
            clock = self._sim.on_bar(symbol, bar)
            # No private stream in paper mode (the router reads positions every cycle), so
            # the queued pushes are dropped rather than kept forever.
            self._sim.drain_private()
            return clock

    def now_ms(self) -> int:
        with self._lock:
            return self._sim.now_ms()

    @property
    def transport(self) -> httpx.BaseTransport:
        return _LockedTransport(self._sim.transport, self._lock)


class _LockedTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, lock: threading.Lock) -> None:
        self._inner = inner
        self._lock = lock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            return self._inner.handle_request(request)
