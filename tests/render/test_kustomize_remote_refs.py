"""Every reference kustomize would fetch over the network is refused before it runs.

The table is kustomize's own (``testdata/kustomize-repospec``): each URL its parser turns
into a remote repository must be refused, and those it does not parse stay local paths
unless kustomize would download them as files (``https://``) or they are URLs anyway.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncer.render import errors as render_errors
from syncer.render import remote
from tests.render.conftest import CM, render_tree, write_tree

TABLE = json.loads(
    (Path(__file__).parent / "testdata" / "kustomize-repospec" / "repospec.json").read_text()
)
# Kustomize's parser refuses these; what syncer makes of each (None: a local path).
REJECTED_BY_KUSTOMIZE = {
    "/tmp": None,  # absolute: refused as such by the path checks
    "../../tmp": None,  # relative: must stay inside the repository
    "src/github.com/org/repo/path": None,
    "iauhsdiuashduas": None,
    "htxxxtp://github.com/": "a URL",
    "ssh://git.example.com": "a URL",
    "git::___": "a URL",
    "https://host?ref=group/version/minor_version": "a remote file",
    "https://github.com/org/repo.git//path/../../exits/repo": "a remote file",
    "github.com!org/repo.git//path": None,
    "gh:org/repo": "a URL",
    "https://github.com/thisisa404.yaml": "a remote file",
    "git@scp://github.com/org/repo.git//path": "a URL",
    "git@ssh://github.com/org/repo.git//path": "a URL",
}


@pytest.mark.parametrize("url", TABLE["accepted"])
def test_every_url_kustomize_clones_is_remote(url: str) -> None:
    assert remote.is_repo_url(url)
    assert remote.reason(url) == "a remote base (kustomize would clone it)"


@pytest.mark.parametrize("row", TABLE["rejected"], ids=[r["url"] for r in TABLE["rejected"]])
def test_urls_kustomize_does_not_clone(row: dict[str, str]) -> None:
    assert not remote.is_repo_url(row["url"])
    expected = REJECTED_BY_KUSTOMIZE[row["url"]]
    found = remote.reason(row["url"])
    assert (found is None) if expected is None else (found or "").startswith(expected)


@pytest.mark.parametrize(
    "entry",
    [
        "GitHub.com/org/repo//base?ref=v1",
        "git@git.example.com:org/repo",
        "deploy@git.example.com/org/repo",
        "ssh://git@git.example.com/org/repo",
        "HTTPS://git.example.com/org/repo//base",
        "git::https://git.example.com/org/repo",
        "gh:org/repo",
        "github.com/org/repo?ref=main",
        "https://raw.example.com/manifests/cm.yaml",
        "file:///srv/repo",
    ],
)
@pytest.mark.parametrize("field", ["resources", "components", "bases"])
def test_remote_forms_are_refused_before_kustomize_runs(
    tmp_path: Path, entry: str, field: str
) -> None:
    # No kustomize binary is given: the refusal must come first, from the check.
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": f"{field}:\n- {entry}\n"})
    with pytest.raises(render_errors.UnsafePathError, match="remote resources are not allowed"):
        render_tree(repo)


def test_remote_patch_file_is_refused(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": (
                "resources: [cm.yaml]\npatches:\n- path: https://example.com/patch.yaml\n"
            ),
            "app/cm.yaml": CM % "a",
        },
    )
    with pytest.raises(render_errors.UnsafePathError, match="a remote file"):
        render_tree(repo)


def test_a_local_directory_named_like_a_repository_is_still_remote(tmp_path: Path) -> None:
    # kustomize tries the repository URL before the local directory of the same name.
    repo = write_tree(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": "resources:\n- git@host/org/repo\n",
            "app/git@host/org/repo/kustomization.yaml": "resources: []\n",
        },
    )
    with pytest.raises(render_errors.UnsafePathError, match="remote base"):
        render_tree(repo)
