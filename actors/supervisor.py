"""The headless supervisor: builds the actor system from settings, keeps it alive, and
shuts it down cleanly on SIGINT/SIGTERM.

``Bot`` is the whole wiring, usable from tests: venue (the embedded simulator by default),
REST and WebSocket clients, the journal, router, scheduler and one actor per symbol, the
status board and the web endpoint. A failed actor is replaced by a new one rebuilt from
the source of truth (symbols by REST bootstrap, the router by reconciliation).
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import httpx
import pykka

from actors.cores import router_core, scheduler_core, symbol_core
from actors.journal import Flush, JournalActor
from vocabulary.messages import FeedGap, JournalEvent, Kline, Message, Now, SymbolRestarted
from actors.narrator import Narrator
from actors.post import PostOffice
from actors.shell import Outbox, Recorder
from actors.router import RouterActor
from actors.scheduler import SchedulerActor
from vocabulary.settings import Credentials, Secret, Settings, secret_values
from actors.status import StatusBoard
from actors.symbol import SymbolActor
from actors.startup import (StartupError, check_port_free, port_error, remote_sim_error, sim_data_error,
                            unknown_symbols_error, unreachable_error)
from exchange.bybit.bridge import StreamThread
from exchange.bybit.errors import BybitError, TransportError
from exchange.bybit.rest import BybitRest
from exchange.bybit.venues import VenueUrls, venue_urls
from exchange.bybit.ws_private import PrivateStream
from exchange.bybit.ws_public import PublicStream
from exchange.sim.config import SimConfig
from exchange.sim.market import Bar, InstrumentRules
from exchange.sim.paper import PaperSim
from exchange.sim.remote import RemoteSim
from exchange.sim.server import SimServer
from indicators.frame import COMPILED as INDICATORS_COMPILED
from journal.lock import JournalBusy, JournalLock
from journal.reader import JournalReader
from journal.schema import NotAJournal, check_writable_journal
from journal.runs import RunInfo, fingerprint, settings_hash
from web.auth import WebConfigError, token_for

log = logging.getLogger("smtbot.supervisor")
console = logging.getLogger("smtbot.console")  # the story of the run: trades, gates, summaries, the end

PULSE_S = 0.2


class Bot:
    """One running smtbot: ``start()``, then ``stop()`` (idempotent)."""

    def __init__(
        self, settings: Settings, credentials: Credentials | None, *, sim_config: SimConfig | None = None,
        web_token: str | None = None, market_urls: VenueUrls | None = None, record: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self._web_token = web_token
        self._market_urls = market_urls  # paper mode's public data from elsewhere (tests: a simulator)
        # Per-actor flight records: name -> [(message handled, what the core returned)].
        self.recordings: dict[str, list[tuple[Message, Outbox]]] = {name: [] for name in record}
        self._sim_config = sim_config
        bot = settings.bot
        self.symbols = tuple(bot.symbols)
        self.post = PostOffice()
        self.sim: SimServer | RemoteSim | None = None
        self.paced = False
        self.board = StatusBoard(mode="paper" if bot.paper else "live", venue=bot.venue, symbols=self.symbols)
        self.failures: queue.Queue[str] = queue.Queue()
        self.restarts = 0
        self.instruments: dict[str, Any] = {}
        self._streams: StreamThread | None = None
        self._public: PublicStream | None = None
        self._rest: BybitRest | None = None
        self._market: BybitRest | None = None
        self._web: Any = None
        self._pulse_stop = threading.Event()
        self._pulse: threading.Thread | None = None
        self._stopped = False
        self.paper: PaperSim | None = None
        self._clock_seen = 0
        self._clock_seen_at = 0.0
        self._lock = JournalLock(settings.journal.path)
        self._endpoints_found: tuple[str, str, str | None, Credentials] | None = None
        self._launched = False
        self.run_info: RunInfo | None = None
        self.narrator = Narrator(max_positions=settings.risk.max_positions, daily_loss_limit=settings.risk.daily_loss_limit,
                                 summary_every_ms=bot.summary_minutes * 60_000)
        self.finished_reason: str | None = None  # set once the simulator's replay data has ended

    # --- wiring -----------------------------------------------------------------------

    def deliver(self, to: str, message: Message) -> None:
        self.board.observe(to, message)
        for level, text, extra in self.narrator.observe(to, message):
            console.log(logging.getLevelName(level), text, extra=extra)
        if self.paper is not None and to == "journal" and type(message) is Kline and message.interval == 1:
            # Every 1m bar a symbol consumed (live or backfilled) is journaled before its tick
            # can fire: the paper venue matches resting orders against it at that moment.
            self.paper.on_bar(message.symbol, _bar(message))
        self.post.deliver(to, message)

    def clock_ms(self) -> int:
        if self.sim is not None:
            return self.sim.now_ms()
        assert self._market is not None
        return self._market.now_ms()

    def scheduler_clock_ms(self) -> int:
        """The venue's time, except that a paced replay waiting on us keeps moving at wall
        speed: if a bar never comes, grace and heartbeat still run out (and unblock it)."""
        now = self.clock_ms()
        if not self.paced:
            return now
        wall = time.monotonic()
        if now != self._clock_seen:
            self._clock_seen, self._clock_seen_at = now, wall
        return now + int((wall - self._clock_seen_at) * 1000)

    def _endpoints(self) -> tuple[str, str, str | None, Credentials]:
        """REST, public WS and private WS (None in paper mode) of the configured venue, and the
        keys to sign with; starts or finds the simulator when the venue is ``sim``."""
        settings = self.settings
        bot = settings.bot
        sim_keys = Credentials(api_key=Secret(settings.sim.api_key), api_secret=Secret(settings.sim.api_secret))
        if bot.paper:
            urls = self._market_urls or _venue_at(bot.venue, bot.venue_url)
            return urls.rest, urls.ws_public, None, sim_keys
        if bot.venue == "sim" and settings.sim.embedded:
            config = self._sim_config or SimConfig.from_settings(
                settings.sim, symbols=self.symbols, paced=settings.sim.speed == "max",
            )
            self.paced = config.paced
            try:
                server = SimServer(config)
            except (OSError, ValueError) as exc:
                raise sim_data_error(config.data_dir, self.symbols, exc) from exc
            try:
                self.sim = server.start()
            except OSError as exc:
                raise port_error("sim.port", config.host, config.port, exc) from exc
            keys = Credentials(api_key=Secret(config.api_key), api_secret=Secret(config.api_secret))
            return self.sim.rest_url, self.sim.ws_public_url, self.sim.ws_private_url, keys
        if bot.venue == "sim":
            urls = venue_urls("sim", sim_host=settings.sim.host, sim_port=settings.sim.port)
            try:
                self.sim = RemoteSim(urls.rest)
            except httpx.HTTPError as exc:
                raise remote_sim_error(urls.rest, exc) from exc
            self.paced = self.sim.paced
            return urls.rest, urls.ws_public, urls.ws_private, sim_keys
        if self.credentials is None:
            raise StartupError(f"bot.venue = {bot.venue!r} needs BYBIT_API_KEY and BYBIT_API_SECRET in the environment")
        urls = _venue_at(bot.venue, bot.venue_url)
        return urls.rest, urls.ws_public, urls.ws_private, self.credentials

    def start(self) -> Bot:
        """``prepare()`` (every check a setting can fail), then ``launch()`` (actors, journal, streams)."""
        self.prepare()
        self.launch()
        return self

    def prepare(self) -> Bot:
        """Everything a user's settings can make fail, before a single journal row is written:
        the journal's writer lock, the web port, the simulator's data and port, the venue's
        reachability and its instruments. Raises ``StartupError`` (one line) for what the
        user can fix; ``stop()`` releases whatever was taken."""
        settings = self.settings
        bot = settings.bot
        if settings.web.enabled:
            check_port_free("web.port", settings.web.host, settings.web.port)
        rest_url, public_url, private_url, credentials = self._endpoints_found = self._endpoints()
        # Against the simulator the venue's replay time is the clock: signatures and
        # recv_window then hold however fast the replay runs.
        clock = (lambda: self.sim.now_ms() / 1000) if isinstance(self.sim, SimServer) else time.time
        if self.sim is None:
            # One try, no retries: a venue with no route is said at once, in one line. The
            # instruments list (public, unsigned, no clock) is both the probe and the symbol check.
            with BybitRest(rest_url, None, max_attempts=1, rate_clock=time.time) as probe:
                try:
                    listed = probe.instruments(self.symbols)
                except (BybitError, TransportError) as exc:
                    raise unreachable_error(bot.venue, rest_url, exc, paper=bot.paper) from exc
            self._refuse_unlisted(listed)
        self._market = BybitRest(rest_url, None, clock=clock, rate_clock=time.time)
        self._market.sync_time()
        if self.sim is not None:
            self._refuse_unlisted(self._market.instruments(self.symbols))
        self.run_info = self._describe_run(credentials)
        # Last, so a refused start leaves no file behind: the OS lock that makes this the
        # journal's only writer (a second bot on the same journal stops here).
        where = f"journal.path = {settings.journal.path!r}"
        try:
            check_writable_journal(settings.journal.path)
            self._lock.acquire()
        except (JournalBusy, NotAJournal) as exc:
            raise StartupError(f"{where}: {exc}") from exc
        except OSError as exc:
            raise StartupError(f"{where}: cannot create the journal's folder or lock ({exc.strerror}): choose a writable path") from exc
        return self

    def _refuse_unlisted(self, listed: dict[str, Any]) -> None:
        """A symbol the venue does not list stops the start here, before any actor needs its rules."""
        missing = [s for s in self.symbols if s not in listed]
        if missing:
            raise unknown_symbols_error(missing, self.settings.bot.venue)

    def _describe_run(self, credentials: Credentials) -> RunInfo:
        bot = self.settings.bot
        data_from = data_to = None
        if isinstance(self.sim, SimServer):
            data_from = self.sim.clock_ms
            data_to = None if self.sim.config.loop else self.sim.venue.store.end_ms
        # Only a live venue's wallet outlives the process; its run resumes under the same key.
        live = not bot.paper and bot.venue != "sim"
        return RunInfo(
            mode="paper" if bot.paper else ("sim" if bot.venue == "sim" else "live"), venue=bot.venue,
            account=fingerprint(f"{bot.venue}:{credentials.api_key.reveal()}") if live else "",
            settings_hash=settings_hash(self.settings), data_from_ms=data_from, data_to_ms=data_to,
            symbols=self.symbols, started_ms=time.time_ns() // 1_000_000,
        )

    def launch(self) -> Bot:
        """Start the journal, the actors and the streams; ``prepare()`` has passed."""
        settings = self.settings
        bot = settings.bot
        assert self._endpoints_found is not None and self._market is not None
        rest_url, public_url, private_url, credentials = self._endpoints_found
        clock = (lambda: self.sim.now_ms() / 1000) if isinstance(self.sim, SimServer) else time.time
        self._launched = True
        if bot.paper:
            self.paper = self._start_paper()
            paper = self.paper
            self._rest = BybitRest("http://paper.invalid", credentials, transport=paper.transport,
                                   clock=lambda: paper.now_ms() / 1000, rate_clock=time.time)
        elif isinstance(self.sim, RemoteSim):
            # A replay in another process runs ahead of any offset we could measure (a minute
            # per cycle); that simulator also accepts wall-clock stamps, so sign with the wall
            # clock and never resync. Closed bars are judged by the venue's own stamp anyway.
            self._rest = BybitRest(rest_url, credentials, rate_clock=time.time)
        else:
            self._rest = BybitRest(rest_url, credentials, clock=clock, rate_clock=time.time)
            self._rest.sync_time()
        self.instruments = self._rest.instruments(self.symbols)

        self.post.register_sink("status", lambda message: None)  # the board sees every delivery
        self.post.register_sink("supervisor", self._on_failure)
        self.post.register_sink("pacer", self._on_cycle_done)
        self.post.register_sink("feed", lambda message: self._streams and self._streams.reconnect_public(getattr(message, "reason", "")))
        self.post.register("journal", JournalActor.start(settings.journal.path, self.deliver, run=self.run_info, lock=self._lock))
        self.deliver("journal", JournalEvent(ts_ms=self.clock_ms(), kind="started", source="supervisor",
                                             message=f"venue={bot.venue} symbols={len(self.symbols)}"))
        self._start_router()
        for symbol in self.symbols:
            self._start_symbol(symbol)
        self._start_scheduler()

        market = self._market
        self._public = PublicStream(public_url, self.symbols, bot.timeframes, self._from_feed,
                                    clock=lambda: market.now_ms() / 1000)
        streams: list[Any] = [self._public]
        if private_url is not None:  # paper mode has no private stream: nothing is sent to the exchange
            streams.append(PrivateStream(private_url, credentials, lambda message: self.deliver("router", message),
                                         server_time_ms=self._rest.now_ms))
        self._streams = StreamThread(streams)
        self._streams.start()
        self._pulse = threading.Thread(target=self._pulse_loop, name="scheduler-pulse", daemon=True)
        self._pulse.start()
        if self.sim is not None and self.paced:
            self._wait_for_subscriptions()
            self.sim.ack(self.sim.clock_ms)  # everything is listening: release the first minute
        self.board.extra.update(now_ms=self.clock_ms, feed=self._feed_status, queue_depth=self._queue_depth,
                                restarts=lambda: self.restarts)
        if settings.web.enabled:
            self._start_web()
        log.info("bot started", extra={"venue": bot.venue, "symbols": len(self.symbols), "paced": self.paced,
                                       "indicators": "compiled" if INDICATORS_COMPILED else "python"})
        if not INDICATORS_COMPILED:
            log.warning("indicators: the compiled set (indicators/_frame.c) was not built at install (no C compiler?):"
                        " running the Python set, the same values at ~7x the cost a bar")
        return self

    def _start_router(self) -> None:
        assert self._rest is not None
        core = router_core(self.settings, self.instruments, react_to_fills=not self.paced)
        self.post.register("router", RouterActor.start(core, self.deliver, self._rest, now_ms=self.clock_ms,
                                                     leverage=self.settings.risk.leverage, recorder=self._recorder("router")))

    def _start_symbol(self, symbol: str, *, is_restart: bool = False) -> None:
        assert self._market is not None
        core = symbol_core(self.settings, symbol, self.instruments[symbol], self.symbols)
        ref = SymbolActor.start(core, self.deliver, self._market.klines_range,
                                bootstrap_bars=self.settings.bot.bootstrap_bars, now_ms=self.clock_ms, is_restart=is_restart,
                                recorder=self._recorder(f"symbol:{symbol}"))
        self.post.register(f"symbol:{symbol}", ref)

    def _start_scheduler(self) -> None:
        core = scheduler_core(self.settings, self.symbols)
        self.post.register("scheduler", SchedulerActor.start(core, self.deliver, self.scheduler_clock_ms,
                                                             recorder=self._recorder("scheduler")))

    def _start_paper(self) -> PaperSim:
        """The in-process venue of paper mode, seeded with the live instrument rules and the
        newest closed 1m bar of every symbol (same minute for all)."""
        assert self._market is not None
        sim = self.settings.sim
        live = self._market.instruments(self.symbols)
        rules = {s: InstrumentRules(symbol=s, tick_size=i.tick_size, qty_step=i.qty_step, min_order_qty=i.min_order_qty,
                                    max_order_qty=i.max_order_qty or i.min_order_qty * 1_000_000,
                                    max_mkt_order_qty=i.max_order_qty or i.min_order_qty * 1_000_000,
                                    min_notional=i.min_notional) for s, i in live.items()}
        newest = {s: self._market.klines(s, 1, limit=5)[-1] for s in self.symbols}
        minute = min(k.start_ms for k in newest.values())
        last = {}
        for symbol in self.symbols:
            (kline,) = [k for k in self._market.klines(symbol, 1, start_ms=minute, end_ms=minute + 59_999, limit=5) if k.start_ms == minute]
            last[symbol] = _bar(kline)
        config = SimConfig.from_settings(sim, symbols=self.symbols)
        log.info("paper mode: fills are simulated here, nothing reaches the exchange's private API",
                 extra={"venue": self.settings.bot.venue, "equity": sim.initial_equity})
        return PaperSim(rules, config, last)

    def _recorder(self, name: str) -> Recorder | None:
        if name not in self.recordings:
            return None
        recording = self.recordings[name] = []  # a restarted actor's record starts afresh, as its core does
        return lambda message, outbox: recording.append((message, outbox))

    def _from_feed(self, message: Message) -> None:
        """Called on the stream thread: route each bar to its symbol's actor."""
        if isinstance(message, (Kline, FeedGap)):
            self.deliver(f"symbol:{message.symbol}", message)
        else:
            self.deliver("journal", message)

    def _pulse_loop(self) -> None:
        while not self._pulse_stop.wait(PULSE_S):
            self.deliver("scheduler", Now(ts_ms=self.scheduler_clock_ms()))

    def _wait_for_subscriptions(self, timeout_s: float = 30.0) -> None:
        """A paced replay must not release a minute before every topic is subscribed."""
        assert self._public is not None
        deadline = time.monotonic() + timeout_s
        while not self._public.healthy:
            if time.monotonic() > deadline:
                raise RuntimeError("the public stream did not subscribe to every kline topic in time")
            time.sleep(0.01)

    def _on_cycle_done(self, message: Message) -> None:
        if self.sim is not None and self.paced:
            self.sim.ack(message.boundary_ms)  # type: ignore[attr-defined]

    # --- failures ---------------------------------------------------------------------

    def _on_failure(self, message: Message) -> None:
        if isinstance(message, JournalEvent):
            self.failures.put(message.source)

    def restart(self, name: str) -> None:
        """Replace a failed actor with a new one rebuilt from the source of truth."""
        old = self.post.actor(name)
        if old is not None:
            old.stop(block=False)
        if name.startswith("symbol:"):
            symbol = name.split(":", 1)[1]
            self._start_symbol(symbol, is_restart=True)
            self.deliver("scheduler", SymbolRestarted(symbol=symbol))
        elif name == "router":
            self._start_router()
            if self.sim is not None and self.paced:
                # The failed router never answered its cycle; the new one has reconciled in
                # on_start, so release the replay rather than wait for the heartbeat.
                self.sim.ack(self.sim.clock_ms)
        elif name == "scheduler":
            self._start_scheduler()
        else:
            raise RuntimeError(f"no restart rule for {name}")
        self.restarts += 1
        self.deliver("journal", JournalEvent(ts_ms=self.clock_ms(), kind="actor_restarted", source="supervisor", message=name))

    def supervise(self, stop: threading.Event, *, until: Callable[[], bool] | None = None) -> None:
        """Restart failed actors until ``stop`` is set (or ``until()`` holds); tell the story meanwhile."""
        while not stop.is_set():
            self._narrate()
            if until is not None and until():
                break
            try:
                name = self.failures.get(timeout=0.2)
            except queue.Empty:
                continue
            log.warning("restarting actor", extra={"actor": name})
            self.restart(name)

    def _narrate(self) -> None:
        """The periodic summary line, and one line when the replay's data ends."""
        line = self.narrator.summary(time.time_ns() // 1_000_000, self.board.snapshot())
        if line is not None:
            console.log(logging.getLevelName(line[0]), line[1], extra=line[2])
        if self.finished_reason is None and self.sim is not None and self.sim.finished.is_set():
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.sim.clock_ms / 1000))
            self.finished_reason = (f"replay finished at {when} UTC: the simulator's data has ended, no new bars "
                                    "(restart to replay it again as a new run, or set sim.loop = true)")
            self.board.extra["finished"] = lambda: self.finished_reason
            console.warning("replay finished: the simulator's data has ended; no new bars, no new trades",
                            extra={"at": f"{when} UTC", "ticks": self.board.ticks, "trades": self.board.trades})

    # --- web --------------------------------------------------------------------------

    def _start_web(self) -> None:
        from indicators.params import IndicatorParams
        from web.serve import WebServer

        web = self.settings.web
        self._web = WebServer(
            self.settings.journal.path, self.board.snapshot, web.host, web.port,
            token=self._web_token, secrets=secret_values(self.settings, self.credentials),
            indicators=IndicatorParams.from_strategy(self.settings.strategy),
            tick_sizes={s: str(i.tick_size) for s, i in self.instruments.items()},
        ).start()

    def _feed_status(self) -> dict[str, Any]:
        public = self._public
        if public is None:
            return {"connected": False}
        stats = public.stats
        return {
            "connected": bool(public.healthy),
            "reconnects": max(0, stats["connects"] - 1),
            "confirmed_bars": stats["confirmed"],
            "malformed_frames": stats["malformed"],
            "gaps_reported": stats["gaps_reported"],
            "watchdog_reconnects": self.board.reconnects_ordered,
        }

    def _queue_depth(self) -> dict[str, int]:
        return {name: ref.actor_inbox.qsize() for name, ref in self.post.actors().items()}

    @property
    def web_url(self) -> str | None:
        return None if self._web is None else self._web.url

    # --- shutdown ---------------------------------------------------------------------

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._pulse_stop.set()
        if self._streams is not None:
            self._streams.stop(timeout=5)
        for name in ["scheduler", "router", *(f"symbol:{s}" for s in self.symbols)]:
            ref = self.post.actor(name)
            if ref is not None:
                try:
                    ref.stop(block=True, timeout=10)
                except pykka.ActorDeadError:
                    pass
        journal = self.post.actor("journal")
        if journal is not None:
            try:
                journal.ask(Flush(), timeout=10)
                journal.stop(block=True, timeout=10)
            except pykka.ActorDeadError:
                pass
        if self._web is not None:
            self._web.stop()
        for client in (self._rest, self._market):
            if client is not None:
                client.close()
        if self.sim is not None:
            self.sim.stop()
        self._lock.release()
        if self._launched:
            log.info("bot stopped")


def _venue_at(venue: str, base_url: str) -> VenueUrls:
    """The venue's own addresses, or ``[bot] venue_url``: one host serving V5 REST and the
    public stream the way the simulator does (tests point it at a closed loopback port)."""
    if not base_url:
        return venue_urls(venue)
    ws = "ws" + base_url.removeprefix("http")
    return VenueUrls(base_url, f"{ws}/v5/public/linear", f"{ws}/v5/private")


def _bar(kline: Kline) -> Bar:
    """A feed kline as the venue's bar; str() of the decoded float is the exchange's own text."""
    return Bar(start_ms=kline.start_ms, open=Decimal(str(kline.open)), high=Decimal(str(kline.high)),
               low=Decimal(str(kline.low)), close=Decimal(str(kline.close)), volume=Decimal(str(kline.volume)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until-end", action="store_true", help="stop when the simulator's replay data ends")


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        token = token_for(settings.web.host, os.environ) if settings.web.enabled else None
    except WebConfigError as exc:
        print(f"{args.settings}: {exc}", file=sys.stderr)
        return 2
    bot = Bot(settings, credentials, web_token=token)
    try:
        bot.prepare()  # a StartupError reaches run.py: one line, exit 2
        bot.launch()
        if bot.web_url:
            log.info("status endpoint", extra={"url": f"{bot.web_url}/status"})
        until = None
        if getattr(args, "until_end", False) and bot.sim is not None:
            until = lambda: bot.finished_reason is not None  # noqa: E731 - said first, then stop
        bot.supervise(stop, until=until)
    finally:
        bot.stop()
    log.info("supervisor stopped cleanly")
    print(run_summary(settings.journal.path, "finished" if bot.finished_reason is not None else "stopped"), flush=True)
    return 0


def run_summary(journal_path: str, how: str = "finished") -> str:
    """One line for the end of a run: trades, net PnL, fees and R of this run (the journal's newest)."""
    reader = JournalReader(journal_path)
    try:
        run = reader.current_run()
        total = reader.pnl(time.time_ns() // 1_000_000)["all"]["total"]
    finally:
        reader.close()
    return (f"run {run} {how}: {total['trades']} trades ({total['wins']} won, {total['losses']} lost), "
            f"net {total['pnl_usdt']} USDT after {total['fees']} USDT fees, {total['pnl_r']:+.2f} R")
