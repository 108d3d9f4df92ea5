"""Semantic versions and ranges (``^1.2``, ``~1.2.3``, ``1.x``, ``>=1.0 <2.0``, ``||``,
``1.2 - 1.4``), with node-semver's meaning; used by the semver tag policy.

``parse_range()`` validates when the policy is built and raises ``InvalidPolicyError``
naming the bad part. Tags are read leniently, like Flux: a leading ``v``, and ``1`` or
``1.2`` count as ``1.0.0`` / ``1.2.0``. A pre-release satisfies a range only when one of
its comparators names a pre-release of the same ``major.minor.patch`` (``>=1.3.0-rc.1``).
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from registry import errors

_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(
    r"^[vV]?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    rf"(?:-({_IDENT}))?(?:\+({_IDENT}))?$"
)
_PARTIAL = re.compile(
    r"^[vV]?(0|[1-9]\d*|[xX*])(?:\.(0|[1-9]\d*|[xX*]))?(?:\.(0|[1-9]\d*|[xX*]))?"
    rf"(?:-({_IDENT}))?(?:\+({_IDENT}))?$"
)
_OPERATOR = re.compile(r"^(>=|<=|!=|>|<|==|=|~>|~|\^)?(.*)$")
_HYPHEN = re.compile(r"^\s*(\S+)\s+-\s+(\S+)\s*$")
EXAMPLES = "e.g. ^1.2, ~1.2.3, 1.x, >=1.0 <2.0, 1.2 - 1.4, ^1.0 || ^2.0, ^1 !=1.3.0"

PreKey = tuple[tuple[int, int, str], ...]


def _pre_key(pre: tuple[str, ...]) -> PreKey:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre)


@dataclass(frozen=True, order=False)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = ""
    parts: int = 3
    """How many numeric parts the tag spelled out (``1.2`` has 2)."""
    key: tuple[int, int, int, int, PreKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Releases sort above their pre-releases: flag 1 for a release, 0 for a pre-release.
        key = (self.major, self.minor, self.patch, 0 if self.pre else 1, _pre_key(self.pre))
        object.__setattr__(self, "key", key)

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        return text + (f"+{self.build}" if self.build else "")


@functools.lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """A version from a tag, or None when the tag is not one.

    ``_`` stands for ``+`` (tags cannot hold ``+``; Helm and Flux write build metadata so).
    Cached: the same tags come back on every poll of a repository.
    """
    if not text or not (text[0].isdigit() or text[0] in "vV"):
        return None  # most junk tags (latest, main-…, sha256-…) end here, cheaply
    match = _VERSION.match(text)
    if match is None and "_" in text and "+" not in text:
        match = _VERSION.match(text.replace("_", "+", 1))
    if match is None:
        return None
    major, minor, patch, pre, build = match.groups()
    return Version(
        int(major),
        int(minor or 0),
        int(patch or 0),
        tuple(pre.split(".")) if pre else (),
        build or "",
        parts=1 + (minor is not None) + (patch is not None),
    )


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Comparator:
    op: str
    """One of ``<``, ``<=``, ``>``, ``>=``, ``=``."""
    version: Version

    upper: Version | None = None
    """For ``!=`` over a partial version (``!=1.2``): the end of the excluded span."""

    def test(self, version: Version) -> bool:
        if self.upper is not None:
            return not self.version.key <= version.key < self.upper.key
        return _OPS[self.op](version.key, self.version.key)


@dataclass(frozen=True)
class ComparatorSet:
    """Comparators that must all hold (one ``||`` alternative)."""

    comparators: tuple[Comparator, ...]
    named_pre: frozenset[tuple[int, int, int]]
    """major.minor.patch triples for which the user wrote a pre-release."""

    def within(self, version: Version) -> bool:
        """Inside the bounds, whatever the pre-release rule says."""
        key = version.key
        for comparator in self.comparators:
            if comparator.upper is not None:
                if not comparator.test(version):
                    return False
            elif not _OPS[comparator.op](key, comparator.version.key):
                return False
        return True

    def test(self, version: Version) -> bool:
        if not self.within(version):
            return False
        return not version.pre or version.triple in self.named_pre


@dataclass(frozen=True)
class Range:
    text: str
    alternatives: tuple[ComparatorSet, ...]

    def test(self, version: Version) -> bool:
        return any(alt.test(version) for alt in self.alternatives)

    def within(self, version: Version) -> bool:
        return any(alt.within(version) for alt in self.alternatives)

    def __str__(self) -> str:
        return self.text


def _floor(major: int, minor: int = 0, patch: int = 0) -> Version:
    """The lowest version of ``major.minor.patch``, below all its pre-releases."""
    return Version(major, minor, patch, ("0",))


def _start(major: int, minor: int, patch: int, pre: tuple[str, ...]) -> Version:
    """Where a range from ``major.minor.patch[-pre]`` starts: that pre-release when one is
    written, else below all of the version's pre-releases."""
    return Version(major, minor, patch, pre) if pre else _floor(major, minor, patch)


_ANY = (Comparator(">=", Version(0, 0, 0, ("0",))),)


def _desugar(op: str, text: str, *, whole: str) -> tuple[tuple[Comparator, ...], bool]:
    """Comparators for one ``OP PARTIAL``, and whether it names a pre-release."""
    match = _PARTIAL.match(text)
    if match is None:
        raise errors.InvalidPolicyError(
            f"invalid semver range {whole!r}: {text!r} is not a version ({EXAMPLES})"
        )
    raw = match.groups()[:3]
    nums = [None if p is None or p in "xX*" else int(p) for p in raw]
    # A wildcard swallows every part after it: 1.x.3 means 1.x.
    for i, value in enumerate(nums):
        if value is None:
            nums[i + 1 :] = [None] * (2 - i)
            break
    major, minor, patch = nums
    pre = tuple(match.group(4).split(".")) if match.group(4) and patch is not None else ()
    named = bool(pre)
    if major is None:
        return ((_ANY if op not in ("<", ">") else (Comparator("<", _floor(0)),)), False)
    if op == "!=":
        # Excludes one version, or every version of a partial one (!=1.2 skips 1.2.x).
        if minor is None:
            return (Comparator("!=", _floor(major), upper=_floor(major + 1)),), False
        if patch is None:
            return (Comparator("!=", _floor(major, minor), upper=_floor(major, minor + 1)),), False
        return (Comparator("!=", Version(major, minor, patch, pre)),), False
    if op in ("", "=", "=="):
        if minor is None:
            return (Comparator(">=", _floor(major)), Comparator("<", _floor(major + 1))), False
        if patch is None:
            return (
                Comparator(">=", _floor(major, minor)),
                Comparator("<", _floor(major, minor + 1)),
            ), False
        return (Comparator("=", Version(major, minor, patch, pre)),), named
    if op in ("~", "~>"):
        low = _start(major, minor or 0, patch or 0, pre)
        high = _floor(major + 1) if minor is None else _floor(major, minor + 1)
        return (Comparator(">=", low), Comparator("<", high)), named
    if op == "^":
        low = _start(major, minor or 0, patch or 0, pre)
        if major > 0 or minor is None:
            high = _floor(major + 1)
        elif minor > 0 or patch is None:
            high = _floor(0, minor + 1)
        else:
            high = _floor(0, 0, patch + 1)
        return (Comparator(">=", low), Comparator("<", high)), named
    if op == ">":
        if minor is None:
            return (Comparator(">=", _floor(major + 1)),), False
        if patch is None:
            return (Comparator(">=", _floor(major, minor + 1)),), False
        return (Comparator(">", Version(major, minor, patch, pre)),), named
    if op in (">=", "<"):
        # Both bounds sit at the version written (a partial one at its first release):
        # >= includes it, < stops just below it.
        if patch is None:
            return (Comparator(op, _floor(major, minor or 0)),), False
        return (Comparator(op, _start(major, minor or 0, patch, pre)),), named
    # op == "<="
    if minor is None:
        return (Comparator("<", _floor(major + 1)),), False
    if patch is None:
        return (Comparator("<", _floor(major, minor + 1)),), False
    return (Comparator("<=", Version(major, minor, patch, pre)),), named


def _alternative(text: str, *, whole: str) -> ComparatorSet:
    comparators: list[Comparator] = []
    named: set[tuple[int, int, int]] = set()

    def add(found: tuple[Comparator, ...], names_pre: bool) -> None:
        comparators.extend(found)
        if names_pre:
            named.update(c.version.triple for c in found if c.version.pre != ("0",))

    hyphen = _HYPHEN.match(text)
    if hyphen:
        add(*_desugar(">=", hyphen.group(1), whole=whole))
        add(*_desugar("<=", hyphen.group(2), whole=whole))
        return ComparatorSet(tuple(comparators), frozenset(named))
    # Allow ">= 1.0" and "1.0, <2": glue operators to their versions, commas are spaces.
    squeezed = re.sub(r"(>=|<=|!=|~>|==|>|<|=|~|\^)\s+", r"\1", text.replace(",", " "))
    tokens = squeezed.split()
    if not tokens:
        raise errors.InvalidPolicyError(
            f"invalid semver range {whole!r}: an empty alternative ({EXAMPLES})"
        )
    for token in tokens:
        match = _OPERATOR.match(token)
        assert match is not None  # the pattern matches every string
        op, rest = match.group(1) or "", match.group(2)
        add(*_desugar(op, rest, whole=whole))
    return ComparatorSet(tuple(comparators), frozenset(named))


def parse_range(text: str) -> Range:
    """A validated range; ``InvalidPolicyError`` says what is wrong."""
    if not text or not text.strip():
        raise errors.InvalidPolicyError(f"semver range is empty ({EXAMPLES})")
    alternatives = tuple(_alternative(alt, whole=text) for alt in text.split("||"))
    return Range(text.strip(), alternatives)
