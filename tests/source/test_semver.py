"""A Git source's semver range: the forms users write, and what they must not pick.

Git sources use the image policies' ranges (``registry.policies.semver_range``): the
same text validates and runs the same way in both places.
"""

from __future__ import annotations

import pytest

from syncer import errors as syncer_errors
from syncer.config import loader, model
from syncer.source import errors, refs

CONFIG = """
sources:
  - name: deploy
    git: {url: https://git.example.com/team/deploy.git, semver: "%s"}
clusters:
  - {name: dev}
apps:
  - {name: web, source: deploy, clusters: [dev]}
"""

TAGS = ["v0.9.0", "v1.0.0", "v1.2.0", "v1.2.5", "1.3.0", "v1.4.0-rc.1", "v2.0.0", "v2.1.0",
        "latest", "v3.0.0-beta.2", "v3.0.0-beta.10"]  # fmt: skip


def _select(range_: str, tags: list[str] = TAGS) -> str | None:
    remote = refs.RemoteRefs(commits={f"refs/tags/{t}": f"{i:040d}" for i, t in enumerate(tags)})
    try:
        target = refs.select(
            git=model.GitSource(url="x", semver=range_), remote=remote, where="source 's'"
        )
    except errors.RefNotFoundError as err:
        if "no tag matches" in str(err):
            return None
        raise
    return target.ref.removeprefix("refs/tags/")


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        ("^1.2", "1.3.0"),
        ("^1.2.5", "1.3.0"),
        ("~1.2.0", "v1.2.5"),
        ("~1.2", "v1.2.5"),
        (">=1.0 <2", "1.3.0"),
        (">= 1.0 < 2", "1.3.0"),
        (">=1.0, <2.0", "1.3.0"),
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
        (">=1.0.0-0", "v3.0.0-beta.10"),
        ("^1.x-0", "v1.4.0-rc.1"),
        ("^4", None),
    ],
)
def test_highest_matching_tag(range_, expected):
    assert _select(range_) == expected


def test_prereleases_never_match_plain_ranges():
    assert _select(">=1", ["v1.0.0", "v1.1.0-rc.1"]) == "v1.0.0"


@pytest.mark.parametrize("range_", [">=1.0, <2.0", "^1.x-0", "1.x.5", ">=banana", "^1 ||"])
def test_validation_and_selection_agree(range_):
    # What `syncer validate` accepts is what a poll runs; what it refuses a poll refuses.
    try:
        loader.loads(CONFIG % range_, filename="syncer.yaml", base_dir="/tmp")
        problems = False
    except syncer_errors.ConfigError:
        problems = True
    try:
        _select(range_)
        refused = False
    except errors.RefNotFoundError:
        refused = True
    assert problems == refused


def test_invalid_range_says_what_to_write():
    with pytest.raises(errors.RefNotFoundError, match=r"'banana' is not a version; write e\.g"):
        _select(">=banana")
