"""A tape's rows made a chunk at a time, for a reader that walks them forward once.

The rows (``backtest.tape.Row``: a state on which a path can fire, with its tick's BTC/ETH
states) are most of a recorded window's memory: about 400 MB a month of 25 symbols, as frozen
messages holding Python floats. A tuning study reads them again and again and keeps them whole;
the fast backtest (``backtest.fast``) reads each once, in order (``backtest.trial.run_trial``
walks the selected rows by ascending index and never goes back). So the batch recorder can hand
it ``ChunkedRows``: the rows of a span of ticks made when the reader first reaches one of them,
from the indicator columns computed once over the whole window, and dropped when it moves on.
Only one chunk's rows are held at once. A reader that reads a few rows of each chunk (the trial
reads about one in five) has them made a few chunks at a time instead (``select``): each call of
the recorder's ``make`` costs about 100 µs per symbol and timeframe besides its rows, which one
day's few selected rows do not amortise.

A row made in a chunk is the row the whole-window recording makes, field for field (the same
column values gathered the same way; ``tests/backtest/test_chunked_rows.py``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from backtest.tape import Row


class ChunkedRows(Sequence[Row]):
    """``bounds[-1]`` rows; chunk ``k`` is the rows ``bounds[k]`` to ``bounds[k + 1]``, made by
    ``make(positions)`` (ascending row positions inside one chunk, a row each) when one of them is
    first read. Reading an earlier chunk again makes it again (allowed, counted in
    ``chunks_made``: a forward reader makes each once).

    A reader that reads only some rows says which (``select``): a chunk then makes only those,
    with those of the chunks after it up to ``per_make`` of them. The trial reads the rows that
    may be TAKE, a fifth of those where a path fires."""

    def __init__(self, bounds: Sequence[int], make: Callable[[Sequence[int]], list[Row]]) -> None:
        if not bounds or bounds[0] != 0 or any(b < a for a, b in zip(bounds, bounds[1:])):
            raise ValueError("chunk bounds must start at 0 and ascend")
        self.bounds = list(bounds)
        self._make = make
        self._held: dict[int, Row] = {}
        self._selected: list[int] | None = None
        self._groups: list[int] = []  # with a selection: the first row position of each group of chunks made at once
        self.chunks_made = 0
        self.most_held = 0  # the most rows held at once

    def select(self, positions: Sequence[int], per_make: int = 1) -> None:
        """Only ``positions`` (ascending) will be read: their rows are made a group of whole
        chunks at a time, each group the fewest chunks holding at least ``per_make`` of them (1:
        a chunk at a time). A row outside them is still served if read, made with its whole chunk."""
        self._selected = list(positions)
        self._held = {}
        self._groups = []
        count = per_make
        for lo, hi in zip(self.bounds, self.bounds[1:]):
            if count >= per_make and lo < hi:
                self._groups.append(lo)
                count = 0
            count += bisect_left(self._selected, hi) - bisect_left(self._selected, lo)

    def __len__(self) -> int:
        return self.bounds[-1]

    @overload
    def __getitem__(self, k: int) -> Row: ...

    @overload
    def __getitem__(self, k: slice) -> list[Row]: ...

    def __getitem__(self, k: int | slice) -> Row | list[Row]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        row = self._held.get(k)
        if row is None:
            if k < 0:
                k += len(self)
            if not 0 <= k < len(self):
                raise IndexError(f"row {k} of {len(self)}")
            row = self._held.get(k)
            if row is None:
                self._load(k)
                row = self._held[k]
        return row

    def __iter__(self) -> Iterator[Row]:
        for chunk in range(len(self.bounds) - 1):
            lo, hi = self.bounds[chunk], self.bounds[chunk + 1]
            if lo < hi:
                rows = self._made(range(lo, hi))
                yield from rows  # this chunk's list: kept by the generator until it moves on

    def _load(self, k: int) -> None:
        chunk = bisect_right(self.bounds, k) - 1  # the last chunk starting at or before k: the non-empty one holding it
        lo, hi = self.bounds[chunk], self.bounds[chunk + 1]
        positions: Sequence[int] = range(lo, hi)
        if self._selected is not None:
            at = bisect_left(self._selected, k)
            if at < len(self._selected) and self._selected[at] == k:
                group = bisect_right(self._groups, k) - 1
                lo = self._groups[group]
                hi = self._groups[group + 1] if group + 1 < len(self._groups) else len(self)
                positions = self._selected[bisect_left(self._selected, lo):bisect_left(self._selected, hi)]
        self._held = {}  # the chunk before goes first: never two held at once
        self._held = dict(zip(positions, self._made(positions)))

    def _made(self, positions: Sequence[int]) -> list[Row]:
        rows = self._make(positions)
        if len(rows) != len(positions):
            raise RuntimeError(f"a chunk made {len(rows)} rows for {len(positions)} positions")
        self.chunks_made += 1
        self.most_held = max(self.most_held, len(rows))
        return rows
