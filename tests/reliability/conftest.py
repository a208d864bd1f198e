"""The reliability suite's two forms and its counts.

CI runs the short form; ``SMTBOT_SOAK=1`` runs the long one (and the tests marked ``soak``).
Every test adds what it measured to one report: printed as a table at the end of the session
and written to ``var/reliability-report.json``, the figures RELIABILITY.md quotes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOAK = os.environ.get("SMTBOT_SOAK", "") not in ("", "0")
REPORT_PATH = ROOT / "var" / "reliability-report.json"


def scale(ci: int, soak: int) -> int:
    """How many of something this form of the suite runs."""
    return soak if SOAK else ci


class Report:
    """Counts per promise: ``report.add("REST faults", injected=40, duplicates=0)``."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int | float | str]] = {}

    def add(self, promise: str, **counts: int | float | str) -> None:
        row = self.rows.setdefault(promise, {})
        for name, value in counts.items():
            previous = row.get(name)
            if isinstance(previous, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
                row[name] = previous + value
            else:
                row[name] = value

    def table(self) -> str:
        lines = [f"reliability counts ({'soak' if SOAK else 'CI'} form)"]
        for promise, counts in self.rows.items():
            lines.append(f"  {promise}")
            lines += [f"    {name:<34} {value}" for name, value in counts.items()]
        return "\n".join(lines)


_REPORT = Report()


@pytest.fixture(scope="session")
def report():
    started = time.monotonic()
    yield _REPORT
    if not _REPORT.rows:
        return
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps({
        "form": "soak" if SOAK else "ci",
        "seconds": round(time.monotonic() - started, 1),
        "counts": _REPORT.rows,
    }, indent=2) + "\n")


def pytest_collection_modifyitems(config, items):
    if SOAK:
        return
    skip = pytest.mark.skip(reason="long form only: set SMTBOT_SOAK=1")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if _REPORT.rows:
        terminalreporter.write_line(_REPORT.table())
