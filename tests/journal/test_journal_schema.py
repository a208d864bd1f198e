"""The journal schema: append-only enforced by SQLite itself, WAL, forward migrations."""

import sqlite3

import pytest
import sqlite_utils

from journal import schema
from journal.schema import JOURNAL_TABLES, LATEST_VERSION, JournalVersionError, columns, migrate, open_journal, schema_version
from journal.writer import JournalWriter
from tests.journal import samples as s


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "j.sqlite"
    writer = JournalWriter(path)
    writer.append_now(s.one_of_each())
    writer.close()
    return path


def test_open_journal_creates_missing_directories_and_every_table(tmp_path):
    path = tmp_path / "var" / "deep" / "journal.sqlite"
    db = open_journal(path)
    assert path.exists()
    assert set(JOURNAL_TABLES) <= set(db.table_names())
    assert schema_version(db) == LATEST_VERSION
    db.close()


def test_journal_runs_in_wal_mode_with_full_sync(tmp_path):
    db = open_journal(tmp_path / "j.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    db.close()


@pytest.mark.parametrize("table", JOURNAL_TABLES)
def test_update_is_refused_by_the_database(journal, table):
    conn = sqlite3.connect(journal)
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] >= 1
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"UPDATE {table} SET tick_ms = 0")
    assert conn.execute(f"SELECT count(*) FROM {table} WHERE tick_ms = 0").fetchone()[0] == 0


@pytest.mark.parametrize("table", JOURNAL_TABLES)
def test_delete_is_refused_by_the_database(journal, table):
    conn = sqlite3.connect(journal)
    before = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"DELETE FROM {table}")
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == before


def test_insert_or_replace_cannot_rewrite_a_row_through_the_journal_connection(journal):
    db = open_journal(journal)
    seq, symbol = db.execute("SELECT seq, symbol FROM decisions").fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("INSERT OR REPLACE INTO decisions (seq, symbol, kind, reasons) VALUES (?, 'XRPUSDT', 'TAKE', '[]')", [seq])
    assert db.execute("SELECT symbol FROM decisions WHERE seq = ?", [seq]).fetchone()[0] == symbol
    db.close()


def test_schema_version_history_is_append_only_too(journal):
    conn = sqlite3.connect(journal)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM schema_version")


def test_migration_from_an_empty_file_records_every_version(tmp_path):
    db = open_journal(tmp_path / "j.sqlite")
    versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, LATEST_VERSION + 1))
    descriptions = [r[0] for r in db.execute("SELECT description FROM schema_version ORDER BY version")]
    assert descriptions == [d for d, _ in schema.MIGRATIONS]
    db.close()


def test_migration_from_earlier_versions_keeps_rows_and_adds_what_is_new(tmp_path):
    path = tmp_path / "j.sqlite"
    old = open_journal(path, target=2)  # before trade costs (v3) and runs (v4)
    assert schema_version(old) == 2
    old.execute("INSERT INTO decisions (seq, tick_ms, ts_ms, symbol, kind, reasons) VALUES (7, 1, 1, 'BTCUSDT', 'NO_SETUP', '[]')")
    trade_columns_before = set(old["trades"].columns_dict)
    indexes_before = {i.name for i in old["decisions"].indexes}
    old.close()

    db = open_journal(path)
    assert schema_version(db) == LATEST_VERSION
    assert db.execute("SELECT seq, symbol FROM decisions").fetchall() == [(7, "BTCUSDT")]
    assert set(db["trades"].columns_dict) - trade_columns_before == {"gross_usdt", "slippage_usdt", "funding_usdt", "stop_price", "run_id"}
    assert list(db["trades"].columns_dict) == list(columns("trades")), "the writer's column order"
    assert {i.name for i in db["decisions"].indexes} > indexes_before
    assert db.execute("SELECT run_id, kind, seq FROM runs").fetchall() == [(0, "legacy", 8)]  # names the old rows
    db.close()
    writer = JournalWriter(path)
    writer.append_now([s.decision()])
    assert writer.last_seq == 10  # after the legacy run (8) and this writer's run (9)
    assert writer.run_id == 1
    writer.close()


def test_reopening_a_current_journal_migrates_nothing(tmp_path):
    path = tmp_path / "j.sqlite"
    open_journal(path).close()
    db = open_journal(path)
    assert db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == LATEST_VERSION
    db.close()


def test_a_journal_from_a_newer_smtbot_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    db = open_journal(path)
    db["schema_version"].insert({"version": LATEST_VERSION + 1, "description": "from the future"})
    db.close()
    with pytest.raises(JournalVersionError, match=f"version {LATEST_VERSION + 1}"):
        open_journal(path)


def test_a_failing_migration_leaves_the_journal_at_its_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite"
    open_journal(path, target=1).close()

    def broken(db):
        db["decisions"].create_index(["tick_ms"])
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(schema, "MIGRATIONS", (schema.MIGRATIONS[0], ("broken", broken)))
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    with pytest.raises(RuntimeError, match="disk on fire"):
        migrate(db, target=2)
    assert schema_version(db) == 1
    assert "idx_decisions_tick_ms" not in {i.name for i in db["decisions"].indexes}
