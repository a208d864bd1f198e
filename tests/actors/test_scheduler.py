"""SchedulerCore: one tick per boundary, as soon as every symbol is in or grace runs out."""

from vocabulary.messages import BarReady, CycleDone, Decided, JournalEvent, Now, Reconnect, SymbolRestarted, Tick
from actors.scheduler import SchedulerCore, closed_timeframes
from indicators.frame import build_market_state

H = 1_748_624_400_000  # 2025-05-30 17:00 UTC: a quarter hour, so every timeframe closes
M = 60_000


def core(**kw) -> SchedulerCore:
    kw = {"grace_ms": 2_000, "heartbeat_timeout_ms": 90_000} | kw
    return SchedulerCore(["BTCUSDT", "ETHUSDT", "SOLUSDT"], [1, 3, 5, 15], **kw)


def ticks(out):
    """The ticks broadcast to the symbols (each is journaled too)."""
    broadcast = [m for to, m in out if isinstance(m, Tick) and to == "symbols"]
    assert broadcast == [m for to, m in out if isinstance(m, Tick) and to == "journal"]
    return broadcast


def test_closed_timeframes_follow_the_clock():
    assert closed_timeframes(H, [1, 3, 5, 15]) == (1, 3, 5, 15)
    assert closed_timeframes(H + M, [1, 3, 5, 15]) == (1,)
    assert closed_timeframes(H + 3 * M, [15, 5, 3, 1]) == (1, 3)
    assert closed_timeframes(H + 5 * M, [1, 3, 5, 15]) == (1, 5)


def test_the_tick_goes_out_the_moment_the_last_symbol_is_in():
    s = core()
    assert s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H)) == []
    assert s.handle(BarReady(symbol="ETHUSDT", boundary_ms=H)) == []
    out = s.handle(BarReady(symbol="SOLUSDT", boundary_ms=H))
    tick = Tick(boundary_ms=H, closed=(1, 3, 5, 15), late=())
    assert out == [("journal", tick), ("symbols", tick)]


def test_grace_expiry_ticks_without_the_late_symbol_and_names_it():
    s = core()
    s.handle(Now(ts_ms=H))
    s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H))
    s.handle(BarReady(symbol="ETHUSDT", boundary_ms=H))
    assert ticks(s.handle(Now(ts_ms=H + 1_999))) == []
    assert ticks(s.handle(Now(ts_ms=H + 2_000))) == [Tick(boundary_ms=H, closed=(1, 3, 5, 15), late=("SOLUSDT",))]
    assert s.handle(BarReady(symbol="SOLUSDT", boundary_ms=H)) == [], "the late bar does not tick again"
    assert s.late_ticks == 1


def state(symbol, boundary):
    return build_market_state(symbol, boundary, {}, False)


def test_the_tick_carries_the_bias_states_announced_with_the_bars_in_symbol_order():
    s = core()
    s.handle(BarReady(symbol="ETHUSDT", boundary_ms=H, state=state("ETHUSDT", H)))
    s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H, state=state("BTCUSDT", H)))
    (tick,) = ticks(s.handle(BarReady(symbol="SOLUSDT", boundary_ms=H)))
    assert tick.bias == (state("BTCUSDT", H), state("ETHUSDT", H))


def test_a_bias_symbol_late_for_the_tick_is_absent_from_it_and_never_carried_into_the_next():
    s = core()
    s.handle(Now(ts_ms=H))
    s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H, state=state("BTCUSDT", H)))
    s.handle(BarReady(symbol="SOLUSDT", boundary_ms=H))
    (tick,) = ticks(s.handle(Now(ts_ms=H + 2_000)))
    assert tick.late == ("ETHUSDT",) and tick.bias == (state("BTCUSDT", H),)
    assert s.handle(BarReady(symbol="ETHUSDT", boundary_ms=H, state=state("ETHUSDT", H))) == []
    s.handle(BarReady(symbol="ETHUSDT", boundary_ms=H + M, state=state("ETHUSDT", H + M)))
    s.handle(BarReady(symbol="SOLUSDT", boundary_ms=H + M))
    (tick,) = ticks(s.handle(Now(ts_ms=H + M + 2_000)))
    assert tick.late == ("BTCUSDT",) and tick.bias == (state("ETHUSDT", H + M),), "only this boundary's states"


def test_each_boundary_ticks_exactly_once():
    s = core()
    out = []
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDT"):
        out += s.handle(BarReady(symbol=sym, boundary_ms=H))
    out += s.handle(Now(ts_ms=H + 10_000))
    assert len(ticks(out)) == 1


def test_a_cycle_closes_when_every_symbol_has_decided():
    s = core()
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        s.handle(BarReady(symbol=sym, boundary_ms=H))
    assert s.handle(Decided(symbol="BTCUSDT", tick_ms=H, kind="NO_SETUP")) == []
    assert s.handle(Decided(symbol="ETHUSDT", tick_ms=H, kind="REJECT")) == []
    done = CycleDone(boundary_ms=H)
    assert s.handle(Decided(symbol="SOLUSDT", tick_ms=H, kind="TAKE")) == [("journal", done), ("router", done)]
    assert s.handle(Decided(symbol="SOLUSDT", tick_ms=H, kind="TAKE")) == []


def test_a_restarted_symbol_does_not_hold_its_cycle_open():
    s = core()
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        s.handle(BarReady(symbol=sym, boundary_ms=H))
    s.handle(Decided(symbol="BTCUSDT", tick_ms=H, kind="NO_SETUP"))
    s.handle(Decided(symbol="ETHUSDT", tick_ms=H, kind="NO_SETUP"))
    done = CycleDone(boundary_ms=H, missing=("SOLUSDT",))
    assert s.handle(SymbolRestarted(symbol="SOLUSDT")) == [("journal", done), ("router", done)]


def test_an_unfinished_cycle_is_closed_before_the_next_tick():
    s = core()
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        s.handle(BarReady(symbol=sym, boundary_ms=H))
    s.handle(Decided(symbol="BTCUSDT", tick_ms=H, kind="NO_SETUP"))
    out = []
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        out += s.handle(BarReady(symbol=sym, boundary_ms=H + M))
    late = [m for _, m in out if isinstance(m, JournalEvent)]
    assert [e.kind for e in late] == ["decisions_late"] and dict(late[0].data)["symbols"] == "ETHUSDT,SOLUSDT"
    assert [m for to, m in out if isinstance(m, CycleDone) and to == "journal"] == [
        CycleDone(boundary_ms=H, missing=("ETHUSDT", "SOLUSDT"))]
    assert ticks(out) == [Tick(boundary_ms=H + M, closed=(1,), late=())]


def test_skipped_boundaries_are_journaled():
    s = core()
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        s.handle(BarReady(symbol=sym, boundary_ms=H))
    out = []
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        out += s.handle(BarReady(symbol=sym, boundary_ms=H + 4 * M))
    skipped = [m for _, m in out if isinstance(m, JournalEvent) and m.kind == "ticks_skipped"]
    assert len(skipped) == 1 and "3 boundaries" in skipped[0].message


def test_a_silent_feed_orders_one_reconnect_per_timeout():
    s = core(heartbeat_timeout_ms=90_000)
    s.handle(Now(ts_ms=H))
    assert s.handle(Now(ts_ms=H + 89_999)) == []
    out = s.handle(Now(ts_ms=H + 90_000))
    assert ("feed", Reconnect(reason="no closed bar for 90000 ms")) in out
    assert s.handle(Now(ts_ms=H + 90_001)) == []
    assert s.reconnects_ordered == 1


def test_bars_keep_the_heartbeat_alive():
    s = core(heartbeat_timeout_ms=90_000)
    s.handle(Now(ts_ms=H))
    s.handle(Now(ts_ms=H + 60_000))
    s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H + 60_000))
    assert not any(to == "feed" for to, _ in s.handle(Now(ts_ms=H + 100_000)))


def test_the_clock_never_runs_backwards():
    s = core()
    s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H))
    s.handle(Now(ts_ms=H + 5_000))  # ticks H with two late symbols
    assert s.handle(Now(ts_ms=H)) == []
    assert s.now_ms == H + 5_000


# --- the watchdog: every wait on a symbol ends within a grace, named in the journal --------


def events(out, kind):
    return [m for to, m in out if isinstance(m, JournalEvent) and m.kind == kind and to == "journal"]


def test_a_tick_without_a_symbol_journals_that_symbol_as_late():
    s = core()
    s.handle(Now(ts_ms=H))
    s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H))
    s.handle(BarReady(symbol="ETHUSDT", boundary_ms=H))
    out = s.handle(Now(ts_ms=H + 2_000))
    [late] = events(out, "symbols_late")
    assert late.level == "WARNING" and late.source == "scheduler"
    assert dict(late.data) == {"tick_ms": str(H), "symbols": "SOLUSDT"}
    assert "SOLUSDT" in late.message and "2000 ms" in late.message
    assert out.index(("journal", late)) < out.index(("journal", ticks(out)[0])), "journaled with its tick"


def test_a_complete_tick_journals_no_late_event():
    s = core()
    out = []
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        out += s.handle(BarReady(symbol=sym, boundary_ms=H))
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        out += s.handle(Decided(symbol=sym, tick_ms=H, kind="NO_SETUP"))
    assert not [m for _, m in out if isinstance(m, JournalEvent)]
    assert s.late_ticks == s.late_cycles == 0


def test_a_symbol_that_never_decides_is_named_and_its_cycle_closes_within_the_decide_grace():
    s = core(decide_grace_ms=3_000)
    s.handle(Now(ts_ms=H + 100))
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        s.handle(BarReady(symbol=sym, boundary_ms=H))  # the tick goes out at H + 100
    s.handle(Decided(symbol="BTCUSDT", tick_ms=H, kind="NO_SETUP"))
    s.handle(Decided(symbol="ETHUSDT", tick_ms=H, kind="NO_SETUP"))
    assert s.handle(Now(ts_ms=H + 3_099)) == [], "the grace counts from when the tick went out"
    out = s.handle(Now(ts_ms=H + 3_100))
    [late] = events(out, "decisions_late")
    assert dict(late.data)["symbols"] == "SOLUSDT" and "3000 ms" in late.message
    done = CycleDone(boundary_ms=H, missing=("SOLUSDT",))
    assert out[-2:] == [("journal", done), ("router", done)]
    assert s.late_cycles == 1
    assert s.handle(Decided(symbol="SOLUSDT", tick_ms=H, kind="TAKE")) == [], "a decision after its cycle closed changes nothing"


def test_a_late_tick_still_gets_the_whole_decide_grace():
    s = core(decide_grace_ms=3_000)
    s.handle(Now(ts_ms=H))
    s.handle(BarReady(symbol="BTCUSDT", boundary_ms=H))
    s.handle(Now(ts_ms=H + 2_000))  # ticks by grace, SOLUSDT and ETHUSDT late
    assert not any(isinstance(m, CycleDone) for _, m in s.handle(Now(ts_ms=H + 4_999)))
    assert any(isinstance(m, CycleDone) for _, m in s.handle(Now(ts_ms=H + 5_000)))


def test_a_restarted_symbol_is_not_reported_late():
    s = core(decide_grace_ms=3_000)
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        s.handle(BarReady(symbol=sym, boundary_ms=H))
    s.handle(Decided(symbol="BTCUSDT", tick_ms=H, kind="NO_SETUP"))
    s.handle(Decided(symbol="ETHUSDT", tick_ms=H, kind="NO_SETUP"))
    out = s.handle(SymbolRestarted(symbol="SOLUSDT"))
    assert events(out, "decisions_late") == [], "the supervisor journals a restart; it is not a silent wait"
    assert s.late_cycles == 0


def test_a_long_late_list_stays_one_readable_line_and_keeps_every_name():
    symbols = [f"S{i:03d}USDT" for i in range(500)]
    s = SchedulerCore(symbols, [1], grace_ms=2_000, heartbeat_timeout_ms=90_000)
    s.handle(Now(ts_ms=H))
    s.handle(BarReady(symbol=symbols[0], boundary_ms=H))
    [late] = events(s.handle(Now(ts_ms=H + 2_000)), "symbols_late")
    assert "\n" not in late.message and len(late.message) < 400 and "and 479 more" in late.message
    assert dict(late.data)["symbols"].split(",") == symbols[1:]
