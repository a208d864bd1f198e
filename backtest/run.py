"""One backtest: the simulator's replay of 1m files through the bot's cores, in one thread,
with the journal kept in the live schema so the dashboard can browse the run."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import msgspec

from vocabulary.messages import Decision, TradeClosed
from vocabulary.settings import Settings
from backtest.pipeline import Pipeline
from backtest.venue import InProcessVenue
from exchange.sim.config import IntrabarPath, SimConfig
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import MINUTE_MS
from journal.writer import JournalWriter


class FillModel(msgspec.Struct, frozen=True, kw_only=True):
    """The simulator's fill and fee choices a backtest may vary; None keeps the settings' value."""

    maker_fee: float | None = None
    taker_fee: float | None = None
    intrabar_path: IntrabarPath = "direction"
    fill_through_ticks: int = 1
    sl_before_tp: bool = True
    initial_equity: float | None = None


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """What to replay: symbols (empty = the settings' list), from/to in ms (None = the simulator's
    default start, which leaves room for the bootstrap history, and the end of the data)."""

    symbols: tuple[str, ...] = ()
    start_ms: int | None = None
    end_ms: int | None = None
    data_dir: str | None = None


class Result(msgspec.Struct, kw_only=True):
    """One run, from either engine. The faithful engine (``run_backtest``) holds every decision
    and its pipeline's counts; the fast one (``backtest.fast``) only its TAKE decisions and its own
    counts, and the time its stages took (``timings``)."""

    symbols: tuple[str, ...]
    start_ms: int
    end_ms: int
    initial_equity: Decimal
    decisions: list[Decision]
    trades: list[TradeClosed]
    equity: list[tuple[int, Decimal, int]]
    counts: dict[str, int]
    wall_s: float
    engine: str = "faithful"  # or "fast"
    timings: dict[str, float] = {}

    @property
    def ticks(self) -> int:
        return len(self.equity)


Progress = Callable[[int, int], None]  # (minutes done, minutes in total)


def sim_config(settings: Settings, window: Window, fills: FillModel) -> SimConfig:
    """The simulator as ``make run`` configures it from ``[sim]``, with the backtest's choices on top."""
    overrides: dict[str, object] = {
        "symbols": window.symbols or tuple(settings.bot.symbols),
        "rate_limits": False,  # the server's limiter counts wall-clock time, which a replay outruns
        "intrabar_path": fills.intrabar_path,
        "fill_through_ticks": fills.fill_through_ticks,
        "sl_before_tp": fills.sl_before_tp,
    }
    if window.data_dir is not None:
        overrides["data_dir"] = window.data_dir
    for name in ("maker_fee", "taker_fee", "initial_equity"):
        value = getattr(fills, name)
        if value is not None:
            overrides[name] = value
    return SimConfig.from_settings(settings.sim, **overrides)


def backtest_journal(path: Path) -> JournalWriter:
    """A journal in the live schema, without the per-commit fsync: the live bot needs an order on
    disk before it acts, a backtest's journal is rebuilt by running it again."""
    writer = JournalWriter(path)
    writer.db.execute("PRAGMA synchronous=OFF")
    return writer


def run_backtest(settings: Settings, window: Window = Window(), fills: FillModel = FillModel(), *,
                 journal_path: str | Path | None = None, progress: Progress | None = None) -> Result:
    """Replay ``window`` through the cores; the journal goes to ``journal_path`` (a new file)."""
    config = sim_config(settings, window, fills)
    sim = InProcessSim.replay(config, start_ms=window.start_ms)
    venue = InProcessVenue(sim, reuse_reads=True)  # same answers; an unchanged account is not re-read
    journal = None
    if journal_path is not None:
        path = Path(journal_path)
        if path.exists():
            raise FileExistsError(f"{path} exists: a backtest journal is written once, never appended to")
        journal = backtest_journal(path)
    started = time.perf_counter()
    start_ms = sim.clock_ms
    end_ms = sim.venue.store.end_ms if window.end_ms is None else min(window.end_ms, sim.venue.store.end_ms)
    if end_ms <= start_ms:
        raise ValueError(f"nothing to replay: the window ends at {end_ms}, before its start {start_ms}")
    total = (end_ms - start_ms) // MINUTE_MS
    try:
        pipeline = Pipeline(settings, venue, journal, config.symbols)
        pipeline.start()
        done = 0
        while not venue.is_finished and sim.clock_ms < end_ms:
            pipeline.step()
            done += 1
            if progress is not None and (done % 500 == 0 or done == total):
                progress(done, total)
    finally:
        venue.close()
        if journal is not None:
            journal.close()
    return Result(
        symbols=pipeline.symbols, start_ms=start_ms, end_ms=sim.clock_ms,
        initial_equity=Decimal(str(config.initial_equity)),
        decisions=pipeline.decisions, trades=pipeline.trades, equity=pipeline.equity,
        counts=dict(pipeline.counts), wall_s=time.perf_counter() - started,
    )
