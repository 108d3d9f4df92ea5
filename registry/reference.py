"""Image references, parsed and normalised the way docker and containerd do.

Everything that names an image goes through ``parse()`` (a full reference, with tag or
digest) or ``parse_repository()`` (a repository only) before it reaches the client:
``nginx`` → ``docker.io/library/nginx:latest``; the first path component is a registry
host when it contains a ``.`` or ``:`` or is ``localhost`` (so ``127.0.0.1:5000/team/web``
and ``[::1]:5000/x`` name their own registries); ``index.docker.io`` is ``docker.io``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry import errors

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
"""The OCI distribution-spec tag grammar (use ``fullmatch``): ASCII only, 1-128 characters."""
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*")
DIGEST_HEX = {"sha256": 64, "sha512": 128}
"""The digest algorithms of the OCI image spec and the lowercase hex digits each has."""
_HOST = re.compile(
    r"^(?:\[[0-9a-fA-F:.%]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?$"
)
_MAX_NAME = 255


@dataclass(frozen=True)
class Reference:
    """A normalised image reference."""

    domain: str
    """Registry host[:port] as written by users (``docker.io`` for Docker Hub)."""
    path: str
    """Repository path inside the registry, e.g. ``library/nginx``."""
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        """``domain/path``, e.g. ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """Where the Distribution API lives (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, "")

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _split(text: str) -> tuple[str, str, str, str]:
    """(domain, path, tag, digest) without defaults; raises on malformed input."""
    if not text or text != text.strip():
        raise errors.InvalidReferenceError(
            f"invalid image reference {text!r}: it is empty or has surrounding spaces"
        )
    rest, digest = text, ""
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        problem = digest_problem(digest)
        if problem:
            raise errors.InvalidReferenceError(f"invalid image reference {text!r}: {problem}")
    domain = ""
    first, sep, remainder = rest.partition("/")
    if sep and _is_host(first):
        domain, rest = first, remainder
        if not _HOST.match(domain):
            raise errors.InvalidReferenceError(
                f"invalid image reference {text!r}: {domain!r} is not a valid registry host"
            )
    tag = ""
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not is_tag(tag):
            raise errors.InvalidReferenceError(
                f"invalid image reference {text!r}: tag {tag!r} must be 1-128 characters of "
                "letters, digits, '_', '.', '-', not starting with '.' or '-'"
            )
    for component in rest.split("/"):
        if not _COMPONENT.match(component):
            hint = " (repository names are lowercase)" if component.lower() != component else ""
            raise errors.InvalidReferenceError(
                f"invalid image reference {text!r}: path component {component!r} is not "
                f"valid{hint}; use lowercase letters, digits and single separators . _ -"
            )
    if len(rest) + len(domain) + 1 > _MAX_NAME:
        raise errors.InvalidReferenceError(
            f"invalid image reference {text!r}: the name is longer than {_MAX_NAME} characters"
        )
    return domain, rest, tag, digest


def _normalise(domain: str, path: str) -> tuple[str, str]:
    if not domain or domain.lower() in _HUB_ALIASES:
        domain = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    return domain, path


def parse(text: str) -> Reference:
    """A full reference; ``latest`` is the tag when neither tag nor digest is given."""
    domain, path, tag, digest = _split(text)
    domain, path = _normalise(domain, path)
    if not tag and not digest:
        tag = "latest"
    return Reference(domain, path, tag, digest)


def parse_repository(text: str) -> Reference:
    """A repository without tag or digest, e.g. ``127.0.0.1:5000/team/web``."""
    domain, path, tag, digest = _split(text)
    if tag or digest:
        raise errors.InvalidReferenceError(
            f"invalid repository {text!r}: give the repository without ':tag' or '@digest' "
            "(the policy chooses the tag)"
        )
    domain, path = _normalise(domain, path)
    return Reference(domain, path)


def is_tag(text: object) -> bool:
    """Whether ``text`` is a tag by the OCI grammar ``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``."""
    return isinstance(text, str) and TAG.fullmatch(text) is not None


def digest_problem(text: object) -> str:
    """Why ``text`` is not a usable digest (``algorithm:hex``), or "" when it is one.

    Only the OCI image spec's algorithms are accepted (sha256: 64, sha512: 128 lowercase
    hex digits): a digest we cannot verify could name any content.
    """
    if not isinstance(text, str):
        return f"digest {text!r} is not a string"
    shown = text if len(text) <= 80 else text[:80] + "…"
    algorithm, sep, encoded = text.partition(":")
    if not sep or not _ALGORITHM.fullmatch(algorithm):
        return f"digest {shown!r} is not ALGORITHM:HEX (e.g. sha256:<64 hex digits>)"
    length = DIGEST_HEX.get(algorithm)
    if length is None:
        return f"digest {shown!r} uses algorithm {algorithm!r}; expected {' or '.join(DIGEST_HEX)}"
    if len(encoded) != length or not re.fullmatch(r"[0-9a-f]+", encoded):
        return (
            f"digest {shown!r} is not ALGORITHM:HEX: a {algorithm} digest has {length} "
            "lowercase hex digits"
        )
    return ""


def is_loopback(host: str) -> bool:
    """True for localhost / 127.x / ::1 (with or without a port): plain HTTP is allowed."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return name in ("localhost", "::1") or name.startswith("127.")
