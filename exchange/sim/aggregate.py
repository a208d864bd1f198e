"""Higher timeframes from 1m bars, the way Bybit builds them: shared by the server and backtests."""

from __future__ import annotations

from typing import Any, Iterable

from exchange.sim.market import MINUTE_MS, Bar


def aggregate(klines_1m: Iterable[Any], interval: int, *, partial: bool = False) -> list[Bar]:
    """Group ascending 1m bars into ``interval``-minute bars aligned to epoch multiples.

    Inputs need ``start_ms, open, high, low, close, volume`` (and optionally ``turnover``);
    values keep their type (Decimal or float). A group missing any minute is dropped unless
    ``partial`` is set, which is how the forming (unconfirmed) candle is built.
    """
    if interval < 1:
        raise ValueError(f"interval must be >= 1 minute, got {interval}")
    span = interval * MINUTE_MS
    out: list[Bar] = []
    group: list[Any] = []
    group_start = None

    def flush() -> None:
        if group and (partial or len(group) == interval):
            turnovers = [getattr(b, "turnover", None) for b in group]
            out.append(Bar(
                start_ms=group_start,
                open=group[0].open,
                high=max(b.high for b in group),
                low=min(b.low for b in group),
                close=group[-1].close,
                volume=sum((b.volume for b in group[1:]), group[0].volume),
                turnover=None if any(t is None for t in turnovers) else sum(turnovers[1:], turnovers[0]),
            ))

    for bar in klines_1m:
        start = bar.start_ms - bar.start_ms % span
        if start != group_start:
            flush()
            group, group_start = [], start
        group.append(bar)
    flush()
    return out
