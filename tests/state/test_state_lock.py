"""The state file's writer lock: a second holder is refused, naming the first one's pid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncer import state
from syncer.state import lock


def test_second_holder_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    first = state.lock_for(base_dir=str(tmp_path), path="state/syncer.db")
    second = state.lock_for(base_dir=str(tmp_path), path="state/syncer.db")
    first.acquire()
    assert (tmp_path / "state" / "syncer.db.lock").read_text().strip() == str(os.getpid())
    with pytest.raises(lock.StateLockedError) as refused:
        second.acquire()
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message and "syncer.db" in message
    first.release()
    second.acquire(wait=1.0)
    assert second.held
    second.release()


def test_the_lock_is_not_the_state_file(tmp_path: Path) -> None:
    with state.lock_for(base_dir=str(tmp_path), path="s.db"):
        assert not (tmp_path / "s.db").exists()
