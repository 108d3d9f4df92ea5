"""Semver ranges against the upstream test tables of node-semver and Masterminds/semver.

The tables (``testdata/semver``, with their licences and provenance) carry, for every
row, what npm and Masterminds themselves answer. syncer follows npm; where it accepts a
spelling npm refuses it answers as Masterminds does; where it answers differently from
both it refuses the range (``DEVIATIONS``, each with the reason given in the README).
No row may be a silent third meaning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry import errors
from registry.policies import semver_range

TABLES = Path(__file__).parent / "testdata" / "semver"
ERROR = "error"

# Ranges npm (and Masterminds) accept that syncer refuses, with the README's reason.
DEVIATIONS = {
    "": "empty: an unset policy, not 'any version'; write *",
    "||": "an empty alternative would match everything; write *",
    "1.x.x-alpha+build": "npm drops the pre-release, Masterminds keeps it; write 1.x-0",
    ">1.x.x-alpha+build": "npm drops the pre-release, Masterminds keeps it",
    "^1.2.x-alpha": "npm drops the pre-release, Masterminds keeps it",
    ">=1.x.x-alpha+build <2.x.x+build": "npm drops the pre-release, Masterminds keeps it",
    "1.x.x-alpha+build || 2.x.x+build": "npm drops the pre-release, Masterminds keeps it",
}


def _load(name: str) -> list[dict[str, Any]]:
    return json.loads((TABLES / name).read_text())


def _verdict(range_: str, version: Any, *, include: bool = False) -> bool | str:
    try:
        parsed = semver_range.parse_range(range_, include_prerelease=include)
    except errors.InvalidPolicyError:
        return ERROR
    found = semver_range.parse_version(version) if isinstance(version, str) else None
    return found is not None and parsed.test(found)


def _canonical(range_: str, *, include: bool = False) -> str | None:
    try:
        return semver_range.parse_range(range_, include_prerelease=include).canonical
    except errors.InvalidPolicyError:
        return None


def _rows(name: str) -> list[Any]:
    rows = _load(name)
    return [pytest.param(row, id=f"{i}:{row['range']!r}") for i, row in enumerate(rows)]


@pytest.mark.parametrize("row", _rows("node-semver/range-include.json") + _rows(
    "node-semver/range-exclude.json"))  # fmt: skip
def test_node_semver_satisfies(row: dict[str, Any]) -> None:
    options = row["options"]
    found = _verdict(row["range"], row["version"], include=options["includePrerelease"])
    if row["range"] in DEVIATIONS:
        assert found == ERROR
    elif options["loose"]:
        # syncer has no loose mode: a loose-only spelling is refused, never reinterpreted.
        assert found == row["expected"] or (found == ERROR and not row["npm"]["valid"])
    else:
        assert found == row["expected"]


@pytest.mark.parametrize("row", _rows("node-semver/range-parse.json"))
def test_node_semver_parse(row: dict[str, Any]) -> None:
    options = row["options"]
    found = _canonical(row["range"], include=options["includePrerelease"])
    if row["range"] in DEVIATIONS:
        assert found is None
    elif options["loose"]:
        assert found in (row["canonical"], None)
    else:
        assert found == row["canonical"]


def _masterminds_rows() -> list[Any]:
    return [
        pytest.param(row, id=f"{row['test']}:{i}:{row['constraint']!r}")
        for i, row in enumerate(_load("masterminds/constraints.json"))
    ]


@pytest.mark.parametrize("row", _masterminds_rows())
def test_masterminds_constraints(row: dict[str, Any]) -> None:
    npm, mm = row["npm"], row["masterminds"]
    if "error" in row:
        found = _canonical(row["constraint"])
        if row["error"] and not npm["valid"]:
            assert found is None  # refused by both
        elif not row["error"] and (npm["valid"] or mm["valid"]):
            assert found is not None or row["constraint"] in DEVIATIONS
        return
    found = _verdict(row["constraint"], row["version"], include=row["include"])
    expected = row["check"] if mm["valid"] else None
    if found == ERROR:
        assert not npm["valid"] or row["constraint"] in DEVIATIONS
    elif row["include"]:
        # Masterminds' own option: npm's answer stands where it cannot matter (a release).
        release = "-" not in row["version"]
        assert found == expected or (release and npm["valid"] and found == npm["check"])
    elif npm["valid"] and mm["valid"] and npm["check"] == expected:
        assert found == expected  # both agree: so must syncer
    else:
        assert found in (npm["check"] if npm["valid"] else None, expected)
