"""A run's report: ``report.json`` (everything, machine-readable), ``report.md`` and the same
table on the terminal, and ``equity.png`` (equity with drawdown underneath) when matplotlib is
installed (the optional ``plot`` extra); without it the chart is skipped with a message."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import msgspec

from backtest import report_html
from backtest.history import utc_minute
from backtest.metrics import EXIT_KINDS, Group, Metrics, MoneyFlow, Spread, StopDistances
from backtest.run import Result




def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _duration(ms: int) -> str:
    hours, minutes = divmod(ms // 60_000, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h{minutes:02d}" if days else f"{hours}h{minutes:02d}"


def summary_rows(m: Metrics) -> list[tuple[str, str]]:
    dd = m.max_drawdown
    return [
        ("trades", str(m.trades)),
        ("win rate", _pct(m.win_rate)),
        ("avg R / median R", f"{_num(m.avg_r, 3)} / {_num(m.median_r, 3)}"),
        ("expectancy", f"{_num(m.expectancy_r, 3)} R, {_num(m.expectancy_usdt)} USDT"),
        ("profit factor", _num(m.profit_factor) if m.profit_factor is not None else ("inf" if m.trades and m.net_pnl_usdt > 0 else "n/a")),
        ("net PnL (after fees, slippage, spread, funding)", f"{_num(m.net_pnl_usdt)} USDT (fees {_num(m.fees_usdt)})"),
        ("final equity / return", f"{_num(m.final_equity)} USDT / {_num(m.return_pct, 2, ' %')}"),
        ("equity change not in trades", f"{_num(m.unexplained_usdt)} USDT"),
        ("max drawdown", f"{_num(dd.usdt)} USDT, {_num(dd.pct, 2, ' %')}, {_duration(dd.duration_ms)}"),
        ("Sharpe / Sortino / Calmar", f"{_num(m.sharpe)} / {_num(m.sortino)} / {_num(m.calmar)}"),
        ("exposure", _pct(m.exposure)),
        ("days / trades per day", f"{_num(m.days, 1)} / {_num(m.trades_per_day)}"),
    ]


def _group_rows(groups: dict[str, Group]) -> list[tuple[str, str, str, str, str]]:
    return [(name, str(g.trades), _pct(g.win_rate), _num(g.avg_r, 3), _num(g.net_pnl_usdt)) for name, g in groups.items()]


def _r(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def money_rows(groups: dict[str, MoneyFlow]) -> list[tuple[str, ...]]:
    """One row per group: where its money went, in USDT and in R per trade."""
    return [(name, str(f.trades), _num(f.gross_usdt), _num(f.fees_usdt), _num(f.slippage_usdt), _num(f.funding_usdt),
             _num(f.net_usdt), f"{_r(f.gross_r)} / {_r(f.fees_r)} / {_r(f.slippage_r)} / {_r(f.funding_r)} / {_r(f.net_r)}")
            for name, f in groups.items()]


MONEY_HEADER = ("", "trades", "gross", "fees", "slippage", "funding", "net", "R/trade: gross / fees / slip / funding / net")


def exit_rows(groups: dict[str, MoneyFlow]) -> list[tuple[str, ...]]:
    return [(name, *(str(f.exits.get(k, 0)) for k in EXIT_KINDS)) for name, f in groups.items()]


def _spread(s: Spread | None, digits: int = 1) -> str:
    if s is None:
        return "n/a"
    return " / ".join(f"{v:.{digits}f}" for v in (s.min, s.p10, s.p25, s.median, s.p75, s.p90, s.max))


def stop_rows(st: StopDistances) -> list[tuple[str, str]]:
    return [
        ("trades with a stop", str(st.trades)),
        ("stop distance, bps (min / p10 / p25 / median / p75 / p90 / max)", _spread(st.bps)),
        ("round-trip cost, bps (mean)", _num(st.round_trip_bps)),
        ("stop in round-trip costs (same quantiles)", _spread(st.cost_multiple, 2)),
        ("stops under 1x / 2x / 3x the round trip", f"{_pct(st.under_1x)} / {_pct(st.under_2x)} / {_pct(st.under_3x)}"),
    ]


def money_section(m: Metrics) -> list[str]:
    """Where the money went: totals, per path and per symbol, the exit mix, and the stops."""
    if m.money is None:
        return []
    lines = ["## Where the money went", "",
             "net = gross − fees − slippage − funding. *Gross* is the move between the orders' own prices "
             "(a stop's trigger, a limit's price); *slippage* is what taker fills lost beyond them (spread, stop "
             "slippage, gaps); *funding* is what open positions paid (negative: received). USDT totals; R is the "
             "mean per trade of each part over the trade's risk at its stop.", ""]
    lines += _table(MONEY_HEADER, money_rows({"all": m.money, **{f"path {k}": v for k, v in m.money_by_path.items()},
                                              **{k: v for k, v in m.money_by_symbol.items()}}))
    lines += ["", "### Exit mix", ""]
    lines += _table(("", *EXIT_KINDS), exit_rows({"all": m.money, **{f"path {k}": v for k, v in m.money_by_path.items()},
                                                  **m.money_by_symbol}))
    if m.stops is not None:
        lines += ["", "### Stop distances", ""]
        lines += _table(("", "value"), stop_rows(m.stops))
    lines.append("")
    return lines


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]


ENGINES = {
    "faithful": "faithful (every minute through the bot's cores, router and the simulator)",
    "fast": "fast (the window recorded once through the bot's symbol cores; only the states on which an entry path "
            "fires decided; each trade followed on the 1m bars by the router's and the venue's rules)",
}


def engine_line(result: Result) -> str:
    """Which engine produced the run, and for the fast one what it does not know."""
    line = f"Engine: {ENGINES.get(result.engine, result.engine)}."
    if result.engine == "fast":
        c = result.counts
        line += (f" It decided {c.get('states_decided', 0):,} of {c.get('states', 0):,} states (on the rest no path fires, "
                 f"or, on {c.get('states_screened', 0):,} of them, no candidate that fired can reach score_min: "
                 "NO_SETUP or REJECT whatever the account holds), so NO_SETUP/REJECT counts, orders and fills are not "
                 "in this run: `run.py backtest --faithful` has them. Its TAKEs, trades and equity are held equal to the "
                 "faithful engine's by tests/backtest/test_fast.py.")
    return line


def _decided(result: Result) -> str:
    if result.engine == "fast":
        return f"{len(result.decisions)} TAKE decisions"
    return f"{len(result.decisions)} decisions"


def markdown(result: Result, m: Metrics) -> str:
    lines = [
        "# Backtest report", "",
        f"{', '.join(result.symbols)} from {utc_minute(result.start_ms)} to {utc_minute(result.end_ms)} UTC "
        f"({result.ticks} ticks, {_decided(result)}, starting equity {result.initial_equity} USDT).", "",
        engine_line(result), "",
        *_table(("metric", "value"), summary_rows(m)), "",
        "*Equity change not in trades*: positions still open at the end, and round trips that opened and "
        "closed inside one minute, between two of the router's reconciliations, so no trade was recorded.", "",
    ]
    lines += money_section(m)
    for title, groups in (("By entry path", m.by_path), ("By symbol", m.by_symbol), ("Long vs short", m.by_side)):
        lines += [f"## {title}", ""]
        lines += _table(("", "trades", "win rate", "avg R", "net USDT"), _group_rows(groups)) if groups else ["no trades"]
        lines.append("")
    return "\n".join(lines)


def terminal(result: Result, m: Metrics) -> str:
    rows = summary_rows(m)
    if m.money is not None:
        f = m.money
        rows.append(("where it went (USDT)", f"gross {_num(f.gross_usdt)}, fees {_num(f.fees_usdt)}, slippage "
                     f"{_num(f.slippage_usdt)}, funding {_num(f.funding_usdt)}, net {_num(f.net_usdt)}"))
        rows.append(("exits", ", ".join(f"{k} {n}" for k, n in f.exits.items() if n)))
    if m.stops is not None and m.stops.trades:
        rows.append(("stops under 2x / 3x round trip", f"{_pct(m.stops.under_2x)} / {_pct(m.stops.under_3x)}"))
    width = max(len(k) for k, _ in rows)
    head = (f"backtest {', '.join(result.symbols)}  {utc_minute(result.start_ms)} → {utc_minute(result.end_ms)} UTC  "
            f"({result.engine} engine, {result.wall_s:.1f} s)")
    return "\n".join([head, *(f"  {k.ljust(width)}  {v}" for k, v in rows)])


def write(result: Result, m: Metrics, out: Path) -> list[str]:
    """Write the files; returns notes for the user (e.g. why the chart is missing)."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "symbols": list(result.symbols), "start_ms": result.start_ms, "end_ms": result.end_ms,
        "engine": result.engine, "ticks": result.ticks,
        # The fast engine decides only where a path fires: it knows its TAKEs, not every decision.
        "decisions": len(result.decisions) if result.engine != "fast" else None,
        "takes": sum(1 for d in result.decisions if d.kind == "TAKE"), "initial_equity": str(result.initial_equity),
        "metrics": msgspec.to_builtins(m), "trades": msgspec.to_builtins(result.trades), "counts": result.counts,
        "timings": result.timings,
    }
    (out / "report.json").write_bytes(msgspec.json.format(msgspec.json.encode(payload), indent=2) + b"\n")
    (out / "report.md").write_text(markdown(result, m) + "\n")
    report_html.write(result, payload, summary_rows(m), out)  # charts, self-contained, in the default install
    if importlib.util.find_spec("matplotlib") is None:
        return ["equity.png skipped: matplotlib is not installed (pip install -e '.[plot]')"]
    equity_png(result, out / "equity.png")
    return []


def equity_png(result: Result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    times = [dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc) for ts, _, _ in result.equity]
    values = [float(v) for _, v, _ in result.equity]
    peak, drawdown = float("-inf"), []
    for v in values:
        peak = max(peak, v)
        drawdown.append((v / peak - 1) * 100 if peak > 0 else 0.0)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), gridspec_kw={"height_ratios": [3, 1]})
    top.plot(times, values, linewidth=1)
    top.set_ylabel("equity (USDT)")
    top.set_title(f"{', '.join(result.symbols)}")
    bottom.fill_between(times, drawdown, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
