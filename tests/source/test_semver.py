"""Semver ranges over tags: the forms users write, and what they must not pick."""

from __future__ import annotations

import pytest

from syncer.source import semver

TAGS = ["v0.9.0", "v1.0.0", "v1.2.0", "v1.2.5", "1.3.0", "v1.4.0-rc.1", "v2.0.0", "v2.1.0",
        "latest", "v3.0.0-beta.2", "v3.0.0-beta.10"]  # fmt: skip


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        ("^1.2", "1.3.0"),
        ("^1.2.5", "1.3.0"),
        ("~1.2.0", "v1.2.5"),
        ("~1.2", "v1.2.5"),
        (">=1.0 <2", "1.3.0"),
        (">= 1.0 < 2", "1.3.0"),
        ("1.x", "1.3.0"),
        ("1.2.x", "v1.2.5"),
        ("*", "v2.1.0"),
        ("1.2.0", "v1.2.0"),
        ("=v1.0.0", "v1.0.0"),
        ("^0.9", "v0.9.0"),
        (">2", None),
        (">2.0", "v2.1.0"),
        ("<1.2", "v1.0.0"),
        ("<=1.2", "v1.2.5"),
        ("1.0.0 - 1.2", "v1.2.5"),
        ("^9 || ~2.0", "v2.0.0"),
        (">=1.4.0-rc.0 <1.5", "v1.4.0-rc.1"),
        ("^3.0.0-beta.1", "v3.0.0-beta.10"),
        ("^4", None),
    ],
)
def test_highest_matching_tag(range_, expected):
    assert semver.highest(TAGS, semver.parse_range(range_)) == expected


def test_prereleases_never_match_plain_ranges():
    assert semver.highest(["v1.0.0", "v1.1.0-rc.1"], semver.parse_range(">=1")) == "v1.0.0"


def test_invalid_range_says_what_to_write():
    with pytest.raises(ValueError, match=r"'banana' is not a version; write e\.g\. \^1\.2"):
        semver.parse_range(">=banana")


def test_version_order_follows_semver_precedence():
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
             "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]  # fmt: skip
    versions = [semver.parse_version(v) for v in order]
    keys = [v.key for v in versions if v]
    assert keys == sorted(keys) and len(keys) == len(order)
