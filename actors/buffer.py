"""KlineBuffer: one symbol's bars of one timeframe, in order, each confirmed bar once.

The WebSocket repeats bars (every in-progress update, duplicate confirms after a
reconnect) and can skip some (a dead socket). The buffer turns that stream into a
strictly increasing sequence of confirmed bars and says exactly what was wrong with
anything it refused, so the symbol core can backfill instead of guessing.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

import msgspec

from vocabulary.messages import Kline


class Added(Enum):
    APPENDED = "appended"  # a confirmed bar, next in sequence
    PARTIAL = "partial"  # an in-progress bar replaced the previous in-progress one
    DUPLICATE = "duplicate"  # a confirmed bar already held (same start)
    STALE = "stale"  # older than the newest confirmed bar and not a duplicate
    GAP = "gap"  # confirmed, but bars between the newest held and this one are missing


class Gap(msgspec.Struct, frozen=True):
    """Bars in ``[from_ms, to_ms)`` are missing; a backfill of that span closes it."""

    from_ms: int
    to_ms: int


class KlineBuffer:
    """Bounded, ordered confirmed bars of one symbol × timeframe plus the bar in progress."""

    def __init__(self, symbol: str, interval: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.symbol = symbol
        self.interval = interval
        self.step_ms = interval * 60_000
        self._bars: deque[Kline] = deque(maxlen=capacity)
        self.partial: Kline | None = None

    def __len__(self) -> int:
        return len(self._bars)

    @property
    def last(self) -> Kline | None:
        return self._bars[-1] if self._bars else None

    def bars(self) -> tuple[Kline, ...]:
        return tuple(self._bars)

    def next_start_ms(self) -> int | None:
        """Start of the next confirmed bar the buffer will accept without a gap."""
        return None if not self._bars else self._bars[-1].start_ms + self.step_ms

    def add(self, kline: Kline) -> Added:
        """Take one bar from the feed or a backfill; APPENDED is the only case that grows the buffer."""
        if kline.symbol != self.symbol or kline.interval != self.interval:
            raise ValueError(f"{kline.symbol} {kline.interval}m bar offered to the {self.symbol} {self.interval}m buffer")
        if kline.start_ms % self.step_ms:
            raise ValueError(f"bar start {kline.start_ms} is not on the {self.interval}m grid")
        expected = self.next_start_ms()
        if not kline.confirmed:
            if expected is not None and kline.start_ms < expected:
                return Added.STALE
            self.partial = kline
            return Added.PARTIAL
        if expected is None or kline.start_ms == expected:
            self._bars.append(kline)
            if self.partial is not None and self.partial.start_ms <= kline.start_ms:
                self.partial = None
            return Added.APPENDED
        if kline.start_ms > expected:
            return Added.GAP
        return Added.DUPLICATE if self._holds(kline.start_ms) else Added.STALE

    def accept_gap(self, kline: Kline) -> None:
        """Append ``kline`` across a gap the venue confirmed it cannot fill (a halted market)."""
        if not kline.confirmed or self.add(kline) is not Added.GAP:
            raise ValueError("accept_gap is only for a confirmed bar after a gap")
        self._bars.clear()  # the run restarts: older bars are not consecutive with it
        self._bars.append(kline)
        self.partial = None

    def gap_before(self, kline: Kline) -> Gap | None:
        """The missing span between the newest confirmed bar and ``kline``, if any."""
        expected = self.next_start_ms()
        if expected is None or kline.start_ms <= expected:
            return None
        return Gap(expected, kline.start_ms)

    def _holds(self, start_ms: int) -> bool:
        if not self._bars or start_ms < self._bars[0].start_ms:
            return False
        index = (start_ms - self._bars[0].start_ms) // self.step_ms
        return index < len(self._bars) and self._bars[index].start_ms == start_ms
