"""The ignore list: Go ``filepath.Match`` globs (Argo CD Image Updater's ``ignore-tags``)."""

from __future__ import annotations

import pytest

import registry
from registry.policies import ignore


@pytest.mark.parametrize(
    ("glob", "tag", "ignored"),
    [
        ("*-debug", "1.2.0-debug", True),
        ("*-debug", "1.2.0-debugger", False),
        ("v1.2.?", "v1.2.7", True),
        ("v1.2.?", "v1.2.10", False),
        ("[0-9]*-rc*", "2.0.0-rc.1", True),
        ("[^0-9]*", "latest", True),
        ("[^0-9]*", "1.0.0", False),
        ("1.0.\\*", "1.0.*", True),
        ("1.0.\\*", "1.0.5", False),
        ("latest", "latest", True),
        ("latest", "latest-2", False),
        ("1.2.3", "1x2y3", False),  # dots are literal, not regex
    ],
)
def test_globs_match_like_go_filepath_match(glob: str, tag: str, ignored: bool) -> None:
    assert ignore.TagIgnore.build([glob]).ignores(tag) is ignored


@pytest.mark.parametrize(
    ("glob", "problem"),
    [
        ("[a-", "never closed"),
        ("[]", "must be escaped"),
        ("1.0\\", "lone '\\'"),
        ("[z-a]", "backwards"),
        ("", "empty glob"),
    ],
)
def test_malformed_globs_are_errors(glob: str, problem: str) -> None:
    with pytest.raises(registry.InvalidPolicyError, match="ignore") as err:
        registry.build_policy("semver", "^1", ignore_tags=[glob])
    assert problem in str(err.value)


def test_ignored_tags_are_never_chosen_and_the_reason_says_so() -> None:
    policy = registry.build_policy("semver", "^1", ignore_tags=["*-debug", "1.4.*"])
    selection = policy.select(["1.5.0-debug", "1.4.2", "1.4.0", "1.3.0", "2.0.0"])
    assert selection.tag == "1.3.0"
    assert selection.reason == "1.3.0: highest of 1 tag in ^1; 3 tags on the ignore list"
    # The ignore list is part of the policy's name: cached answers never mix.
    assert policy.label == "semver:^1 ignore=*-debug,1.4.*"


def test_digest_policy_takes_no_ignore_list() -> None:
    with pytest.raises(registry.InvalidPolicyError, match="ignore list does not apply"):
        registry.build_policy("digest", "latest", ignore_tags=["x"])
