"""Durable state: releases, rollouts, history, inventories, last-seen tags and heads.

``open_store(path)`` gives the default SQLite ``Store`` (see ``syncer.state.store``
for the interface, ``syncer.state.records`` for what it returns). The controller,
``syncer.reconcile`` and the CLI all go through it; nothing else touches the file.
"""

from __future__ import annotations

from pathlib import Path

from syncer.state import lock, records, sqlite, store
from syncer.state.store import Store

__all__ = ["Store", "open_store", "records", "state_path", "store"]


def state_path(*, base_dir: str, path: str) -> Path:
    """The state file of a config: ``state.path`` relative to the config's directory."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def open_store(path: str | Path) -> Store:
    """Open (creating and migrating as needed) the SQLite store at ``path``."""
    return sqlite.SqliteStore(path)


def lock_for(*, base_dir: str, path: str) -> lock.StateLock:
    """The (not yet taken) writer lock of the state file ``state.path`` of a config."""
    return lock.StateLock(state_path(base_dir=base_dir, path=path))
