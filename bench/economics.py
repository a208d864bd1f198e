"""Trade economics on the shipped month: where the money goes, before and after issue 15.

Two backtests of ``data/klines`` (all 7 symbols, the whole month after the simulator's warm-up),
run side by side in two processes:

- "before": ``bench/economics_before.toml`` on top of ``settings.toml``: the fee-blind settings
  and a venue that charges its fee rates only (no stop slippage, spread, funding or partial fills);
- "after": ``settings.toml`` as shipped (the venue charges what Bybit charges).

For each: trades; gross, fees, slippage, funding and net PnL in USDT and in R per trade (every
figure from the trades' own split, net = gross - fees - slippage - funding); the exit mix; the
share of trades whose stop was closer than 2x and 3x the round-trip cost; and per symbol, what a
stop-out cost in R (1 R being the loss its TAKE planned at the stop: beyond -1 R the risk model
priced the stop for less than the venue charged). The round trip is the
"after" venue's in both columns (maker entry + taker exit at the stop + stop slippage + half a
spread), so the two columns measure stops against the same, real, cost.

Run: ``python bench/economics.py [days]`` (default: the whole month). Prints a table; the LAST
line is a JSON object. Profitability is not the point: one month proves nothing; every figure
is net and honest.
"""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocabulary.settings import load_settings  # noqa: E402
from backtest import metrics  # noqa: E402
from backtest.run import FillModel, Window, run_backtest, sim_config  # noqa: E402
from exchange.sim.market import MINUTE_MS, load_store  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
OVERLAY = Path(__file__).with_name("economics_before.toml")


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)  # strings and lists of them read back the same in TOML


def overlay_env(path: Path) -> dict[str, str]:
    """Each ``[section] key = value`` of the overlay as the ``SMTBOT__SECTION__KEY`` override."""
    raw = tomllib.loads(path.read_text())
    return {f"SMTBOT__{section.upper()}__{key.upper()}": _toml_literal(value)
            for section, table in raw.items() for key, value in table.items()}


def settings_for(variant: str):
    env = overlay_env(OVERLAY) if variant == "before" else {}
    env["SMTBOT__BOT__SYMBOLS"] = json.dumps(list(SYMBOLS))
    return load_settings((ROOT / "settings.toml").read_text(), env)


def stop_outs_by_symbol(trades) -> dict[str, dict[str, Any]]:
    """Per symbol (and "all"): stop-outs, the median slippage beyond the stop in bps, and R per
    stop-out: mean, worst, and the share beyond -1.01 R (funding included, as in every R)."""
    by: dict[str, list[tuple[float, float]]] = {}
    for t in trades:
        if t.exit_reason == "stop" and t.pnl_r is not None and t.stop_price:
            sign = 1 if t.side == "Buy" else -1
            slip = float(sign * (t.stop_price - t.exit_price) / t.stop_price * 10_000)
            by.setdefault(t.symbol, []).append((slip, t.pnl_r))
    by["all"] = [x for symbol in sorted(by) for x in by[symbol]]
    return {symbol: {"stop_outs": len(xs), "slippage_bps_median": statistics.median(s for s, _ in xs),
                     "r_mean": statistics.fmean(r for _, r in xs), "r_worst": min(r for _, r in xs),
                     "beyond_1_01_r": sum(r < -1.01 for _, r in xs) / len(xs)}
            for symbol, xs in by.items() if xs}


def run(variant: str, days: float | None) -> dict[str, Any]:
    settings = settings_for(variant)
    window = Window(symbols=SYMBOLS)
    if days is not None:
        store, _ = load_store(ROOT / settings.sim.data_dir, SYMBOLS)
        start = store.first_ms + 6000 * MINUTE_MS
        window = Window(symbols=SYMBOLS, start_ms=start, end_ms=start + int(days * 1440) * MINUTE_MS)
    result = run_backtest(settings, window)
    after = settings_for("after")  # stops are measured against the real venue's round trip
    round_trip = metrics.venue_round_trip_of(sim_config(after, window, FillModel()))
    m = metrics.compute(result.trades, result.equity, result.initial_equity, result.start_ms, result.end_ms, round_trip)
    flow, stops = m.money, m.stops
    assert flow is not None and stops is not None
    return {
        "trades": flow.trades, "gross_usdt": flow.gross_usdt, "fees_usdt": flow.fees_usdt,
        "slippage_usdt": flow.slippage_usdt, "funding_usdt": flow.funding_usdt, "net_usdt": flow.net_usdt,
        "gross_r": flow.gross_r, "fees_r": flow.fees_r, "slippage_r": flow.slippage_r, "funding_r": flow.funding_r,
        "net_r": flow.net_r, "stop_under_2x": stops.under_2x, "stop_under_3x": stops.under_3x,
        "stop_bps_median": stops.bps.median if stops.bps else None,
        "round_trip_bps": stops.round_trip_bps, "exits": flow.exits,
        "final_equity": m.final_equity, "unexplained_usdt": m.unexplained_usdt,
        "stop_outs_by_symbol": stop_outs_by_symbol(result.trades),
        "days": round((result.end_ms - result.start_ms) / 86_400_000, 2), "wall_s": round(result.wall_s, 1),
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def main() -> None:
    days = float(sys.argv[1]) if len(sys.argv) > 1 else None
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        futures = {v: pool.submit(run, v, days) for v in ("before", "after")}
        results = {v: f.result() for v, f in futures.items()}
    rows = [
        ("trades", "trades", 0), ("gross (USDT)", "gross_usdt", 2), ("fees (USDT)", "fees_usdt", 2),
        ("slippage (USDT)", "slippage_usdt", 2), ("funding (USDT)", "funding_usdt", 2), ("net (USDT)", "net_usdt", 2),
        ("gross (R/trade)", "gross_r", 3), ("fees (R/trade)", "fees_r", 3), ("slippage (R/trade)", "slippage_r", 3),
        ("funding (R/trade)", "funding_r", 3), ("net (R/trade)", "net_r", 3),
        ("stops under 2x round trip", "stop_under_2x", 3), ("stops under 3x round trip", "stop_under_3x", 3),
        ("median stop (bps)", "stop_bps_median", 2), ("round trip (bps, mean)", "round_trip_bps", 2),
        ("equity not in trades (USDT)", "unexplained_usdt", 2), ("days replayed", "days", 2), ("wall (s)", "wall_s", 1),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"bench/economics.py: shipped month, {len(SYMBOLS)} symbols; before = {OVERLAY.name} + fees only, after = defaults")
    print(f"| {'':<{width}} | {'before':>12} | {'after':>12} |")
    print(f"|{'-' * (width + 2)}|{'-' * 14}|{'-' * 14}|")
    for label, key, digits in rows:
        print(f"| {label:<{width}} | {_fmt(results['before'][key], digits):>12} | {_fmt(results['after'][key], digits):>12} |")
    for variant in ("before", "after"):
        exits = ", ".join(f"{k} {n}" for k, n in results[variant]["exits"].items() if n)
        print(f"exits {variant}: {exits}")
    print("net = gross - fees - slippage - funding; R per trade over each trade's risk at its stop")
    print("stop-outs per symbol: count, median slippage beyond the stop (bps), R per stop-out mean / worst, share beyond -1.01 R")
    print(f"| {'symbol':<9} | {'before':>38} | {'after':>38} |")
    for symbol in results["after"]["stop_outs_by_symbol"]:
        cells = []
        for variant in ("before", "after"):
            s = results[variant]["stop_outs_by_symbol"].get(symbol)
            cells.append("n/a" if s is None else f"{s['stop_outs']:4d} {s['slippage_bps_median']:5.2f} "
                         f"{s['r_mean']:7.3f} / {s['r_worst']:7.3f} {100 * s['beyond_1_01_r']:4.0f} %")
        print(f"| {symbol:<9} | {cells[0]:>38} | {cells[1]:>38} |")
    print(json.dumps({"bench": "economics", "days": days, "wall_s": round(time.perf_counter() - started, 1), **results}))


if __name__ == "__main__":
    main()
