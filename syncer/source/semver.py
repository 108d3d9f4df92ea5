"""Semantic versions and ranges, for a source that follows "the highest tag in a range".

``syncer.source.refs`` calls ``highest(tags, range)`` with the tags ``ls-remote`` listed.
Ranges follow the npm/Cargo conventions users already write: ``^1.2``, ``~1.2.3``,
``>=1.0 <2``, ``1.x``, ``*``, ``1.2.3 - 1.4``, and ``||`` between alternatives. Tags may
carry a leading ``v``. Pre-releases match only when a comparator names a pre-release of
the same major.minor.patch (so ``^1.2`` never jumps to ``1.3.0-rc.1``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_VERSION = re.compile(
    r"^[vV]?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_PARTIAL = re.compile(
    r"^[vV]?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_OPERATOR = re.compile(r"^(\^|~>?|>=|<=|>|<|=)?\s*(.*)$")


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after all its pre-releases; numeric identifiers sort before
        # alphanumeric ones and compare as numbers (semver.org section 11).
        if not self.pre:
            return (self.major, self.minor, self.patch, ((2, 0, ""),))
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, ids)

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)


def parse_version(text: str) -> Version | None:
    """The version a tag names (``v1.2.3``, ``1.2.3-rc.1``), or None when it is not one."""
    match = _VERSION.match(text.strip())
    if not match:
        return None
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    return Version(int(match["major"]), int(match["minor"]), int(match["patch"]), pre)


Comparator = tuple[str, Version]

_FLOOR = ("0",)
"""The lowest pre-release: ``<2.0.0-0`` excludes 2.0.0's pre-releases as well."""


@dataclass(frozen=True)
class Range:
    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    def matches(self, version: Version) -> bool:
        return any(_satisfies(version, comps) for comps in self.alternatives)


def parse_range(text: str) -> Range:
    """Parse a range; raise ``ValueError`` naming the bad part and showing valid forms."""
    alternatives = []
    for alternative in text.split("||"):
        alternatives.append(tuple(_parse_set(alternative.strip(), whole=text)))
    return Range(text=text, alternatives=tuple(alternatives))


def highest(tags: Iterable[str], range_: Range) -> str | None:
    """The tag with the highest version inside ``range_``; None when no tag matches."""
    best: tuple[Version, str] | None = None
    for tag in tags:
        version = parse_version(tag)
        if version is None or not range_.matches(version):
            continue
        if best is None or version.key > best[0].key:
            best = (version, tag)
    return best[1] if best else None


def _satisfies(version: Version, comps: tuple[Comparator, ...]) -> bool:
    for op, bound in comps:
        if not _compare(version.key, op, bound.key):
            return False
    if version.pre:
        # npm's rule: a pre-release only satisfies a set that mentions a pre-release
        # of the same release line; otherwise "^1.2" would pick "2.0.0-alpha".
        # The "-0" floors added by _desugar are not the user's pre-releases.
        return any(
            bound.pre and bound.pre != _FLOOR and bound.core == version.core for _, bound in comps
        )
    return True


def _compare(left: tuple[object, ...], op: str, right: tuple[object, ...]) -> bool:
    if op == ">=":
        return bool(left >= right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    if op == "<":
        return bool(left < right)
    return bool(left == right)


def _parse_set(text: str, *, whole: str) -> list[Comparator]:
    if not text or text in ("*", "x", "X"):
        return []
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        low, high = _partial(hyphen[1], whole=whole), _partial(hyphen[2], whole=whole)
        return _desugar(">=", low, whole=whole) + _desugar("<=", high, whole=whole)
    # Allow ">= 1.0" as well as ">=1.0".
    tokens = re.sub(r"(>=|<=|>|<|=|\^|~>?)\s+", r"\1", text).split()
    comparators: list[Comparator] = []
    for token in tokens:
        match = _OPERATOR.match(token)
        assert match is not None  # the pattern accepts any string
        op = match[1] or "="
        comparators += _desugar(op, _partial(match[2], whole=whole), whole=whole)
    return comparators


Partial = tuple[int | None, int | None, int | None, tuple[str, ...]]


def _partial(text: str, *, whole: str) -> Partial:
    match = _PARTIAL.match(text)
    if not match:
        raise ValueError(
            f"invalid semver range {whole!r}: {text!r} is not a version; "
            "write e.g. ^1.2, ~1.2.3, >=1.0 <2, 1.x or 1.2.3"
        )

    def num(part: str | None) -> int | None:
        return None if part is None or part in ("x", "X", "*") else int(part)

    major, minor, patch = num(match["major"]), num(match["minor"]), num(match["patch"])
    if major is None:
        minor = patch = None
    elif minor is None:
        patch = None
    pre = tuple(match["pre"].split(".")) if match["pre"] and patch is not None else ()
    return (major, minor, patch, pre)


def _desugar(op: str, partial: Partial, *, whole: str) -> list[Comparator]:
    major, minor, patch, pre = partial
    if major is None:
        return [] if op in ("=", ">=", "<=", "^", "~", "~>") else [("<", Version(0, 0, 0, _FLOOR))]
    low = Version(major, minor or 0, patch or 0, pre)
    # The first version past the partial (1.2 -> 1.3.0, 1 -> 2.0.0), excluding its
    # pre-releases ("-0" is the lowest pre-release there is).
    if minor is None:
        next_up = Version(major + 1, 0, 0, _FLOOR)
    elif patch is None:
        next_up = Version(major, minor + 1, 0, _FLOOR)
    else:
        next_up = Version(major, minor, patch + 1, _FLOOR)
    exact = patch is not None
    if op == "=":
        return [("=", low)] if exact else [(">=", low), ("<", next_up)]
    if op == ">=":
        return [(">=", low)]
    if op == ">":
        return [(">", low)] if exact else [(">=", next_up)]
    if op == "<":
        return [("<", Version(low.major, low.minor, low.patch, low.pre or _FLOOR))]
    if op == "<=":
        return [("<=", low)] if exact else [("<", next_up)]
    if op in ("~", "~>"):
        upper = (
            Version(major + 1, 0, 0, _FLOOR) if minor is None
            else Version(major, minor + 1, 0, _FLOOR)
        )  # fmt: skip
        return [(">=", low), ("<", upper)]
    # "^": changes that do not modify the left-most non-zero part.
    if major > 0 or minor is None:
        upper = Version(major + 1, 0, 0, _FLOOR)
    elif minor > 0 or patch is None:
        upper = Version(0, minor + 1, 0, _FLOOR)
    else:
        upper = Version(0, 0, patch + 1, _FLOOR)
    return [(">=", low), ("<", upper)]
