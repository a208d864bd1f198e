"""Chart series for the dashboard: a symbol's journaled bars with the indicators the bot
decided on, the bot's marks on them, and the account's equity curve with its drawdown.

The WaveTrend and Heikin Ashi values come from the very streaming classes the symbol actor
runs (``indicators.wavetrend.CipherB``, ``indicators.heikin_ashi.HeikinAshi``), folded over
every journaled bar of that symbol and interval from the first one, so the pane shows the
numbers of the decision, not a re-derivation (a bot restart rebuilds its indicators from the
venue's backfill; the fold continues across it, so right after a restart the two may differ
in the last digits until the EMAs forget their seeds).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from indicators.heikin_ashi import HeikinAshi
from indicators.params import IndicatorParams
from indicators.wavetrend import CipherB
from journal.reader import JournalReader
from strategy.orders import parse_link_id

MINUTE_MS = 60_000
INTERVALS = (1, 3, 5, 15)
MAX_HOURS = 24


def _na(x: float) -> float | None:
    return x if x == x else None  # Pine's na (NaN) is JSON null


def price_decimals(tick_size: str | Decimal | None = None, samples: Iterable[str] = ()) -> int | None:
    """Decimal places of a symbol's prices: from its tick size when known, else the most any
    exact price the bot sent or was filled at carries (those are on the tick grid)."""
    if tick_size is not None:
        try:
            return max(0, -int(Decimal(str(tick_size)).as_tuple().exponent))
        except (InvalidOperation, TypeError):
            pass
    places = []
    for text in samples:
        try:
            places.append(max(0, -int(Decimal(text).as_tuple().exponent)))
        except (InvalidOperation, TypeError):
            continue
    return max(places) if places else None


class IndicatorTrack:
    """One symbol and interval: the bar history and its indicators, advanced bar by bar.

    Keeps the last ``keep`` bars (a day) for the chart and the streaming state for the rest.
    A bar at or before the last one (a restart journals its backfill again) is skipped, as
    the recurrences need strictly increasing time."""

    def __init__(self, params: IndicatorParams, keep: int) -> None:
        self._wt = CipherB(params.vmc, params.oversold, params.overbought)
        self._ha = HeikinAshi()
        self.last_start_ms = -1
        self.keep = keep
        self.rows: list[tuple[Any, ...]] = []

    def add(self, bars: Iterable[Mapping[str, Any]]) -> None:
        for bar in bars:
            start = bar["start_ms"]
            if start <= self.last_start_ms:
                continue
            o, h, low, c = bar["open"], bar["high"], bar["low"], bar["close"]
            wt = self._wt.update(h, low, c)
            ha = self._ha.update(o, h, low, c)
            self.rows.append((start, o, h, low, c, bar["volume"], _na(wt.wt1), _na(wt.wt2),
                              _na(ha.open), _na(ha.high), _na(ha.low), _na(ha.close)))
            self.last_start_ms = start
        if len(self.rows) > 2 * self.keep:  # trimmed in steps, not per bar
            del self.rows[:-self.keep]

    def since(self, start_ms: int) -> list[tuple[Any, ...]]:
        """The kept bars starting at or after ``start_ms`` (rows are in time order)."""
        return self.rows[bisect.bisect_left(self.rows, start_ms, key=lambda row: row[0]):]


def bar_of(ms: int, interval: int) -> int:
    """Start of the ``interval``-minute bar holding the instant ``ms``."""
    step = interval * MINUTE_MS
    return ms - ms % step


def chart_marks(marks: Mapping[str, list[dict[str, Any]]], interval: int, first_ms: int) -> list[dict[str, Any]]:
    """The bot's marks as chart points on bar starts, oldest first: ``take`` (a TAKE on its
    signal bar), ``entry`` (an entry fill), ``exit`` (a closed trade, with its reason)."""
    out: list[dict[str, Any]] = []
    closed_links = {t["order_link_id"] for t in marks["trades"] if t["order_link_id"]}
    for d in marks["takes"]:
        signal_bar = d["tick_ms"] - MINUTE_MS  # a decision is taken at the close of its 1m bar
        out.append({"kind": "take", "time_ms": d["tick_ms"], "bar_ms": bar_of(signal_bar, interval), "side": d["side"],
                    "path": d["path"], "score": d["score"], "price": d["entry_price"], "stop": d["stop_price"],
                    "target": d["target_price"]})
    for f in marks["fills"]:
        link = parse_link_id(f["order_link_id"] or "")
        if link is None or link.kind != "entry" or f["order_link_id"] in closed_links:
            continue  # closed trades draw their own entry below; exits are drawn by their trade
        out.append({"kind": "entry", "time_ms": f["ts_ms"], "bar_ms": bar_of(f["ts_ms"], interval), "side": f["side"],
                    "price": f["price"], "qty": f["qty"]})
    for t in marks["trades"]:
        if t["entry_ms"] >= first_ms:
            out.append({"kind": "entry", "time_ms": t["entry_ms"], "bar_ms": bar_of(t["entry_ms"], interval),
                        "side": t["side"], "price": t["entry_price"], "qty": t["qty"], "path": t["path"]})
        out.append({"kind": "exit", "time_ms": t["exit_ms"], "bar_ms": bar_of(t["exit_ms"], interval), "side": t["side"],
                    "price": t["exit_price"], "reason": t["exit_reason"], "pnl_usdt": t["pnl_usdt"], "pnl_r": t["pnl_r"]})
    return sorted((m for m in out if m["bar_ms"] >= first_ms), key=lambda m: (m["bar_ms"], m["time_ms"]))


def position_lines(positions: Iterable[Mapping[str, Any]], orders: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Horizontal price lines while something is open: the position's entry, stop and target,
    and every working order's price."""
    lines = []
    for p in positions:
        for kind, key in (("position", "avg_price"), ("stop", "stop_loss"), ("target", "take_profit")):
            if p.get(key) is not None:
                lines.append({"kind": kind, "price": p[key], "side": p["side"]})
    for o in orders:
        if o.get("price") is not None:
            link = parse_link_id(o.get("order_link_id") or "")
            lines.append({"kind": "order", "price": o["price"], "side": o["side"],
                          "purpose": link.kind if link is not None else "other"})
    return lines


def equity_curve(points: Iterable[tuple[int, str]]) -> dict[str, Any]:
    """The equity curve and its drawdown from the running peak, in percent (0 at a new high)."""
    times, equity, drawdown = [], [], []
    peak = None
    for ts, value in points:
        v = float(value)
        peak = v if peak is None or v > peak else peak
        times.append(ts)
        equity.append(value)
        drawdown.append(round((v / peak - 1) * 100, 6) if peak > 0 else 0.0)
    return {"t": times, "equity": equity, "drawdown_pct": drawdown,
            "max_drawdown_pct": min(drawdown) if drawdown else None}


def cumulative_pnl(trades: Iterable[Mapping[str, Any]], start: Decimal = Decimal(0)) -> list[tuple[int, str]]:
    """Net realised PnL summed trade by trade (by exit time): the curve when no wallet reports exist."""
    total = start
    out = []
    for t in sorted(trades, key=lambda t: (t["exit_ms"], t["seq"])):
        total += Decimal(t["pnl_usdt"])
        out.append((t["exit_ms"], str(total)))
    return out


class SeriesSource:
    """The chart routes' state: one ``IndicatorTrack`` per (symbol, interval) that has bars,
    advanced under a lock by whichever request comes first after the journal grew."""

    def __init__(self, reader: JournalReader, params: IndicatorParams = IndicatorParams(),
                 tick_sizes: Mapping[str, str] | None = None) -> None:
        self.reader = reader
        self.params = params
        self.tick_sizes = dict(tick_sizes or {})
        self._tracks: dict[tuple[str, int], IndicatorTrack] = {}
        # The last answer per question (a chart's symbol, interval and hours; the equity; the
        # ticks), with the journal version it is of. Keys are validated parameters, so bounded.
        self._answers: dict[Any, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def track(self, symbol: str, interval: int) -> IndicatorTrack | None:
        with self._lock:
            track = self._tracks.get((symbol, interval))
            new = self.reader.bars(symbol, interval, -1 if track is None else track.last_start_ms)
            if track is None:
                if not new:
                    return None  # no state for symbols the journal has never seen
                track = self._tracks[(symbol, interval)] = IndicatorTrack(self.params, MAX_HOURS * 60 // interval + 1)
            track.add(new)
            return track

    def _memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per journal version: a polling page re-asks an unchanged journal."""
        seq = self.reader.last_seq()
        hit = self._answers.get(key)
        if hit is not None and hit[0] == seq:
            return hit[1]
        value = compute()
        if value is not None:  # "no bars for X" is not kept: X is any name a caller types
            self._answers[key] = (seq, value)
        return value

    def equity(self, run: int | None = None) -> dict[str, Any]:
        """One run's equity curve (the current run by default): its wallet reports when
        journaled, else its closed trades' net PnL. Never two runs in one curve: each simulator
        run starts a new wallet."""
        def compute() -> dict[str, Any]:
            with self.reader.snapshot():
                described = self.reader.run(run)
                wallet = self.reader.wallet_equity(run)
                trades = [] if wallet else self.reader.trade_pnls(run)
            which = {"run": described["run_id"] if described else None}
            if wallet:
                return {"source": "wallet", "net": True, **which, **equity_curve(wallet)}
            return {"source": "trades", "net": True, **which, **equity_curve(cumulative_pnl(trades))}
        return self._memo(("equity", run), compute)

    def ticks(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Each symbol's tick size (when the bot gave it) and its prices' decimal places."""
        names = tuple(dict.fromkeys((*symbols, *self.tick_sizes)))
        return self._memo(("ticks", names), lambda: self._ticks(names))

    def _ticks(self, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        out = {}
        with self.reader.snapshot():
            for symbol in names:
                tick = self.tick_sizes.get(symbol)
                samples = () if tick is not None else self.reader.price_samples(symbol)
                out[symbol] = {"tick_size": tick, "price_decimals": price_decimals(tick, samples)}
        return out

    def series(self, symbol: str, interval: int, hours: int, run: int | None = None) -> dict[str, Any] | None:
        """The chart of the last ``hours`` before the newest journaled bar; None without bars.
        The bars are the market's, whichever run journaled them; the marks and the position's
        lines are one run's (the current one by default)."""
        return self._memo((symbol, interval, hours, run), lambda: self._series(symbol, interval, hours, run))

    def _series(self, symbol: str, interval: int, hours: int, run: int | None) -> dict[str, Any] | None:
        track = self.track(symbol, interval)
        if track is None:
            return None
        first = track.last_start_ms - hours * 3_600_000 + interval * MINUTE_MS
        rows = track.since(first)
        with self.reader.snapshot():
            marks = self.reader.chart_marks(symbol, first, run)
            positions = [p for p in self.reader.positions(run) if p["symbol"] == symbol]
            orders = [o for o in self.reader.open_orders() if o["symbol"] == symbol]
            samples = self.reader.price_samples(symbol)
        columns = list(zip(*rows)) if rows else [()] * 12
        p = self.params
        chart = {
            "symbol": symbol, "interval": interval, "hours": hours,
            "first_ms": first, "last_ms": track.last_start_ms,
            "tick_size": self.tick_sizes.get(symbol),
            "price_decimals": price_decimals(self.tick_sizes.get(symbol), samples),
            "params": {"wt_channel": p.wt_channel, "wt_average": p.wt_average, "wt_ma": p.wt_ma,
                       "oversold": p.oversold, "overbought": p.overbought},
            "bars": {k: list(columns[i]) for i, k in enumerate(("t", "o", "h", "l", "c", "v"))},
            "wt": {"wt1": list(columns[6]), "wt2": list(columns[7])},
            "ha": {k: list(columns[8 + i]) for i, k in enumerate(("o", "h", "l", "c"))},
            "marks": chart_marks(marks, interval, first),
            "lines": position_lines(positions, orders),
        }
        return chart
