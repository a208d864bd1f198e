"""Where the stop floor belongs: the shipped month's trades for several ``min_stop_cost_multiple``
values (widen and reject), all else at the defaults, every figure net of fees.

The month is recorded once as a tape (``backtest.tape``, the pipeline's own market states) and each
variant is a tuning trial on it (``backtest.trial``, held to the backtest by
tests/backtest/test_trial.py), so ten variants cost about one backtest. For each: trades, win rate,
net and fees in USDT, net R per trade, the share of the candidates' own swing stops (before the
floor) under 2x and 3x the round-trip cost, the worst stop-out in R (1 R = what a stop-out is sized
to cost, fees and slippage allowance included) and how many stop-outs lost more than 1.01 R.

The venue here is the simulator as shipped on this branch (no stop slippage, one price): what the
slippage allowance buys is measured by bench/economics.py once the venue charges it.

Run: ``python bench/stop_floor.py [SYMBOLS] [DAYS]`` (default BTCUSDT,ETHUSDT and the whole month).
Prints a table; the LAST line is a JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocabulary.settings import load_settings  # noqa: E402
from backtest.run import Window  # noqa: E402
from backtest.tape import record_tape  # noqa: E402
from backtest.trial import run_trial  # noqa: E402
from exchange.sim.market import MINUTE_MS, load_store  # noqa: E402

VARIANTS = [
    ("1.0 widen", {"RISK__MIN_STOP_COST_MULTIPLE": "1.0"}),
    ("1.5 widen", {"RISK__MIN_STOP_COST_MULTIPLE": "1.5"}),
    ("2.0 widen (default)", {}),
    ("3.0 widen", {"RISK__MIN_STOP_COST_MULTIPLE": "3.0"}),
    ("4.0 widen", {"RISK__MIN_STOP_COST_MULTIPLE": "4.0"}),
    ("2.0 widen, no ATR floor", {"RISK__MIN_STOP_ATR": "0.0"}),
    ("1.0 reject", {"RISK__MIN_STOP_COST_MULTIPLE": "1.0", "RISK__STOP_FLOOR": '"reject"'}),
    ("2.0 reject", {"RISK__STOP_FLOOR": '"reject"'}),
    ("3.0 reject", {"RISK__MIN_STOP_COST_MULTIPLE": "3.0", "RISK__STOP_FLOOR": '"reject"'}),
]


def settings_with(base: str, overrides: dict[str, str]):
    return load_settings(base, {f"SMTBOT__{k}": v for k, v in overrides.items()})


def reason(decision, code):
    return next((r.value for r in decision.reasons if r.code == code), None)


def row(name, result, budget: Decimal) -> dict:
    trades = result.trades
    n = len(trades)
    net = sum((t.pnl_usdt for t in trades), Decimal(0))
    fees = sum((t.fees for t in trades), Decimal(0))
    rt = [reason(d, "size.round_trip_bps") for d in result.takes]
    swing = [reason(d, "size.stop_bps") for d in result.takes]
    pairs = [(s, c) for s, c in zip(swing, rt) if s is not None and c]
    stops = [t for t in trades if t.exit_reason == "stop"]
    worst = min((t.pnl_usdt / budget for t in stops), default=Decimal(0))
    return {
        "variant": name, "takes": len(result.takes), "trades": n,
        "win_rate": round(sum(t.pnl_usdt > 0 for t in trades) / n, 3) if n else None,
        "net_usdt": float(round(net, 2)), "fees_usdt": float(round(fees, 2)),
        "net_r_per_trade": float(round(net / budget / n, 3)) if n else None,
        "swing_under_2rt": round(sum(s < 2 * c for s, c in pairs) / len(pairs), 3) if pairs else None,
        "swing_under_3rt": round(sum(s < 3 * c for s, c in pairs) / len(pairs), 3) if pairs else None,
        "stop_outs": len(stops), "worst_stop_r": float(round(worst, 3)),
        "stops_over_1.01r": sum(-t.pnl_usdt > budget * Decimal("1.01") for t in stops),
        "pre_cross_trades": sum(t.path == "pre_cross" for t in trades),
    }


def main() -> None:
    symbols = tuple(sys.argv[1].split(",")) if len(sys.argv) > 1 else ("BTCUSDT", "ETHUSDT")
    days = float(sys.argv[2]) if len(sys.argv) > 2 else None
    base_text = Path("settings.toml").read_text()
    base = settings_with(base_text, {"BOT__SYMBOLS": json.dumps(list(symbols))})
    store, _ = load_store(Path(base.sim.data_dir), symbols)
    start = store.first_ms + 6000 * MINUTE_MS  # as the simulator and run.py backtest start
    end = None if days is None else start + int(days * 1440) * MINUTE_MS
    started = time.perf_counter()
    tape = record_tape(base, Window(start_ms=start, end_ms=end))
    recorded_s = time.perf_counter() - started
    budget = Decimal(str(base.risk.risk_per_trade))
    rows = []
    for name, overrides in VARIANTS:
        settings = settings_with(base_text, {"BOT__SYMBOLS": json.dumps(list(symbols)), **overrides})
        rows.append(row(name, run_trial(tape, settings), budget))
    keys = list(rows[0])
    print(f"{', '.join(symbols)}, {tape.minutes} minutes; tape recorded in {recorded_s:.0f} s "
          f"(a loaded 2-core machine); round trip = maker 2 + taker 5.5 + slippage allowance 2 = 9.5 bps")
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r[k]) for k in keys))
    print(json.dumps({"symbols": symbols, "minutes": tape.minutes, "variants": rows}))


if __name__ == "__main__":
    main()
