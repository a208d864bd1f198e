"""Cycle latency of the actor pipeline: from the last confirmed-bar frame of a boundary
reaching the symbol actors to the last decision of that tick committed by the journal
(stamped on the journal's thread as that commit returns; the bench's own thread, woken by
the journal's answer, is shown beside it: that adds the wake-up and whatever the journal
does next, such as writing the tick's bars).

Run with ``python bench/cycle.py [--ticks N] [--sizes 25,100,500] [--faults] [--distinct]``. The real
actors (scheduler, one symbol actor per symbol with its buffers, indicators and the
strategy, the journal actor on a real SQLite file) run as in the bot; the WebSocket is
replaced by a driver thread that tells each symbol its klines, so the figure is the
pipeline's own cost, not the network's. Symbols beyond the 7 shipped ones replay the
shipped series under other names: the same minutes, so a path that fires on BTC fires on
every copy of BTC in the same tick. With ``--distinct`` each copy replays its shipped symbol
from whole days later instead, stamped back onto the same calendar (the same kind of market,
other minutes): as many distinct series as the month holds (about 24 days a symbol), the
copies wrapping round beyond that. The bench then holds each series' history, so its peak
RSS is no longer the bot's alone (~0.8 MB a series).

The symbol actors share one dispatcher thread (``actors.dispatch``); scheduler and journal
have their own threads. Beside each size, the same run measures two floors: as many actors
passing the same messages (klines, ready with BTC's/ETH's state, the tick carrying those
states, decisions, cycle done asked of the journal) with empty handlers, once as pykka's
thread-per-actor (every actor its own thread: the issue's anchor, and the bot's own runtime
before the dispatcher) and once on the bot's runtime (the empty symbols on a dispatcher,
scheduler and journal on its thread actors' mailbox), so the
ratios say what the bot adds to the messaging it cannot avoid.

Beside p50 and p99, each kind of boundary is shown apart (ticks closing 1m only, 1m+3m,
1m+5m, all four): a 15-minute boundary is four bars a symbol to update before anyone
decides. So are the ticks by how many candidates the cascade scored (symbols where a path
fired: a TAKE or a REJECT with a path): a candidate costs ~40-100 us of the one dispatcher
thread against ~7 us for a bar where nothing fired, so the ticks where many symbols fire at
once set the p99. The copies of the 7 shipped series fire together, which makes those
clusters larger than 25 distinct symbols' would be.

``--faults`` runs the 25-symbol cycle twice, clean and while the feed suffers the
reliability suite's faults (connection drops, stalled pushes, skipped and duplicated
confirms), and reports bar close -> decision beside each other with the ticks decided
late and those with a stale-data REJECT.

The scheduler's clock runs as it does live against a paced replay: the boundary's time
plus the wall time since its bars were released, pulsed like the supervisor does, so a
late symbol costs the tick its grace and is named, never a wait without end. Timing
starts only once every actor has bootstrapped and the journal has written the history;
symbols bootstrap in waves of 50 (REST pacing spreads a live start at least as much), and
the bench keeps only the history a bootstrap can ask for, so peak RSS is the bot's.
Any failure stops every actor and exits 1 with one line; inputs the bench cannot honour
exit 2 with one line. Prints a table (what, figure, target or floor) and, as its last
line, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import faulthandler
import gc
import gzip
import json
import os
import queue
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pykka  # noqa: E402

from actors.cores import scheduler_core, symbol_core  # noqa: E402
from actors.dispatch import DispatchedActor, ThreadActor  # noqa: E402
from actors.journal import Flush, JournalActor  # noqa: E402
from actors.logfmt import configure_logging  # noqa: E402
from vocabulary.messages import (  # noqa: E402
    BarReady, CycleDone, Decided, Decision, FeedGap, Instrument, JournalEvent, Kline, MarketState, Message, Now, Tick,
)
from actors.post import PostOffice  # noqa: E402
from actors.scheduler import SchedulerActor, closed_timeframes  # noqa: E402
from vocabulary.settings import load_settings  # noqa: E402
from actors.status import StatusBoard, percentile  # noqa: E402
from actors.supervisor import PULSE_S  # noqa: E402
from actors.symbol import SymbolActor  # noqa: E402
from strategy.scoring import BIAS_SYMBOLS  # noqa: E402
from exchange.sim.aggregate import aggregate  # noqa: E402
from exchange.sim.market import Bar, load_instruments  # noqa: E402
from web.serve import WebServer  # noqa: E402

BASES = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
TFS = (1, 3, 5, 15)
BOOTSTRAP = 400
WARMUP_TICKS = 10  # the first ticks pay for first-time code paths and are not counted
MIN_TICKS = 2 * WARMUP_TICKS
MAX_SYMBOLS = 500  # what settings accept for [bot].symbols
TARGET_P99_MS = {25: 3.0, 500: 60.0}
TARGET_FLOOR_RATIO = {500: 2.5}
MIN = 60_000
DAY_MIN = 1440
# A tick whose cycle has not closed this long after its bars were released is a hang:
# the scheduler closes every tick within grace + decide grace, so only a wedged pipeline
# (or a machine that cannot schedule the threads at all) gets here.
TICK_TIMEOUT_S = 120.0
# Starting 500 actors that each load 4 x 400 bars of history, all of it journaled, takes
# minutes on a loaded 2-core machine; it is measured and reported, not timed as a tick.
STARTUP_TIMEOUT_S = 1800.0
STARTUP_WAVE = 50  # symbols bootstrapping at once (see run)
FAULT_EVERY = 8  # --faults: one fault on one boundary in this many (seeded)


class Refused(Exception):
    """An input the bench cannot honour: one line, exit 2."""


class Failed(Exception):
    """The pipeline did not finish something in time: one line, exit 1."""


def first_bars(path: Path, n: int) -> list[Bar]:
    """The first ``n`` bars of a shipped kline file (the whole month would dominate RSS)."""
    with gzip.open(path, "rt") as f:
        rows = csv.DictReader(f)
        return [Bar(start_ms=int(r["start_ms"]), open=Decimal(r["open"]), high=Decimal(r["high"]), low=Decimal(r["low"]),
                    close=Decimal(r["close"]), volume=Decimal(r["volume"])) for r, _ in zip(rows, range(n))]


def series(ticks: int, shifts: int = 0) -> tuple[dict[str, dict[int, list[Kline]]], dict[str, Instrument], int]:
    """Per series and timeframe: bootstrap history + the bars replayed during the bench. A series
    is a shipped symbol's bars (keyed by its name) or, ``shifts`` of them per symbol, the same
    symbol's bars from ``d`` whole days later, stamped back onto the shipped calendar (keyed
    ``shifted(base, d)``): the same kind of market, other minutes (``--distinct``)."""
    rules = load_instruments(ROOT / "data" / "klines" / "instruments-bybit-linear.csv")
    minutes = BOOTSTRAP * 15 + ticks + 30
    files = {base: ROOT / "data" / "klines" / f"{base}-1m.csv.gz" for base in BASES}
    # The live part starts on a quarter hour after enough history for every timeframe, on the
    # calendar of the latest-starting file.
    live_from = max(first_bars(path, 1)[0].start_ms for path in files.values()) + BOOTSTRAP * 15 * MIN
    live_from -= live_from % (15 * MIN)
    out: dict[str, dict[int, list[Kline]]] = {}
    for base, path in files.items():
        read = first_bars(path, minutes + shifts * DAY_MIN)
        first = read[0].start_ms
        for d in range(shifts + 1):
            key = shifted(base, d)
            lo = next((i for i, b in enumerate(read) if b.start_ms >= first + d * DAY_MIN * MIN), len(read))
            bars = read[lo:lo + minutes]
            if len(bars) < minutes:
                raise Refused(f"--ticks {ticks} needs {minutes} minutes of every shipped series ({BOOTSTRAP} x 15m of history "
                              f"first); {key} has {len(bars)}: use --ticks <= {len(bars) - BOOTSTRAP * 15 - 30}")
            back = d * DAY_MIN * MIN  # whole days: every boundary and UTC session falls where it fell
            out[key] = {}
            for tf in TFS:
                grouped = bars if tf == 1 else aggregate(bars, tf)
                out[key][tf] = [Kline(symbol=base, interval=tf, start_ms=b.start_ms - back, open=float(b.open), high=float(b.high),
                                      low=float(b.low), close=float(b.close), volume=float(b.volume)) for b in grouped]
            # Every series must have a 1m bar at every replayed boundary, or the bench would
            # measure grace periods (that is what --faults is for), not the pipeline.
            have = {k.end_ms for k in out[key][1]}
            hole = next((b for b in range(live_from + MIN, live_from + (ticks + 1) * MIN, MIN) if b not in have), None)
            if hole is not None:
                raise Refused(f"{key} has no 1m bar closing at {hole} inside the {ticks} replayed ticks: use fewer --ticks")
            # Only what a bootstrap can ask for stays, at once: the 1m series was read 15x deeper
            # than its own bootstrap needs (for the 15m history), and RSS is the bot's figure, not ours.
            for tf in TFS:
                out[key][tf] = [k for k in out[key][tf] if k.start_ms >= live_from - BOOTSTRAP * tf * MIN]
    instruments = {s: Instrument(symbol=s, tick_size=r.tick_size, qty_step=r.qty_step, min_order_qty=r.min_order_qty,
                                 max_order_qty=r.max_order_qty, min_notional=r.min_notional) for s, r in rules.items() if s in BASES}
    return out, instruments, live_from


def shifted(base: str, days: int) -> str:
    return base if days == 0 else f"{base}+{days}d"


def sources(symbols: tuple[str, ...], shifts: int) -> dict[str, str]:
    """The series each symbol replays: the shipped ones their own; the others a shipped one's, in
    turn, each copy (without ``--distinct``: all of them) the same bars, or (with) the next
    shifted series of that symbol (wrapping round when there are more copies than days)."""
    out = {}
    for i, symbol in enumerate(symbols):
        base = BASES[i % len(BASES)]
        copy = i // len(BASES)
        out[symbol] = base if copy == 0 or shifts == 0 else shifted(base, 1 + (copy - 1) % shifts)
    return out


def days_to_shift(sizes: list[int], ticks: int) -> int:
    """``--distinct``: a shifted series per copy of a shipped symbol the largest size asks for, as
    many as the month holds (the shipped files' shortest, less what one series needs)."""
    copies = max(0, (max(sizes) - 1) // len(BASES))
    held = min(sum(1 for _ in gzip.open(ROOT / "data" / "klines" / f"{b}-1m.csv.gz", "rt")) - 1 for b in BASES)
    return min(copies, max(0, (held - (BOOTSTRAP * 15 + ticks + 30)) // DAY_MIN))


def renamed(k: Kline, symbol: str) -> Kline:
    return Kline(symbol=symbol, interval=k.interval, start_ms=k.start_ms, open=k.open, high=k.high, low=k.low,
                 close=k.close, volume=k.volume)


def symbol_names(size: int) -> tuple[str, ...]:
    return tuple(BASES[:size]) if size <= len(BASES) else tuple(BASES) + tuple(f"S{i:03d}USDT" for i in range(size - len(BASES)))


LOAD_SCRIPT = """
import sys, time, httpx
url = sys.argv[1]
n = errors = 0
with httpx.Client(timeout=5) as client:
    start = time.perf_counter()
    while True:
        try:
            answer = client.get(url)
        except httpx.TransportError:
            errors += 1  # the connection is reopened by the next request
            continue
        if answer.status_code != 200:
            sys.exit(f"status answered {answer.status_code}: {answer.text[:200]}")
        n += 1
        if n % 50 == 0 and open(sys.argv[2]).read() == "stop":
            break
    print(n, time.perf_counter() - start, errors)
"""


# --- the bench's own shells: daemon threads (a wedged actor cannot keep the process
# alive after a failure) and a "started?" question answered once on_start is done -------

class _Started:
    """Asked of a bench actor: answered once its on_start (the bootstrap) has returned."""


class BenchSymbolActor(SymbolActor):
    use_daemon_thread = True

    def on_receive(self, message: object) -> object:
        return True if isinstance(message, _Started) else super().on_receive(message)


class BenchSchedulerActor(SchedulerActor):
    use_daemon_thread = True


class BenchJournalActor(JournalActor):
    """Stamps each tick's end on its own thread: the moment ``CycleDone`` is handled, that is
    the moment the tick's decisions are committed (the answer to the bench's ask wakes the
    main thread later: after the wake-up and whatever the journal does next, its bars)."""

    use_daemon_thread = True

    def __init__(self, path: Path, committed: dict[int, float]) -> None:
        super().__init__(path)
        self._committed = committed

    def on_receive(self, message: object) -> int:
        seq = super().on_receive(message)
        if type(message) is CycleDone:
            self._committed[message.boundary_ms] = time.perf_counter()
        return seq


class Pulse:
    """The supervisor's scheduler pulse, with the clock of a paced replay: the released
    boundary's time plus the wall time since its bars were released."""

    def __init__(self, deliver, start_ms: int) -> None:
        self._deliver = deliver
        self._boundary = start_ms
        self._released = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-pulse", daemon=True)

    def release(self, boundary_ms: int) -> None:
        self._boundary, self._released = boundary_ms, time.perf_counter()

    @property
    def released_ms(self) -> int:
        return self._boundary

    def now_ms(self) -> int:
        return self._boundary + int((time.perf_counter() - self._released) * 1000)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(PULSE_S):
            self._deliver("scheduler", Now(ts_ms=self.now_ms()))


class Faults:
    """The reliability suite's feed faults, applied by the driver to one boundary in
    ``FAULT_EVERY`` (seeded): a dropped connection (half the symbols lose the boundary's
    bars and are told of the gap on reconnect, as the feed does), a stall of every push by
    0.2-1.5 s, skipped confirms (each symbol's bars lost with p=0.2) and duplicated confirms
    (each bar told twice with p=0.5)."""

    KINDS = ("drop", "stall", "skip confirms", "duplicate confirms")

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.done: Counter[str] = Counter()
        self._i = 0
        self._gaps: dict[str, int] = {}  # symbol -> first boundary its dropped connection lost

    def plan(self, index: int) -> str | None:
        """The fault of the ``index``-th boundary, if any (none during the warm-up)."""
        if index < WARMUP_TICKS or self.rng.randrange(FAULT_EVERY):
            return None
        kind = self.KINDS[self._i % len(self.KINDS)]
        self._i += 1
        self.done[kind] += 1
        return kind

    def reconnects(self, symbol: str, boundary: int) -> list[FeedGap]:
        lost = self._gaps.pop(symbol, None)
        if lost is None:
            return []
        # The feed reports the span it may have missed (generously: bars the symbol already
        # has come back as repeats); the symbol backfills what it lacks.
        return [FeedGap(symbol=symbol, interval=tf, from_ms=lost - 15 * MIN, to_ms=boundary) for tf in TFS]

    def dropped(self, symbol: str, boundary: int) -> None:
        self._gaps.setdefault(symbol, boundary)


def describe_stall(boundary: int, core, cores: dict, post: PostOffice, tmp: Path) -> str:
    """What was waiting on what when a tick did not complete: the scheduler's view, the
    deepest mailboxes and where the threads stood (full dump written next to the journal)."""
    ready = set(core._ready.get(boundary, ()))  # noqa: SLF001 - read once, for the report
    deciding = {t: sorted(s) for t, s in list(core._deciding.items())}  # noqa: SLF001
    not_ready = sorted(set(cores) - ready) if core.last_tick_ms is None or boundary > core.last_tick_ms else []
    depths = sorted(((ref.actor_inbox.qsize(), name) for name, ref in post.actors().items()), reverse=True)
    busy = [f"{name}={n}" for n, name in depths[:3] if n]
    frames = sys._current_frames()  # noqa: SLF001 - a thread dump is what this is for
    where = Counter()
    for frame in frames.values():
        where[f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}"] += 1
    dump = tmp.parent / f"cycle-stall-{os.getpid()}.txt" if tmp.parent.exists() else tmp / "stall.txt"
    try:
        with open(dump, "w") as f:
            faulthandler.dump_traceback(f, all_threads=True)
    except OSError:
        dump = Path("(not written)")
    parts = [f"scheduler clock {core.now_ms}, last tick {core.last_tick_ms}"]
    if not_ready:
        parts.append(f"{len(not_ready)} symbols without their bar ({', '.join(not_ready[:3])}...)")
    for tick, symbols in deciding.items():
        parts.append(f"tick {tick} waits on {len(symbols)} decisions ({', '.join(symbols[:3])})")
    parts.append(f"deepest mailboxes {', '.join(busy) or 'all empty'}")
    parts.append(f"{len(frames)} threads, most in {', '.join(f'{w} x{n}' for w, n in where.most_common(2))}")
    parts.append(f"thread dump {dump}")
    return "; ".join(parts)


def run(size: int, ticks: int, data, instruments, live_from: int, tmp: Path, *, web: str | None = None,
        faults: Faults | None = None, bias_states: dict[str, MarketState] | None = None, shifts: int = 0) -> dict:
    """One pipeline of ``size`` symbols over ``ticks`` ticks. ``web``: None, "idle" (the
    status endpoint serves but nobody asks) or "load" (a second process polls /status
    as fast as it can on one keep-alive connection while the ticks run). ``faults``: the
    feed misbehaves on some boundaries (see ``Faults``). ``bias_states`` receives the last
    state each bias symbol announced (the floor's payload). ``shifts``: the shifted series per
    shipped symbol that ``series`` made (``--distinct``), the copies' series (``sources``)."""
    symbols = symbol_names(size)
    base_of = {s: BASES[i % len(BASES)] for i, s in enumerate(symbols)}  # whose instrument rules
    source = sources(symbols, shifts)  # whose bars
    settings = load_settings(f'[bot]\nsymbols = {list(symbols)!r}\n'.replace("'", '"'), {})
    post = PostOffice()
    closes: queue.Queue = queue.Queue()  # (tick, when CycleDone was sent, the journal's answer to it)
    committed: dict[int, float] = {}  # tick -> when the journal had committed its decisions (its thread's stamp)
    journal_path = tmp / f"journal-{size}{'-faults' if faults else ''}.sqlite"
    board = StatusBoard(mode="bench", venue="none", symbols=symbols)
    seen = {"late_ticks": 0, "late_cycles": 0, "stale_ticks": set(), "stale_rejects": 0}
    scored: Counter[int] = Counter()  # tick -> candidates the cascade scored (decisions with a path)
    counting = threading.Lock()  # decisions are delivered from every symbol's thread

    def deliver(to: str, message: Message) -> None:
        board.observe(to, message)
        kind = type(message)
        if to == "journal" and kind is CycleDone:
            # Asked rather than told, the one difference from the bot's post: the journal
            # handles its mailbox in order and answers once CycleDone is handled, that is once
            # every decision of the tick (told before it) is committed.
            decided_at = time.perf_counter()
            closes.put((message.boundary_ms, decided_at, journal.ask(message, block=False)))
            return
        post.deliver(to, message)
        if kind is BarReady and message.state is not None and bias_states is not None:
            bias_states[message.symbol] = message.state
        if to != "journal":
            return
        if kind is Tick and message.late:
            seen["late_ticks"] += 1  # the scheduler's thread only
        elif kind is JournalEvent and message.kind == "decisions_late":
            seen["late_cycles"] += 1
        elif kind is Decision and message.path is not None:
            with counting:
                scored[message.tick_ms] += 1
        elif kind is Decision and message.kind == "REJECT" and any(r.code == "data.stale" for r in message.reasons):
            with counting:
                seen["stale_rejects"] += 1
                seen["stale_ticks"].add(message.tick_ms)

    server = loader = pulse = None
    stop_file = tmp / "stop-load"
    try:
        journal = BenchJournalActor.start(journal_path, committed)
        post.register("journal", journal)
        for sink in ("router", "pacer", "feed", "status", "supervisor"):
            post.register_sink(sink, lambda message: None)

        pulse = Pulse(deliver, live_from)

        def fetch_for(symbol: str):
            history = data[source[symbol]]

            def fetch(_symbol: str, tf: int, start_ms: int, end_ms: int) -> list[Kline]:
                # Like the venue, only bars closed by the released boundary: a backfill after
                # a fault must not see the future.
                closed_by = pulse.released_ms
                return [renamed(k, symbol) for k in history[tf] if start_ms <= k.start_ms < end_ms and k.end_ms <= closed_by]
            return fetch

        # Start-up: every actor has its history and the journal has written it, before any
        # tick is timed (at 500 symbols that is ~800k journaled bars). Symbols start in waves,
        # each written by the journal before the next starts, as REST pacing spreads a live
        # bootstrap: 500 bootstraps at once only measure a journal mailbox of 800k bars.
        t0 = time.perf_counter()
        deadline = t0 + STARTUP_TIMEOUT_S
        cores, refs = {}, {}
        for wave in range(0, len(symbols), STARTUP_WAVE):
            for symbol in symbols[wave:wave + STARTUP_WAVE]:
                cores[symbol] = symbol_core(settings, symbol, instruments[base_of[symbol]], symbols)
                refs[symbol] = BenchSymbolActor.start(
                    cores[symbol], deliver, fetch_for(symbol), bootstrap_bars=BOOTSTRAP, now_ms=lambda: live_from)
                post.register(f"symbol:{symbol}", refs[symbol])
            for symbol in symbols[wave:wave + STARTUP_WAVE]:
                try:
                    refs[symbol].ask(_Started(), timeout=max(0.0, deadline - time.perf_counter()))
                except pykka.ActorDeadError:
                    raise Failed(f"{size} symbols: {symbol} failed during its bootstrap") from None
                except pykka.Timeout:
                    starting = sum(1 for r in refs.values() if r.actor_inbox.qsize() and not r.actor_stopped.is_set())
                    raise Failed(f"{size} symbols: {symbol} had not bootstrapped after {STARTUP_TIMEOUT_S:.0f} s "
                                 f"({starting} symbols still starting, journal mailbox {journal.actor_inbox.qsize()})") from None
            try:
                journal.ask(Flush(), timeout=max(1.0, deadline - time.perf_counter()))
            except pykka.Timeout:
                raise Failed(f"{size} symbols: the journal had not written the bootstrap history after {STARTUP_TIMEOUT_S:.0f} s "
                             f"(mailbox {journal.actor_inbox.qsize()})") from None
        scheduler = scheduler_core(settings, symbols)
        post.register("scheduler", BenchSchedulerActor.start(scheduler, deliver, pulse.now_ms))
        startup_s = time.perf_counter() - t0
        failed = [s for s, c in cores.items() if post.actor(f"symbol:{s}").actor_stopped.is_set()]
        if failed:
            raise Failed(f"{size} symbols: {len(failed)} symbol actors failed during bootstrap ({', '.join(failed[:3])})")
        pulse.start()

        # Bars of each series by close time; renamed per symbol only when told, so the
        # driver holds one copy of the data, not one per symbol (RSS is the bot's, not ours).
        by_end: dict[int, dict[str, list[Kline]]] = {}
        for key in set(source.values()):
            for tf in TFS:
                for k in data[key][tf]:
                    if live_from < k.end_ms <= live_from + ticks * MIN:
                        by_end.setdefault(k.end_ms, {}).setdefault(key, []).append(k)
        for klines in (b for per in by_end.values() for b in per.values()):
            klines.sort(key=lambda k: k.interval)
        stop_file.write_text("")
        if web is not None:
            server = WebServer(str(journal_path), board.snapshot).start()
        if web == "load":
            loader = subprocess.Popen([sys.executable, "-c", LOAD_SCRIPT, f"{server.url}/status", str(stop_file)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started: dict[int, float] = {}
        done: dict[int, float] = {}
        answered: dict[int, float] = {}
        decided: dict[int, float] = {}

        def tell(symbol: str, boundary: int, twice: bool = False) -> None:
            for k in by_end[boundary].get(source[symbol], ()):
                k = k if symbol == k.symbol else renamed(k, symbol)
                refs[symbol].tell(k)
                if twice:
                    refs[symbol].tell(k)

        gc.collect()
        gc.freeze()
        for index, boundary in enumerate(sorted(by_end)):
            fault = faults.plan(index) if faults is not None else None
            pulse.release(boundary)
            started[boundary] = time.perf_counter()
            held: list[str] = []
            for i, symbol in enumerate(symbols):
                if faults is not None:
                    for gap in faults.reconnects(symbol, boundary):
                        refs[symbol].tell(gap)
                if fault == "drop" and i % 2 == index % 2:  # one of two connections
                    faults.dropped(symbol, boundary)
                elif fault == "skip confirms" and faults.rng.random() < 0.2:
                    pass  # the confirm is lost; the next bar arrives after a hole
                elif fault == "stall":
                    held.append(symbol)
                else:
                    tell(symbol, boundary, twice=fault == "duplicate confirms" and faults.rng.random() < 0.5)
            if held:
                delay = faults.rng.uniform(0.2, 1.5)
                timer = threading.Timer(delay, lambda held=held, b=boundary: [tell(s, b) for s in held])
                timer.daemon = True
                timer.start()
            try:
                closed, decided_at, future = closes.get(timeout=TICK_TIMEOUT_S)
                future.get(timeout=TICK_TIMEOUT_S)
            except (queue.Empty, pykka.Timeout):
                raise Failed(f"{size} symbols: tick {boundary} did not complete within {TICK_TIMEOUT_S:.0f} s: "
                             + describe_stall(boundary, scheduler, cores, post, tmp)) from None
            if closed != boundary:
                raise Failed(f"{size} symbols: tick {boundary} completed as {closed}")
            answered[closed] = time.perf_counter()
            done[closed] = committed[closed]
            decided[closed] = decided_at
            # Live ticks are a minute apart: what the journal does after a cycle closed (its WAL
            # checkpoint) happens between them. Back-to-back ticks would bill it to the next one.
            journal.ask(Flush(), timeout=TICK_TIMEOUT_S)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        requests_per_s = load_errors = None
        if loader is not None:
            stop_file.write_text("stop")
            out, err = loader.communicate(timeout=60)
            if loader.returncode:
                raise Failed(f"the load generator failed: {err.strip()[-300:]}")
            count, seconds, errors = out.split()
            requests_per_s = round(int(count) / float(seconds))
            load_errors = int(errors)
    finally:
        gc.unfreeze()
        teardown(pulse, loader, server, stop_file)
    latencies = [(done[b] - started[b]) * 1000 for b in started][WARMUP_TICKS:]
    deciding = [(decided[b] - started[b]) * 1000 for b in started][WARMUP_TICKS:]
    waking = [(answered[b] - started[b]) * 1000 for b in started][WARMUP_TICKS:]
    # Each timed tick apart by the timeframes closing at it (a 15-minute boundary is four bars a
    # symbol) and by the candidates scored on it, in four bands: none, few, and the clusters (a
    # fifth and two fifths of the symbols: 5 and 10 at 25), which are what set the p99.
    edges = (1, max(2, size // 5), max(3, 2 * size // 5))
    bands = ("0", *(str(lo) if lo == hi - 1 else f"{lo}-{hi - 1}" for lo, hi in zip(edges, edges[1:])), f">={edges[2]}")
    by_closing: dict[tuple[int, ...], list[float]] = {}
    by_scored: dict[str, list[float]] = {}
    for b in list(started)[WARMUP_TICKS:]:
        ms = (done[b] - started[b]) * 1000
        by_closing.setdefault(closed_timeframes(b, TFS), []).append(ms)
        by_scored.setdefault(bands[sum(scored[b] >= e for e in edges)], []).append(ms)
    return {
        "symbols": size,
        "series": len(set(source.values())),
        "ticks": len(latencies),
        "faults": dict(faults.done) if faults is not None else None,
        "startup_s": round(startup_s, 1),
        "closed_timeframes_per_tick": round(sum(len(closed_timeframes(b, TFS)) for b in started) / len(started), 2),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3),
        "answered_p50_ms": round(percentile(waking, 50), 3),
        "answered_p99_ms": round(percentile(waking, 99), 3),
        "decided_p50_ms": round(percentile(deciding, 50), 3),
        "decided_p99_ms": round(percentile(deciding, 99), 3),
        "by_closing": [{"closing": "+".join(f"{tf}m" for tf in tfs), "ticks": len(ms), "p50_ms": round(percentile(ms, 50), 3),
                        "max_ms": round(max(ms), 3)} for tfs, ms in sorted(by_closing.items(), key=lambda kv: len(kv[0]))],
        "by_candidates": [{"candidates": band, "ticks": len(by_scored[band]), "p50_ms": round(percentile(by_scored[band], 50), 3),
                           "max_ms": round(max(by_scored[band]), 3)} for band in bands if band in by_scored],
        "late_ticks": seen["late_ticks"],
        "late_cycles": seen["late_cycles"],
        "stale_reject_ticks": len(seen["stale_ticks"]),
        "stale_rejects": seen["stale_rejects"],
        "rss_mb": round(rss_mb, 1),
        "web": web,
        "status_requests_per_s": requests_per_s,
        "status_connection_resets": load_errors,
    }


def teardown(pulse: Pulse | None, loader, server, stop_file: Path) -> None:
    """Stop everything this run started, whether it passed or not."""
    if pulse is not None:
        pulse.stop()
    if loader is not None and loader.poll() is None:
        stop_file.write_text("stop")
        loader.kill()
        loader.wait()
    if server is not None:
        server.stop()
    stop_actors()


def stop_actors(timeout_s: float = 30.0) -> None:
    """Ask every actor to stop at once, then wait for them together (pykka's stop_all waits
    for each in turn). One wedged or swamped past the timeout is left behind: its thread is
    a daemon, so the exit does not wait for it."""
    futures = []
    for ref in pykka.ActorRegistry.get_all():
        try:
            futures.append(ref.stop(block=False))
        except pykka.ActorDeadError:
            pass
    deadline = time.perf_counter() + timeout_s
    for future in futures:
        try:
            future.get(timeout=max(0.0, deadline - time.perf_counter()))
        except (pykka.Timeout, pykka.ActorDeadError):
            pass


# --- the floor: the same actors and messages, empty handlers --------------------------------

class _FloorSymbol(pykka.ThreadingActor):
    """Journals each bar, says ready with the boundary's last bar (a bias symbol's ready
    carries a state, as the real one does), and decides on its tick: the real symbol's
    messages, none of its work."""

    use_daemon_thread = True

    def __init__(self, symbol: str, deliver, state: MarketState | None) -> None:
        super().__init__()
        self.symbol = symbol
        self._deliver = deliver
        self._state = state  # a bias symbol's state, built once: the floor carries it, never computes it

    def on_receive(self, message: object) -> None:
        kind = type(message)
        if kind is Kline:
            self._deliver("journal", message)
            if message.interval == max(closed_timeframes(message.end_ms, TFS)):
                self._deliver("scheduler", BarReady(symbol=self.symbol, boundary_ms=message.end_ms, state=self._state))
        elif kind is Tick:
            decision = Decision(tick_ms=message.boundary_ms, symbol=self.symbol, kind="NO_SETUP")
            self._deliver("journal", decision)
            self._deliver("status", decision)
            self._deliver("scheduler", Decided(symbol=self.symbol, tick_ms=message.boundary_ms, kind="NO_SETUP"))


class _DispatchedFloorSymbol(DispatchedActor, _FloorSymbol):
    """The same empty symbol on the bot's runtime: the shared dispatcher, not a thread of its own."""


class _FloorScheduler(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(self, size: int, deliver) -> None:
        super().__init__()
        self._size = size
        self._deliver = deliver
        self._ready: Counter[int] = Counter()
        self._bias: dict[int, list[MarketState]] = {}
        self._decided: Counter[int] = Counter()

    def on_receive(self, message: object) -> None:
        if type(message) is BarReady:
            boundary = message.boundary_ms
            self._ready[boundary] += 1
            if message.state is not None:
                self._bias.setdefault(boundary, []).append(message.state)
            if self._ready[boundary] == self._size:
                bias = tuple(sorted(self._bias.pop(boundary, ()), key=lambda state: state.symbol))
                tick = Tick(boundary_ms=boundary, closed=closed_timeframes(boundary, TFS), bias=bias)
                self._deliver("journal", tick)
                self._deliver("symbols", tick)
        elif type(message) is Decided:
            self._decided[message.tick_ms] += 1
            if self._decided[message.tick_ms] == self._size:
                done = CycleDone(boundary_ms=message.tick_ms)
                self._deliver("journal", done)
                self._deliver("router", done)


class _FloorJournal(pykka.ThreadingActor):
    """Stamps each tick's end on its own thread, as the bench's journal does."""

    use_daemon_thread = True

    def __init__(self, committed: dict[int, float]) -> None:
        super().__init__()
        self._committed = committed

    def on_receive(self, message: object) -> None:
        if type(message) is CycleDone:
            self._committed[message.boundary_ms] = time.perf_counter()


class _RuntimeFloorScheduler(ThreadActor, _FloorScheduler):
    """The bot's runtime: its thread actors' mailbox (``actors.dispatch.ThreadActor``)."""


class _RuntimeFloorJournal(ThreadActor, _FloorJournal):
    """The bot's runtime: its thread actors' mailbox (``actors.dispatch.ThreadActor``)."""


def floor(size: int, ticks: int, data, live_from: int, bias_states: dict[str, MarketState], *, dispatched: bool = False) -> dict:
    """The cycle of ``size`` empty actors: the messaging's own cost for this message pattern, with
    every actor on a thread of its own (pykka's runtime) or, ``dispatched``, the symbols on the
    bot's dispatcher. ``bias_states``: a real state of each bias symbol, the payload its ready carries."""
    symbols = symbol_names(size)
    base_of = {s: (s if s in BASES else BASES[i % len(BASES)]) for i, s in enumerate(symbols)}
    post = PostOffice()
    closes: queue.Queue = queue.Queue()  # (tick, when CycleDone was sent, the journal's answer to it)
    committed: dict[int, float] = {}

    def deliver(to: str, message: Message) -> None:
        if to == "journal" and type(message) is CycleDone:
            closes.put((message.boundary_ms, time.perf_counter(), journal.ask(message, block=False)))  # as run's
            return
        post.deliver(to, message)

    try:
        journal = (_RuntimeFloorJournal if dispatched else _FloorJournal).start(committed)
        post.register("journal", journal)
        for sink in ("router", "status"):
            post.register_sink(sink, lambda message: None)
        for symbol in symbols:
            state = bias_states.get(symbol) if symbol in BIAS_SYMBOLS else None
            post.register(f"symbol:{symbol}", (_DispatchedFloorSymbol if dispatched else _FloorSymbol).start(symbol, deliver, state))
        post.register("scheduler", (_RuntimeFloorScheduler if dispatched else _FloorScheduler).start(size, deliver))
        refs = {s: post.actor(f"symbol:{s}") for s in symbols}
        boundaries = [live_from + i * MIN for i in range(1, ticks + 1)]
        per_base = {base: {k.end_ms: [] for k in data[base][1]} for base in BASES}
        for base in set(base_of.values()):
            for tf in TFS:
                for k in data[base][tf]:
                    if k.end_ms in per_base[base] and live_from < k.end_ms <= boundaries[-1]:
                        per_base[base][k.end_ms].append(k)
        latencies = []
        for boundary in boundaries:
            t = time.perf_counter()
            for symbol in symbols:
                for k in sorted(per_base[base_of[symbol]][boundary], key=lambda k: k.interval):
                    refs[symbol].tell(k if symbol == k.symbol else renamed(k, symbol))
            try:
                _, _, future = closes.get(timeout=TICK_TIMEOUT_S)
                future.get(timeout=TICK_TIMEOUT_S)
            except (queue.Empty, pykka.Timeout):
                raise Failed(f"floor, {size} empty actors: tick {boundary} did not complete within {TICK_TIMEOUT_S:.0f} s") from None
            latencies.append((committed[boundary] - t) * 1000)
    finally:
        stop_actors()
    warm = latencies[WARMUP_TICKS:]
    return {"p50_ms": round(percentile(warm, 50), 3), "p99_ms": round(percentile(warm, 99), 3)}


# --- command line ----------------------------------------------------------------------------

def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=520)
    parser.add_argument("--sizes", default="25,100,500")
    parser.add_argument("--faults", action="store_true", help="the 25-symbol cycle, clean and under feed faults")
    parser.add_argument("--no-floor", action="store_true", help="skip the empty-actor floor")
    parser.add_argument("--distinct", action="store_true",
                        help="symbols beyond the 7 shipped replay them from other days, not the same minutes")
    args = parser.parse_args(argv)
    if args.ticks < MIN_TICKS:
        raise Refused(f"--ticks {args.ticks}: at least {MIN_TICKS} (the first {WARMUP_TICKS} are warm-up and not counted)")
    try:
        args.sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        raise Refused(f"--sizes {args.sizes!r}: a comma-separated list of symbol counts, e.g. 25,500") from None
    bad = [s for s in args.sizes if not 1 <= s <= MAX_SYMBOLS]
    if bad:
        raise Refused(f"--sizes: {bad[0]} symbols; between 1 and {MAX_SYMBOLS} (what [bot].symbols accepts)")
    if args.faults:
        args.sizes = [25]
    return args


def table(results: list[dict], floors: dict[int, dict]) -> None:
    print(f"{'what':<46} {'figure':>12} {'target / floor':>18}")
    for r in results:
        n = r["symbols"]
        label = f"{n} symbols x 4 tf" + (", feed faults" if r["faults"] else "")
        target = TARGET_P99_MS.get(n)
        fl = None if r["faults"] else floors.get(n)
        print(f"{'start-up (bootstrap + journal), ' + str(n) + ' symbols':<46} {r['startup_s']:>10.1f} s")
        print(f"{'  distinct series replayed':<46} {r['series']:>12}")
        print(f"{'cycle p50, ' + label:<46} {r['p50_ms']:>9.3f} ms {('pykka floor ' + format(fl['p50_ms'], '.3f') + ' ms') if fl else '':>18}")
        print(f"{'cycle p99, ' + label:<46} {r['p99_ms']:>9.3f} ms {('pykka floor ' + format(fl['p99_ms'], '.3f') + ' ms') if fl else '':>18}")
        if fl:
            ratio_target = TARGET_FLOOR_RATIO.get(n)
            print(f"{'  p99 / floor p99 (pykka, thread per actor)':<46} {r['p99_over_floor']:>10.2f} x {('<= ' + str(ratio_target) + ' x') if ratio_target else '':>18}")
            print(f"{'  floor on the bot runtime (dispatcher) p50':<46} {fl['runtime_p50_ms']:>9.3f} ms")
            print(f"{'  floor on the bot runtime (dispatcher) p99':<46} {fl['runtime_p99_ms']:>9.3f} ms")
            print(f"{'  p99 / that floor p99':<46} {r['p99_over_runtime_floor']:>10.2f} x")
        if target and not r["faults"]:
            print(f"{'  p99 target':<46} {'':>12} {'<= ' + str(target) + ' ms':>18}")
        for kind in r["by_closing"]:
            what = f"  ticks closing {kind['closing']} ({kind['ticks']}), p50 / max"
            print(f"{what:<46} {format(kind['p50_ms'], '.2f') + ' / ' + format(kind['max_ms'], '.2f'):>12} ms")
        for band in r["by_candidates"]:
            what = f"  ticks, {band['candidates']} candidates ({band['ticks']}), p50 / max"
            print(f"{what:<46} {format(band['p50_ms'], '.2f') + ' / ' + format(band['max_ms'], '.2f'):>12} ms")
        print(f"{'  bar close -> decision (CycleDone), p50':<46} {r['decided_p50_ms']:>9.3f} ms")
        print(f"{'  bar close -> decision (CycleDone), p99':<46} {r['decided_p99_ms']:>9.3f} ms")
        print(f"{'  the bench woken by the commit, p50 / p99':<46} {r['answered_p50_ms']:>6.2f} / {r['answered_p99_ms']:.2f} ms")
        print(f"{'  ticks late (grace) / cycles closed late':<46} {str(r['late_ticks']) + ' / ' + str(r['late_cycles']):>12}")
        print(f"{'  ticks with a stale-data REJECT (rejects)':<46} {str(r['stale_reject_ticks']) + ' (' + str(r['stale_rejects']) + ')':>12}")
        if r["faults"]:
            print(f"{'  faults injected':<46} {', '.join(f'{k} {v}' for k, v in sorted(r['faults'].items())):>12}")
    big = max(results, key=lambda r: r["symbols"])
    print(f"{'peak RSS after ' + str(big['symbols']) + ' symbols':<46} {big['rss_mb']:>9.1f} MB {'<= 300 MB':>18}")
    if big["series"] > len(BASES):
        # --distinct: the bench holds every distinct series' history (~0.8 MB each), not 7.
        print(f"{'  (the bench holds ' + str(big['series']) + ' series: not the bot alone)':<46}")


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(argv)
        configure_logging("WARNING", ())
        shifts = days_to_shift(args.sizes, args.ticks) if args.distinct else 0
        data, instruments, live_from = series(args.ticks, shifts)
        results, floors = [], {}
        with tempfile.TemporaryDirectory(dir=ROOT / "var" if (ROOT / "var").exists() else None) as tmp:
            for size in args.sizes:
                bias_states: dict[str, MarketState] = {}
                result = run(size, args.ticks, data, instruments, live_from, Path(tmp), bias_states=bias_states, shifts=shifts)
                if not args.no_floor:
                    floors[size] = floor(size, args.ticks, data, live_from, bias_states)
                    runtime = floor(size, args.ticks, data, live_from, bias_states, dispatched=True)
                    floors[size]["runtime_p50_ms"], floors[size]["runtime_p99_ms"] = runtime["p50_ms"], runtime["p99_ms"]
                    result["floor_p50_ms"] = floors[size]["p50_ms"]
                    result["floor_p99_ms"] = floors[size]["p99_ms"]
                    result["p99_over_floor"] = round(result["p99_ms"] / floors[size]["p99_ms"], 2)
                    result["runtime_floor_p50_ms"] = runtime["p50_ms"]
                    result["runtime_floor_p99_ms"] = runtime["p99_ms"]
                    result["p99_over_runtime_floor"] = round(result["p99_ms"] / runtime["p99_ms"], 2)
                results.append(result)
                if args.faults:
                    results.append(run(size, args.ticks, data, instruments, live_from, Path(tmp), faults=Faults(seed=1), shifts=shifts))
        table(results, floors)
        print(json.dumps({"results": results}))
        return 0
    except Refused as exc:
        print(f"cycle.py: refused: {exc}", file=sys.stderr)
        return 2
    except Failed as exc:
        print(f"cycle.py: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cycle.py: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - any other failure: still one line, still non-zero
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"cycle.py: FAILED: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
