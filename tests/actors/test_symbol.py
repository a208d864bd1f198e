"""SymbolCore: closed bars in, one decision per tick out, never from a partial or stale bar."""

from decimal import Decimal

import pytest

from vocabulary.messages import (
    AccountView, Backfill, BackfillResult, BarReady, BiasState, Decided, Decision, FeedGap, Instrument, Kline, Reason,
    Tick,
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
    def test_a_symbol_waits_for_btc_and_eth_states_of_the_same_tick(self):
        rec = Recorder()
        core = make(decide=rec, bias_symbols=("BTCUSDT", "ETHUSDT"))
        klines = feed("SOLUSDT", 60)
        for k in klines:
            core.handle(k)
        b = klines[-1].end_ms
        assert sent(decide_at(core, b), Decision, "journal") == []
        btc = build_market_state("BTCUSDT", b, {}, False)
        eth_old = build_market_state("ETHUSDT", b - 60_000, {}, False)
        assert sent(core.handle(BiasState(state=btc)), Decision, "journal") == []
        assert sent(core.handle(BiasState(state=eth_old)), Decision, "journal") == [], "a previous tick's state is not used"
        eth = build_market_state("ETHUSDT", b, {}, False)
        assert len(sent(core.handle(BiasState(state=eth)), Decision, "journal")) == 1
        assert [s.symbol for s in rec.calls[0][1]] == ["BTCUSDT", "ETHUSDT"]

    def test_btc_shares_its_state_and_uses_only_eth(self):
        rec = Recorder()
        core = make("BTCUSDT", decide=rec, bias_symbols=("BTCUSDT", "ETHUSDT"))
        klines = feed("BTCUSDT", 60)
        for k in klines:
            core.handle(k)
        b = klines[-1].end_ms
        out = decide_at(core, b)
        (shared,) = sent(out, BiasState, "symbols")
        assert shared.state.symbol == "BTCUSDT" and shared.state.tick_ms == b
        core.handle(BiasState(state=build_market_state("ETHUSDT", b, {}, False)))
        assert [s.symbol for s in rec.calls[0][1]] == ["ETHUSDT"]

    def test_a_bias_that_never_came_rejects_the_old_tick_at_the_next_one(self):
        core = make(bias_symbols=("BTCUSDT", "ETHUSDT"))
        klines = feed("SOLUSDT", 60)
        for k in klines[:-1]:
            core.handle(k)
        decide_at(core, klines[-2].end_ms)
        core.handle(klines[-1])
        out = decide_at(core, klines[-1].end_ms)
        (rejected,) = sent(out, Decision, "journal")
        assert rejected.tick_ms == klines[-2].end_ms and rejected.reasons == (Reason(code="data.bias_missing"),)


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


def test_ticks_decided_without_waiting_for_the_bias_are_the_decisions_the_bias_would_have_given():
    """``bias_free`` lets a symbol decide a tick where nothing fired at once; over two days of
    three real symbols (zones widened so paths fire often) every decision is the one the
    symbol would have made after waiting for the BTC/ETH states."""
    from actors.cores import bias_free, history_length
    from actors.decide import strategy_decide
    from vocabulary.settings import load_settings
    from exchange.sim.market import load_instruments
    from indicators.params import IndicatorParams
    from tests.actors.klines import DATA

    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    settings = load_settings('[strategy]\nwt_oversold = -20\nwt_overbought = 20\nscore_min = 0.5\n', {})
    rules = load_instruments(DATA / "instruments-bybit-linear.csv")
    params, hist = IndicatorParams.from_strategy(settings.strategy), history_length(settings)

    def cores(shortcut):
        made = {}
        for s in symbols:
            r = rules[s]
            instrument = Instrument(symbol=s, tick_size=r.tick_size, qty_step=r.qty_step, min_order_qty=r.min_order_qty,
                                    max_order_qty=r.max_order_qty, min_notional=r.min_notional)
            made[s] = SymbolCore(
                s, TFS, capacity=120, indicators=lambda tf: FrameIndicators(tf, params, hist_len=hist),
                build_state=build_market_state, decide=strategy_decide(settings.strategy, settings.risk, instrument),
                bias_symbols=("BTCUSDT", "ETHUSDT"), bias_free=bias_free(settings.strategy) if shortcut else None,
            )
            made[s].handle(AccountView(ts_ms=0, equity=Decimal(10_000), realised_pnl_today=Decimal(0)))
        return made

    by_boundary: dict[int, list[Kline]] = {}
    for k in sorted((k for s in symbols for k in feed(s, 2 * 1440)), key=lambda k: (k.end_ms, k.interval)):
        by_boundary.setdefault(k.end_ms, []).append(k)

    def decisions(shortcut):
        made, out, early = cores(shortcut), [], 0
        for boundary, bars in by_boundary.items():
            for k in bars:
                made[k.symbol].handle(k)
            pending = [(s, Tick(boundary_ms=boundary, closed=closed_timeframes(boundary, TFS))) for s in symbols]
            while pending:
                symbol, message = pending.pop(0)
                for to, m in made[symbol].handle(message):
                    if to == "symbols":
                        pending += [(s, m) for s in symbols]
                    elif to == "journal" and isinstance(m, Decision):
                        out.append(m)
                        early += isinstance(message, Tick) and m.symbol not in ("BTCUSDT", "ETHUSDT")
        return out, early

    shortcut, early = decisions(True)
    waited, _ = decisions(False)
    by_tick = lambda ds: {(d.tick_ms, d.symbol): d for d in ds}  # noqa: E731 - the shortcut only reorders
    assert len(shortcut) == len(waited) and by_tick(shortcut) == by_tick(waited)
    kinds = {d.kind for d in waited}
    assert {"NO_SETUP", "REJECT", "TAKE"} <= kinds, kinds  # both the shortcut and the bias-reading path ran
    assert 0 < early < len([d for d in waited if d.symbol == "SOLUSDT"])


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
