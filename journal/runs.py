"""Runs: what one start of a writer was (mode, venue, settings, data range), so rows from
different runs never mix.

A simulator or paper run starts a fresh wallet every time, so each start is a new run. A live
venue's account carries on across restarts: a start naming the same account (mode, venue and
a fingerprint of its key) resumes that account's run instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    """``account`` is empty for a wallet that starts afresh with the run (simulator, paper,
    backtest); for a live venue it is a fingerprint of the key (never the key)."""

    mode: str = "unspecified"  # sim | paper | live | backtest | unspecified (a writer opened by a tool)
    venue: str = ""
    account: str = ""
    settings_hash: str = ""
    data_from_ms: int | None = None
    data_to_ms: int | None = None
    symbols: tuple[str, ...] = ()
    started_ms: int | None = None  # wall clock, UTC ms


def fingerprint(text: str, length: int = 16) -> str:
    """A short, one-way name for a value (a settings document, an API key)."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def settings_hash(settings: Any) -> str:
    """The same settings give the same hash on every machine (canonical JSON)."""
    return fingerprint(json.dumps(msgspec.to_builtins(settings), sort_keys=True, default=str))


def begin_run(db: Any, info: RunInfo, seq: int) -> tuple[int, dict[str, Any]]:
    """(the run id the writer's rows will carry, the ``runs`` row that records this start)."""
    run_id = None
    if info.account:
        found = db.execute(
            "SELECT run_id FROM runs WHERE mode = ? AND venue = ? AND account = ? ORDER BY seq DESC LIMIT 1",
            [info.mode, info.venue, info.account],
        ).fetchone()
        run_id = found[0] if found else None
    kind = "resume" if run_id is not None else "start"
    if run_id is None:
        run_id = db.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchone()[0]
    row = {
        "seq": seq, "tick_ms": None, "ts_ms": info.started_ms, "run_id": run_id, "kind": kind,
        "mode": info.mode, "venue": info.venue, "account": info.account, "settings_hash": info.settings_hash,
        "data_from_ms": info.data_from_ms, "data_to_ms": info.data_to_ms, "symbols": ",".join(info.symbols),
    }
    return run_id, row
