"""``run.py backtest``: historical 1m klines through the bot's cores, and a report.

Two engines give the same TAKE decisions, trades and equity (``tests/backtest/test_fast.py``):
the fast one by default (``backtest.fast``: the window recorded once, only the states on which a
path fires decided, each trade followed on the 1m bars), and ``--faithful``, today's full replay
through the cores, the router and the simulator minute by minute, which also records every
NO_SETUP/REJECT decision, order and fill. What the fast engine cannot honour it refuses (exit 2,
one line naming ``--faithful``)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import sys
import tomllib
from pathlib import Path

from vocabulary.settings import Credentials, Settings, SettingsError, load_settings
from backtest import metrics, report
from backtest.fast import run_fast_backtest
from backtest.progress import ProgressLine
from backtest.run import FillModel, Window, run_backtest, sim_config
from journal.lock import JournalBusy, JournalLock
from indicators.kernels import KERNELS

EXIT_USAGE = 2


def parse_time(text: str) -> int:
    """``2025-06-01`` or ``2025-06-01T12:30`` (UTC) → ms, on a whole minute."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use 2025-06-01 or 2025-06-01T12:30, UTC)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    ms = int(when.timestamp() * 1000)
    return ms - ms % 60_000


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbols", default=None, help="comma-separated symbols (default: [bot] symbols)")
    parser.add_argument("--from", dest="start", type=parse_time, default=None, metavar="DATE",
                        help="first boundary, UTC (default: as the simulator, 6000 minutes into the data)")
    parser.add_argument("--to", dest="end", type=parse_time, default=None, metavar="DATE", help="last boundary, UTC (default: end of data)")
    parser.add_argument("--data", default=None, metavar="DIR", help="kline files (default: [sim] data_dir, the shipped sample)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting for this run (repeatable), typed like TOML: --set strategy.rr=2.0")
    parser.add_argument("--overlay", dest="overlays", action="append", default=[], metavar="FILE",
                        help="a settings overlay (e.g. run.py tune's best.toml), applied before --set")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser)
    parser.add_argument("--out", default="var/backtest", metavar="DIR", help="report.json, report.md, equity.png, journal.sqlite")
    parser.add_argument("--force", action="store_true", help="(not needed: a previous backtest in --out is replaced, with a line saying so)")
    parser.add_argument("--equity", type=float, default=None, help="starting equity in USDT (default: [sim] initial_equity)")
    parser.add_argument("--maker-fee", type=float, default=None, help="maker fee rate (default: [sim] maker_fee)")
    parser.add_argument("--taker-fee", type=float, default=None, help="taker fee rate (default: [sim] taker_fee)")
    parser.add_argument("--intrabar-path", choices=("direction", "OHLC", "OLHC"), default="direction",
                        help="price path inside a 1m bar (default: direction, O-L-H-C on up bars)")
    parser.add_argument("--fill-through-ticks", type=int, default=1,
                        help="a resting limit fills once the path trades this many ticks beyond it (0 = a touch fills)")
    parser.add_argument("--tp-first", action="store_true", help="when stop and target share a bar, the target fills (default: the stop)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--processes", choices=("auto", "1", "2"), default="auto",
                        help="fast engine: 2 computes about half the indicator columns in a forked worker process "
                             "(same results, on a second core); auto (default): 2 where the indicator loops are the "
                             "pure-Python ones (no compiler at install), this process may run on two cores, can fork "
                             "and the load average leaves a core idle, else 1")
    parser.add_argument("--faithful", action="store_true",
                        help="replay every minute through the cores, the router and the simulator (slower; journals every "
                             "decision, order and fill). Default: the fast engine, same TAKEs, trades and equity")


def override_env(args: argparse.Namespace) -> dict[str, str]:
    """``--overlay`` files, then ``--set`` items, as the environment overrides settings loading reads."""
    env: dict[str, str] = {}
    for overlay in getattr(args, "overlays", []):
        try:
            sections = tomllib.loads(Path(overlay).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(overlay, "", f"cannot read overlay: {exc}") from None
        for section, values in sections.items():
            if not isinstance(values, dict):
                raise SettingsError(overlay, section, "an overlay holds [section] tables only")
            for name, value in values.items():
                env[f"SMTBOT__{section.upper()}__{name.upper()}"] = _toml_value(value)
    for item in args.overrides:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2:
            raise SettingsError("--set", key, "expected SECTION.KEY=VALUE")
        env[f"SMTBOT__{parts[0].upper()}__{parts[1].upper()}"] = value
    return env


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value) if not isinstance(value, list) else json.dumps(value)


def settings_with(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with ``--overlay`` and ``--set`` applied, validated like the environment's."""
    env = override_env(args)
    if not env:
        return settings
    return load_settings(Path(args.settings).read_bytes(), {**os.environ, **env}, source=args.settings)


def window_of(args: argparse.Namespace) -> Window:
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()) if args.symbols else ()
    return Window(symbols=symbols, start_ms=args.start, end_ms=args.end, data_dir=args.data)


def processes_of(choice: str, kernels: str | None = None) -> int:
    """``--processes``: "auto" is 2 where the batch indicator loops are the pure-Python ones
    (``kernels``, by default ``indicators.kernels.KERNELS``), this process may run on two cores,
    fork exists (the worker: ``backtest.batch_tape._forked_series``) and the last minute's load
    average leaves a core idle (below cores - 1), else 1. Results are the same either way
    (tests/backtest/test_fast.py); only the time differs. The worker computes indicator columns
    and hands them back pickled: it paid while they were slow to compute (the list loops: a
    cached month 112k -> 134k 1m-bars/s on the 2-core bench machine), no longer with the compiled
    ones (C: the month 362-363k in one process, 355-359k in two; a year x 25 symbols, each run a
    fresh process, 42.1-45.8 s in one, 45.9 s in two)."""
    if choice != "auto":
        return int(choice)
    if (KERNELS if kernels is None else kernels) != "python":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return 2 if cores >= 2 and hasattr(os, "fork") and busy < cores - 1 else 1


def progress_printer(enabled: bool):
    """Done/total, rate and ETA on a terminal, a log line per quarter elsewhere (backtest.progress)."""
    if not enabled:
        return None, lambda: None
    line = ProgressLine("backtest", unit="min")
    return line.update, line.close


def replace_previous(journal: Path) -> str | None:
    """Remove the previous backtest's journal in --out, saying so (a backtest is deterministic:
    running it again gives it back). A bot's journal, or one open for writing, is never
    removed: the one-line refusal is returned instead."""
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            modes = {row[0] for row in db.execute("SELECT DISTINCT mode FROM runs")}
    except sqlite3.Error:
        modes = set()  # a journal from before runs were recorded, or not one at all: look no further
    bot_runs = modes & {"sim", "paper", "live"}
    if bot_runs:
        return f"{journal} is a bot's journal ({', '.join(sorted(bot_runs))} runs), not a backtest's: choose another --out"
    try:
        with JournalLock(journal):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{journal}{suffix}").unlink(missing_ok=True)
    except JournalBusy as exc:
        return f"--out {journal.parent}: {exc}"
    print(f"{journal.parent}: replacing the previous backtest there (it is deterministic: run it again to get it back)",
          file=sys.stderr)
    return None


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    try:
        settings = settings_with(args, settings)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    journal = out / "journal.sqlite"
    if journal.exists():
        problem = replace_previous(journal)
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_USAGE
    fills = FillModel(maker_fee=args.maker_fee, taker_fee=args.taker_fee, intrabar_path=args.intrabar_path,
                      fill_through_ticks=args.fill_through_ticks, sl_before_tp=not args.tp_first, initial_equity=args.equity)
    update, finish = progress_printer(not args.no_progress)
    try:
        if args.faithful:
            result = run_backtest(settings, window_of(args), fills, journal_path=journal, progress=update)
        else:
            result = run_fast_backtest(settings, window_of(args), fills, journal_path=journal, progress=update,
                                       processes=processes_of(args.processes))
    except (ValueError, FileExistsError) as exc:  # FastRefusal included: its line names --faithful
        print(f"run.py backtest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        finish()
    round_trip = metrics.venue_round_trip_of(sim_config(settings, window_of(args), fills))
    m = metrics.compute(result.trades, result.equity, result.initial_equity, result.start_ms, result.end_ms, round_trip)
    notes = report.write(result, m, out)
    print(report.terminal(result, m))
    for note in notes:
        print(note)
    files = [out / "report.json", out / "report.md", out / "report.html", *([out / "equity.png"] if not notes else []), journal]
    print("written: " + ", ".join(str(f) for f in files))
    return 0
