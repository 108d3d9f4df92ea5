"""Helpers for Git source tests: a GitSources on a temporary cache, sources made to order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from syncer.config import model
from syncer.source import sources as sources_mod

SECRETS = {"GIT_USER": "git-user", "GIT_TOKEN": "git-token-123", "BAD_TOKEN": "wrong"}


def fake_resolver(ref: model.SecretRef, *, secret: bool = True) -> str:
    """Secret values by env name, without touching the real environment."""
    return SECRETS[ref.name]


def make_source(name: str, url: str, **git: object) -> model.Source:
    auth = git.pop("auth", None)
    return model.Source(name=name, git=model.GitSource(url=url, auth=auth, **git))  # type: ignore[arg-type]


def http_auth(user: str = "GIT_USER", token: str = "GIT_TOKEN") -> model.GitAuth:
    return model.GitAuth(
        username_from=model.SecretRef(kind="env", name=user),
        password_from=model.SecretRef(kind="env", name=token),
    )


@pytest.fixture
def git_sources(tmp_path: Path) -> Callable[..., sources_mod.GitSources]:
    def factory(**settings: object) -> sources_mod.GitSources:
        return sources_mod.GitSources(
            sources_mod.Settings(cache_dir=tmp_path / "cache", base_dir=tmp_path, **settings),  # type: ignore[arg-type]
            resolve_secret=fake_resolver,
        )

    return factory
