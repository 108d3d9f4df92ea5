"""Fixtures for the state tests: a fresh SQLite store in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer import state


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syncer-state.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[state.Store]:
    s = state.open_store(store_path)
    yield s
    s.close()
