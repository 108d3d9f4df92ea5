"""Sources: turn a Git repository or a Helm chart into an immutable snapshot directory.

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
    charts = source.ChartSources(source.ChartSettings(cache_dir=...), sources=...)
    revision = charts.poll(chart_source)            # commit is VERSION@sha256:DIGEST
"""

from __future__ import annotations

from syncer.source.charts import ChartSources
from syncer.source.charts import Settings as ChartSettings
from syncer.source.errors import (
    ChartAuthError,
    ChartInvalidError,
    ChartUnavailableError,
    GitAuthError,
    GitBinaryMissingError,
    GitUnavailableError,
    RefNotFoundError,
    SourceError,
)
from syncer.source.sources import GitSources, Result, Revision, Settings

__all__ = [
    "ChartAuthError",
    "ChartInvalidError",
    "ChartSettings",
    "ChartSources",
    "ChartUnavailableError",
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
