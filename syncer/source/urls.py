"""Repository URLs: the cache key of a repository, and how it is shown to users.

``syncer.source.sources`` keys its caches by ``normalize(url)``: local paths (relative
ones against the config file's directory) become absolute, so two spellings of one
repository share a cache. ``display`` strips any user:password a URL might carry, for
logs, metrics and errors. ``repo_key`` compares URLs loosely (``syncer.controller``
matches webhooks to sources with it); ``repo_path`` is the OWNER/REPO part
(``syncer.notify`` sets commit statuses there).
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


def repo_key(url: str) -> str:
    """A webhook's repository URL compared loosely: host lowercased, no scheme, user,
    ``.git`` suffix or trailing slash (``git@host:team/x.git`` == ``https://host/team/x``)."""
    text = url.strip()
    scp = re.match(r"^[^/@:]+@([^/:]+):(?!//)(.*)$", text)
    if scp:
        host, path = scp.group(1), scp.group(2)
    else:
        text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", text)
        text = re.sub(r"^[^/@]+@", "", text)
        host, _, path = text.partition("/")
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host.lower()}/{path}"


def repo_path(url: str) -> str:
    """``team/deploy`` of ``https://git.example.com/team/deploy.git`` (or of
    ``git@host:team/deploy.git``): the repository's path on its server."""
    return repo_key(url).partition("/")[2]
