"""Webhooks name repositories in many spellings; the controller matches them loosely."""

from __future__ import annotations

import pytest

from syncer import controller
from syncer.reconcile import inputs


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://git.example.com/team/deploy.git", "https://git.example.com/team/deploy"),
        ("https://git.example.com/team/deploy", "git@git.example.com:team/deploy.git"),
        ("https://Git.Example.com/team/deploy/", "ssh://git@git.example.com/team/deploy.git"),
        ("http://user:pw@127.0.0.1:3000/team/deploy.git", "http://127.0.0.1:3000/team/deploy"),
    ],
)
def test_same_repository(a: str, b: str) -> None:
    assert controller.repo_key(a) == controller.repo_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://git.example.com/team/deploy", "https://git.example.com/team/deploy2"),
        ("https://git.example.com/team/deploy", "https://other.example.com/team/deploy"),
        ("https://git.example.com/Team/deploy", "https://git.example.com/team/deploy"),
    ],
)
def test_different_repository(a: str, b: str) -> None:
    assert controller.repo_key(a) != controller.repo_key(b)


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("team/web", "docker.io/team/web"),
        ("127.0.0.1:5000/team/web", "127.0.0.1:5000/team/web"),
        ("registry.example.com/team/web", "registry.example.com/team/web"),
    ],
)
def test_image_repositories_normalised_like_docker(written: str, normal: str) -> None:
    assert inputs.normalise_repository(written) == normal


def test_state_public_api_is_pinned() -> None:
    from syncer import state

    assert sorted(state.__all__) == [
        "Store", "cache_path", "open_for", "open_store", "records", "state_path", "store",
        "writer_lock",
    ]  # fmt: skip
