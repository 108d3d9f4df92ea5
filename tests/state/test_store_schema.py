"""The schema is versioned: old files are migrated in place, newer or broken ones refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncer import errors, state
from syncer.state import schema


def version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_new_file_is_at_current_version_in_wal_mode(store_path: Path) -> None:
    state.open_store(store_path).close()
    assert version(store_path) == schema.VERSION
    with sqlite3.connect(store_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_version_1_file_is_migrated_keeping_its_data(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    db = sqlite3.connect(store_path)
    db.executescript(schema.MIGRATIONS[0])
    db.execute("INSERT INTO history (app, at, kind, message) VALUES ('web', 1, 'error', 'old')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    s = state.open_store(store_path)
    try:
        assert [e.message for e in s.history("web")] == ["old"]
        s.reject(app="web", release_id="r", reason="x")  # table from migration 2
    finally:
        s.close()
    assert version(store_path) == schema.VERSION


def test_file_from_a_newer_syncer_is_refused(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    with sqlite3.connect(store_path) as db:
        db.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    with pytest.raises(errors.PermanentError, match="upgrade syncer"):
        state.open_store(store_path)


def test_not_a_database_is_a_clear_error(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(errors.PermanentError, match="move it away"):
        state.open_store(store_path)


def test_state_path_is_relative_to_the_config(tmp_path: Path) -> None:
    assert state.state_path(base_dir=str(tmp_path), path="s.db") == tmp_path / "s.db"
    assert state.state_path(base_dir=str(tmp_path), path="/x/s.db") == Path("/x/s.db")
