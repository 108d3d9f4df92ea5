"""Which kustomization references kustomize would fetch over the network.

``syncer.render.kustomize`` asks ``reason(entry)`` for every reference of a
kustomization (resources, components, patches, generator files...) before the tool
runs; a reference kustomize would fetch is refused, because the repository must say
everything that gets deployed. kustomize loads a reference as a file first, fetching
``http(s)://`` URLs, and otherwise as a directory, cloning anything its repository-URL
parser accepts (``api/internal/git/repospec.go``, ``NewRepoSpecFromURL``), even when a
local directory of that name exists. ``is_repo_url`` follows that parser step by step.
"""

from __future__ import annotations

import posixpath
import re

_SCHEMES = ("ssh://", "https://", "http://", "file://")
_USER = re.compile(r"^([a-zA-Z][a-zA-Z0-9-]*)@")


def reason(entry: str) -> str | None:
    """Why kustomize would fetch ``entry`` from elsewhere, or None for a local path."""
    lowered = entry.lower()
    if is_repo_url(entry):
        return "a remote base (kustomize would clone it)"
    if lowered.startswith(("http://", "https://")):
        return "a remote file (kustomize would download it)"
    # Not fetched by this kustomize, but by older ones (go-getter's `git::`, `gh:`) or
    # by other tools: never a path inside a repository anyway.
    if "://" in entry or lowered.startswith(("git::", "gh:")):
        return "a URL, not a path in the repository"
    return None


def is_repo_url(raw: str) -> bool:
    """True when kustomize's ``NewRepoSpecFromURL`` accepts ``raw`` (it would clone it)."""
    if raw.startswith("/"):
        return False
    text = raw.partition("?")[0]
    split = _split_host(text)
    if split is None:
        return False
    scheme, rest = split
    return _path_parts_ok(rest, take_all=scheme == "file://")


def _trim_prefix_ignoring_case(text: str, prefix: str) -> tuple[str, bool]:
    if text[: len(prefix)].lower() == prefix:
        return text[len(prefix) :], True
    return text, False


def _split_host(text: str) -> tuple[str, str] | None:
    """(scheme, the path after the host), or None when kustomize finds no host."""
    text, _ = _trim_prefix_ignoring_case(text, "git::")
    scheme = ""
    for prefix in _SCHEMES:
        text, found = _trim_prefix_ignoring_case(text, prefix)
        if found:
            scheme = prefix
            break
    user = _USER.match(text)
    username = user.group(0) if user else ""
    text = text[len(username) :]
    github = text.lower().startswith(("github.com/", "github.com:"))
    scp_like = scheme == "" and bool(username or github)
    if scheme == "" and not scp_like:
        return None
    if scheme == "file://":
        return scheme, username + text
    separator = text.find("/")
    if scp_like:
        colon = text.find(":")
        # In scp-like URLs (user@host:org/repo) a colon before any slash ends the host.
        if separator == -1 or 0 < colon < separator:
            separator = colon
    host, rest = (text[: separator + 1], text[separator + 1 :]) if separator >= 0 else (text, "")
    if github:
        host = "github.com/"
    return (scheme, rest) if host else None


def _path_parts_ok(path: str, *, take_all: bool) -> bool:
    """kustomize's ``parsePathParts``: a repository path, then a root that stays inside it."""
    if "_git/" in path:
        index = path.index("_git/") + len("_git/")
        repo = path[:index] + path[index:].split("/")[0]
        root = "/".join(path[index:].split("/")[1:])
    elif "//" in path:
        repo, _, root = path.partition("//")
    elif ".git" in path:
        index = path.index(".git") + len(".git")
        repo, root = path[:index], path[index:]
    elif take_all:
        repo, root = path, ""
    else:
        segments = path.split("/")
        if len(segments) < 2:
            return False
        repo, root = "/".join(segments[:2]), "/".join(segments[2:])
    if not repo:
        return False
    cleaned = posixpath.normpath(root.lstrip("/") or ".")
    return cleaned.split("/")[0] != ".."
