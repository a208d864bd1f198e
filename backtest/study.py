"""A study's identity: what its trials were scored on, so that trials of different questions never mix.

Optuna keys a study by name in its storage. Two runs that share a name but not a question (other
symbols, other dates or data, another walk-forward plan or search space) would otherwise pool their
trials and report the mixture. The identity is stored with the study when it is created; a run that
finds the name holding another identity is refused with one line. Without ``--study`` the name is
derived from the identity, so a different question always gets a fresh study and the same question
resumes its own; ``--study NAME`` shares one study between workers on purpose, and they must agree.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

IDENTITY_ATTR = "smtbot_identity"


class StudyMismatch(Exception):
    """The study exists with another identity; the message is the one line to show."""


def identity_hash(identity: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def default_name(identity: Mapping[str, Any]) -> str:
    return f"wf-{identity_hash(identity)[:12]}"


def differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The identity's parts that differ, named as a reader knows them."""
    return [key for key in sorted(set(stored) | set(wanted)) if stored.get(key) != wanted.get(key)]


def check(study_name: str, storage: str, stored: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> None:
    """Refuse a study whose stored identity is not ``wanted`` (None: a study from before identities,
    which cannot be told apart, is refused too)."""
    if stored is None:
        raise StudyMismatch(f"study {study_name!r} in {_shown(storage)} has no recorded identity (made by an older "
                            "run.py tune): choose another --study, or leave --study out to get one named for this run")
    changed = differences(stored, wanted)
    if changed:
        raise StudyMismatch(f"study {study_name!r} in {_shown(storage)} was made for other {', '.join(changed)}: its trials "
                            "answer another question; choose another --study, or leave --study out to get one named for this run")


def _shown(storage: str) -> str:
    # A PostgreSQL URL may carry a password: show the scheme and the database only.
    scheme, _, rest = storage.partition("://")
    return f"{scheme}://…/{rest.rpartition('/')[2]}" if "@" in rest else storage


def open_storage(storage: Any, attempts: int = 5) -> Any:
    """One storage object per URL for the whole run: Optuna builds a new RDB storage (and checks
    its schema, most of a second on a loaded machine) for every URL it is handed, which a study
    loaded per trial would pay each time. It is the RDB storage behind Optuna's own trial cache
    (what Optuna wraps each URL or RDB storage in, anew each time it is handed one): a finished
    trial never changes, so the cache reads each from the database once and asks only for the
    trials still running or new, shared by every study loaded in this process. Handed the bare
    RDB storage, each load started an empty cache and read every trial of the study again, per
    trial (40 % of a tune's wall time with trials this fast)."""
    if not isinstance(storage, str):
        return storage
    cached = _STORAGES.get(storage)
    if cached is None:
        import optuna

        if storage.startswith("sqlite") and not _STORAGES:
            _sqlite_without_fsync()
        for attempt in range(attempts):
            try:
                cached = optuna.storages.get_storage(optuna.storages.RDBStorage(storage))
                break
            except Exception:  # noqa: BLE001 - workers started together race to create the tables
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        _STORAGES[storage] = cached
    return cached


def _sqlite_without_fsync() -> None:
    """SQLite study files commit without waiting for the disk (each suggested parameter is a
    commit: ~0.1 s apiece on a busy disk). A crash may lose the last trials, which are run again."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def connected(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA synchronous=OFF")

    event.listen(Engine, "connect", connected)


_STORAGES: dict[str, Any] = {}


def join(study_name: str, storage: Any, identity: Mapping[str, Any], attempts: int = 5) -> None:
    """Create the study with ``identity`` or join it if it holds the same one; else ``StudyMismatch``.
    Workers started together race to create the tables and the study row: the loser's error is
    transient, so it tries again and then joins."""
    import optuna

    shown, storage = storage, open_storage(storage)
    for attempt in range(attempts):
        try:
            study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize", load_if_exists=True)
            break
        except Exception:  # noqa: BLE001 - SQLAlchemy's DDL race errors differ by database
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    stored = study.user_attrs.get(IDENTITY_ATTR)
    if stored is None and not study.get_trials(deepcopy=False):
        study.set_user_attr(IDENTITY_ATTR, dict(identity))  # a new study: this run states its question
        stored = optuna.load_study(study_name=study_name, storage=storage).user_attrs.get(IDENTITY_ATTR)
    check(study_name, shown, stored, identity)
