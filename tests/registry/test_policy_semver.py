"""Semver policy: ranges, pre-releases, build metadata, v prefixes, junk tags, ties."""

from __future__ import annotations

import itertools

import hypothesis
import pytest
from hypothesis import strategies as st

import registry
from registry.policies import semver_range

TAGS = [
    "1.0.0",
    "1.2.0",
    "1.2.5",
    "1.4.2",
    "1.5.0-rc.1",
    "2.0.0",
    "2.1.0-beta",
    "0.9.1",
    "0.1.3",
    "0.1.7",
    "0.0.4",
    "latest",
    "main",
    "v3.0.0",
]


@pytest.mark.parametrize(
    ("range_", "winner"),
    [
        ("^1.2", "1.4.2"),
        ("^1.2.6", "1.4.2"),
        ("~1.2.3", "1.2.5"),
        ("~1.2", "1.2.5"),
        ("~1", "1.4.2"),
        ("1.x", "1.4.2"),
        ("1.2.x", "1.2.5"),
        ("1", "1.4.2"),
        ("*", "v3.0.0"),
        ("x", "v3.0.0"),
        (">=1.0 <2.0", "1.4.2"),
        (">=1.0, <2.0", "1.4.2"),
        (">= 1.0 < 1.3", "1.2.5"),
        (">1.2.5 <2", "1.4.2"),
        (">1.2 <2", "1.4.2"),
        ("<=1.2", "1.2.5"),
        ("<1.2", "1.0.0"),
        ("<1.2.0", "1.0.0"),
        ("=1.2.0", "1.2.0"),
        ("1.2.0", "1.2.0"),
        ("^0.1", "0.1.7"),
        ("^0.1.4", "0.1.7"),
        ("^0.0.4", "0.0.4"),
        ("^0.9 || ^2", "2.0.0"),
        ("^0.9 || ~1.2", "1.2.5"),
        ("1.2 - 1.4", "1.4.2"),
        ("1.2.0 - 1.2.4", "1.2.0"),
        ("1.0 - 2", "2.0.0"),
        ("^3", "v3.0.0"),
        ("~>1.2.0", "1.2.5"),
        ("^1.5.0-rc.0", "1.5.0-rc.1"),
        (">=1.5.0-beta <2", "1.5.0-rc.1"),
        ("^2.1.0-alpha", "2.1.0-beta"),
        ("^1 !=1.4.2", "1.2.5"),
        ("^1, != 1.4", "1.2.5"),
        ("~1.2 !=1.2.5", "1.2.0"),
        (">=1 !=2", "v3.0.0"),
    ],
)
def test_ranges(range_: str, winner: str) -> None:
    policy = registry.build_policy("semver", range_)
    assert policy.select(TAGS).tag == winner


@pytest.mark.parametrize(
    ("range_", "tags"),
    [
        ("^4", TAGS),
        ("^1.5", TAGS),  # only 1.5.0-rc.1, and the range names no pre-release
        (">=2.1.0 <3", TAGS),  # 2.1.0-beta is below 2.1.0
        ("^1", ["latest", "main", "sha-abc"]),
        ("^1", []),
    ],
)
def test_no_candidate(range_: str, tags: list[str]) -> None:
    assert registry.build_policy("semver", range_).select(tags).tag is None


def test_prerelease_ordering_follows_semver() -> None:
    tags = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
    ]
    ordered = sorted(tags, key=lambda t: semver_range.parse_version(t).key)
    assert ordered == tags
    assert registry.build_policy("semver", ">=1.0.0-alpha").select(tags).tag == "1.0.0-rc.1"
    policy = registry.build_policy("semver", ">=1.0.0-beta.2 <=1.0.0-beta.11")
    assert policy.select(tags[:6]).tag == "1.0.0-beta.11"


def test_prerelease_of_another_version_is_not_named() -> None:
    # ^1.2.0-rc.1 names pre-releases of 1.2.0 only: 1.3.0-rc.1 is skipped.
    policy = registry.build_policy("semver", "^1.2.0-rc.1")
    assert policy.select(["1.2.0-rc.2", "1.3.0-rc.1"]).tag == "1.2.0-rc.2"
    assert policy.select(["1.2.0-rc.2", "1.3.0-rc.1", "1.2.1"]).tag == "1.2.1"


def test_build_metadata_is_ignored_for_precedence() -> None:
    policy = registry.build_policy("semver", "^1")
    assert policy.select(["1.2.3_build.9", "1.2.4_build.1"]).tag == "1.2.4_build.1"
    assert semver_range.parse_version("1.2.3_build.5").build == "build.5"
    # Equal precedence: a deterministic choice (the alphabetically last tag).
    assert policy.select(["1.2.3_b", "1.2.3_a"]).tag == "1.2.3_b"


def test_ties_prefer_the_plain_full_version() -> None:
    policy = registry.build_policy("semver", "^1")
    assert policy.select(["v1.2.3", "1.2.3", "1.2"]).tag == "1.2.3"
    assert policy.select(["v1.2.3", "1.2"]).tag == "v1.2.3"
    assert policy.select(["1.3", "1.2.9"]).tag == "1.3"


def test_v_prefix_and_partial_tags() -> None:
    policy = registry.build_policy("semver", "~1.2")
    assert policy.select(["v1.2.0", "V1.2.7", "1.3.0"]).tag == "V1.2.7"
    assert semver_range.parse_version("1.2.3.4") is None
    assert semver_range.parse_version("1.2.3-01") is None  # numeric pre-release, padded


def test_zero_padded_calver_tags_are_versions() -> None:
    # Argo CD Image Updater (Masterminds' NewVersion) reads 2024.01.05 as 2024.1.5; Flux
    # ignores such tags. syncer reads them, so CalVer ranges work: >=2024.1.0, ^2024.
    tags = ["2023.12.28", "2024.01.05", "2024.01.19", "2024.02.01-rc.1", "latest"]
    assert registry.build_policy("semver", "^2024").select(tags).tag == "2024.01.19"
    assert registry.build_policy("semver", "<2024.1.10").select(tags).tag == "2024.01.05"
    assert semver_range.parse_version("01.2.3").triple == (1, 2, 3)
    # Ranges stay strict, as in npm: a padded bound is refused with the spelling to use.
    with pytest.raises(registry.InvalidPolicyError, match=r"'2024\.01' is not a version"):
        registry.build_policy("semver", ">=2024.01")


@pytest.mark.parametrize(
    "tags",
    list(itertools.permutations(["v1.2.3", "1.2.3", "1.2", "01.2.3", "1.2.3_b7", "V1.2.3"])),
)
def test_equal_precedence_ties_do_not_depend_on_listing_order(tags: tuple[str, ...]) -> None:
    # Flux keeps the first one listed, Argo CD whatever its sort leaves last; syncer
    # prefers three numbers, no zero padding, no v, then the alphabetically last.
    policy = registry.build_policy("semver", "^1")
    assert policy.select(list(tags)).tag == "1.2.3_b7"
    assert policy.select([t for t in tags if t != "1.2.3_b7"]).tag == "1.2.3"
    assert policy.select(["v1.2.3", "01.2.3", "1.2"]).tag == "v1.2.3"


def test_reason_explains_the_choice() -> None:
    tags = [*TAGS, "sha256-" + "b" * 64 + ".sig", "x.sbom"]
    selection = registry.build_policy("semver", "^1.2").select(tags)
    assert selection.reason == (
        "1.4.2: highest of 3 tags in ^1.2; 1 pre-release skipped; 2 non-semver tags "
        "ignored; 2 signature/SBOM tags excluded"
    )
    none = registry.build_policy("semver", "^9").select(["1.0.0"])
    assert none.reason == "no tag of 1 qualifies: none in ^9"


@pytest.mark.parametrize(
    ("range_", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("^1.2.z", "'1.2.z' is not a version"),
        ("^01.2", "'01.2' is not a version"),
        ("latest", "'latest' is not a version"),
        ("^1 ||", "empty alternative"),
        (">=>1", "is not a version"),
        ("1.2.3 - ", "is not a version"),
    ],
)
def test_invalid_ranges_are_errors(range_: str, message: str) -> None:
    with pytest.raises(registry.InvalidPolicyError, match="semver range") as err:
        registry.build_policy("semver", range_)
    assert message in str(err.value)


PRE_TAGS = ["1.0.0", "1.0.1-rc.1", "1.1.0-beta.2", "2.0.0-alpha", "0.9.0"]


@pytest.mark.parametrize(
    ("range_", "winner"),
    [
        (">=1.0.0-0", "2.0.0-alpha"),
        (">1.0.0-0", "2.0.0-alpha"),
        (">=1-0", "2.0.0-alpha"),
        ("*-0", "2.0.0-alpha"),
        (">=1.0.0-0 <2.0.0-0", "1.1.0-beta.2"),
        (">=1.0.0-0, <2.0.0-0", "1.1.0-beta.2"),
        ("^1.0.0-0", "1.1.0-beta.2"),
        ("^1.x-0", "1.1.0-beta.2"),
        ("^1-0", "1.1.0-beta.2"),
        ("1.x-0", "1.1.0-beta.2"),
        ("1.x.x-0", "1.1.0-beta.2"),
        ("=1.x-0", "1.1.0-beta.2"),
        ("~1.0.0-0", "1.0.1-rc.1"),
        ("~1.0-0", "1.0.1-rc.1"),
        ("1.0.0-0 - 1.1", "1.1.0-beta.2"),
        ("^0.9 || ^1.x-0", "1.1.0-beta.2"),
        # Without the idiom, releases only (npm): the -0 opens one alternative, not all.
        ("^0.9 || ^1.x", "1.0.0"),
        ("^1", "1.0.0"),
        (">=1.0.0", "1.0.0"),
    ],
)
def test_minus_zero_lower_bound_includes_prereleases_in_every_form(range_, winner) -> None:
    assert registry.build_policy("semver", range_).select(PRE_TAGS).tag == winner


TAG_TEXT = st.text(alphabet="0123456789vV.-+_abrcRC\n", max_size=16)


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(st.lists(st.one_of(TAG_TEXT, st.sampled_from(TAGS)), max_size=12))
def test_batch_scan_reads_tags_exactly_as_one_by_one(values: list[str]) -> None:
    # The policy reads a whole listing in one pass; it must agree with parse_version,
    # which Git sources and validation use, on what is a version and its precedence.
    one_by_one = [
        (value, version.key)
        for value in values
        if "\n" not in value and (version := semver_range.parse_version(value)) is not None
    ]
    assert list(semver_range.scan(values)) == one_by_one


def test_numbers_beyond_npms_largest_are_not_versions_in_a_batch() -> None:
    huge = str(semver_range.MAX_NUMBER + 1)
    assert list(semver_range.scan([f"1.{huge}.0", "1.2.3"])) == [("1.2.3", (1, 2, 3, 1, ()))]
    assert registry.build_policy("semver", "*").select([f"{huge}.0.0", "1.0.0"]).tag == "1.0.0"
