"""Chart dependencies that are not vendored: fetched as ``helm dependency build`` would.

``syncer.render.helm`` calls ``resolve`` before ``helm template`` (which refuses a chart
whose ``Chart.yaml`` lists a dependency missing from ``charts/``). Each missing
dependency is fetched through ``fetch`` (``syncer.source.charts.ChartSources.fetch``:
https:// index repositories and oci:// registries, with the credentials of a
configured chart source on the same URL, or of the registry; cached by digest) at the
version ``Chart.lock`` pins, else the newest in its ``Chart.yaml`` range; ``file://``
dependencies are copied from the repository (never from outside it). The chart is then
rendered from a temporary copy holding them in ``charts/``; a dependency that cannot
be had is an error naming it and its repository.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from syncer import errors as syncer_errors
from syncer.render import errors, paths

Fetch = Callable[..., Path]
"""``fetch(url=, chart=, version=, what=) -> chart directory``."""

MAX_DEPTH = 5
"""Levels of dependencies of dependencies resolved (real charts have one or two)."""


def missing(chart: Path) -> list[dict[str, Any]]:
    """The dependencies ``Chart.yaml`` lists that ``charts/`` lacks (by name)."""
    declared = _read(chart / "Chart.yaml").get("dependencies") or []
    if not isinstance(declared, list):
        return []
    have = _vendored(chart / "charts")
    return [
        d
        for d in declared
        if isinstance(d, dict) and not any(_names(str(d.get("name", "")), h) for h in have)
    ]


def _names(name: str, entry: str) -> bool:
    """Whether a ``charts/`` entry (a chart's name, or an archive's file name) is the
    chart ``name``: ``redis``, or ``redis-17.3.1.tgz``."""
    if entry == name:
        return True
    rest = entry[len(name) + 1 :] if entry.startswith(name + "-") else ""
    return entry.endswith(".tgz") and rest[:1].isdigit()


def resolve(*, root: Path, chart: Path, into: Path, fetch: Fetch | None, what: str) -> Path:
    """A copy of ``chart`` under ``into`` with every dependency in ``charts/``."""
    copy = into / chart.name
    shutil.copytree(chart, copy, symlinks=False)
    _fill(root=root, chart=copy, source=chart, fetch=fetch, what=what, depth=0)
    return copy


def _fill(
    *, root: Path, chart: Path, source: Path, fetch: Fetch | None, what: str, depth: int
) -> None:
    needed = missing(chart)
    if not needed:
        return
    if depth >= MAX_DEPTH:
        raise errors.RenderError(f"{what}: chart dependencies nest deeper than {MAX_DEPTH}")
    locked = {
        (str(d.get("name")), str(d.get("repository", ""))): str(d.get("version", ""))
        for d in (_read(chart / "Chart.lock").get("dependencies") or [])
        if isinstance(d, dict)
    }
    (chart / "charts").mkdir(exist_ok=True)
    for dep in needed:
        name, repository = str(dep.get("name", "")), str(dep.get("repository", "") or "")
        version = locked.get((name, repository)) or str(dep.get("version", "") or "")
        shown = f"{what}: chart dependency {name!r} ({repository or 'no repository'})"
        if not name or "/" in name or name.startswith("."):
            raise errors.RenderError(f"{shown}: invalid dependency name")
        if repository.startswith("file://"):
            found = (source / repository[len("file://") :]).resolve()
            paths.check_inside(root=root, path=found, shown=repository, what=shown)
            if not (found / "Chart.yaml").is_file():
                raise errors.RenderError(f"{shown}: no Chart.yaml at {repository}")
        elif repository.startswith(("https://", "http://", "oci://")):
            if fetch is None:
                raise errors.RenderError(
                    f"{shown}: not vendored in charts/ and cannot be fetched here; run "
                    "`helm dependency build` and commit charts/, or sync from the controller"
                )
            try:
                found = fetch(url=repository, chart=name, version=version, what=what)
            except syncer_errors.SyncerError as err:
                raise errors.RenderError(f"{shown}: cannot be fetched: {err}") from err
        elif repository.startswith(("@", "alias:")):
            raise errors.RenderError(
                f"{shown}: names a repository added with `helm repo add`, which syncer "
                "does not have; write the repository's URL instead"
            )
        else:
            raise errors.RenderError(
                f"{shown}: not vendored in charts/ and has no https://, oci:// or file:// "
                "repository to fetch it from"
            )
        target = chart / "charts" / name
        shutil.copytree(found, target, symlinks=False)
        _fill(root=root, chart=target, source=found, fetch=fetch, what=what, depth=depth + 1)


def _vendored(directory: Path) -> set[str]:
    """What ``charts/`` holds: the names of chart directories, and archives' file names."""
    if not directory.is_dir():
        return set()
    names = set()
    for entry in directory.iterdir():
        if entry.is_dir() and (entry / "Chart.yaml").is_file():
            names.add(str(_read(entry / "Chart.yaml").get("name") or entry.name))
        elif entry.suffix == ".tgz":
            names.add(entry.name)
    return names


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}  # helm reports a broken Chart.yaml in its own words
    return data if isinstance(data, dict) else {}
