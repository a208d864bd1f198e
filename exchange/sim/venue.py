"""The replay core: market data, engine and the replay clock together, still without I/O.

``advance()`` moves the clock one minute: the engine first matches the closing 1m bar of every
symbol, then the caller publishes the private events and only after them the klines, so a
consumer that sees the confirmed kline of boundary B has already seen every fill of B.
Nothing later than the clock is ever visible (``klines`` has no look-ahead).
"""

from __future__ import annotations

from decimal import Decimal

from exchange.sim.aggregate import aggregate
from exchange.sim.config import SimConfig
from exchange.sim.engine import Engine
from exchange.sim.intrabar import bar_path
from exchange.sim.market import MINUTE_MS, Bar, InstrumentRules, KlineStore
from exchange.sim.orders import V5Error

REST_INTERVALS = {"1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120, "240": 240,
                  "360": 360, "720": 720, "D": 1440}
ZERO = Decimal(0)


class Venue:
    def __init__(self, store: KlineStore, rules: dict[str, InstrumentRules], config: SimConfig):
        self.store = store
        self.config = config
        self.engine = Engine(rules, config)
        self.clock_ms = store.first_ms + config.warmup_minutes * MINUTE_MS
        if self.clock_ms >= store.end_ms:
            raise ValueError("warmup_minutes leaves no data to replay")
        for symbol in store.symbols:
            last = store.bar_at(symbol, self.clock_ms - MINUTE_MS)
            if last is not None:
                self.engine.set_last_price(symbol, last.close)
        self.engine.now_ms = self.clock_ms
        self.revealed = 0

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.store.symbols

    @property
    def is_finished(self) -> bool:
        return self.store.is_finished(self.clock_ms)

    def advance(self) -> int:
        """Close the minute ending at ``clock + 1m``: match it, move the clock; returns the new boundary."""
        if self.is_finished:
            raise RuntimeError("the replay has reached the end of the data")
        start = self.clock_ms
        boundary = start + MINUTE_MS
        for symbol in self.symbols:
            bar = self.store.bar_at(symbol, start)
            if bar is not None:
                self.engine.on_bar(symbol, bar, boundary)
        self.engine.settle_funding(boundary)  # after the bars: a position closed in them pays nothing
        self.clock_ms = boundary
        self.engine.now_ms = boundary
        self.revealed = 0
        return boundary

    def candle(self, symbol: str, interval: int, start_ms: int) -> tuple[Bar, bool] | None:
        """The candle of ``interval`` minutes starting at ``start_ms`` as known at the clock, and
        whether it is closed. A forming candle holds its closed minutes plus the open of the current one."""
        span = interval * MINUTE_MS
        if interval == 1 and start_ms % MINUTE_MS == 0 and start_ms + MINUTE_MS <= self.clock_ms:
            # A closed 1m candle is its bar (what aggregating that one bar gives): the hot case
            # of every push and most backfills, spared the generic path's copy.
            bar = self.store.bar_at(symbol, start_ms)
            return None if bar is None else (bar, True)
        end = min(start_ms + span, self.clock_ms)
        minutes = self.store.bars_between(symbol, start_ms, end)
        confirmed = start_ms + span <= self.clock_ms
        if not confirmed:
            current = self.store.bar_at(symbol, self.clock_ms)
            if current is not None:
                minutes.append(self._forming_minute(current))
        if not minutes:
            return None
        bars = aggregate(minutes, interval, partial=True)
        return (bars[-1], confirmed) if bars else None

    def reveal(self, points: int) -> None:
        """Show ``points`` more points (0..2) of the current minute's intrabar path in forming candles.

        Realtime replays call this during the minute so the forming candle moves as a live one
        would; the close is never shown before the boundary.
        """
        self.revealed = max(0, min(2, points))

    def _forming_minute(self, current: Bar) -> Bar:
        shown = bar_path(current, self.config.intrabar_path)[: self.revealed + 1]
        exponent = Decimal(1).scaleb(current.volume.as_tuple().exponent)
        volume = (current.volume * self.revealed / 3).quantize(exponent) if self.revealed else ZERO
        turnover = ZERO if current.turnover is not None else None
        return Bar(self.clock_ms, shown[0], max(shown), min(shown), shown[-1], volume, turnover)

    def klines(self, symbol: str, interval_text: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[Bar]:
        """GET /v5/market/kline: candles with start in [start, end], newest ``limit``, newest first,
        the forming one included, nothing beyond the clock."""
        interval = REST_INTERVALS.get(interval_text)
        if interval is None:
            raise V5Error(10001, f"params error: interval invalid: {interval_text}")
        span = interval * MINUTE_MS
        newest = self.clock_ms - self.clock_ms % span
        if self.is_finished:
            newest -= span
        hi = newest if end_ms is None else min(newest, end_ms - end_ms % span)
        lo = start_ms if start_ms is not None else None
        out = []
        t = hi
        earliest = self.store.first_ms - 20 * 1440 * MINUTE_MS
        while len(out) < limit and t >= earliest and (lo is None or t >= lo):
            found = self.candle(symbol, interval, t)
            if found is None:
                if out or t < self.store.first_ms:
                    break
            else:
                out.append(found[0])
            t -= span
        return out

    def closing_intervals(self, boundary_ms: int, intervals: tuple[int, ...]) -> list[int]:
        return [i for i in intervals if boundary_ms % (i * MINUTE_MS) == 0]
