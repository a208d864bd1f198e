"""A tape's rows made a chunk at a time, for a reader that walks them forward once.

The rows (``backtest.tape.Row``: a state on which a path can fire, with its tick's BTC/ETH
states) are most of a recorded window's memory: about 400 MB a month of 25 symbols, as frozen
messages holding Python floats. A tuning study reads them again and again and keeps them whole;
the fast backtest (``backtest.fast``) reads each once, in order (``backtest.trial.run_trial``
walks the selected rows by ascending index and never goes back). So the batch recorder can hand
it ``ChunkedRows``: the rows of a span of ticks made when the reader first reaches one of them,
from the indicator columns computed once over the whole window, and dropped when it moves on.
Only one chunk's rows are held at once.

A row made in a chunk is the row the whole-window recording makes, field for field (the same
column values gathered the same way; ``tests/backtest/test_chunked_rows.py``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from backtest.tape import Row


class ChunkedRows(Sequence[Row]):
    """``bounds[-1]`` rows; chunk ``k`` is the rows ``bounds[k]`` to ``bounds[k + 1]``, made by
    ``make(lo, hi)`` when one of them is first read. Reading an earlier chunk again makes it
    again (allowed, counted in ``chunks_made``: a forward reader makes each once)."""

    def __init__(self, bounds: Sequence[int], make: Callable[[int, int], list[Row]]) -> None:
        if not bounds or bounds[0] != 0 or any(b < a for a, b in zip(bounds, bounds[1:])):
            raise ValueError("chunk bounds must start at 0 and ascend")
        self.bounds = list(bounds)
        self._make = make
        self._lo = self._hi = 0
        self._rows: list[Row] = []
        self.chunks_made = 0
        self.most_held = 0  # the most rows held at once

    def __len__(self) -> int:
        return self.bounds[-1]

    @overload
    def __getitem__(self, k: int) -> Row: ...

    @overload
    def __getitem__(self, k: slice) -> list[Row]: ...

    def __getitem__(self, k: int | slice) -> Row | list[Row]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if not self._lo <= k < self._hi:
            if k < 0:
                k += len(self)
            if not 0 <= k < len(self):
                raise IndexError(f"row {k} of {len(self)}")
            if not self._lo <= k < self._hi:
                self._load(k)
        return self._rows[k - self._lo]

    def __iter__(self) -> Iterator[Row]:
        for chunk in range(len(self.bounds) - 1):
            lo, hi = self.bounds[chunk], self.bounds[chunk + 1]
            if lo < hi:
                self._load(lo)
                yield from self._rows  # this chunk's list: kept by the generator until it moves on

    def _load(self, k: int) -> None:
        chunk = bisect_right(self.bounds, k) - 1  # the last chunk starting at or before k: the non-empty one holding it
        lo, hi = self.bounds[chunk], self.bounds[chunk + 1]
        self._rows = []  # the chunk before goes first: never two held at once
        self._rows = self._make(lo, hi)
        if len(self._rows) != hi - lo:
            raise RuntimeError(f"chunk {chunk} made {len(self._rows)} rows, not {hi - lo}")
        self._lo, self._hi = lo, hi
        self.chunks_made += 1
        self.most_held = max(self.most_held, hi - lo)
