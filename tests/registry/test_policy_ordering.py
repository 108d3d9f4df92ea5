"""Regex filter + extract, alphabetical and numerical order, digest policy, validation."""

from __future__ import annotations

import pytest

import registry

MAIN_TAGS = [
    "main-3f2a1bc-1700000300",
    "main-9e8d7c6-1700000100",
    "main-aaaaaaa-1700000200",
    "feature-x-1800000000",
    "main-bbbbbbb-notatime",
    "1.0.0",
]


@pytest.mark.parametrize(
    ("kind", "order", "pattern", "extract", "tags", "winner"),
    [
        # main-<sha>-<timestamp> ordered by timestamp, not by sha
        (
            "numerical",
            "asc",
            r"^main-[0-9a-f]{7}-(?P<ts>\d+)$",
            "$ts",
            MAIN_TAGS,
            "main-3f2a1bc-1700000300",
        ),
        (
            "numerical",
            "desc",
            r"^main-[0-9a-f]{7}-(?P<ts>\d+)$",
            "${ts}",
            MAIN_TAGS,
            "main-9e8d7c6-1700000100",
        ),
        (
            "alphabetical",
            "asc",
            r"^main-[0-9a-f]{7}-(\d+)$",
            "$1",
            MAIN_TAGS,
            "main-3f2a1bc-1700000300",
        ),
        ("alphabetical", "asc", r"^main-", "", MAIN_TAGS, "main-bbbbbbb-notatime"),
        ("alphabetical", "desc", r"^main-", "", MAIN_TAGS, "main-3f2a1bc-1700000300"),
        (
            "alphabetical",
            "asc",
            "",
            "",
            ["RELEASE.2024-01-02", "RELEASE.2024-05-01", "RELEASE.2023-12-31"],
            "RELEASE.2024-05-01",
        ),
        ("numerical", "asc", "", "", ["9", "10", "100", "latest", "2.5"], "100"),
        ("numerical", "desc", "", "", ["9", "10", "-3", "latest"], "-3"),
        ("numerical", "asc", "", "", ["nan", "inf", "1"], "1"),
        (
            "semver",
            "^1",
            r"^v(?P<v>.*)-alpine$",
            "$v",
            ["v1.2.0-alpine", "v1.3.0-alpine", "v1.4.0", "v2.0.0-alpine"],
            "v1.3.0-alpine",
        ),
        (
            "numerical",
            "asc",
            r"^build-(\d+)$",
            "$1",
            ["build-7", "build-7", "build-10"],
            "build-10",
        ),
    ],
)
def test_filter_extract_and_order(kind, order, pattern, extract, tags, winner) -> None:
    policy = registry.build_policy(kind, order, pattern=pattern, extract=extract)
    assert policy.select(tags).tag == winner


def test_reason_mentions_filter_and_values() -> None:
    policy = registry.build_policy(
        "numerical", "asc", pattern=r"^main-[0-9a-f]{7}-(?P<ts>\d+)$", extract="$ts"
    )
    reason = policy.select(MAIN_TAGS).reason
    assert reason == (
        "main-3f2a1bc-1700000300: highest number (1700000300) of 3 numeric tags; "
        r"3 tags not matching /^main-[0-9a-f]{7}-(?P<ts>\d+)$/"
    )
    assert policy.label == r"numerical:asc filter=^main-[0-9a-f]{7}-(?P<ts>\d+)$ extract=$ts"


def test_artifact_tags_are_excluded_unless_asked() -> None:
    tags = [
        "1",
        "2",
        "sha256-" + "c" * 64 + ".sig",
        "sha256-" + "c" * 64 + ".att",
        "sha256-" + "c" * 64,
        "3.sbom",
    ]
    assert registry.build_policy("alphabetical", "asc").select(tags).tag == "2"
    included = registry.build_policy("alphabetical", "asc", include_artifacts=True)
    assert included.select(tags).tag == "sha256-" + "c" * 64 + ".sig"


def test_parse_specs() -> None:
    assert registry.parse_policy("semver:^1.2").label == "semver:^1.2"
    assert registry.parse_policy("digest:latest").label == "digest:latest"
    assert registry.parse_policy("alphabetical:DESC").label == "alphabetical:desc"


@pytest.mark.parametrize(
    ("spec", "pattern", "extract", "message"),
    [
        ("semvr:^1", "", "", "unknown policy 'semvr'; expected one of: semver, alphabetical"),
        ("semver", "", "", "must be KIND:VALUE"),
        ("alphabetical:up", "", "", "unknown order 'up' for the alphabetical policy"),
        ("numerical:sideways", "", "", "expected asc or desc"),
        ("digest:", "", "", "digest:latest"),
        ("digest:-bad", "", "", "not a valid tag"),
        ("digest:latest", "^x", "", "does not apply"),
        ("numerical:asc", "(", "", "invalid tag filter regex '('"),
        ("numerical:asc", r"^(?P<ts>\d+)$", "$time", "uses $time"),
        ("numerical:asc", r"^(\d+)$", "$2", "uses $2"),
        ("numerical:asc", r"^(\d+)$", "ts", "names no group"),
        ("numerical:asc", "", "$1", "needs a filter pattern"),
    ],
)
def test_invalid_policies_are_errors(spec, pattern, extract, message) -> None:
    with pytest.raises(registry.InvalidPolicyError) as err:
        registry.parse_policy(spec, pattern=pattern, extract=extract)
    assert message in str(err.value)


def test_empty_candidates_explain_themselves() -> None:
    policy = registry.build_policy("numerical", "asc", pattern="^build-")
    selection = policy.select(["latest", "main"])
    assert selection.tag is None
    assert selection.reason == (
        "no tag of 2 qualifies: no numeric values; 2 tags not matching /^build-/"
    )
