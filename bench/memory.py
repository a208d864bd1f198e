"""The fast backtest's memory, stage by stage, on the scale case's synthetic data (``bench/backtest.py
--scale``: the shipped rows replayed under 25 names): one run of ``run_fast_backtest`` alone in a
fresh process, the resident set (``VmRSS``) after each stage and the highest it reached during it
(``VmHWM``, reset between stages through ``/proc/self/clear_refs``; Linux only).

Stages: the recording (files parsed, indicator columns, bars), the trial (the rows' states made a
day at a time as it reaches them: ``backtest.chunked_rows``), the equity curve, and with
``--journal`` the journal (``write_journal``, its candle rows). The stages are marked by wrapping
the functions ``run_fast_backtest`` calls between them (the run itself is unchanged). A run the
fast engine refuses (the synthetic year's account is liquidated) still reports the stages it went
through.

Run: ``python bench/memory.py [MONTHS] [--journal]`` (1 month by default; building a year's data
takes ~1 min). Prints a table; the LAST line is a JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtest import fast  # noqa: E402
from backtest.run import Window  # noqa: E402
from bench.backtest import bench_settings, digest, load, long_data_dir, reused_names  # noqa: E402


def status() -> dict[str, int]:
    """This process's resident set now and its high-water mark, in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) // 1024 for name in ("VmRSS", "VmHWM")}


def stages_of(run) -> list[dict]:
    """``run()`` with a mark after each stage: (stage, MB resident after it, MB at most during it)."""
    marks: list[dict] = []

    def mark(stage: str) -> None:
        now = status()
        marks.append({"stage": stage, "rss_mb": now["VmRSS"], "peak_mb": now["VmHWM"]})
        Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from here

    def after(name: str, stage: str) -> None:
        inner = getattr(fast, name)

        def wrapped(*args, **kwargs):
            out = inner(*args, **kwargs)
            mark(stage)
            return out
        setattr(fast, name, wrapped)

    def before(name: str, stage: str) -> None:
        inner = getattr(fast, name)

        def wrapped(*args, **kwargs):
            mark(stage)
            return inner(*args, **kwargs)
        setattr(fast, name, wrapped)

    before("first_gap", "recording")  # called on the tape as soon as it is recorded
    after("run_trial", "trial")
    after("equity_curve", "equity curve")
    before("write_journal", "the rest of the run")
    after("write_journal", "journal")
    mark("start")
    run()
    mark("until the run returned")
    return marks


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    months = float(args[0]) if args else 1.0
    names = reused_names(25)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        long_data_dir(data, names, round(months * 43_800))
        settings = bench_settings()
        journal = Path(tmp) / "journal.sqlite" if "--journal" in sys.argv else None
        before = load()
        outcome: dict = {}

        def run() -> None:
            try:
                result = fast.run_fast_backtest(settings, Window(symbols=tuple(names), data_dir=str(data)), journal_path=journal)
                outcome.update(trades=len(result.trades), digest=digest(result), stages_s=dict(result.timings))
            except fast.FastRefusal as exc:
                outcome.update(refused=str(exc))

        t0 = time.perf_counter()
        marks = stages_of(run)
        seconds = time.perf_counter() - t0
    marks = marks[1:]  # from the run's call (the data built and the imports before it)
    peak = max(m["peak_mb"] for m in marks)
    print(f"{months:g} months x 25 symbols (synthetic), journal {'on' if journal else 'off'}, load {before} -> {load()}, {seconds:.1f} s")
    print(f"{'stage':<24} {'RSS after (MB)':>16} {'peak during (MB)':>18}")
    for m in marks:
        print(f"{m['stage']:<24} {m['rss_mb']:>16,} {m['peak_mb']:>18,}")
    print(f"{'peak of the run':<24} {'':>16} {peak:>18,}")
    if "refused" in outcome:
        print(f"refused: {outcome['refused']}")
    print(json.dumps({"bench": "memory", "months": months, "symbols": 25, "journal": journal is not None, "seconds": round(seconds, 2),
                      "peak_mb": peak, "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                      "stages": marks, **outcome, "loadavg": [before, load()]}))


if __name__ == "__main__":
    main()
