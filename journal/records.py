"""Pure mapping from pipeline messages to journal rows: which table, which columns.

Decimals become their exact string (``Decimal("0.10")`` is stored as ``'0.10'``, never as
a float); booleans become 0/1; reasons and event data become JSON. ``seq`` is the
writer's to assign, and so is ``tick_ms`` when the message does not carry its own.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from vocabulary import messages as m

Row = dict[str, Any]

_json = msgspec.json.Encoder(decimal_format="string")


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _bool(value: bool) -> int:
    return 1 if value else 0


#: A Reason encodes as ``{"type":"Reason","code":...,"value":...}`` (the message tag first);
#: the journal keeps ``{"code":...,"value":...}``. JSON escapes every quote inside a string,
#: so this prefix can only be the tag and cutting it is exact.
_REASON_TAG = b'{"type":"Reason",'


def reasons_json(reasons: tuple[m.Reason, ...]) -> str:
    """``[{"code": ..., "value": ...}, ...]``: the machine-readable why of a decision.
    Encoded by msgspec in one call (no per-reason dicts): this runs for every decision."""
    return _json.encode(reasons).replace(_REASON_TAG, b"{").decode()


def _decision(d: m.Decision) -> Row:
    return {
        "tick_ms": d.tick_ms, "ts_ms": d.tick_ms, "symbol": d.symbol, "kind": d.kind,
        "path": d.path, "side": d.side, "score": d.score, "reasons": reasons_json(d.reasons),
        "entry_price": _dec(d.entry_price), "stop_price": _dec(d.stop_price),
        "target_price": _dec(d.target_price), "qty": _dec(d.qty),
    }


def _intent_columns(i: m.OrderIntent) -> Row:
    return {
        "tick_ms": i.tick_ms, "action": i.action, "symbol": i.symbol,
        "order_link_id": i.order_link_id, "side": i.side, "order_type": i.order_type,
        "time_in_force": i.time_in_force, "qty": _dec(i.qty), "price": _dec(i.price),
        "position_idx": i.position_idx, "reduce_only": _bool(i.reduce_only),
        "stop_loss": _dec(i.stop_loss), "take_profit": _dec(i.take_profit), "reason": i.reason,
    }


def _intent(i: m.OrderIntent) -> Row:
    return {**_intent_columns(i), "ts_ms": i.tick_ms, "kind": "intent", "message": _json.encode(i).decode()}


def _ack(a: m.OrderAck) -> Row:
    return {
        **_intent_columns(a.intent), "ts_ms": a.ts_ms, "kind": "ack", "outcome": a.outcome,
        "ret_code": a.ret_code, "ret_msg": a.ret_msg, "order_id": a.order_id,
        "message": _json.encode(a).decode(),
    }


def _order_update(u: m.OrderUpdate) -> Row:
    return {
        "tick_ms": None, "ts_ms": u.updated_ms or None, "kind": "update", "symbol": u.symbol,
        "order_link_id": u.order_link_id, "order_id": u.order_id, "side": u.side,
        "order_type": u.order_type, "time_in_force": u.time_in_force, "qty": _dec(u.qty),
        "price": _dec(u.price), "position_idx": u.position_idx, "reduce_only": _bool(u.reduce_only),
        "stop_loss": _dec(u.stop_loss), "take_profit": _dec(u.take_profit), "status": u.status,
        "cum_exec_qty": _dec(u.cum_exec_qty), "avg_price": _dec(u.avg_price),
        "reject_reason": u.reject_reason, "message": _json.encode(u).decode(),
    }


def _execution(e: m.ExecutionUpdate) -> Row:
    return {
        "tick_ms": None, "ts_ms": e.exec_ms, "symbol": e.symbol, "exec_id": e.exec_id,
        "order_id": e.order_id, "order_link_id": e.order_link_id, "side": e.side,
        "price": _dec(e.price), "qty": _dec(e.qty), "fee": _dec(e.fee), "is_maker": _bool(e.is_maker),
    }


def _position(p: m.PositionUpdate) -> Row:
    return {
        "tick_ms": None, "ts_ms": p.updated_ms or None, "symbol": p.symbol,
        "position_idx": p.position_idx, "side": p.side, "size": _dec(p.size),
        "avg_price": _dec(p.avg_price), "stop_loss": _dec(p.stop_loss),
        "take_profit": _dec(p.take_profit), "mark_price": _dec(p.mark_price),
        "unrealised_pnl": _dec(p.unrealised_pnl), "liq_price": _dec(p.liq_price),
    }


def _trade(t: m.TradeClosed) -> Row:
    return {
        "tick_ms": None, "ts_ms": t.exit_ms, "symbol": t.symbol, "side": t.side, "path": t.path,
        "entry_ms": t.entry_ms, "exit_ms": t.exit_ms, "entry_price": _dec(t.entry_price),
        "exit_price": _dec(t.exit_price), "qty": _dec(t.qty), "fees": _dec(t.fees),
        "pnl_usdt": _dec(t.pnl_usdt), "pnl_r": t.pnl_r, "exit_reason": t.exit_reason,
        "order_link_id": t.order_link_id, "gross_usdt": _dec(t.gross_usdt), "slippage_usdt": _dec(t.slippage_usdt),
        "funding_usdt": _dec(t.funding_usdt), "stop_price": _dec(t.stop_price) if t.stop_price is not None else None,
    }


def _event(e: m.JournalEvent) -> Row:
    return {
        "tick_ms": None, "ts_ms": e.ts_ms, "kind": e.kind, "source": e.source, "level": e.level,
        "message": e.message, "data": _json.encode(dict(e.data)).decode(),
    }


def _feed_gap(g: m.FeedGap) -> Row:
    # A gap is feed health the dashboard shows; it lives with the other events.
    return {
        "tick_ms": None, "ts_ms": g.to_ms, "kind": "feed_gap", "source": g.symbol, "level": "WARNING",
        "message": f"{g.symbol} {g.interval}m bars missing in [{g.from_ms}, {g.to_ms})",
        "data": _json.encode({"interval": str(g.interval), "from_ms": str(g.from_ms), "to_ms": str(g.to_ms)}).decode(),
    }


def _bar(k: m.Kline) -> Row:
    # A bar belongs to the tick that closes it.
    return {
        "tick_ms": k.end_ms, "ts_ms": k.start_ms, "symbol": k.symbol, "interval": k.interval,
        "start_ms": k.start_ms, "open": k.open, "high": k.high, "low": k.low, "close": k.close,
        "volume": k.volume, "turnover": k.turnover, "confirmed": 1,
    }


def bar_values(k: m.Kline, seq: int, run_id: int) -> tuple:
    """A confirmed bar's row as ``_bar`` maps it, in ``columns("bars")`` order, without the dict:
    a 15-minute boundary of 500 symbols journals 2,000 bars, on the GIL the deciding needs
    (tests/journal hold it to the mapping)."""
    return (seq, k.end_ms, k.start_ms, k.symbol, k.interval, k.start_ms, k.open, k.high, k.low, k.close,
            k.volume, k.turnover, 1, run_id)


def decision_values(d: m.Decision, seq: int, run_id: int) -> tuple:
    """A decision's row as ``_decision`` maps it, in ``columns("decisions")`` order, without the dict."""
    return (seq, d.tick_ms, d.tick_ms, d.symbol, d.kind, d.path, d.side, d.score, reasons_json(d.reasons),
            _dec(d.entry_price), _dec(d.stop_price), _dec(d.target_price), _dec(d.qty), run_id)


_RECORDS: dict[type, tuple[str, Callable[[Any], Row]]] = {
    m.Decision: ("decisions", _decision),
    m.OrderIntent: ("orders", _intent),
    m.OrderAck: ("orders", _ack),
    m.OrderUpdate: ("orders", _order_update),
    m.ExecutionUpdate: ("executions", _execution),
    m.PositionUpdate: ("position_snapshots", _position),
    m.TradeClosed: ("trades", _trade),
    m.JournalEvent: ("events", _event),
    m.FeedGap: ("events", _feed_gap),
    m.Kline: ("bars", _bar),
}


def record_for(message: object) -> tuple[str, Row] | None:
    """The (table, row) a message is journaled as, or None for messages the journal does
    not keep (ticks, snapshots, instrument rules, and bars still in progress).
    One dict lookup by exact type: bars and decisions are most of the rows."""
    entry = _RECORDS.get(type(message))
    if entry is None or (type(message) is m.Kline and not message.confirmed):  # type: ignore[attr-defined]
        return None
    table, row = entry
    return table, row(message)
