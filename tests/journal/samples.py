"""Realistic messages for journal and web tests: one of every journaled kind."""

from __future__ import annotations

from decimal import Decimal as D

from vocabulary import messages as m

T0 = 1_764_150_000_000  # 2025-11-26 09:40 UTC, a 1m boundary
MIN = 60_000


def decision(tick_ms: int = T0, symbol: str = "BTCUSDT", kind: str = "NO_SETUP", **kw) -> m.Decision:
    return m.Decision(tick_ms=tick_ms, symbol=symbol, kind=kind, **kw)


def take(tick_ms: int = T0, symbol: str = "BTCUSDT") -> m.Decision:
    return m.Decision(
        tick_ms=tick_ms, symbol=symbol, kind="TAKE", path="cross_based", side="Buy", score=1.35,
        reasons=(m.Reason(code="wt_cross_up", value=-61.25), m.Reason(code="bias", value="long")),
        entry_price=D("97123.40"), stop_price=D("96950.10"), target_price=D("97383.35"), qty=D("0.010"),
    )


def intent(tick_ms: int = T0, symbol: str = "BTCUSDT", link: str = "smt-BTC-1") -> m.OrderIntent:
    return m.OrderIntent(
        action="create", symbol=symbol, order_link_id=link, side="Buy", qty=D("0.010"),
        price=D("97123.40"), stop_loss=D("96950.10"), tick_ms=tick_ms, reason="entry",
    )


def ack(tick_ms: int = T0, symbol: str = "BTCUSDT", link: str = "smt-BTC-1", outcome: str = "ok") -> m.OrderAck:
    return m.OrderAck(
        intent=intent(tick_ms, symbol, link), ts_ms=tick_ms + 120, outcome=outcome,
        ret_code=0 if outcome == "ok" else 170218, ret_msg="OK" if outcome == "ok" else "would take liquidity",
        order_id=f"oid-{link}" if outcome == "ok" else None,
    )


def order_update(symbol: str = "BTCUSDT", link: str = "smt-BTC-1", status: str = "Filled") -> m.OrderUpdate:
    return m.OrderUpdate(
        symbol=symbol, order_id=f"oid-{link}", order_link_id=link, side="Buy", status=status,
        order_type="Limit", time_in_force="PostOnly", price=D("97123.40"), qty=D("0.010"),
        cum_exec_qty=D("0.010"), avg_price=D("97123.40"), position_idx=0, reduce_only=False,
        updated_ms=T0 + 30_000,
    )


def execution(symbol: str = "BTCUSDT", exec_id: str = "e-1", link: str = "smt-BTC-1") -> m.ExecutionUpdate:
    return m.ExecutionUpdate(
        symbol=symbol, exec_id=exec_id, order_id=f"oid-{link}", order_link_id=link, side="Buy",
        price=D("97123.40"), qty=D("0.010"), fee=D("-0.19424680"), is_maker=True, exec_ms=T0 + 30_000,
    )


def position(symbol: str = "BTCUSDT", size: str = "0.010", upnl: str = "1.25", ts: int = T0 + 31_000) -> m.PositionUpdate:
    flat = D(size) == 0
    return m.PositionUpdate(
        symbol=symbol, position_idx=0, side=None if flat else "Buy", size=D(size),
        avg_price=None if flat else D("97123.40"), stop_loss=None if flat else D("96950.10"),
        take_profit=None if flat else D("97383.35"), mark_price=D("97248.40"),
        unrealised_pnl=D("0") if flat else D(upnl), updated_ms=ts,
    )


def trade(symbol: str = "BTCUSDT", exit_ms: int = T0 + 10 * MIN, pnl: str = "2.59950", r: float | None = 1.5,
          reason: str = "target") -> m.TradeClosed:
    return m.TradeClosed(
        symbol=symbol, side="Buy", path="cross_based", entry_ms=exit_ms - 9 * MIN, exit_ms=exit_ms,
        entry_price=D("97123.40"), exit_price=D("97383.35"), qty=D("0.010"), fees=D("0.19424680"),
        pnl_usdt=D(pnl), pnl_r=r, exit_reason=reason, order_link_id="smt-BTC-1",
        gross_usdt=D(pnl) + D("0.19424680"),  # net = gross - fees (no slippage, no funding)
    )


def event(kind: str = "reconnect", ts_ms: int = T0 + 5_000, message: str = "public WS reconnected") -> m.JournalEvent:
    return m.JournalEvent(ts_ms=ts_ms, kind=kind, source="feed", message=message, level="WARNING",
                          data=(("attempt", "2"), ("stream", "kline.1.BTCUSDT")))


def bar(symbol: str = "BTCUSDT", start_ms: int = T0 - MIN, close: float = 97120.5, interval: int = 1) -> m.Kline:
    return m.Kline(symbol=symbol, interval=interval, start_ms=start_ms, open=97100.0, high=97150.25,
                   low=97080.0, close=close, volume=12.345, turnover=1_199_000.5, confirmed=True)


def one_of_each(tick_ms: int = T0) -> list:
    """Every journaled message kind, in the order a live tick could produce them."""
    return [
        bar(start_ms=tick_ms - MIN), take(tick_ms), intent(tick_ms), ack(tick_ms), order_update(),
        execution(), position(), trade(), event(),
        m.FeedGap(symbol="ETHUSDT", interval=1, from_ms=tick_ms - 3 * MIN, to_ms=tick_ms - MIN),
    ]
