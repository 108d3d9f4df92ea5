"""Git sources: turn a repository into an immutable snapshot at a known commit.

The first step of the data flow (see DESIGN.md): the scheduler and ``syncer render`` poll
sources here; ``syncer.render`` reads the snapshot directories. GitPython is used only
inside this package (``gitcli``), and its errors never leave it.

Public API::

    sources = source.GitSources(source.Settings(cache_dir=..., base_dir=config.base_dir))
    revision = sources.poll(config_source)          # -> Revision (raises on failure)
    results = sources.poll_all(config.sources)      # -> {name: Revision | SyncerError}
    sources.current(name)                           # last good Revision, or None
    sources.checkout(config_source, sha)            # a snapshot of one commit
    sources.counts()                                # {"ls-remote": n, "fetch": n}
    sources.cleanup()                               # drop old snapshots (also automatic)
"""

from __future__ import annotations

from syncer.source.errors import (
    GitAuthError,
    GitBinaryMissingError,
    GitUnavailableError,
    RefNotFoundError,
    SourceError,
)
from syncer.source.sources import GitSources, Result, Revision, Settings

__all__ = [
    "GitAuthError",
    "GitBinaryMissingError",
    "GitSources",
    "GitUnavailableError",
    "RefNotFoundError",
    "Result",
    "Revision",
    "Settings",
    "SourceError",
]
