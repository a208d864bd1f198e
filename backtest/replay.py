"""``run.py replay``: the flight recorder played back. The bars a journal recorded go through
fresh cores built from the current code and settings; the first decision that differs from the
recorded one is named, or the run is declared identical.

The account the decisions saw is rebuilt, not read: the router core runs against an in-process
venue fed the recorded 1m bars (``on_bar``, the paper-mode path), so positions, cooldowns and
equity follow from the replayed orders as they did from the recorded ones on the simulator.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import msgspec

from vocabulary.messages import Kline
from vocabulary.settings import Credentials, Settings, SettingsError
from backtest.cli import settings_with
from backtest.history import utc_minute
from backtest.progress import ProgressLine
from backtest.pipeline import Pipeline
from backtest.venue import InProcessVenue
from exchange.sim.config import SimConfig
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import MINUTE_MS, Bar, load_instruments
from journal.records import record_for

COMPARED = ("kind", "path", "side", "score", "reasons", "entry_price", "stop_price", "target_price", "qty")


class Recording(msgspec.Struct, kw_only=True):
    """What a journal holds for a replay: its confirmed bars and its decisions, in order."""

    bars: dict[tuple[str, int], list[Kline]]
    decisions: list[dict]
    symbols: tuple[str, ...]

    @property
    def first_tick(self) -> int:
        return self.decisions[0]["tick_ms"]

    @property
    def last_tick(self) -> int:
        return self.decisions[-1]["tick_ms"]


def _run_scope(db: sqlite3.Connection, run: int | None) -> str:
    """One run's rows (the newest by default): a restarted simulator replays the same minutes
    again with a fresh wallet, and two runs' decisions must never be compared as one."""
    has_runs = db.execute("select 1 from sqlite_master where type = 'table' and name = 'runs'").fetchone()
    if not has_runs:
        if run is not None:
            raise ValueError("this journal predates runs: replay it without --run")
        return "1"
    if run is None:
        newest = db.execute("select run_id from runs order by seq desc limit 1").fetchone()
        if newest is None:
            return "1"
        run = newest[0]
    elif not db.execute("select 1 from runs where run_id = ?", [run]).fetchone():
        known = ", ".join(str(r[0]) for r in db.execute("select distinct run_id from runs order by run_id"))
        raise ValueError(f"--run {run}: no such run in this journal (runs: {known or 'none'})")
    return "run_id is null" if run == 0 else f"run_id = {int(run)}"


def read_journal(path: Path, order: Iterable[str] = (), run: int | None = None) -> Recording:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        scope = _run_scope(db, run)
        fast = db.execute("select 1 from events where kind = 'started' and source = 'backtest' and message like "
                          f"'engine=fast %' and {scope} limit 1").fetchone()
        if fast:
            # Its journal holds the TAKEs and trades, not every decision nor the bootstrap's bars.
            raise ValueError(f"{path} was written by the fast backtest engine, which journals no NO_SETUP/REJECT "
                             "decisions and no bootstrap bars: there is nothing to replay against; run the backtest "
                             "with --faithful for a replayable journal")
        bars: dict[tuple[str, int], list[Kline]] = {}
        for r in db.execute("select symbol, interval, start_ms, open, high, low, close, volume, turnover from bars "
                            f"where confirmed = 1 and {scope} order by symbol, interval, start_ms, seq"):
            series = bars.setdefault((r["symbol"], r["interval"]), [])
            if series and series[-1].start_ms == r["start_ms"]:
                continue  # a bar journaled twice (a restart's bootstrap) is one bar
            series.append(Kline(symbol=r["symbol"], interval=r["interval"], start_ms=r["start_ms"], open=r["open"], high=r["high"],
                                low=r["low"], close=r["close"], volume=r["volume"], turnover=r["turnover"]))
        decisions = [dict(r) for r in db.execute(f"select tick_ms, symbol, {', '.join(COMPARED)} from decisions where {scope} order by seq")]
    # A tick's bars are written just after its decisions (journal.writer): a process killed
    # between the two leaves the last tick's decisions without its bars. Nothing can replay
    # them, so they are left out, as the tick a crash interrupted.
    newest_bar = max((s[-1].end_ms for (_, tf), s in bars.items() if tf == 1 and s), default=None)
    if newest_bar is not None:
        decisions = [d for d in decisions if d["tick_ms"] <= newest_bar]
    if not decisions:
        raise ValueError(f"{path} holds no decisions to replay")
    found = {d["symbol"] for d in decisions}
    symbols = tuple(s for s in order if s in found) + tuple(sorted(found - set(order)))
    return Recording(bars=bars, decisions=decisions, symbols=symbols)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))  # the shortest text that reads back as the same float: the venue's text


def _bar(k: Kline) -> Bar:
    return Bar(k.start_ms, _decimal(k.open), _decimal(k.high), _decimal(k.low), _decimal(k.close), _decimal(k.volume))


class RecordedVenue(InProcessVenue):
    """The in-process venue, with the journal's bars for market data: backfills read them, each
    minute's 1m bars fill orders (``on_bar``), and the bars closing at a boundary are pushed."""

    def __init__(self, recording: Recording, rules_file: Path, config: SimConfig) -> None:
        start = recording.first_tick - MINUTE_MS
        self.recording = recording
        self._by_start = {key: {k.start_ms: k for k in series} for key, series in recording.bars.items()}
        seeds = {s: _bar(self._by_start[(s, 1)][start - MINUTE_MS]) for s in recording.symbols}
        super().__init__(InProcessSim.fed(load_instruments(rules_file), config, seeds))

    @property
    def is_finished(self) -> bool:
        return self.sim.clock_ms >= self.recording.last_tick

    def advance(self) -> int:
        start = self.sim.clock_ms
        for symbol in self.recording.symbols:
            bar = self._by_start.get((symbol, 1), {}).get(start)
            if bar is not None:
                self.sim.on_bar(symbol, _bar(bar))
        self.sim.venue.clock_ms = self.sim.venue.engine.now_ms = start + MINUTE_MS  # a minute without bars still passes
        self.sim.close_minute(start + MINUTE_MS)  # its funding after all its bars, as the recorded venue's
        return start + MINUTE_MS

    def klines_range(self, symbol: str, interval: int, start_ms: int, end_ms: int) -> list[Kline]:
        clock = self.sim.clock_ms
        return [k for k in self.recording.bars.get((symbol, interval), ())
                if start_ms <= k.start_ms < end_ms and k.start_ms + interval * MINUTE_MS <= clock]

    def closed_klines(self, boundary_ms: int, timeframes: Iterable[int], symbols: Iterable[str]) -> list[Kline]:
        out = []
        for interval, symbol in sorted((i, s) for i in set(timeframes) for s in symbols):
            bar = self._by_start.get((symbol, interval), {}).get(boundary_ms - interval * MINUTE_MS)
            if bar is not None:
                out.append(bar)
        return out


def replay(settings: Settings, journal: Path, *, rules_file: Path, equity: float | None = None,
           run: int | None = None, progress: Callable[[int, int], None] | None = None) -> tuple[int, str | None]:
    """(decisions compared, the first difference in words or None), for one run of the journal;
    ``progress(minutes done, total)``."""
    recording = read_journal(journal, settings.bot.symbols, run)
    overrides: dict[str, object] = {"symbols": recording.symbols, "rate_limits": False}
    if equity is not None:
        overrides["initial_equity"] = equity
    venue = RecordedVenue(recording, rules_file, SimConfig.from_settings(settings.sim, **overrides))
    try:
        pipeline = Pipeline(settings, venue, None, recording.symbols)
        pipeline.start()
        total = max((len(bars) for (_, interval), bars in recording.bars.items() if interval == 1), default=0)
        done = 0
        while not venue.is_finished:
            pipeline.step()
            done += 1
            if progress is not None and (done % 100 == 0 or venue.is_finished):
                progress(done, total)
    finally:
        venue.close()
    replayed: dict[tuple[int, str], dict] = {}
    for decision in pipeline.decisions:
        _, row = record_for(decision)  # type: ignore[misc]
        replayed[(decision.tick_ms, decision.symbol)] = row
    for n, recorded in enumerate(recording.decisions):
        key = (recorded["tick_ms"], recorded["symbol"])
        when = utc_minute(key[0])
        ours = replayed.get(key)
        if ours is None:
            return n, f"tick {key[0]} ({when} UTC) {key[1]}: recorded {recorded['kind']}, the replay made no decision"
        for field in COMPARED:
            if ours[field] != recorded[field]:
                mine, theirs = _narrowed(field, ours[field], recorded[field])
                return n, f"tick {key[0]} ({when} UTC) {key[1]}: {field} recorded {theirs}, replayed {mine}"
    return len(recording.decisions), None


def _narrowed(field: str, ours: object, theirs: object) -> tuple[str, str]:
    """The differing part: for reasons, the first reason that differs, not the whole list."""
    if field == "reasons" and isinstance(ours, str) and isinstance(theirs, str):
        a, b = json.loads(ours), json.loads(theirs)
        for x, y in zip(a, b):
            if x != y:
                return json.dumps(x), json.dumps(y)
        return f"{len(a)} reasons", f"{len(b)} reasons"
    return repr(ours), repr(theirs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", default=None, metavar="FILE", help="the journal (flight recorder) to play back (default: [journal] path)")
    parser.add_argument("--run", type=int, default=None, metavar="N", help="which run of the journal (default: the newest)")
    parser.add_argument("--equity", type=float, default=None, help="starting equity of the recorded run (default: [sim] initial_equity)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting for the replay (repeatable)")


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    try:
        settings = settings_with(args, settings)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    journal = Path(args.journal or settings.journal.path)
    if not journal.is_file():
        print(f"run.py replay: no journal at {journal} (pass --journal FILE)", file=sys.stderr)
        return 2
    line = ProgressLine("replay", unit="min")
    try:
        compared, difference = replay(settings, journal, rules_file=Path(settings.sim.data_dir) / "instruments-bybit-linear.csv",
                                      equity=args.equity, run=args.run, progress=line.update)
    except sqlite3.DatabaseError as exc:
        print(f"run.py replay: {journal} is not an smtbot journal ({exc}): pass --journal FILE", file=sys.stderr)
        return 2
    except (ValueError, KeyError, OSError) as exc:
        print(f"run.py replay: {exc}", file=sys.stderr)
        return 2
    finally:
        line.close()
    if difference is None:
        print(f"identical: {compared} decisions")
        return 0
    print(f"differs after {compared} identical decisions: {difference}")
    return 1
