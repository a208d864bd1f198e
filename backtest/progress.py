"""Progress of long work (backtest, download, replay): done/total, rate and ETA on one
terminal line, redrawn in place; where stderr is not a terminal (CI, a pipe, a log file) no
line is drawn and a log record marks every quarter instead.

``describe`` is the pure part (numbers in, text out); ``ProgressLine`` is the shell that owns
the clock and the stream.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("smtbot.progress")

REDRAW_S = 0.2  # at most five redraws a second: a terminal line, not a busy loop


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe(label: str, done: int, total: int | None, elapsed_s: float, unit: str = "") -> str:
    """``backtest  1,200/37,197 min  3.2%  410 min/s  ETA 1:28``; without a total, no % or ETA."""
    unit_text = f" {unit}" if unit else ""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    rate_text = f"{rate:,.0f}{unit_text}/s" if rate >= 10 else f"{rate:,.1f}{unit_text}/s"
    if not total:
        return f"{label}  {done:,}{unit_text}  {rate_text}  {_clock_text(elapsed_s)} elapsed"
    done = min(done, total)
    left = (total - done) / rate if rate > 0 else None
    eta = "ETA --:--" if left is None else ("done" if done >= total else f"ETA {_clock_text(left)}")
    return f"{label}  {done:,}/{total:,}{unit_text}  {done / total:6.1%}  {rate_text}  {eta}"


class ProgressLine:
    """``update(done, total)`` as work advances, ``close()`` at the end (also on errors)."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "", stream: TextIO | None = None,
                 is_tty: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.is_tty = self.stream.isatty() if is_tty is None else is_tty
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._width = 0
        self._quarter = 0
        self.done = 0

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self._clock()
        text = None
        if self.is_tty:
            finished = self.total is not None and done >= self.total
            if self._drawn_at is None or now - self._drawn_at >= REDRAW_S or finished:
                text = describe(self.label, done, self.total, now - self._started, self.unit)
                # Pad over the previous line's tail: the line only ever gets redrawn in place.
                self.stream.write("\r" + text.ljust(self._width))
                self.stream.flush()
                self._width = len(text)
                self._drawn_at = now
        elif self.total:
            quarter = min(4, done * 4 // self.total)
            if quarter > self._quarter:
                self._quarter = quarter
                log.info(text or describe(self.label, done, self.total, now - self._started, self.unit))

    def close(self) -> None:
        if self.is_tty and self._drawn_at is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = None
