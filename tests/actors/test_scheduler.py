"""SchedulerCore: one tick per boundary, as soon as every symbol is in or grace runs out."""

from actors.messages import BarReady, CycleDone, Decided, JournalEvent, Now, Reconnect, SymbolRestarted, Tick
from actors.scheduler import SchedulerCore, closed_timeframes

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
    assert out[0] == ("journal", CycleDone(boundary_ms=H, missing=("ETHUSDT", "SOLUSDT")))
    assert ticks(out) == [Tick(boundary_ms=H + M, closed=(1,), late=())]


def test_skipped_boundaries_are_journaled():
    s = core()
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        s.handle(BarReady(symbol=sym, boundary_ms=H))
    out = []
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        out += s.handle(BarReady(symbol=sym, boundary_ms=H + 4 * M))
    events = [m for _, m in out if isinstance(m, JournalEvent)]
    assert [e.kind for e in events] == ["ticks_skipped"] and "3 boundaries" in events[0].message


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
