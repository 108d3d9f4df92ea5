"""Semantic versions and ranges: syncer's one implementation, with npm's meaning.

Used by the semver tag policy (``registry.policies.semver``), by Git sources that follow
"the highest tag in a range" (``syncer.source.refs``) and by config validation
(``syncer.config.policies``), so a range means the same when validated and when run.
``parse_range()`` raises ``InvalidPolicyError`` naming the bad part and what to write.

Ranges follow node-semver (``^1.2``, ``~1.2.3``, ``1.x``, ``>=1.0 <2.0``, ``1.2 - 1.4``,
``||``) and accept the spellings Masterminds/semver (Flux, Argo CD Image Updater) users
write: ``,`` between comparators, ``!=``, ``=>``/``=<``, a hyphen range beside other
comparators. Pre-releases satisfy an alternative only when one of its comparators names
a pre-release of the same ``major.minor.patch`` (npm), or when a lower bound is written
with the ``-0`` pre-release (``>=1.0.0-0``, ``^1.x-0``, ``2.x-0``): that idiom from Flux's
and Argo CD's docs lets every pre-release within the bounds in, as npm's
``includePrerelease`` does. Spellings whose meaning npm and Masterminds disagree on and
syncer will not guess (``1.x-rc``, an empty ``||`` alternative) are errors with a hint.

Tags are read leniently, as Argo CD Image Updater (Masterminds' ``NewVersion``) reads
them: a leading ``v``; ``1`` or ``1.2`` count as ``1.0.0``/``1.2.0``; zero-padded numbers
count as their value (CalVer ``2024.01.05`` is ``2024.1.5``); ``_`` stands for ``+``
(tags cannot hold ``+``). Flux reads only full ``X.Y.Z`` tags; see the README.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from registry import errors

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_PRE = rf"{_PRE_ID}(?:\.{_PRE_ID})*"
_BUILD = r"\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
# Tags, read as Masterminds' NewVersion reads them (Argo CD Image Updater): numbers may
# be zero-padded (CalVer 2024.01.05 is 2024.1.5); ranges stay strict, as in npm.
_TAG = re.compile(r"[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?" + rf"(?:-({_PRE}))?(?:{_BUILD})?")
_PARTIAL = re.compile(
    rf"[vV=]*({_NUM}|[xX*])(?:\.({_NUM}|[xX*]))?(?:\.({_NUM}|[xX*]))?(?:-({_PRE}))?"
)
_OPERATOR = re.compile(r"(!=|>=|<=|=>|=<|==|~>|>|<|=|~|\^)?(.*)")
_GLUE = re.compile(r"(!=|>=|<=|=>|=<|==|~>|>|<|=|~|\^)\s+")
_BUILD_ANYWHERE = re.compile(_BUILD)
_ALIASES = {"=>": ">=", "=<": "<=", "==": "=", "~>": "~"}
_LOWER_BOUNDS = frozenset({">=", ">", "^", "~"})
MAX_NUMBER = 2**53 - 1
"""The largest version number npm accepts (JavaScript's largest exact integer)."""
EXAMPLES = "e.g. ^1.2, ~1.2.3, 1.x, >=1.0 <2.0, 1.2 - 1.4, ^1 || ^2, >=1.0.0-0"

PreKey = tuple[tuple[int, int, str], ...]
VersionKey = tuple[int, int, int, int, PreKey]
"""Precedence: ``(major, minor, patch, 1 for a release / 0 for a pre-release, pre-release)``."""


def _pre_key(pre: tuple[str, ...]) -> PreKey:
    # Numeric identifiers sort below alphanumeric ones and compare as numbers.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre)


def clear_caches() -> None:
    """Forget parsed tags (benchmarks measure a first call with this)."""
    parse_version.cache_clear()
    _pre_key_of.cache_clear()


@functools.lru_cache(maxsize=4096)
def _pre_key_of(pre: str) -> PreKey:
    # The same few pre-release spellings (rc.1, beta) recur across thousands of tags.
    return _pre_key(tuple(pre.split(".")))


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = ""
    parts: int = 3
    """How many numeric parts the tag spelled out (``1.2`` has 2)."""
    padded: bool = field(default=False, compare=False)
    """A number was written with leading zeros (``2024.01.05``)."""
    key: VersionKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Releases sort above their pre-releases: flag 1 for a release, 0 for a pre-release.
        key = (self.major, self.minor, self.patch, 0 if self.pre else 1, _pre_key(self.pre))
        object.__setattr__(self, "key", key)

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return text + ("-" + ".".join(self.pre) if self.pre else "")


@functools.lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """The version a tag names, or None. Cached: the same tags come back every poll."""
    if not text or not (text[0].isdigit() or text[0] in "vV"):
        return None  # most junk tags (latest, main-…, sha256-…) end here, cheaply
    match = _TAG.fullmatch(text)
    if match is None and "_" in text and "+" not in text:
        match = _TAG.fullmatch(text.replace("_", "+", 1))
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    numbers = [part for part in (major, minor, patch) if part is not None]
    if any(int(part) > MAX_NUMBER for part in numbers):
        return None
    build = match.group(0).partition("+")[2]
    return Version(
        int(major),
        int(minor or 0),
        int(patch or 0),
        tuple(pre.split(".")) if pre else (),
        build,
        parts=len(numbers),
        padded=any(len(part) > 1 and part[0] == "0" for part in numbers),
    )


# parse_version's grammar for a whole batch of tags, one per line: the regex engine skips
# the non-versions, and ``_`` may stand for ``+`` as parse_version's fallback allows.
_TAG_LINES = re.compile(
    rf"^([vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-({_PRE}))?"
    r"(?:[+_][0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)$",
    re.MULTILINE,
)


def scan(values: list[str]) -> Iterator[tuple[str, VersionKey]]:
    """``(value, precedence key)`` for each value that ``parse_version`` reads as a
    version, in order, without building a ``Version`` for each: the semver policy runs
    this over every tag of a repository on every change, so it is the hot path."""
    lines = [value for value in values if "\n" not in value]
    for text, major, minor, patch, pre in _TAG_LINES.findall("\n".join(lines)):
        key = (
            int(major),
            int(minor) if minor else 0,
            int(patch) if patch else 0,
            0 if pre else 1,
            _pre_key_of(pre) if pre else (),
        )
        # Only a number of 16 digits or more can exceed npm's largest.
        if len(text) > 15 and max(key[:3]) > MAX_NUMBER:
            continue
        yield text, key


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
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
    """``<``, ``<=``, ``>``, ``>=``, ``=``, ``!=``; ``""`` matches any version."""
    version: Version | None = None
    upper: Version | None = None
    """For ``!=`` over a partial version (``!=1.2``): the end of the excluded span."""

    def test(self, version: Version) -> bool:
        return self.test_key(version.key)

    def test_key(self, key: VersionKey) -> bool:
        bound = self.version
        if bound is None:
            return True
        if self.upper is not None:
            return not bound.key <= key < self.upper.key
        return _COMPARE[self.op](key, bound.key)

    def __str__(self) -> str:
        if self.version is None:
            return ""
        if self.upper is not None:
            return f"!={self.version.major}.{self.version.minor}.x"
        return f"{'' if self.op == '=' else self.op}{self.version}"


ANY = Comparator("")
NONE = Comparator("<", Version(0, 0, 0, ("0",)))
"""npm's null set: no version is below 0.0.0-0."""


KeyTest = Callable[[VersionKey], bool]


def _bound_test(comparator: Comparator) -> KeyTest:
    """One comparator as a single call on a precedence key (the policy's hot loop)."""
    bound = comparator.version
    if bound is None:
        return lambda key: True
    low = bound.key
    if comparator.upper is not None:
        high = comparator.upper.key
        return lambda key: not low <= key < high
    compare = _COMPARE[comparator.op]
    return lambda key: compare(key, low)


def _all_test(comparators: tuple[Comparator, ...]) -> KeyTest:
    """All comparators at once: a range is mostly a lower and an upper bound, tested as
    one chained comparison instead of a call per comparator."""
    plain = all(c.version is not None and c.upper is None for c in comparators)
    if plain and len(comparators) == 2:
        ops = {c.op: c.version.key for c in comparators if c.version is not None}
        if ops.keys() == {">=", "<"}:
            low, high = ops[">="], ops["<"]
            return lambda key: low <= key < high
        if ops.keys() == {">=", "<="}:
            low, high = ops[">="], ops["<="]
            return lambda key: low <= key <= high
    tests = tuple(_bound_test(c) for c in comparators)
    if len(tests) == 1:
        return tests[0]
    return lambda key: all(test(key) for test in tests)


@dataclass(frozen=True)
class Alternative:
    """Comparators that must all hold (one ``||`` alternative)."""

    comparators: tuple[Comparator, ...]
    include_prerelease: bool = False
    """Written with a ``-0`` lower bound: every pre-release within the bounds counts."""
    within_key: KeyTest = field(init=False, repr=False, compare=False)
    """Inside the bounds, whatever the pre-release rule says (on a precedence key)."""
    test_key: KeyTest = field(init=False, repr=False, compare=False)
    """Whether a version (its precedence key) satisfies this alternative."""

    def __post_init__(self) -> None:
        within = _all_test(self.comparators)
        # npm: a pre-release counts only when a comparator names one of its release.
        named = frozenset(
            c.version.triple for c in self.comparators if c.version is not None and c.version.pre
        )
        test: KeyTest
        if self.include_prerelease:
            test = within
        elif named:

            def test(key: VersionKey) -> bool:
                return within(key) and (key[3] == 1 or key[:3] in named)

        else:

            def test(key: VersionKey) -> bool:
                return key[3] == 1 and within(key)

        object.__setattr__(self, "within_key", within)
        object.__setattr__(self, "test_key", test)

    def within(self, version: Version) -> bool:
        """Inside the bounds, whatever the pre-release rule says."""
        return self.within_key(version.key)

    def test(self, version: Version) -> bool:
        return self.test_key(version.key)

    def __str__(self) -> str:
        return " ".join(str(c) for c in self.comparators).strip()


def _any_test(tests: list[KeyTest]) -> KeyTest:
    if len(tests) == 1:
        return tests[0]
    return lambda key: any(test(key) for test in tests)


@dataclass(frozen=True)
class Range:
    text: str
    alternatives: tuple[Alternative, ...]
    test_key: KeyTest = field(init=False, repr=False, compare=False)
    """Whether a version (its precedence key) is in the range: one call per tag."""
    within_key: KeyTest = field(init=False, repr=False, compare=False)
    """Inside an alternative's bounds, whatever the pre-release rule says."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "test_key", _any_test([a.test_key for a in self.alternatives]))
        object.__setattr__(self, "within_key", _any_test([a.within_key for a in self.alternatives]))

    def test(self, version: Version) -> bool:
        return self.test_key(version.key)

    def within(self, version: Version) -> bool:
        return self.within_key(version.key)

    @property
    def canonical(self) -> str:
        """npm's normal form, e.g. ``>=1.2.0 <2.0.0-0`` for ``^1.2`` (``*`` for any)."""
        return "||".join(str(alt) for alt in self.alternatives) or "*"

    def __str__(self) -> str:
        return self.text


def parse_range(text: str, *, include_prerelease: bool = False) -> Range:
    """A validated range. ``include_prerelease`` is npm's option of that name; writing a
    ``-0`` lower bound turns it on for one alternative."""

    def fail(problem: str, token: str = "") -> errors.InvalidPolicyError:
        where = f"{token!r}: " if token and token != text.strip() else ""
        return errors.InvalidPolicyError(f"invalid semver range {text!r}: {where}{problem}")

    if not text or not text.strip():
        raise errors.InvalidPolicyError(
            f"semver range is empty; write * for any release, or {EXAMPLES}"
        )
    parts = text.split("||")
    if any(not part.strip() for part in parts):
        # npm reads an empty alternative as "any version", Masterminds refuses it.
        raise fail(
            "an empty alternative around '||' would match every version; remove it, or "
            "write * if any version will do"
        )
    alternatives = [_alternative(part, include=include_prerelease, fail=fail) for part in parts]
    # npm: null sets drop out when something else can match; "any" absorbs the rest.
    if len(alternatives) > 1:
        kept = [alt for alt in alternatives if alt.comparators != (NONE,)]
        alternatives = kept or alternatives[:1]
        for alt in alternatives:
            if alt.comparators == (ANY,):
                alternatives = [alt]
                break
    return Range(text.strip(), tuple(alternatives))


Fail = Callable[..., errors.InvalidPolicyError]


@dataclass(frozen=True)
class _Written:
    """One version as written in a range: ``None`` for a missing or ``x`` part."""

    major: int | None
    minor: int | None
    patch: int | None
    pre: tuple[str, ...]

    @property
    def pre_text(self) -> str:
        return "-" + ".".join(self.pre)


def _read(token: str, *, fail: Fail) -> _Written:
    match = _PARTIAL.fullmatch(token)
    if match is None:
        raise fail(f"{token!r} is not a version; write {EXAMPLES}")
    raw = match.groups()[:3]
    wild = [part is None or part in ("x", "X", "*") for part in raw]
    if (wild[0] and not wild[1]) or (wild[1] and not wild[2]):
        # npm refuses x.1, 1.x.5, *.2.3: a wildcard must be the last part written.
        raise fail("a wildcard must end the version, e.g. 1.x or 1.2.x", token)
    nums = [None if w else int(part) for part, w in zip(raw, wild, strict=True)]
    pre = tuple(match.group(4).split(".")) if match.group(4) else ()
    return _Written(nums[0], nums[1], nums[2], pre)


def _floor(major: int, minor: int = 0, patch: int = 0) -> Version:
    """The lowest version of ``major.minor.patch``, below all its pre-releases."""
    return Version(major, minor, patch, ("0",))


def _xrange(op: str, w: _Written, low: tuple[str, ...]) -> list[Comparator]:
    """npm's ``replaceXRange`` (and plain comparators): ``low`` is ``("0",)`` when
    pre-releases are included, so lower bounds start below them."""
    major, minor, patch = w.major, w.minor, w.patch
    if major is None:
        return [NONE] if op in ("<", ">") else [ANY]
    if minor is not None and patch is not None:
        return [Comparator(op or "=", Version(major, minor, patch, w.pre))]
    if op in ("", "="):
        if minor is None:
            return [Comparator(">=", Version(major, 0, 0, low)), Comparator("<", _floor(major + 1))]
        return [
            Comparator(">=", Version(major, minor, 0, low)),
            Comparator("<", _floor(major, minor + 1)),
        ]
    minor = minor or 0
    if op in (">", "<="):
        # >1 is >=2.0.0 and <=1.2 is <1.3.0-0: the partial version's whole span counts.
        op = ">=" if op == ">" else "<"
        major, minor = (major + 1, 0) if w.minor is None else (major, minor + 1)
    return [Comparator(op, Version(major, minor, 0, ("0",) if op == "<" else low))]


def _tilde_caret(op: str, w: _Written, low: tuple[str, ...]) -> list[Comparator]:
    """npm's ``replaceTilde``/``replaceCaret``."""
    major, minor, patch = w.major, w.minor, w.patch
    if major is None:
        return [ANY]
    if minor is None:
        return [Comparator(">=", Version(major, 0, 0, low)), Comparator("<", _floor(major + 1))]
    start = Version(major, minor, 0, low) if patch is None else Version(major, minor, patch, w.pre)
    if op == "~" or (major == 0 and (minor > 0 or patch is None)):
        end = _floor(major, minor + 1)
    elif major == 0:
        end = _floor(0, 0, (patch or 0) + 1)
    else:
        end = _floor(major + 1)
    return [Comparator(">=", start), Comparator("<", end)]


def _not_equal(w: _Written, *, fail: Fail, token: str) -> list[Comparator]:
    if w.major is None:
        raise fail("excludes every version", token)
    if w.minor is None:
        return [Comparator("!=", _floor(w.major), upper=_floor(w.major + 1))]
    if w.patch is None:
        return [Comparator("!=", _floor(w.major, w.minor), upper=_floor(w.major, w.minor + 1))]
    return [Comparator("!=", Version(w.major, w.minor, w.patch, w.pre))]


def _hyphen(low_w: _Written, high_w: _Written, low: tuple[str, ...]) -> list[Comparator]:
    """npm's ``hyphenReplace``: ``1.2 - 3.4`` is ``>=1.2.0 <3.5.0-0``."""
    found: list[Comparator] = []
    if low_w.major is not None:
        if low_w.patch is not None and low_w.pre:
            start = Version(low_w.major, low_w.minor or 0, low_w.patch, low_w.pre)
        else:
            start = Version(low_w.major, low_w.minor or 0, low_w.patch or 0, low)
        found.append(Comparator(">=", start))
    major, minor, patch = high_w.major, high_w.minor, high_w.patch
    if major is None:
        return found or [ANY]
    if minor is None:
        found.append(Comparator("<", _floor(major + 1)))
    elif patch is None:
        found.append(Comparator("<", _floor(major, minor + 1)))
    elif high_w.pre or not low:
        found.append(Comparator("<=", Version(major, minor, patch, high_w.pre)))
    else:
        found.append(Comparator("<", _floor(major, minor, patch + 1)))
    return found


def _opens_prereleases(op: str, w: _Written, *, fail: Fail, token: str) -> bool:
    """Whether this comparator is the ``-0`` idiom; refuses other pre-releases on partial
    versions, whose meaning npm (drops it) and Masterminds (starts there) disagree on."""
    if not w.pre:
        return False
    idiom = w.pre == ("0",) and op in ("", "=", ">=", ">", "^", "~", "hyphen-low")
    partial = w.patch is None
    if partial and not idiom:
        major = 1 if w.major is None else w.major
        wildcard = f"{major}.x" if w.minor is None else f"{major}.{w.minor}.x"
        raise fail(
            f"a pre-release on a partial or wildcard version is ambiguous "
            "(npm ignores it, Masterminds starts the range there); write "
            f"{wildcard}-0 to include pre-releases, or spell the bound out "
            f"(>={major}.{w.minor or 0}.0{w.pre_text})",
            token,
        )
    return idiom and (partial or op not in ("", "="))


def _alternative(text: str, *, include: bool, fail: Fail) -> Alternative:
    # Build metadata never orders versions (npm strips it before parsing).
    squeezed = _GLUE.sub(r"\1", _BUILD_ANYWHERE.sub("", text)).replace(",", " ")
    tokens = squeezed.split()
    # Each item: ("hyphen", low token, high token) or (op, token-without-op).
    items: list[tuple[str, str, str]] = []
    index = 0
    foreign = False  # Masterminds-only syntax: ",", "!=", "=>", a hyphen among others
    while index < len(tokens):
        if index + 2 < len(tokens) and tokens[index + 1] == "-":
            items.append(("hyphen", tokens[index], tokens[index + 2]))
            index += 3
            continue
        match = _OPERATOR.fullmatch(tokens[index])
        assert match is not None  # the pattern matches every string
        written_op = match.group(1) or ""
        foreign |= written_op in ("!=", "=>", "=<", "==")
        items.append((_ALIASES.get(written_op, written_op), match.group(2), tokens[index]))
        index += 1
    foreign |= "," in text or (len(items) > 1 and any(i[0] == "hyphen" for i in items))
    read: list[tuple[str, _Written, _Written | None, str]] = []
    for op, first, second in items:
        if op == "hyphen":
            low_w, high_w = _read(first, fail=fail), _read(second, fail=fail)
            include |= _opens_prereleases("hyphen-low", low_w, fail=fail, token=first)
            _opens_prereleases("<=", high_w, fail=fail, token=second)
            read.append((op, low_w, high_w, first))
        else:
            written = _read(first, fail=fail)
            include |= _opens_prereleases(op, written, fail=fail, token=second)
            read.append((op, written, None, second))
    named = [w for _, w, _, _ in read if w.pre and w.pre != ("0",)]
    named += [h for _, _, h, _ in read if h is not None and h.pre and h.pre != ("0",)]
    if foreign and named and not include:
        # Masterminds lets every pre-release in once one is named, npm only those of the
        # named version; in Masterminds' own syntax, syncer will not pick one silently.
        raise fail(
            f"a pre-release ({named[0].pre_text}) in Masterminds syntax (',' '!=' '=>') "
            "is read differently by npm and Masterminds; write -0 on the lower bound to "
            "include every pre-release (>=1.0.0-0, <2.0.0), or use npm syntax (spaces) "
            "for pre-releases of that version only"
        )
    low = ("0",) if include else ()
    found: list[Comparator] = []
    for op, written, high, token in read:
        if high is not None:
            found += _hyphen(written, high, low)
        elif op == "!=":
            found += _not_equal(written, fail=fail, token=token)
        elif op in ("~", "^"):
            found += _tilde_caret(op, _without_idiom(written), low)
        else:
            found += _xrange(op, _without_idiom(written), low)
    for comparator in found:
        for bound in (comparator.version, comparator.upper):
            if bound is not None and max(bound.triple) > MAX_NUMBER:
                raise fail(f"a version number above {MAX_NUMBER}; write {EXAMPLES}")
    return Alternative(_normalise(found, include=include), include)


def _without_idiom(w: _Written) -> _Written:
    """A partial version's ``-0`` only opened pre-releases: it is not a bound of its own."""
    return _Written(w.major, w.minor, w.patch, ()) if w.patch is None else w


def _normalise(found: list[Comparator], *, include: bool) -> tuple[Comparator, ...]:
    """npm's clean-up: >=0.0.0 is "any", a null set swallows the rest, no repeats."""
    zero = Version(0, 0, 0, ("0",) if include else ())
    unique: dict[str, Comparator] = {}
    for comparator in found:
        if comparator.op == ">=" and comparator.version == zero:
            comparator = ANY
        if comparator == NONE:
            return (NONE,)
        unique.setdefault(str(comparator), comparator)
    if len(unique) > 1:
        unique.pop("", None)
    return tuple(unique.values())
