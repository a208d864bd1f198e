"""The walk-forward tuning report: ``tune.json`` (for charts and tools), ``tune.md`` (for people),
``best.toml`` (the final choice, with its hold-out figure in the header) and a terminal summary.

Every figure is R per trade net of fees (``TradeClosed.pnl_r``) unless named otherwise, printed
with its trade count and its bootstrap interval, next to the trial count, the Deflated Sharpe
Ratio and the PBO, and a verdict derived from them (``backtest.stats.verdict``).

``tune.json`` keeps one shape for charts: ``summary`` (the four records IS / OOS / final IS /
hold-out, each a *record*: trades, expectancy_r, ci95_r, daily_sharpe, days, net_usdt, fees_usdt),
``splits`` and ``final`` (each selection: windows, trial count, winner, records, DSR, PBO),
``scatter`` (every trial of every split: train objective vs its test-window expectancy, a
diagnostic run after the selection), ``equity`` (cumulative R by exit time: ``oos``, ``holdout``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vocabulary.messages import TradeClosed
from vocabulary.settings import load_settings
from backtest import report_html, stats
from backtest.tune import OBJECTIVE, Evaluate, Selection, days_in, env_for, overlay_toml, period_sums
from backtest.walkforward import Plan, expectancy_r

REPORT_VERSION = 1
HOLDOUT_ATTR = "smtbot_holdout"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def span(start_ms: int, end_ms: int) -> dict[str, Any]:
    return {"start": _iso(start_ms), "end": _iso(end_ms), "start_ms": start_ms, "end_ms": end_ms}


def record(trades: Sequence[TradeClosed], daily: Sequence[float], seed: int) -> dict[str, Any]:
    """One record's figures: R per trade with its 95 % bootstrap interval, the daily Sharpe."""
    rs = [t.pnl_r for t in trades if t.pnl_r is not None]
    value, n = expectancy_r(trades)
    sr = stats.sharpe(daily)
    return {
        "trades": n, "expectancy_r": value, "ci95_r": stats.bootstrap_mean_ci(rs, seed=seed),
        "total_r": float(sum(rs)), "daily_sharpe": sr, "days": len(daily),
        "net_usdt": float(sum(t.pnl_usdt for t in trades)), "fees_usdt": float(sum(t.fees for t in trades)),
    }


def _daily(trades: Sequence[TradeClosed], start_ms: int, end_ms: int) -> list[float]:
    return period_sums(trades, start_ms, end_ms, days_in(start_ms, end_ms))[0]


def _completed(study: Any) -> list[Any]:
    import optuna

    return [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]


def result(trial: Any) -> dict[str, Any]:
    """What ``tune.trial_objective`` kept with a trial (trades, expectancy, Sharpe per trade, blocks)."""
    return trial.user_attrs.get("result", {})


def _winner(trials: Sequence[Any]) -> Any:
    return max(trials, key=lambda t: (t.value, -t.number))


def selection_stats(trials: Sequence[Any], winner_trades: Sequence[TradeClosed]) -> dict[str, Any]:
    """DSR of the winner's R per trade given the trials' Sharpe ratios per trade, and PBO over
    trials x time blocks of the train window.

    The DSR is taken per trade, not per day: a train window of a week holds seven daily
    observations, too few for any Sharpe test, and hundreds of trades; the objective is per trade too."""
    sharpes = [r["trade_sharpe"] for r in map(result, trials) if r.get("trade_sharpe") is not None]
    deflated = stats.deflated_sharpe([t.pnl_r for t in winner_trades if t.pnl_r is not None], len(trials), sharpes)
    sums = np.array([result(t).get("block_r", []) for t in trials], dtype=np.float64)
    counts = np.array([result(t).get("block_n", []) for t in trials], dtype=np.float64)
    overfit = stats.pbo_cscv(sums, counts) if sums.ndim == 2 else stats.Overfitting(None, 0, 0, ())
    return {"dsr": {"value": deflated.dsr, "sharpe_per_trade": deflated.sr, "sr0": deflated.sr0, "trades": deflated.periods,
                    "trials": deflated.n_trials},
            "pbo": {"value": overfit.pbo, "combinations": overfit.combinations, "blocks": overfit.blocks}}


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 3:
        return None
    ra, rb = _ranks(np.asarray(a, dtype=np.float64)), _ranks(np.asarray(b, dtype=np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for value in np.unique(x):  # ties share their average rank
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def report(*, name: str, storage: str, identity: Mapping[str, Any], plan: Plan, steps: Sequence[Selection], evaluate: Evaluate,
           base_text: bytes, base_env: Mapping[str, str], min_trades: int, out: Path, seed: int) -> int:
    import sys

    import optuna

    def settings_for(params: Mapping[str, Any]) -> Any:
        return load_settings(base_text, {**base_env, **env_for(params)}, source="trial")

    from backtest.study import open_storage

    studies = {s.name: optuna.load_study(study_name=f"{name}/{s.name}", storage=open_storage(storage)) for s in steps}
    done = {n: _completed(st) for n, st in studies.items()}
    empty = [n for n, trials in done.items() if not trials]
    if empty:
        print(f"run.py tune: no trial completed in {', '.join(empty)}", file=sys.stderr)
        return 1
    splits, scatter = [], []
    is_trades: list[TradeClosed] = []
    oos_trades: list[TradeClosed] = []
    is_daily: list[float] = []
    oos_daily: list[float] = []
    for step in steps[:-1]:
        s = step.split
        trials = done[step.name]
        winner = _winner(trials)
        chosen = settings_for(winner.params)
        inside = evaluate(chosen, s.train_start, s.train_end)
        outside = evaluate(chosen, s.test_start, s.test_end)  # the winner, once, on its test window
        is_trades += inside
        oos_trades += outside
        is_daily += _daily(inside, s.train_start, s.train_end)
        oos_daily += _daily(outside, s.test_start, s.test_end)
        for t in trials:  # a diagnostic after the selection: how the train ranking held up
            if t.number == winner.number:
                test_r = expectancy_r(outside)[0]
            else:
                test_r = expectancy_r(evaluate(settings_for(t.params), s.test_start, s.test_end))[0]
            scatter.append({"selection": step.name, "trial": t.number, "is_objective": t.value,
                            "is_expectancy_r": result(t).get("expectancy_r"), "oos_expectancy_r": test_r,
                            "is_winner": t.number == winner.number})
        splits.append({
            "selection": step.name, "window": s.window, "train": span(s.train_start, s.train_end), "test": span(s.test_start, s.test_end),
            "trials": len(trials), "winner": {"trial": winner.number, "objective": winner.value, "params": winner.params},
            "is": record(inside, _daily(inside, s.train_start, s.train_end), seed),
            "oos": record(outside, _daily(outside, s.test_start, s.test_end), seed),
            **selection_stats(trials, inside),
        })
    final_step = steps[-1]
    f = final_step.split
    trials = done[final_step.name]
    winner = _winner(trials)
    chosen = settings_for(winner.params)
    final_is = evaluate(chosen, f.train_start, f.train_end)
    holdout = _holdout_once(studies[final_step.name], winner.params, lambda: evaluate(chosen, f.test_start, f.test_end))
    final_stats = selection_stats(trials, final_is)
    summary = {
        "is": record(is_trades, is_daily, seed), "oos": record(oos_trades, oos_daily, seed),
        "final_is": record(final_is, _daily(final_is, f.train_start, f.train_end), seed),
        "holdout": record(holdout, _daily(holdout, f.test_start, f.test_end), seed),
    }
    is_r, oos_r = summary["is"]["expectancy_r"], summary["oos"]["expectancy_r"]
    pairs = [(p["is_objective"], p["oos_expectancy_r"]) for p in scatter if p["oos_expectancy_r"] is not None]
    total_trials = sum(len(t) for t in done.values())
    summary.update({
        "trials": total_trials,
        "wf_efficiency": (oos_r / is_r) if (is_r is not None and oos_r is not None and is_r > 0) else None,
        "dsr": final_stats["dsr"]["value"], "pbo": final_stats["pbo"]["value"],
        "is_oos_rank_correlation": spearman([a for a, _ in pairs], [b for _, b in pairs]),
        "verdict": stats.verdict(oos_ci=summary["oos"]["ci95_r"], oos_trades=summary["oos"]["trades"],
                                 holdout_r=summary["holdout"]["expectancy_r"], holdout_trades=summary["holdout"]["trades"],
                                 dsr=final_stats["dsr"]["value"], pbo=final_stats["pbo"]["value"], min_trades=min_trades),
    })
    doc = {
        "version": REPORT_VERSION, "study": name, "objective": f"{OBJECTIVE}, min {min_trades} trades per train window",
        "identity": dict(identity),
        "plan": {"scheme": plan.scheme, "embargo_minutes": plan.embargo_ms // 60_000,
                 "windows": [span(w.start_ms, w.end_ms) for w in plan.windows], "holdout": span(plan.holdout.start_ms, plan.holdout.end_ms)},
        "summary": summary, "splits": splits,
        "final": {"train": span(f.train_start, f.train_end), "holdout": span(f.test_start, f.test_end), "trials": len(trials),
                  "winner": {"trial": winner.number, "objective": winner.value, "params": winner.params}, **final_stats},
        "scatter": scatter,
        "equity": {"oos": _equity(oos_trades), "holdout": _equity(holdout)},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "tune.md").write_text(markdown(doc))
    report_html.write_tune(doc, out)  # tune.html: trials IS vs OOS, the chosen parameters' OOS and hold-out equity
    (out / "best.toml").write_text(overlay_toml(winner.params, header=best_header(doc)))
    print(terminal(doc))
    print(f"written: {out / 'tune.json'}, {out / 'tune.md'}, {out / 'best.toml'} (an overlay: settings.toml is left as it is)")
    return 0


def _holdout_once(study: Any, params: Mapping[str, Any], run: Any) -> list[TradeClosed]:
    """The hold-out's trades for ``params``: run the first time, kept in the study, read back after,
    so the hold-out is run exactly once for a choice however often the report is written."""
    import msgspec

    kept = study.user_attrs.get(HOLDOUT_ATTR)
    if kept is not None and kept.get("params") == dict(params):
        return msgspec.json.decode(kept["trades"].encode(), type=list[TradeClosed])
    trades = run()
    study.set_user_attr(HOLDOUT_ATTR, {"params": dict(params), "trades": msgspec.json.encode(trades).decode()})
    return trades


def _equity(trades: Sequence[TradeClosed]) -> list[list[float]]:
    total, out = 0.0, []
    for t in sorted(trades, key=lambda t: (t.exit_ms, t.symbol)):
        if t.pnl_r is not None:
            total += t.pnl_r
            out.append([t.exit_ms, round(total, 6)])
    return out


def _r(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _num(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


ROWS = (("is", "in sample (winners on their train windows)"), ("oos", "out of sample (winners on their test windows)"),
        ("final_is", "final choice, in sample"), ("holdout", "hold-out (final choice, run once)"))


def best_header(doc: Mapping[str, Any]) -> list[str]:
    s = doc["summary"]
    h, o = s["holdout"], s["oos"]
    return [
        f"study {doc['study']}: {s['trials']} trials; objective {doc['objective']}",
        f"hold-out {doc['plan']['holdout']['start']} to {doc['plan']['holdout']['end']}: {_r(h['expectancy_r'])} R per trade over "
        f"{h['trades']} trades, 95 % {_ci(h['ci95_r'])}, net {h['net_usdt']:+.2f} USDT",
        f"walk-forward out of sample: {_r(o['expectancy_r'])} R over {o['trades']} trades, 95 % {_ci(o['ci95_r'])}; "
        f"DSR {_num(s['dsr'])}, PBO {_num(s['pbo'])}",
        f"verdict: {s['verdict']}",
    ]


def _table(summary: Mapping[str, Any]) -> list[str]:
    lines = ["| record | trades | R per trade (net) | 95 % CI | daily Sharpe | days | net USDT | fees USDT |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    for key, label in ROWS:
        r = summary[key]
        lines.append(f"| {label} | {r['trades']} | {_r(r['expectancy_r'])} | {_ci(r['ci95_r'])} | {_num(r['daily_sharpe'])} | "
                     f"{r['days']} | {r['net_usdt']:+.2f} | {r['fees_usdt']:.2f} |")
    return lines


def markdown(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    final = doc["final"]
    lines = [
        f"# Walk-forward tuning report: {doc['study']}", "",
        f"**Verdict: {s['verdict']}**", "",
        f"Objective: {doc['objective']}. Every figure is net of fees, slippage and funding as the simulator charges them.", "",
        f"Trials: {s['trials']} in {len(doc['splits']) + 1} selections; walk-forward efficiency (OOS / IS expectancy) "
        f"{_num(s['wf_efficiency'])}; rank correlation of train objective and test expectancy across trials "
        f"{_num(s['is_oos_rank_correlation'])}.", "",
        f"Final choice (best.toml): trial {final['winner']['trial']} of {final['trials']}; Deflated Sharpe Ratio "
        f"{_num(final['dsr']['value'])} (Sharpe per trade {_num(final['dsr']['sharpe_per_trade'], '.3f')} over {final['dsr']['trades']} trades, "
        f"against {_num(final['dsr']['sr0'], '.3f')} expected from the best of {final['dsr']['trials']} trials without skill); PBO "
        f"{_num(final['pbo']['value'])} ({final['pbo']['combinations']} CSCV combinations of {final['pbo']['blocks']} blocks).", "",
        *_table(s), "",
        f"## Plan: {doc['plan']['scheme']} walk-forward, embargo {doc['plan']['embargo_minutes']} min", "",
        "Gap-free windows used (after warm-up): " + "; ".join(f"{w['start']} to {w['end']}" for w in doc["plan"]["windows"]) + ".",
        f"Hold-out: {doc['plan']['holdout']['start']} to {doc['plan']['holdout']['end']}, never seen by a trial.", "",
        "| selection | train | test | trials | IS R (n) | OOS R (n) | DSR | PBO |", "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for sp in doc["splits"]:
        lines.append(f"| {sp['selection']} | {sp['train']['start']} to {sp['train']['end']} | {sp['test']['start']} to {sp['test']['end']} | "
                     f"{sp['trials']} | {_r(sp['is']['expectancy_r'])} ({sp['is']['trades']}) | {_r(sp['oos']['expectancy_r'])} ({sp['oos']['trades']}) | "
                     f"{_num(sp['dsr']['value'])} | {_num(sp['pbo']['value'])} |")
    lines.append(f"| final | {final['train']['start']} to {final['train']['end']} | hold-out | {final['trials']} | "
                 f"{_r(s['final_is']['expectancy_r'])} ({s['final_is']['trades']}) | {_r(s['holdout']['expectancy_r'])} ({s['holdout']['trades']}) | "
                 f"{_num(final['dsr']['value'])} | {_num(final['pbo']['value'])} |")
    lines += ["", "## Final parameters", "", *(f"- `{k}` = {v}" for k, v in sorted(final["winner"]["params"].items())), ""]
    return "\n".join(lines)


def terminal(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    lines = [f"{'record':<48} {'trades':>6} {'R/trade':>8} {'95 % CI':>18} {'Sharpe/d':>8}"]
    for key, label in ROWS:
        r = s[key]
        lines.append(f"{label:<48} {r['trades']:>6} {_r(r['expectancy_r']):>8} {_ci(r['ci95_r']):>18} {_num(r['daily_sharpe']):>8}")
    lines.append(f"trials {s['trials']}, DSR {_num(s['dsr'])}, PBO {_num(s['pbo'])}, WF efficiency {_num(s['wf_efficiency'])} "
                 f"(R per trade, net of fees)")
    lines.append(f"verdict: {s['verdict']}")
    return "\n".join(lines)
