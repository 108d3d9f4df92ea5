"""Repository URLs: the cache key of a repository, and how it is shown to users.

``syncer.source.sources`` keys its caches by ``normalize(url)``: local paths (relative
ones against the config file's directory) become absolute, so two spellings of one
repository share a cache. ``display`` strips any user:password a URL might carry, for
logs, metrics and errors.
"""

from __future__ import annotations

import re
from pathlib import Path

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_SCP_LIKE = re.compile(r"^[^/:@]+@[^/:]+:|^[a-zA-Z0-9.-]+\.[a-zA-Z]+:[^/]")


def is_local(url: str) -> bool:
    return not _SCHEME.match(url) and not _SCP_LIKE.match(url)


def normalize(url: str, *, base_dir: Path) -> str:
    """The URL git is given: local paths absolute, a trailing slash dropped."""
    url = url.strip()
    if url.startswith("file://"):
        path = url[len("file://") :]
        return "file://" + str((base_dir / path).resolve() if not path.startswith("/") else path)
    if is_local(url):
        return str((base_dir / Path(url).expanduser()).resolve())
    return url.rstrip("/")


def display(url: str) -> str:
    """``url`` without credentials (``https://***@host/...``)."""
    return re.sub(r"^(\w[\w+.-]*://)[^/@]+@", r"\1***@", url.strip())
