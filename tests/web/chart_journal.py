"""A journal with chart material: six hours of BTCUSDT bars on every timeframe, one closed
trade (TAKE, entry fill, stop exit), one open position with its stop and target, one resting
entry order, and the wallet's equity over the session."""

from __future__ import annotations

import math
from decimal import Decimal as D

from vocabulary import messages as m
from journal.writer import JournalWriter
from strategy.orders import order_link_id

MIN = 60_000
START = 1_764_120_000_000  # 2025-11-26 01:20 UTC, a 15m boundary
BARS = 360                 # six hours of 1m bars
END = START + BARS * MIN   # the boundary after the last 1m bar
SYMBOL = "BTCUSDT"
TAKE_MS = START + 120 * MIN                           # the closed trade's signal boundary
ENTRY_LINK = order_link_id(SYMBOL, TAKE_MS, "cross_based", "Buy")
OPEN_TAKE_MS = START + 300 * MIN                      # the open position's signal boundary
OPEN_LINK = order_link_id(SYMBOL, OPEN_TAKE_MS, "pre_cross", "Buy")
RESTING_LINK = order_link_id("ETHUSDT", END, "ha_reversal", "Sell")


def one_minute_bars() -> list[m.Kline]:
    bars, price = [], 97_000.0
    for i in range(BARS):
        drift = 60 * math.sin(i / 17) + 25 * math.sin(i / 5.3)
        o, c = price, 97_000.0 + drift + (i % 7) * 3.5
        bars.append(m.Kline(symbol=SYMBOL, interval=1, start_ms=START + i * MIN, open=o, high=max(o, c) + 12.5,
                            low=min(o, c) - 11.0, close=c, volume=10 + i % 13, turnover=None, confirmed=True))
        price = c
    return bars


def aggregate(bars: list[m.Kline], interval: int) -> list[m.Kline]:
    out = []
    for k in range(0, len(bars), interval):
        chunk = bars[k:k + interval]
        out.append(m.Kline(symbol=SYMBOL, interval=interval, start_ms=chunk[0].start_ms, open=chunk[0].open,
                           high=max(b.high for b in chunk), low=min(b.low for b in chunk), close=chunk[-1].close,
                           volume=sum(b.volume for b in chunk), turnover=None, confirmed=True))
    return out


def all_bars() -> list[m.Kline]:
    ones = one_minute_bars()
    return [*ones, *aggregate(ones, 3), *aggregate(ones, 5), *aggregate(ones, 15)]


def trade_messages() -> list:
    take = m.Decision(tick_ms=TAKE_MS, symbol=SYMBOL, kind="TAKE", path="cross_based", side="Buy", score=1.2,
                      entry_price=D("96980.00"), stop_price=D("96900.50"), target_price=D("97099.20"), qty=D("0.010"))
    fill = m.ExecutionUpdate(symbol=SYMBOL, exec_id="x-1", order_id="o-1", order_link_id=ENTRY_LINK, side="Buy",
                             price=D("96980.00"), qty=D("0.010"), fee=D("0.19"), is_maker=True, exec_ms=TAKE_MS + 2 * MIN + 5_000)
    exit_fill = m.ExecutionUpdate(symbol=SYMBOL, exec_id="x-2", order_id="o-2", order_link_id="", side="Sell",
                                  price=D("96900.50"), qty=D("0.010"), fee=D("0.53"), is_maker=False,
                                  exec_ms=TAKE_MS + 40 * MIN + 1_000)
    closed = m.TradeClosed(symbol=SYMBOL, side="Buy", path="cross_based", entry_ms=fill.exec_ms, exit_ms=exit_fill.exec_ms,
                           entry_price=D("96980.00"), exit_price=D("96900.50"), qty=D("0.010"), fees=D("0.72"),
                           pnl_usdt=D("-1.515"), pnl_r=-1.0, exit_reason="stop", order_link_id=ENTRY_LINK)
    open_take = m.Decision(tick_ms=OPEN_TAKE_MS, symbol=SYMBOL, kind="TAKE", path="pre_cross", side="Buy", score=1.05,
                           entry_price=D("97010.00"), stop_price=D("96950.00"), target_price=D("97100.00"), qty=D("0.020"))
    open_fill = m.ExecutionUpdate(symbol=SYMBOL, exec_id="x-3", order_id="o-3", order_link_id=OPEN_LINK, side="Buy",
                                  price=D("97010.00"), qty=D("0.020"), fee=D("0.39"), is_maker=True,
                                  exec_ms=OPEN_TAKE_MS + MIN + 7_000)
    position = m.PositionUpdate(symbol=SYMBOL, position_idx=1, side="Buy", size=D("0.020"), avg_price=D("97010.00"),
                                stop_loss=D("96950.00"), take_profit=D("97100.00"), mark_price=D("97031.70"),
                                unrealised_pnl=D("0.434"), updated_ms=OPEN_TAKE_MS + MIN + 8_000,
                                liq_price=D("48990.20"))
    intent = m.OrderIntent(action="create", symbol="ETHUSDT", order_link_id=RESTING_LINK, side="Sell", qty=D("0.30"),
                           price=D("3061.25"), stop_loss=D("3080.00"), position_idx=2, tick_ms=END, reason="entry ha_reversal")
    ack = m.OrderAck(intent=intent, ts_ms=END + 150, outcome="ok", ret_code=0, ret_msg="OK", order_id="o-4")
    new = m.OrderUpdate(symbol="ETHUSDT", order_id="o-4", order_link_id=RESTING_LINK, side="Sell", status="New",
                        order_type="Limit", time_in_force="PostOnly", price=D("3061.25"), qty=D("0.30"),
                        cum_exec_qty=D("0"), avg_price=None, position_idx=2, reduce_only=False, stop_loss=D("3080.00"),
                        updated_ms=END + 200)
    return [take, fill, exit_fill, closed, open_take, open_fill, position, intent, ack, new]


def wallet(ts_ms: int, equity: str) -> m.JournalEvent:
    return m.JournalEvent(ts_ms=ts_ms, kind="wallet", source="private", level="DEBUG", message="",
                          data=(("account_type", "UNIFIED"), ("total_equity", equity)))


WALLET = [(START + 10 * MIN, "10000.00"), (START + 162 * MIN, "9998.485"), (START + 200 * MIN, "10004.10"),
          (START + 301 * MIN, "10003.71")]


def seed(path) -> None:
    writer = JournalWriter(path)
    writer.append_now([*all_bars(), *trade_messages(), *(wallet(ts, eq) for ts, eq in WALLET),
                       m.JournalEvent(ts_ms=END, kind="reconnect", source="feed", level="WARNING",
                                      message="public WS reconnected", data=())])
    writer.close()


def status() -> dict:
    return {"venue": "sim", "mode": "live", "symbols": [SYMBOL, "ETHUSDT"], "equity": "10003.71", "now_ms": END + 30_000}
