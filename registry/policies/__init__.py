"""Tag policies: which tag of a repository should run. ``build()`` is the factory.

``registry.resolve`` uses the built policy: a ``base.TagPolicy`` (semver, alphabetical,
numerical, newest-build; optional ignore globs and regex filter) chooses among listed
tags, a ``digest.Digest`` follows one mutable tag. Every policy is validated here, when
built: an invalid one raises ``registry.errors.InvalidPolicyError`` and never silently
means "no update".
"""

from __future__ import annotations

from collections.abc import Sequence

from registry import errors
from registry.policies import (
    alphabetical,
    base,
    digest,
    ignore,
    newest_build,
    numerical,
    semver,
    tagfilter,
)

KINDS = ("semver", "alphabetical", "numerical", "digest", "newest-build")

Policy = base.TagPolicy | digest.Digest


def build(
    kind: str,
    value: str,
    *,
    pattern: str = "",
    extract: str = "",
    include_artifacts: bool = False,
    ignore_tags: Sequence[str] = (),
) -> Policy:
    """A policy from its kind and value, e.g. ``build("semver", "^1.2")``."""
    if kind not in KINDS:
        raise errors.InvalidPolicyError(
            f"unknown policy {kind!r}; expected one of: {', '.join(KINDS)}"
        )
    if extract and not pattern:
        raise errors.InvalidPolicyError("an extract template needs a filter pattern")
    if kind == "digest":
        if pattern or ignore_tags:
            raise errors.InvalidPolicyError(
                "the digest policy follows one tag; a tag filter or ignore list does not "
                "apply to it"
            )
        return digest.Digest.build(value)
    orderer: base.Orderer
    if kind == "semver":
        orderer = semver.Semver.build(value)
    elif kind == "alphabetical":
        orderer = alphabetical.Alphabetical.build(value)
    elif kind == "newest-build":
        orderer = newest_build.NewestBuild.build(value)
    else:
        orderer = numerical.Numerical.build(value)
    tag_filter = tagfilter.TagFilter.build(pattern, extract) if pattern else None
    ignored = ignore.TagIgnore.build(ignore_tags) if ignore_tags else None
    return base.TagPolicy(orderer, tag_filter, include_artifacts, ignored)


def parse(
    spec: str, *, pattern: str = "", extract: str = "", ignore_tags: Sequence[str] = ()
) -> Policy:
    """A policy from ``KIND:VALUE`` (``semver:^1.2``, ``numerical:asc``, ``digest:latest``,
    ``newest-build`` or ``newest-build:linux/arm64``)."""
    kind, sep, value = (spec or "").partition(":")
    if not sep and kind.strip() != "newest-build":
        raise errors.InvalidPolicyError(
            f"policy {spec!r} must be KIND:VALUE, e.g. semver:^1.2, alphabetical:asc, "
            "numerical:desc, digest:latest or newest-build"
        )
    return build(
        kind.strip(), value.strip(), pattern=pattern, extract=extract, ignore_tags=ignore_tags
    )
