"""``report.html``: a backtest's report as one self-contained page — equity and drawdown, the
R-multiple histogram, per-path and per-symbol tables, and a candle chart per symbol with every
trade drawn. The vendored charting library and the dashboard's own chart and format scripts are
inlined, so the file opens anywhere, offline, with nothing fetched.

The figures are report.json's (the same payload dict), and the candles and marks are read from
the run's journal; no number is recomputed here except the chart's drawdown and histogram bins.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from journal.reader import JournalReader, JournalUnavailable
from web.series import chart_marks, price_decimals  # the dashboard's own mark placement and precision

STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
SCRIPTS = ("vendor/lightweight-charts.standalone.production.js", "format.js", "charts.js")
MAX_EQUITY_POINTS = 4000
MAX_BARS = 3000           # per symbol: the finest journaled timeframe that fits
R_BIN = 0.25
INTERVALS = (1, 3, 5, 15)
MINUTE_MS = 60_000


def equity_points(equity: Sequence[tuple[int, Decimal, int]], limit: int = MAX_EQUITY_POINTS) -> dict[str, list]:
    """The per-minute equity thinned to at most ``limit`` points: each kept point is the last of
    its stretch, and its drawdown is the deepest within the stretch (so the worst is never lost)."""
    step = max(1, math.ceil(len(equity) / limit))
    times, values, drawdown = [], [], []
    peak = None
    deepest = 0.0
    for i, (ts, value, _) in enumerate(equity):
        v = float(value)
        peak = v if peak is None or v > peak else peak
        deepest = min(deepest, (v / peak - 1) * 100 if peak > 0 else 0.0)
        if (i + 1) % step == 0 or i == len(equity) - 1:
            times.append(ts)
            values.append(str(value))
            drawdown.append(round(deepest, 6))
            deepest = 0.0
    return {"t": times, "equity": values, "drawdown_pct": drawdown}


def r_histogram(trades: Iterable[Mapping[str, Any]], width: float = R_BIN) -> dict[str, list]:
    """Trades counted per R bin of ``width`` (a bin is named by its lower edge)."""
    counts: dict[float, int] = {}
    for t in trades:
        r = t.get("pnl_r")
        if r is None:
            continue
        edge = math.floor(r / width) * width
        counts[edge] = counts.get(edge, 0) + 1
    edges = sorted(counts)
    return {"edge": edges, "count": [counts[e] for e in edges], "width": width}


def _columns(rows: list[dict[str, Any]]) -> dict[str, list]:
    return {k: [r[c] for r in rows] for k, c in (("t", "start_ms"), ("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"))}


def symbol_series(reader: JournalReader, symbol: str, start_ms: int, end_ms: int) -> dict[str, Any] | None:
    """One symbol's candles on the finest journaled timeframe with at most MAX_BARS bars in the
    run, and the bot's marks (TAKEs, entry fills, exits by reason) in the shape /series serves."""
    minutes = max(1, (end_ms - start_ms) // MINUTE_MS)
    for interval in INTERVALS:
        if minutes / interval <= MAX_BARS or interval == INTERVALS[-1]:
            rows = [r for r in reader.bars(symbol, interval, start_ms - 1) if r["start_ms"] < end_ms]
            if rows:
                break
    else:
        return None
    if not rows:
        return None
    marks = reader.chart_marks(symbol, start_ms)
    bars = _columns(rows)
    return {
        "symbol": symbol, "interval": interval, "hours": None, "price_decimals": price_decimals(None, reader.price_samples(symbol)),
        "bars": bars, "ha": None, "wt": None, "params": None,
        "marks": chart_marks(marks, interval, rows[0]["start_ms"]), "lines": [],
    }


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _json_script(data: Any) -> str:
    # "<" escaped so no string in the data can close the script element.
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def _inline(path: Path) -> str:
    return path.read_text().replace("</script", "<\\/script")


def _group_table(title: str, key: str, groups: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for name, g in groups.items():
        rows.append(
            f'<tr data-{key}="{_e(name)}"><th>{_e(name)}</th>'
            f'<td data-field="trades" data-value="{_e(g["trades"])}">{_e(g["trades"])}</td>'
            f'<td data-field="win_rate" data-value="{_e(g["win_rate"])}" data-fmt="fraction"></td>'
            f'<td data-field="avg_r" data-value="{_e(g["avg_r"])}" data-fmt="r"></td>'
            f'<td data-field="net_pnl_usdt" data-value="{_e(g["net_pnl_usdt"])}" data-fmt="money"></td></tr>')
    body = "".join(rows) or '<tr><td colspan="5">no trades</td></tr>'
    return (f'<h2>{_e(title)}</h2><table class="data" id="by-{key}"><thead><tr><th></th><th>Trades</th><th>Win rate</th>'
            f'<th>Avg R</th><th>Net USDT</th></tr></thead><tbody>{body}</tbody></table>')


def render(payload: Mapping[str, Any], summary: Sequence[tuple[str, str]], equity: Mapping[str, list],
           series: Sequence[Mapping[str, Any]]) -> str:
    """The page: ``payload`` is report.json's dict, ``summary`` report.md's metric rows."""
    m = payload["metrics"]
    when = f'{_e(", ".join(payload["symbols"]))}'
    summary_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in summary)
    charts = "".join(
        f'<section class="symbol"><h2>{_e(s["symbol"])} <small>{s["interval"]}m candles · '
        f'{sum(1 for x in s["marks"] if x["kind"] == "exit")} trades</small></h2>'
        f'<div class="chart symbol" data-symbol="{_e(s["symbol"])}"></div></section>' for s in series)
    data = {"equity": equity, "histogram": r_histogram(payload["trades"]), "series": list(series)}
    style = (STATIC / "style.css").read_text()
    scripts = "\n".join(f"<script>{_inline(STATIC / name)}</script>" for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Backtest report · {when}</title>
<style>{style}
.chart.histogram {{ height: 240px; }}
</style>
</head><body>
<header><h1>Backtest report</h1>
<p>{when} · <span data-ms="{payload["start_ms"]}"></span> → <span data-ms="{payload["end_ms"]}"></span> ·
{_e(payload["ticks"])} minutes · starting equity {_e(payload["initial_equity"])} USDT · {_e(payload.get("engine", "faithful"))} engine.
Every money figure is net of fees (and of the simulator's fills).</p>
<dl id="summary">
<div><dt>Net PnL</dt><dd data-field="net_pnl_usdt" data-value="{_e(m["net_pnl_usdt"])}" data-fmt="money-signed"></dd></div>
<div><dt>Final equity</dt><dd data-field="final_equity" data-value="{_e(m["final_equity"])}" data-fmt="money"></dd></div>
<div><dt>Trades</dt><dd data-field="trades" data-value="{_e(m["trades"])}">{_e(m["trades"])}</dd></div>
<div><dt>Win rate</dt><dd data-field="win_rate" data-value="{_e(m["win_rate"])}" data-fmt="fraction"></dd></div>
<div><dt>Expectancy</dt><dd data-field="expectancy_r" data-value="{_e(m["expectancy_r"])}" data-fmt="r"></dd></div>
<div><dt>Max drawdown</dt><dd data-field="max_drawdown_pct" data-value="{_e(m["max_drawdown"]["pct"])}" data-fmt="pct"></dd></div>
</dl></header>
<main>
<section><h2>Equity <small>net of fees; drawdown below the running peak underneath</small></h2>
<div class="chart equity" id="equity-chart"></div></section>
<section><h2>R multiples <small>trades per {R_BIN} R bin</small></h2>
<div class="chart histogram" id="r-histogram"></div></section>
<section><h2>Summary</h2><table class="data" id="metrics"><tbody>{summary_rows}</tbody></table></section>
<section>{_group_table("By entry path", "path", m["by_path"])}</section>
<section>{_group_table("By symbol", "symbol", m["by_symbol"])}</section>
<section>{_group_table("Long vs short", "side", m["by_side"])}</section>
{charts}
</main>
<footer>Written by run.py backtest beside report.json and report.md. Times are UTC. Charts: TradingView
Lightweight Charts™, Copyright TradingView, Inc. (tradingview.com), Apache-2.0, inlined.</footer>
<script type="application/json" id="report-data">{_json_script(data)}</script>
{scripts}
<script>{_inline(STATIC / "report.js")}</script>
</body></html>
"""


def write(result: Any, payload: Mapping[str, Any], summary: Sequence[tuple[str, str]], out: Path) -> Path:
    """report.html in ``out``; candles come from ``out/journal.sqlite`` when the run wrote one."""
    series: list[dict[str, Any]] = []
    journal = out / "journal.sqlite"
    if journal.exists():
        reader = JournalReader(journal)
        try:
            for symbol in payload["symbols"]:
                s = symbol_series(reader, symbol, payload["start_ms"], payload["end_ms"] + MINUTE_MS)
                if s is not None:
                    series.append(s)
        except JournalUnavailable:
            series = []
        finally:
            reader.close()
    path = out / "report.html"
    path.write_text(render(payload, summary, equity_points(result.equity), series))
    return path


# --- tune.html -------------------------------------------------------------------------------
# Keys read from tune.json (each optional; whatever is missing is left out of the page):
#   trials | best: [{trial|number, value, is_expectancy_r, oos_expectancy_r, is_trades, oos_trades, params}]
#   chosen: the chosen trial (a dict as above), else the first of best
#   oos_equity, holdout_equity (top level or inside chosen): [[ms, equity], ...] or {"t": [...], "equity": [...]}
#   study, splits (listed as given), holdout (a dict of figures, listed)


def _trial_rows(tune: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = tune.get("trials") or tune.get("best") or []
    return [r for r in rows if isinstance(r, Mapping)]


def _chosen(tune: Mapping[str, Any]) -> Mapping[str, Any] | None:
    chosen = tune.get("chosen")
    if isinstance(chosen, Mapping):
        return chosen
    best = tune.get("best")
    return best[0] if isinstance(best, list) and best and isinstance(best[0], Mapping) else None


def _r(value: Any) -> str:
    return f"{value:+.3f}" if isinstance(value, (int, float)) else _e(value)


def _trial_id(row: Mapping[str, Any]) -> Any:
    return row.get("trial", row.get("number"))


def _curve(value: Any) -> dict[str, list] | None:
    """An equity curve as ``{"t", "equity", "drawdown_pct"}`` from either accepted shape."""
    if isinstance(value, Mapping) and isinstance(value.get("t"), list) and isinstance(value.get("equity"), list):
        pairs = list(zip(value["t"], value["equity"]))
    elif isinstance(value, list):
        pairs = [(p[0], p[1]) for p in value if isinstance(p, (list, tuple)) and len(p) >= 2]
    else:
        return None
    if not pairs:
        return None
    return equity_points([(int(ts), Decimal(str(eq)), 0) for ts, eq in pairs])


def tune_scatter(tune: Mapping[str, Any]) -> dict[str, list]:
    """Trials as (in-sample, out-of-sample) expectancy points; a trial without both is left out."""
    points = []
    for row in _trial_rows(tune):
        x, y = row.get("is_expectancy_r"), row.get("oos_expectancy_r")
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            points.append((float(x), float(y), _trial_id(row)))
    points.sort()
    return {"is": [p[0] for p in points], "oos": [p[1] for p in points], "trial": [p[2] for p in points]}


def tune_page(tune: Mapping[str, Any]) -> str:
    """tune.html: the trials' in- vs out-of-sample scatter and the chosen trial's equity curves."""
    chosen = _chosen(tune) or {}
    curves = {}
    for key in ("oos_equity", "holdout_equity"):
        curve = _curve(chosen.get(key, tune.get(key)))
        if curve is not None:
            curves[key] = curve
    data = {"scatter": tune_scatter(tune), "chosen": _trial_id(chosen) if chosen else None, "curves": curves}
    rows = "".join(
        f'<tr data-trial="{_e(_trial_id(r))}"><th>{_e(_trial_id(r))}</th><td>{_r(r.get("value"))}</td>'
        f'<td>{_r(r.get("is_expectancy_r"))}</td><td>{_e(r.get("is_trades"))}</td>'
        f'<td>{_r(r.get("oos_expectancy_r"))}</td><td>{_e(r.get("oos_trades"))}</td>'
        f'<td>{_e(json.dumps(r.get("params", {}), sort_keys=True))}</td></tr>' for r in _trial_rows(tune))
    extra = "".join(f"<tr><th>{_e(k)}</th><td>{_e(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                    for k, v in tune.items() if k in ("study", "holdout", "selection", "dsr", "pbo"))
    titles = {"oos_equity": "Chosen trial, out of sample", "holdout_equity": "Chosen trial, hold-out"}
    charts = "".join(f'<section><h2>{titles[k]}</h2><div class="chart equity" data-curve="{k}"></div></section>' for k in curves)
    style = (STATIC / "style.css").read_text()
    scripts = "\n".join(f"<script>{_inline(STATIC / name)}</script>" for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tuning report</title><style>{style}
.chart.scatter {{ height: 360px; }}
</style></head><body>
<header><h1>Tuning report</h1><p>Each point is a trial: expectancy in R per trade in sample (across) against out of
sample (up). The chosen trial is drawn larger. Out-of-sample figures, not in-sample ones, are the estimate.</p></header>
<main>
<section><h2>Trials, in vs out of sample</h2><div class="chart scatter" id="scatter"></div></section>
{charts}
<section><h2>Trials</h2><table class="data" id="trials"><thead><tr><th>Trial</th><th>Objective</th><th>IS R</th>
<th>IS trades</th><th>OOS R</th><th>OOS trades</th><th>Parameters</th></tr></thead><tbody>{rows}</tbody></table>
<table class="data">{extra}</table></section>
</main>
<footer>Written by run.py tune beside tune.json. Charts: TradingView Lightweight Charts™, Copyright TradingView, Inc.
(tradingview.com), Apache-2.0, inlined.</footer>
<script type="application/json" id="report-data">{_json_script(data)}</script>
{scripts}
<script>{_inline(STATIC / "tune.js")}</script>
</body></html>
"""


def write_tune(tune: Mapping[str, Any], out: Path) -> Path:
    path = out / "tune.html"
    path.write_text(tune_page(tune))
    return path
