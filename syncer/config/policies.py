"""Syntax checks of the values that pick versions: semver ranges, tag regexes, image names.

``checks`` calls these for ``apps[].images[]`` and ``sources[].git.semver``. Each
function returns ``None`` when the value is fine, else a sentence for the user. They
check syntax only; choosing a tag is the image policy code's job.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from registry import errors as registry_errors
from registry.policies import ignore, newest_build, semver_range

ORDERS = ("asc", "desc")
_TEMPLATE_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


def semver_range_problem(text: str) -> str | None:
    """The one range parser syncer runs (``registry.policies.semver_range``), so that
    what validates is exactly what runs."""
    try:
        semver_range.parse_range(text)
    except registry_errors.InvalidPolicyError as err:
        return str(err)
    return None


def ignore_glob_problem(glob: str) -> str | None:
    """One ignore-list glob, read by the code that applies it (``registry.policies.ignore``)."""
    try:
        ignore.TagIgnore.build([glob])
    except registry_errors.InvalidPolicyError as err:
        return str(err)
    return None


def platform_problem(text: str) -> str | None:
    try:
        newest_build.NewestBuild.build(text)
    except registry_errors.InvalidPolicyError as err:
        return str(err)
    return None


def order_problem(text: str) -> str | None:
    if text not in ORDERS:
        return f"unknown order {text!r}; expected one of: asc, desc"
    return None


def regex_problem(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as err:
        return f"invalid regular expression '{pattern}': {err}; expected a Python regex"
    return backtracking_problem(pattern)


def extract_problem(pattern: str, extract: str) -> str | None:
    """``extract`` may use ``$name``, ``${name}``, ``$1``: each must be a group of ``pattern``."""
    compiled = re.compile(pattern)
    refs = [braced or bare for braced, bare in _TEMPLATE_REF.findall(extract)]
    if not refs:
        return f"extract {extract!r} uses no group of the pattern; expected e.g. $1 or $name"
    known = [str(i) for i in range(1, compiled.groups + 1)] + list(compiled.groupindex)
    for ref in refs:
        if ref not in known:
            have = ", ".join(f"${name}" for name in known) or "none (add a (group) to the pattern)"
            return (
                f"extract uses ${ref}, which the pattern does not define; expected one of: {have}"
            )
    return None


def tag_problem(text: str) -> str | None:
    if not _TAG.fullmatch(text):
        return f"invalid tag {text!r}; expected letters, digits, '_', '.', '-' (at most 128)"
    return None


def repository_problem(text: str) -> str | None:
    """``[host[:port]/]path`` without tag or digest: the policy chooses the tag."""
    last = text.rsplit("/", 1)[-1]
    if "@" in last or ":" in last:
        return (
            f"{text!r} carries a tag or digest; expected only the repository"
            " (e.g. registry.example.com/team/web), the policy chooses the tag"
        )
    if "://" in text:
        return f"{text!r} has a scheme; expected host/path, e.g. registry.example.com/team/web"
    parts = text.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        host, parts = parts[0], parts[1:]
        if not _HOST.fullmatch(host):
            return f"invalid registry host {host!r} in {text!r}"
    if not all(_PATH_COMPONENT.fullmatch(part) for part in parts):
        return (
            f"invalid repository {text!r}; expected lowercase path components such as"
            " team/web, optionally after a registry host"
        )
    return None


def host_problem(text: str) -> str | None:
    if "://" in text or "/" in text:
        return (
            f"invalid host {text!r}; expected host[:port] without scheme or path"
            " (set insecure: true for plain HTTP)"
        )
    if not _HOST.fullmatch(text):
        return f"invalid host {text!r}; expected host[:port], e.g. registry.example.com"
    return None


_sre_parser: Any = importlib.import_module("re._parser")
_sre_compiler: Any = importlib.import_module("re._compiler")
_sre: Any = importlib.import_module("re._constants")
_REPEATS = frozenset({_sre.MAX_REPEAT, _sre.MIN_REPEAT})
"""Repeats that backtrack (possessive ones and atomic groups do not)."""


def backtracking_problem(pattern: str) -> str | None:
    """Refuse a nested quantifier that backtracks catastrophically (``(a+)+$``).

    The rule: an unbounded repeat (``+``, ``*``, ``{n,}``) whose body holds another
    repeat of variable length (``+``, ``*``, ``?``, ``{m,n}``) is refused, unless the body
    also needs a literal character the inner repeat cannot match (``(\\d+\\.)+``: each
    round must pass a ``.``, so the rounds cannot be split up in more than one way).
    Python's ``re`` has no time limit: such a pattern would hang a poll on an unlucky tag.
    """
    parsed = _sre_parser.parse(pattern)
    for outer in _repeats(parsed.data):
        _low, high, body = outer
        if high != _sre.MAXREPEAT:
            continue
        for inner_low, inner_high, inner_body in _repeats(body.data):
            if inner_low != inner_high and not _separated(body, inner_body):
                return (
                    f"regular expression '{pattern}' nests a repeat inside a repeat (a nested"
                    " quantifier that backtracks catastrophically); expected no repeated group"
                    " holding a repeat, e.g. (a+)+ -> a+, or a literal separator as in (\\d+\\.)+"
                )
    return None


def _repeats(items: list[Any]) -> list[tuple[int, int, Any]]:
    """Every backtracking repeat in ``items`` as (min, max, body), at any depth,
    outermost first."""
    found: list[tuple[int, int, Any]] = []
    for op, av in items:
        if op in _REPEATS:
            found.append((av[0], av[1], av[2]))
            found.extend(_repeats(av[2].data))
        elif op == _sre.SUBPATTERN:
            found.extend(_repeats(av[-1].data))
        elif op == _sre.BRANCH:
            for branch in av[1]:
                found.extend(_repeats(branch.data))
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            found.extend(_repeats(av[1].data))
    return found


def _separated(body: Any, inner_body: Any) -> bool:
    """Whether ``body`` needs a literal character that ``inner_body`` cannot match."""
    inner = _sre_compiler.compile(inner_body, body.state.flags)
    return any(
        op == _sre.LITERAL and not inner.fullmatch(chr(av)) for op, av in _mandatory(body.data)
    )


def _mandatory(items: list[Any]) -> list[Any]:
    """The items every match of ``items`` passes through (groups opened up)."""
    flat: list[Any] = []
    for op, av in items:
        if op == _sre.SUBPATTERN:
            flat.extend(_mandatory(av[-1].data))
        else:
            flat.append((op, av))
    return flat
