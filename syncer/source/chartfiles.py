"""Chart repository files read with care: ``index.yaml`` and chart archives.

``syncer.source.charts`` hands every downloaded ``index.yaml`` to ``parse_index`` and
every chart archive (``.tgz``) to ``unpack``; both come from servers syncer does not
control, so an index with YAML aliases (helm never writes them; they can expand
without bound) or that is not a repository index, and an archive with links, absolute
or ``..`` paths, more files or bytes than allowed, or no ``Chart.yaml`` is refused with
a sentence naming the repository. Unpacked charts are kept under
``<cache>/charts/<hex digest>/`` and never change once written; ``prune`` drops the
ones not used for a while.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

from syncer.source import errors

MAX_FILES = 10_000
"""Files in one chart archive at most (the largest public charts have a few hundred)."""

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml when present: a large public index (tens of MiB) parses in seconds, not minutes."""


def parse_index(raw: bytes, *, where: str) -> dict[str, Any]:
    """A repository index: ``{"entries": {chart: [{version, urls, digest}...]}}``."""
    try:
        for event in yaml.parse(io.BytesIO(raw), Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent):
                raise errors.ChartInvalidError(
                    f"{where}: uses YAML aliases, which a chart repository index never has "
                    "(they can expand without bound); refusing it"
                )
        data = yaml.load(io.BytesIO(raw), Loader=_LOADER)  # a safe loader
    except yaml.YAMLError as err:
        raise errors.ChartInvalidError(f"{where}: not valid YAML ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise errors.ChartInvalidError(
            f"{where}: not a chart repository index (no 'entries' mapping); is the URL the "
            "repository's, the directory holding index.yaml?"
        )
    return data


def cached(*, root: Path, digest: str) -> Path | None:
    """The unpacked chart of archive ``digest``, when it is in the cache."""
    directory = root / digest.partition(":")[2]
    if not directory.is_dir():
        return None
    found = [p for p in directory.iterdir() if (p / "Chart.yaml").is_file()]
    if len(found) != 1:
        return None
    os.utime(directory)  # recently used: ``prune`` keeps it
    return found[0]


def prune(*, root: Path, keep: set[str], keep_recent: int) -> list[str]:
    """Delete unpacked charts except the digests in ``keep`` (``sha256:HEX``) and the
    ``keep_recent`` used last; returns the digests deleted."""
    if not root.is_dir():
        return []
    entries = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = []
    for entry in entries[keep_recent:]:
        if f"sha256:{entry.name}" not in keep:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(f"sha256:{entry.name}")
    return removed


def unpack(raw: bytes, *, root: Path, digest: str, max_size: int, where: str) -> Path:
    """Unpack a chart archive under ``root/<hex>/`` (atomically) and return its chart
    directory; ``max_size`` bounds the bytes unpacked."""
    found = cached(root=root, digest=digest)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=root))
    try:
        top = _extract(raw, into=staging, max_size=max_size, where=where)
        target = root / digest.partition(":")[2]
        try:
            os.rename(staging, target)
        except OSError:
            if cached(root=root, digest=digest) is None:  # not another process's copy
                raise
        return target / top
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(raw: bytes, *, into: Path, max_size: int, where: str) -> str:
    total = 0
    tops: set[str] = set()
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as archive:
            members = []
            for number, member in enumerate(archive):
                if number >= MAX_FILES:
                    raise errors.ChartInvalidError(
                        f"{where}: the archive has more than {MAX_FILES} files; refusing it"
                    )
                name = posixpath.normpath(member.name)
                if member.issym() or member.islnk() or not (member.isfile() or member.isdir()):
                    raise errors.ChartInvalidError(
                        f"{where}: the archive holds {member.name!r}, which is not a plain "
                        "file or directory (links are refused)"
                    )
                if name.startswith(("/", "..")) or "/../" in f"/{name}/":
                    raise errors.ChartInvalidError(
                        f"{where}: the archive path {member.name!r} leaves the chart; refusing it"
                    )
                total += member.size
                if total > max_size:
                    raise errors.ChartInvalidError(
                        f"{where}: the archive unpacks to more than {max_size} bytes "
                        "(8 times maxChartSize); refusing it"
                    )
                tops.add(name.split("/", 1)[0])
                members.append(member)
            archive.extractall(into, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise errors.ChartInvalidError(f"{where}: not a readable chart archive ({err})") from err
    if len(tops) != 1 or not (into / next(iter(tops)) / "Chart.yaml").is_file():
        raise errors.ChartInvalidError(
            f"{where}: the archive is not one chart directory with a Chart.yaml"
        )
    return next(iter(tops))
