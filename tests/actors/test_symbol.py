"""SymbolCore: closed bars in, one decision per tick out, never from a partial or stale bar."""

from decimal import Decimal
from functools import lru_cache

import pytest

from vocabulary.messages import (
    AccountView, Backfill, BackfillResult, BarReady, Decided, Decision, FeedGap, Instrument, Kline, Now, Reason, Tick,
)
from actors.scheduler import closed_timeframes
from actors.symbol import SymbolCore
from indicators.frame import FrameIndicators, build_market_state
from tests.actors.klines import feed

TFS = (1, 3, 5, 15)


class Recorder:
    """A decide function that records what the strategy was shown and decides NO_SETUP."""

    def __init__(self, kind="NO_SETUP"):
        self.calls = []
        self.kind = kind

    def __call__(self, state, bias, account):  # the strategy's signature
        self.calls.append((state, bias, account))
        return Decision(tick_ms=state.tick_ms, symbol=state.symbol, kind=self.kind, reasons=(Reason(code="test"),))


def make(symbol="SOLUSDT", decide=None, bias_symbols=()):
    return SymbolCore(
        symbol, TFS, capacity=500, indicators=lambda tf: FrameIndicators(tf), build_state=build_market_state,
        decide=decide or Recorder(), bias_symbols=bias_symbols,
    )


def sent(out, kind, to=None):
    return [m for dest, m in out if isinstance(m, kind) and (to is None or dest == to)]


def test_a_boundary_is_ready_only_when_every_timeframe_closing_there_is_in():
    core = make()
    ready = []
    for k in feed("SOLUSDT", 120):
        ready += [(k.interval, m.boundary_ms) for m in sent(core.handle(k), BarReady)]
    boundaries = [b for _, b in ready]
    assert len(boundaries) == len(set(boundaries)), "each boundary announced once"
    for interval, boundary in ready:
        # the announcement comes with the longest timeframe that closes there
        assert interval == max(closed_timeframes(boundary, TFS))


def test_in_progress_bars_never_reach_the_indicators():
    core = make()
    klines = feed("SOLUSDT", 30, timeframes=(1,))
    for k in klines[:10]:
        core.handle(k)
    before = core.indicators[1].last
    partial = Kline(**{**{f: getattr(klines[10], f) for f in klines[10].__struct_fields__}, "confirmed": False, "close": 1e9})
    assert core.handle(partial) == []
    assert core.indicators[1].last == before


def decide_at(core, boundary):
    tick = Tick(boundary_ms=boundary, closed=closed_timeframes(boundary, TFS))
    return core.handle(tick)


def test_a_tick_yields_exactly_one_decision_to_journal_and_scheduler():
    rec = Recorder()
    core = make(decide=rec)
    klines = feed("SOLUSDT", 200)
    for k in klines:
        core.handle(k)
    boundary = klines[-1].end_ms
    out = decide_at(core, boundary)
    assert len(sent(out, Decision, "journal")) == 1
    assert sent(out, Decided, "scheduler") == [Decided(symbol="SOLUSDT", tick_ms=boundary, kind="NO_SETUP")]
    assert sent(out, Decision, "router") == [], "only TAKE reaches the router"
    state = rec.calls[0][0]
    assert state.tick_ms == boundary and not state.is_stale
    assert state.frame(1).start_ms + 60_000 == boundary


def test_take_goes_to_the_router_too():
    core = make(decide=Recorder("TAKE"))
    klines = feed("SOLUSDT", 60)
    for k in klines:
        core.handle(k)
    assert len(sent(decide_at(core, klines[-1].end_ms), Decision, "router")) == 1


def test_a_tick_without_its_1m_bar_is_a_reject_for_stale_data_and_the_strategy_is_not_asked():
    rec = Recorder()
    core = make(decide=rec)
    klines = feed("SOLUSDT", 60)
    for k in klines:
        core.handle(k)
    out = decide_at(core, klines[-1].end_ms + 60_000)
    (decision,) = sent(out, Decision, "journal")
    assert decision.kind == "REJECT" and Reason(code="data.stale", value=1) in decision.reasons
    assert rec.calls == []


def test_a_gap_asks_for_a_backfill_and_the_backfill_restores_order():
    core = make()
    klines = feed("SOLUSDT", 40, timeframes=(1,))
    for k in klines[:20]:
        core.handle(k)
    out = core.handle(klines[25])
    assert sent(out, Backfill, "self") == [Backfill(symbol="SOLUSDT", interval=1, from_ms=klines[20].start_ms, to_ms=klines[25].end_ms)]
    assert core.handle(klines[26]) == [], "one backfill at a time; the bar waits"
    out = core.handle(BackfillResult(symbol="SOLUSDT", interval=1, from_ms=klines[20].start_ms,
                                     to_ms=klines[25].start_ms, klines=tuple(klines[20:25])))
    assert [k.start_ms for k in sent(out, Kline, "journal")] == [k.start_ms for k in klines[20:27]]
    assert core.indicators[1].last.start_ms == klines[26].start_ms


def test_a_gap_the_venue_cannot_fill_is_accepted_and_journaled():
    core = make()
    klines = feed("SOLUSDT", 40, timeframes=(1,))
    for k in klines[:20]:
        core.handle(k)
    core.handle(klines[25])
    # A halted market: the venue has the bar after the hole, and nothing in it.
    out = core.handle(BackfillResult(symbol="SOLUSDT", interval=1, from_ms=0, to_ms=1, klines=(klines[25],)))
    kinds = [m.kind for _, m in out if type(m).__name__ == "JournalEvent"]
    assert kinds == ["gap_accepted"]
    assert core.indicators[1].last.start_ms == klines[25].start_ms


def test_a_bar_the_venue_does_not_know_is_refused_and_the_symbol_goes_on():
    core = make()
    klines = feed("SOLUSDT", 40, timeframes=(1,))
    for k in klines[:20]:
        core.handle(k)
    bogus = Kline(**{**{f: getattr(klines[0], f) for f in klines[0].__struct_fields__}, "start_ms": klines[0].start_ms + 10**6 * 60_000})
    core.handle(bogus)
    out = core.handle(BackfillResult(symbol="SOLUSDT", interval=1, from_ms=0, to_ms=1, klines=tuple(klines[20:22])))
    assert [m.kind for _, m in out if type(m).__name__ == "JournalEvent"] == ["bar_refused"]
    core.handle(klines[22])
    assert core.indicators[1].last.start_ms == klines[22].start_ms


def test_a_failed_backfill_is_journaled_and_retried_on_the_next_gap():
    core = make()
    klines = feed("SOLUSDT", 40, timeframes=(1,))
    for k in klines[:20]:
        core.handle(k)
    core.handle(klines[25])
    out = core.handle(BackfillResult(symbol="SOLUSDT", interval=1, from_ms=0, to_ms=1, error="ReadTimeout"))
    assert [m.kind for _, m in out if type(m).__name__ == "JournalEvent"] == ["backfill_failed"]
    assert sent(core.handle(klines[26]), Backfill, "self"), "the next bar behind the gap asks again"


def test_a_reconnect_gap_is_backfilled_from_the_newest_held_bar():
    core = make()
    klines = feed("SOLUSDT", 40, timeframes=(1,))
    for k in klines[:20]:
        core.handle(k)
    out = core.handle(FeedGap(symbol="SOLUSDT", interval=1, from_ms=klines[22].start_ms, to_ms=klines[30].start_ms))
    assert sent(out, Backfill) == [Backfill(symbol="SOLUSDT", interval=1, from_ms=klines[20].start_ms, to_ms=klines[30].start_ms)]


def test_bootstrap_bars_warm_the_indicators_but_announce_no_tick():
    core = make()
    klines = feed("SOLUSDT", 100, timeframes=(1,))
    out = []
    for tf in TFS:
        mine = [k for k in feed("SOLUSDT", 100) if k.interval == tf]
        out += core.handle(BackfillResult(symbol="SOLUSDT", interval=tf, from_ms=0, to_ms=1, klines=tuple(mine), is_bootstrap=True))
    assert sent(out, BarReady) == []
    assert core.indicators[1].last.start_ms == klines[-1].start_ms


class TestCompositeBias:
    def test_a_symbol_reads_btc_and_eth_states_from_its_tick_and_decides_at_once(self):
        rec = Recorder()
        core = make(decide=rec, bias_symbols=("BTCUSDT", "ETHUSDT"))
        klines = feed("SOLUSDT", 60)
        for k in klines:
            core.handle(k)
        b = klines[-1].end_ms
        btc, eth = build_market_state("BTCUSDT", b, {}, False), build_market_state("ETHUSDT", b, {}, False)
        out = core.handle(Tick(boundary_ms=b, closed=closed_timeframes(b, TFS), bias=(btc, eth)))
        assert len(sent(out, Decision, "journal")) == 1
        assert rec.calls[0][1] == (btc, eth)

    def test_btc_announces_its_state_with_its_bars_and_decides_on_that_state_with_eth_only(self):
        rec = Recorder()
        core = make("BTCUSDT", decide=rec, bias_symbols=("BTCUSDT", "ETHUSDT"))
        out = []
        for k in feed("BTCUSDT", 60):
            out += core.handle(k)
        ready = sent(out, BarReady, "scheduler")
        assert ready and all(r.state.symbol == "BTCUSDT" and r.state.tick_ms == r.boundary_ms for r in ready)
        b, announced = ready[-1].boundary_ms, ready[-1].state
        eth = build_market_state("ETHUSDT", b, {}, False)
        core.handle(Tick(boundary_ms=b, closed=closed_timeframes(b, TFS), bias=(announced, eth)))
        state, bias, _ = rec.calls[0]
        assert state == announced, "what the others read is what BTC itself decides on"
        assert bias == (eth,)

    def test_a_symbol_outside_the_bias_announces_its_bars_without_a_state(self):
        core = make(bias_symbols=("BTCUSDT", "ETHUSDT"))
        ready = [m for k in feed("SOLUSDT", 60) for m in sent(core.handle(k), BarReady)]
        assert ready and all(r.state is None for r in ready)

    def test_a_bias_state_absent_from_the_tick_is_not_waited_for(self):
        rec = Recorder()
        core = make(decide=rec, bias_symbols=("BTCUSDT", "ETHUSDT"))
        klines = feed("SOLUSDT", 60)
        for k in klines:
            core.handle(k)
        b = klines[-1].end_ms
        btc = build_market_state("BTCUSDT", b, {}, False)
        out = core.handle(Tick(boundary_ms=b, closed=closed_timeframes(b, TFS), bias=(btc,), late=("ETHUSDT",)))
        assert len(sent(out, Decision, "journal")) == 1 and rec.calls[0][1] == (btc,)


def test_the_account_view_reaches_the_strategy():
    rec = Recorder()
    core = make(decide=rec)
    klines = feed("SOLUSDT", 30)
    for k in klines:
        core.handle(k)
    view = AccountView(ts_ms=1, equity=Decimal("10000"), realised_pnl_today=Decimal("-5"), open_symbols=("BTCUSDT",))
    core.handle(view)
    decide_at(core, klines[-1].end_ms)
    assert rec.calls[0][2] == view


def test_messages_it_does_not_know_are_refused_loudly():
    with pytest.raises(TypeError):
        make().handle(Decided(symbol="X", tick_ms=1, kind="TAKE"))


def test_a_restarted_symbol_announces_the_boundary_its_bootstrap_already_holds():
    core = make()
    history = feed("SOLUSDT", 100)
    for tf in TFS:
        mine = tuple(k for k in history if k.interval == tf)
        core.handle(BackfillResult(symbol="SOLUSDT", interval=tf, from_ms=0, to_ms=1, klines=mine, is_bootstrap=True))
    last_end = max(k.end_ms for k in history if k.interval == 1)
    assert core.ready_after_bootstrap() == [("scheduler", BarReady(symbol="SOLUSDT", boundary_ms=last_end))]
    assert core.ready_after_bootstrap() == [], "announced once"


BIAS = ("BTCUSDT", "ETHUSDT")
REAL = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@lru_cache(maxsize=1)
def _real_market():
    """Two days of three real symbols, zones widened so paths fire often (TAKE and REJECT occur):
    the settings, each symbol's instrument and the closed bars by boundary."""
    from vocabulary.settings import load_settings
    from exchange.sim.market import load_instruments
    from tests.actors.klines import DATA

    settings = load_settings('[strategy]\nwt_oversold = -20\nwt_overbought = 20\nscore_min = 0.5\n', {})
    rules = load_instruments(DATA / "instruments-bybit-linear.csv")
    instruments = {s: Instrument(symbol=s, tick_size=r.tick_size, qty_step=r.qty_step, min_order_qty=r.min_order_qty,
                                 max_order_qty=r.max_order_qty, min_notional=r.min_notional)
                   for s, r in rules.items() if s in REAL}
    by_boundary: dict[int, list[Kline]] = {}
    for k in sorted((k for s in REAL for k in feed(s, 2 * 1440)), key=lambda k: (k.end_ms, k.interval)):
        by_boundary.setdefault(k.end_ms, []).append(k)
    return settings, instruments, by_boundary


def _real_cores(decide_for):
    from actors.cores import history_length
    from indicators.params import IndicatorParams

    settings, instruments, _ = _real_market()
    params, hist = IndicatorParams.from_strategy(settings.strategy), history_length(settings)
    made = {}
    for s in REAL:
        made[s] = SymbolCore(s, TFS, capacity=120, indicators=lambda tf: FrameIndicators(tf, params, hist_len=hist),
                             build_state=build_market_state, decide=decide_for(s, instruments[s]), bias_symbols=BIAS)
        made[s].handle(AccountView(ts_ms=0, equity=Decimal(10_000), realised_pnl_today=Decimal(0)))
    return made


def _through_the_scheduler(withhold=None):
    """The real path: bars -> BarReady (BTC/ETH with their state) -> the scheduler -> one Tick
    carrying the bias -> each symbol's decision. ``withhold``: (symbol, boundary) whose bars come
    only after the tick went out by grace. Returns the decisions and the ticks."""
    from actors.decide import strategy_decide
    from actors.scheduler import SchedulerCore

    settings, _, by_boundary = _real_market()
    made = _real_cores(lambda s, instrument: strategy_decide(settings.strategy, settings.risk, instrument))
    scheduler = SchedulerCore(REAL, TFS, grace_ms=2_000, heartbeat_timeout_ms=10**12)
    decisions, ticks = [], {}

    def run(symbol, message):
        out = []
        for to, m in made[symbol].handle(message):
            if to == "scheduler":
                out += scheduler.handle(m)
            elif to == "journal" and isinstance(m, Decision):
                decisions.append(m)
        return out

    for boundary, bars in by_boundary.items():
        held = [k for k in bars if (k.symbol, k.end_ms) == withhold]
        out = scheduler.handle(Now(ts_ms=boundary))
        for k in bars:
            if k not in held:
                out += run(k.symbol, k)
        if not any(isinstance(m, Tick) for _, m in out):
            out += scheduler.handle(Now(ts_ms=boundary + 2_000))  # the grace runs out
        sent_out = [m for to, m in out if to == "symbols"]
        if not sent_out:
            continue  # nobody had a bar closing here (the start of the data): no tick, live either
        (tick,) = sent_out
        ticks[boundary] = tick
        for s in REAL:
            run(s, tick)
        for k in held:
            run(k.symbol, k)
    return decisions, ticks


def test_the_bias_carried_in_the_tick_gives_every_decision_the_broadcast_gave():
    """Before the bias rode in the tick, BTC and ETH built their state when their tick came and
    broadcast it, and every symbol decided on its own tick state with those two states. Over two
    days of three real symbols, through the real scheduler, every tick carries exactly those
    states, bit for bit, and every decision is the one the broadcast path made."""
    from actors.decide import strategy_decide

    settings, instruments, by_boundary = _real_market()
    seen = {}  # (tick, symbol) -> (the state decided on at its tick, the account)

    def recorder(symbol, instrument):
        def record(state, bias, account):
            seen[(state.tick_ms, state.symbol)] = (state, account)
            return Decision(tick_ms=state.tick_ms, symbol=state.symbol, kind="NO_SETUP")
        return record

    decisions, ticks = _through_the_scheduler()
    reference = _real_cores(recorder)
    before = {}
    for boundary, bars in by_boundary.items():
        for k in bars:
            reference[k.symbol].handle(k)
        if boundary not in ticks:
            continue
        for s in REAL:
            for to, m in reference[s].handle(Tick(boundary_ms=boundary, closed=closed_timeframes(boundary, TFS))):
                if to == "journal" and isinstance(m, Decision) and m.kind == "REJECT":
                    before[(m.tick_ms, m.symbol)] = m  # stale data: the strategy was never asked
    for (tick, symbol), (state, account) in seen.items():
        bias = tuple(seen[(tick, b)][0] for b in BIAS if b != symbol and (tick, b) in seen)
        before[(tick, symbol)] = strategy_decide(settings.strategy, settings.risk, instruments[symbol])(state, bias, account)

    after = {(d.tick_ms, d.symbol): d for d in decisions}
    assert len(after) == len(decisions) == len(before) == len(ticks) * len(REAL)
    assert len(ticks) > 2 * 1440 - 60
    assert after == before
    assert {"NO_SETUP", "REJECT", "TAKE"} <= {d.kind for d in decisions}
    for boundary, tick in ticks.items():
        # A stale state (history still warming up) is carried as it was broadcast; the strategy drops it.
        assert tuple(b for b in tick.bias if not b.is_stale) == tuple(seen[(boundary, b)][0] for b in BIAS if (boundary, b) in seen)
        assert [b.symbol for b in tick.bias] == [s for s in BIAS if s not in tick.late]
        assert all(b.tick_ms == boundary for b in tick.bias)
    assert sum(len(t.bias) == 2 for t in ticks.values()) > 2 * 1440 - 60


def test_a_bias_symbol_late_for_its_tick_is_decided_without_by_everyone_else_nobody_waits():
    decisions, _ = _through_the_scheduler()
    read = next(d for d in decisions if d.symbol == "SOLUSDT" and any(
        r.code.endswith(".bias.ETHUSDT") and isinstance(r.value, float) for r in d.reasons))
    late, ticks = _through_the_scheduler(withhold=("ETHUSDT", read.tick_ms))
    assert ticks[read.tick_ms].late == ("ETHUSDT",) and [b.symbol for b in ticks[read.tick_ms].bias] == ["BTCUSDT"]
    at = {d.symbol: d for d in late if d.tick_ms == read.tick_ms}
    assert set(at) == set(REAL)
    assert any(r.code.endswith(".bias.ETHUSDT") and r.value == "missing" for r in at["SOLUSDT"].reasons)
    assert at["ETHUSDT"].kind == "REJECT" and at["ETHUSDT"].reasons[0].code == "data.stale"
    assert len(late) == len(decisions), "one decision per symbol per tick, the late one included"


def test_every_buffer_of_a_bot_symbol_reaches_back_the_same_two_hours():
    from actors.cores import symbol_core
    from vocabulary.settings import load_settings

    settings = load_settings("", {})
    core = symbol_core(settings, "BTCUSDT", Instrument(symbol="BTCUSDT", tick_size=Decimal("0.1"), qty_step=Decimal("0.001"),
                                                      min_order_qty=Decimal("0.001")), ("BTCUSDT",))
    klines = feed("BTCUSDT", 600)
    for k in klines:
        core.handle(k)
    spans = {tf: len(b) * tf for tf, b in core.buffers.items()}
    assert spans == dict.fromkeys(settings.bot.timeframes, 120)
    again = core.handle([k for k in klines if k.interval == 15][-7])  # 90 minutes before the newest 15m bar
    assert again == [] and core.counts["duplicate"] == 1  # a repeat within the two hours is still known as one
