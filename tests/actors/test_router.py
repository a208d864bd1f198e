"""RouterCore: TAKE → write-ahead → wire; every cycle the exchange's view is made to follow
the exit doctrine; the pacer is released only when nothing is in flight."""

from decimal import Decimal

import msgspec

from vocabulary.messages import (
    AccountView, CycleDone, Decision, Durable, ExecutionUpdate, Fills, FillsRequest, Instrument, JournalEvent,
    OrderAck, OrderIntent, OrderUpdate, PositionUpdate, SnapshotRequest, TradeClosed, VenueSnapshot, WriteAhead,
)
from actors.router import RouterCore
from exchange.sim.config import SimConfig
from exchange.sim.costs import stop_fill_ticks
from vocabulary.settings import RiskSettings, Settings, StrategySettings

T = 1_748_700_000_000 - 1_748_700_000_000 % 60_000
SOL = Instrument(symbol="SOLUSDT", tick_size=Decimal("0.010"), qty_step=Decimal("0.1"), min_order_qty=Decimal("0.1"), min_notional=Decimal("5"))
D = Decimal


def take(symbol="SOLUSDT", tick=T, side="Buy"):
    d = 1 if side == "Buy" else -1
    return Decision(
        tick_ms=tick, symbol=symbol, kind="TAKE", path="cross_based", side=side, score=1.4,
        entry_price=D("150.00"), stop_price=D("150.00") - d * D("1.50"), target_price=D("150.00") + d * D("2.25"), qty=D("6.6"),
    )


def take_now(core: RouterCore, decision: Decision):
    """A TAKE and the close of its cycle, when the router acts on the cycle's TAKEs."""
    return core.handle(decision) + core.handle(CycleDone(boundary_ms=decision.tick_ms))


RATES = (("SOLUSDT", D("0.0001"), D("0.0006")),)  # the account's own rates, not [risk]'s fallback


def venue_charge(stop: Decimal, d: int, tick: Decimal) -> Decimal:
    """How far beyond ``stop`` the shipped venue fills the stop of a ``d`` position that did not gap:
    ``[sim] stop_slippage_bps`` rounded up to whole ticks, and half a spread (a tick)."""
    trigger, venue = int(stop / tick), SimConfig.from_settings(Settings().sim).costs
    return d * (stop - stop_fill_ticks(venue, trigger, trigger, None, falling=d > 0) * tick)


def router(**kw) -> RouterCore:
    """A core after its boot snapshot, which the shells ask with the fee rates."""
    core = RouterCore({"SOLUSDT": SOL}, StrategySettings(), RiskSettings(**kw), react_to_fills=False)
    core.handle(VenueSnapshot(ts_ms=T - 60_000, positions=(), orders=(), equity=D("10000"), fee_rates=RATES))
    return core


def of(out, kind, to=None):
    return [m for dest, m in out if isinstance(m, kind) and (to is None or dest == to)]


def wire(core, out):
    """Carry write-ahead through the journal and back, as the journal actor does: the
    intents the core wants on the wire, in order."""
    sent = []
    for intent in [w.intent for w in of(out, WriteAhead, "journal")]:
        (request,) = [m for dest, m in core.handle(Durable(intent=intent)) if dest == "self"]
        sent.append(request)
    return sent


def position(size="6.6", stop="148.50", mark="150.50", side="Buy", tp=None):
    return PositionUpdate(symbol="SOLUSDT", position_idx=1 if side == "Buy" else 2, side=side, size=D(size),
                          avg_price=D("150.00"), stop_loss=None if stop is None else D(stop),
                          mark_price=D(mark), updated_ms=T)


def tp_order(qty="6.6", link="t-x"):
    return OrderUpdate(symbol="SOLUSDT", order_id="o-tp", order_link_id=link, side="Sell", status="New",
                       order_type="Limit", time_in_force="PostOnly", price=D("152.25"), qty=D(qty),
                       cum_exec_qty=D(0), avg_price=None, position_idx=1, reduce_only=True)


def test_nothing_opens_before_the_exchange_has_been_reconciled():
    core = RouterCore({"SOLUSDT": SOL}, StrategySettings(), RiskSettings())
    out = take_now(core, take())
    assert of(out, WriteAhead) == []
    assert [e.kind for e in of(out, JournalEvent)] == ["take_refused"] and "protective" in of(out, JournalEvent)[0].message


def test_a_take_is_journaled_before_it_is_sent_and_sent_only_once():
    core = router()
    out = take_now(core, take())
    (ahead,) = of(out, WriteAhead, "journal")
    assert ahead.intent.time_in_force == "PostOnly" and ahead.intent.stop_loss == D("148.50")
    assert not [m for d, m in out if d == "self" and isinstance(m, OrderIntent)], "nothing reaches the wire before it is durable"
    (sent,) = wire(core, out)
    assert sent == ahead.intent
    assert of(take_now(core, take()), WriteAhead) == [], "a second TAKE for the same symbol is refused"


def test_max_positions_counts_entries_still_working():
    core = router(max_positions=1)
    wire(core, take_now(core, take("SOLUSDT")))
    core.instruments["ETHUSDT"] = SOL
    out = take_now(core, take("ETHUSDT"))
    assert of(out, WriteAhead) == [] and "max_positions" in of(out, JournalEvent)[0].message


def test_an_entry_the_venue_refused_frees_the_symbol():
    core = router()
    (intent,) = wire(core, take_now(core, take()))
    out = core.handle(OrderAck(intent=intent, ts_ms=T, outcome="rejected", ret_code=110007, ret_msg="insufficient balance"))
    assert of(out, OrderAck, "journal")
    assert [e.kind for e in of(out, JournalEvent)] == ["entry_not_placed"]
    assert "SOLUSDT" not in core.plans


def test_a_filled_entry_gets_its_take_profit_from_the_next_snapshot():
    core = router()
    (intent,) = wire(core, take_now(core, take()))
    core.handle(OrderAck(intent=intent, ts_ms=T, outcome="ok", ret_code=0, order_id="o-1"))
    assert core.handle(CycleDone(boundary_ms=T + 60_000)) == [("self", SnapshotRequest(ts_ms=T + 60_000))]
    out = core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(position(),), orders=(), equity=D("10000")))
    (tp,) = wire(core, out)
    assert tp.reduce_only and tp.time_in_force == "PostOnly" and tp.qty == D("6.6") and tp.price == D("152.25")
    assert of(out, PositionUpdate, "journal"), "every snapshot of an open position is journaled"
    assert of(out, AccountView, "symbols")[0].open_symbols == ("SOLUSDT",)


def test_an_unchanged_exchange_makes_no_calls():
    core = router()
    out = core.handle(VenueSnapshot(ts_ms=T, positions=(position(),), orders=(tp_order(),), equity=D("10000")))
    assert of(out, WriteAhead) == []


def test_a_position_without_a_stop_gets_one_at_once():
    core = router()
    out = core.handle(VenueSnapshot(ts_ms=T, positions=(position(stop=None),), orders=(tp_order(),), equity=D("10000")))
    (stop,) = wire(core, out)
    assert stop.action == "trading_stop" and stop.stop_loss is not None and stop.stop_loss < D("150")


def test_break_even_lock_is_sent_once_and_a_second_cycle_with_it_in_place_sends_nothing():
    core = router()
    wire(core, take_now(core, take()))
    far = position(mark="151.60")  # +1.6 against a 1.5 risk: past be_trigger_r = 1
    (lock,) = wire(core, core.handle(VenueSnapshot(ts_ms=T, positions=(far,), orders=(tp_order(),), equity=D("1"))))
    assert lock.action == "trading_stop" and lock.stop_loss >= D("150.00")
    locked = PositionUpdate(**{**{f: getattr(far, f) for f in far.__struct_fields__}, "stop_loss": lock.stop_loss})
    core.handle(OrderAck(intent=lock, ts_ms=T, outcome="ok"))
    assert of(core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(locked,), orders=(tp_order(),))), WriteAhead) == []


def test_the_pacer_is_released_only_after_every_intent_of_the_cycle_is_answered():
    core = router()
    core.handle(CycleDone(boundary_ms=T))
    out = core.handle(VenueSnapshot(ts_ms=T, positions=(position(stop=None),), orders=(tp_order(),)))
    assert of(out, CycleDone, "pacer") == []
    (stop,) = wire(core, out)
    assert core.handle(OrderAck(intent=stop, ts_ms=T, outcome="ok"))[-1] == ("pacer", CycleDone(boundary_ms=T))


def test_a_quiet_cycle_releases_the_pacer_right_after_the_snapshot():
    core = router()
    core.handle(CycleDone(boundary_ms=T))
    out = core.handle(VenueSnapshot(ts_ms=T, positions=(), orders=()))
    assert out[-1] == ("pacer", CycleDone(boundary_ms=T))


def test_a_failed_snapshot_is_journaled_and_still_ends_the_cycle():
    core = router()
    core.handle(CycleDone(boundary_ms=T))
    out = core.handle(VenueSnapshot(ts_ms=T, positions=(), orders=(), error="ReadTimeout"))
    assert [e.kind for e in of(out, JournalEvent)] == ["reconcile_failed"]
    assert out[-1] == ("pacer", CycleDone(boundary_ms=T))


def test_a_closed_position_is_accounted_from_its_fills_and_cools_the_symbol_down():
    core = router(cooldown_bars=5)
    wire(core, take_now(core, take()))
    core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(position(),), orders=(tp_order(),)))
    out = core.handle(VenueSnapshot(ts_ms=T + 120_000, positions=(), orders=()))
    (request,) = of(out, FillsRequest, "self")
    assert request.symbol == "SOLUSDT" and request.since_ms == T
    fills = (
        ExecutionUpdate(symbol="SOLUSDT", exec_id="1", order_id="a", order_link_id="", side="Buy", price=D("150"), qty=D("6.6"), fee=D("0.198"), is_maker=True, exec_ms=T + 30_000),
        ExecutionUpdate(symbol="SOLUSDT", exec_id="2", order_id="b", order_link_id="", side="Sell", price=D("148.5"), qty=D("6.6"), fee=D("0.54"), is_maker=False, exec_ms=T + 90_000),
    )
    (trade,) = of(core.handle(Fills(request=request, fills=fills)), TradeClosed, "journal")
    assert trade.pnl_usdt == D("-9.9") - D("0.738")
    assert trade.exit_reason == "stop" and trade.pnl_r < -1, "R comes from the plan's risk"
    assert core.realised_today == trade.pnl_usdt
    view = core.account_view(T + 120_000)
    assert view.cooldown_until_ms == (("SOLUSDT", T + 120_000 + 5 * 60_000),)


def test_an_entry_that_vanished_unfilled_frees_its_plan():
    core = router()
    (intent,) = wire(core, take_now(core, take()))
    core.handle(OrderAck(intent=intent, ts_ms=T, outcome="ok", order_id="o-1"))
    out = core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(), orders=()))
    assert core.plans == {}
    (request,) = of(out, FillsRequest, "self")
    out = core.handle(Fills(request=request, fills=()))
    assert [e.kind for e in of(out, JournalEvent)] == ["entry_ended_unfilled"]


def test_a_stale_entry_is_cancelled_after_its_ttl():
    core = router()
    (intent,) = wire(core, take_now(core, take()))
    core.handle(OrderAck(intent=intent, ts_ms=T, outcome="ok", order_id="o-1"))
    working = OrderUpdate(symbol="SOLUSDT", order_id="o-1", order_link_id=intent.order_link_id, side="Buy", status="New",
                          order_type="Limit", time_in_force="PostOnly", price=D("150"), qty=D("6.6"), cum_exec_qty=D(0),
                          avg_price=None, position_idx=1, reduce_only=False)
    ttl = StrategySettings().entry_ttl_bars * 60_000
    assert wire(core, core.handle(VenueSnapshot(ts_ms=T + ttl - 60_000, positions=(), orders=(working,)))) == []
    (cancel,) = wire(core, core.handle(VenueSnapshot(ts_ms=T + ttl, positions=(), orders=(working,))))
    assert cancel.action == "cancel" and cancel.order_link_id == intent.order_link_id


def test_a_take_profit_refused_by_post_only_is_repriced_from_a_fresh_snapshot_once():
    core = router()
    tp = OrderIntent(action="create", symbol="SOLUSDT", order_link_id="t-1", side="Sell", qty=D("6.6"), price=D("152.25"), reduce_only=True, position_idx=1)
    out = core.handle(OrderAck(intent=tp, ts_ms=T, outcome="would_take"))
    assert ("self", SnapshotRequest(ts_ms=T)) in out
    assert not [m for d, m in core.handle(OrderAck(intent=tp, ts_ms=T, outcome="would_take")) if d == "self"]


def test_takes_of_one_tick_are_placed_in_symbol_order_whatever_order_they_arrived_in():
    core = router(max_positions=1)
    core.instruments["ADAUSDT"] = SOL
    core.handle(take("SOLUSDT"))
    core.handle(take("ADAUSDT"))
    out = core.handle(CycleDone(boundary_ms=T))
    (placed,) = [w.intent.symbol for w in of(out, WriteAhead)]
    assert placed == "ADAUSDT", "the last slot goes by symbol, not by thread timing"


def test_an_entry_filled_and_stopped_between_two_cycles_is_still_a_trade():
    core = router()
    (intent,) = wire(core, take_now(core, take()))
    core.handle(OrderAck(intent=intent, ts_ms=T, outcome="ok", order_id="o-1"))
    out = core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(), orders=()))
    (request,) = of(out, FillsRequest, "self")
    fills = (
        ExecutionUpdate(symbol="SOLUSDT", exec_id="1", order_id="o-1", order_link_id=intent.order_link_id, side="Buy", price=D("150"), qty=D("6.6"), fee=D("0.198"), is_maker=True, exec_ms=T + 10_000),
        ExecutionUpdate(symbol="SOLUSDT", exec_id="2", order_id="sl", order_link_id="", side="Sell", price=D("148.5"), qty=D("6.6"), fee=D("0.54"), is_maker=False, exec_ms=T + 40_000),
    )
    (trade,) = of(core.handle(Fills(request=request, fills=fills)), TradeClosed, "journal")
    assert trade.exit_reason == "stop" and trade.pnl_r is not None
    assert dict(core.account_view(T + 60_000).cooldown_until_ms)["SOLUSDT"] > T + 60_000


# --- fee rates and the day's worst case ---------------------------------------------------------


def snapshot_requests(out):
    return [m for d, m in out if d == "self" and isinstance(m, SnapshotRequest)]


def test_the_venues_fee_rates_reach_the_account_view_and_are_read_again_each_utc_day():
    core = router()
    (view,) = of(core.handle(VenueSnapshot(ts_ms=T, positions=(), orders=(), equity=D("10000"))), AccountView)
    assert view.fee_rates == RATES
    assert snapshot_requests(core.handle(CycleDone(boundary_ms=T))) == [SnapshotRequest(ts_ms=T, fee_rates=False)]
    midnight = T - T % 86_400_000 + 86_400_000
    assert snapshot_requests(core.handle(CycleDone(boundary_ms=midnight))) == [SnapshotRequest(ts_ms=midnight, fee_rates=True)]
    core.handle(VenueSnapshot(ts_ms=midnight, positions=(), orders=(), equity=D("10000"), fee_rates=RATES))
    assert snapshot_requests(core.handle(CycleDone(boundary_ms=midnight + 60_000)))[0].fee_rates is False


def test_a_failed_fee_rate_read_is_journaled_keeps_the_last_rates_and_is_tried_again_next_cycle():
    core = router()
    midnight = T - T % 86_400_000 + 86_400_000
    core.handle(CycleDone(boundary_ms=midnight))
    out = core.handle(VenueSnapshot(ts_ms=midnight, positions=(), orders=(), equity=D("10000"), fee_error="TransportError: 10006"))
    (event,) = [e for e in of(out, JournalEvent) if e.kind == "fee_rates_unread"]
    assert "keeping the last ones" in event.message and of(out, AccountView)[0].fee_rates == RATES
    assert snapshot_requests(core.handle(CycleDone(boundary_ms=midnight + 60_000)))[0].fee_rates is True


def test_without_rates_the_exits_and_risk_use_the_settings_fallback():
    core = RouterCore({"SOLUSDT": SOL}, StrategySettings(), RiskSettings(), react_to_fills=False)
    core.handle(VenueSnapshot(ts_ms=T, positions=(), orders=(), equity=D("10000"), fee_error="no route"))
    assert core.costs("SOLUSDT").maker == D("0.0002") and core.costs("SOLUSDT").taker == D("0.00055")
    assert core.costs("SOLUSDT").slippage == D(str(RiskSettings().slippage_bps)) / 10_000
    assert core.costs("SOLUSDT").tick == SOL.tick_size  # the allowance rounds to the symbol's ticks


def test_the_account_view_counts_every_open_stop_as_filled_fees_and_slippage_included():
    core = router()
    long = position(stop="148.50", mark="150.50")
    short = PositionUpdate(symbol="ETHUSDT", position_idx=2, side="Sell", size=D("2"), avg_price=D("100.00"),
                           stop_loss=D("101.00"), mark_price=D("100.00"), updated_ms=T)
    (view,) = of(core.handle(VenueSnapshot(ts_ms=T, positions=(long, short), orders=(), equity=D("10000"))), AccountView)
    # SOL at its rates (0.01 %, 0.06 %) and what the venue charges its stop at 148.50 (2 bps is 2.97
    # ticks of 0.01: 3, and a tick of spread), its taker fee taken on 148.50 + that (an upper bound
    # for a long). ETH, a position the router holds no instrument rules for, at the fallback rates
    # (0.02 %, 0.055 %) and the flat 2 bps: its tick is unknown.
    allowance = venue_charge(D("148.50"), 1, SOL.tick_size)
    assert allowance == 4 * SOL.tick_size
    sol = D("6.6") * (D("1.50") + D("150.00") * D("0.0001") + allowance + (D("148.50") + allowance) * D("0.0006"))
    slippage = D(str(RiskSettings().slippage_bps)) / 10_000
    eth = D("2") * (D("1.00") + D("100.00") * D("0.0002") + D("101.00") * slippage + D("101.00") * (1 + slippage) * D("0.00055"))
    assert view.open_risk == sol + eth


def test_a_stop_at_break_even_or_beyond_adds_no_open_risk():
    core = router()
    locked = position(stop="151.00", mark="153.00")
    (view,) = of(core.handle(VenueSnapshot(ts_ms=T, positions=(locked,), orders=(), equity=D("10000"))), AccountView)
    assert view.open_risk == 0


# --- a stop-out's slippage, from the stop the router set ------------------------------------------

# A position stop-loss's execution as Bybit's private stream sends it: the row of
# NautilusTrader's ws_account_execution.json (tests/data/bybit/nautilus), made SOLUSDT's stop-loss
# the way the venue reports one: no orderLinkId, stopOrderType "StopLoss", createType
# "CreateByStopLoss", and as orderPrice the market order's protection bound (1 % through the
# trigger, as that row's 94942.5 is for 95900.1), not the trigger.
STOP_LOSS_ROW = {
    "category": "linear", "symbol": "SOLUSDT", "closedSize": "6.6", "execFee": "0.5388", "execId": "0ab1bdf7-4219-438b-b30a-32ec863018f7",
    "execPrice": "148.41", "execQty": "6.6", "execType": "Trade", "execValue": "979.506", "feeRate": "0.00055", "tradeIv": "",
    "markIv": "", "blockTradeId": "", "markPrice": "148.43", "indexPrice": "", "underlyingPrice": "", "leavesQty": "0",
    "orderId": "9aac161b-8ed6-450d-9cab-c5cc67c21784", "orderLinkId": "", "orderPrice": "147.02", "orderQty": "0",
    "orderType": "Market", "stopOrderType": "StopLoss", "side": "Sell", "execTime": str(T + 90_000), "isLeverage": "0",
    "isMaker": False, "seq": 140612148849382, "marketUnit": "", "execPnl": "-10.494", "createType": "CreateByStopLoss",
    "feeCurrency": "USDT",
}


def venue_stop_fill(price="148.41", order_price="147.02"):
    from exchange.bybit import models

    row = msgspec.json.decode(msgspec.json.encode({**STOP_LOSS_ROW, "execPrice": price, "orderPrice": order_price}),
                              type=models.ExecutionRow)
    return models.execution_update(row)


def entry_fill(intent):
    return ExecutionUpdate(symbol="SOLUSDT", exec_id="1", order_id="o-1", order_link_id=intent.order_link_id, side="Buy",
                           price=D("150"), qty=D("6.6"), fee=D("0.099"), is_maker=True, exec_ms=T + 30_000)


def close_with(core, fills):
    (request,) = of(core.handle(VenueSnapshot(ts_ms=T + 120_000, positions=(), orders=())), FillsRequest, "self")
    (trade,) = of(core.handle(Fills(request=request, fills=fills)), TradeClosed, "journal")
    return trade


def test_a_stop_outs_slippage_is_measured_from_the_entrys_attached_stop_not_bybits_protection_bound():
    core = router()
    (entry,) = wire(core, take_now(core, take()))
    assert entry.stop_loss == D("148.50")
    core.handle(OrderAck(intent=entry, ts_ms=T, outcome="ok", order_id="o-1"))
    core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(position(),), orders=(tp_order(),)))
    stop = venue_stop_fill()
    assert (stop.order_price, stop.stop_order_type) == (D("147.02"), "StopLoss")
    trade = close_with(core, (entry_fill(entry), stop))
    assert trade.slippage_usdt == (D("148.50") - D("148.41")) * D("6.6")  # 9 ticks below the trigger, on 6.6
    assert trade.gross_usdt == (D("148.50") - D("150")) * D("6.6")
    assert trade.pnl_usdt == trade.gross_usdt - trade.fees - trade.slippage_usdt and trade.exit_reason == "stop"


def test_a_break_even_exit_is_measured_from_the_lock_the_router_set():
    core = router()
    (entry,) = wire(core, take_now(core, take()))
    core.handle(OrderAck(intent=entry, ts_ms=T, outcome="ok", order_id="o-1"))
    far = position(mark="151.60")
    (lock,) = wire(core, core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(far,), orders=(tp_order(),))))
    core.handle(OrderAck(intent=lock, ts_ms=T + 60_000, outcome="ok"))
    below = lock.stop_loss - D("0.03")  # slipped 3 ticks under the lock, maybe under the entry's fees
    trade = close_with(core, (entry_fill(entry), venue_stop_fill(price=str(below), order_price=str(lock.stop_loss * D("0.99")))))
    assert trade.exit_reason == "break_even"
    assert trade.slippage_usdt == D("0.03") * D("6.6")
    assert trade.gross_usdt == (lock.stop_loss - D("150")) * D("6.6")


def test_after_a_restart_the_stop_is_the_one_the_exchange_holds():
    core = router()  # a new core: no plan, no ack seen; the position is adopted with its stop
    core.handle(VenueSnapshot(ts_ms=T + 60_000, positions=(position(stop="148.60"),), orders=(tp_order(),)))
    trade = close_with(core, (ExecutionUpdate(symbol="SOLUSDT", exec_id="1", order_id="o-1", order_link_id="", side="Buy",
                                              price=D("150"), qty=D("6.6"), fee=D("0.099"), is_maker=True, exec_ms=T),
                              venue_stop_fill()))
    assert trade.slippage_usdt == (D("148.60") - D("148.41")) * D("6.6")
