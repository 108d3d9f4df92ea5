"""Finding the real binaries integration tests need (git, docker-registry, kubectl, helm...).

``require(name)`` returns the binary's path. When it is missing, the test fails under
``CI=true`` (CI must never pass by skipping) and skips with a loud reason elsewhere.
``tests/setup`` installs kubectl and helm into ``.cache/bin``, which is searched first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_BIN = REPO_ROOT / ".cache" / "bin"


def find(name: str) -> str | None:
    """The binary's path, preferring the ones tests/setup installed, or None."""
    cached = CACHE_BIN / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )


def require(name: str) -> str:
    """The binary's path; fail in CI, skip elsewhere, when it is not installed."""
    path = find(name)
    if path:
        return path
    missing(f"binary {name!r} not found: run tests/setup (as root for Debian packages)")


def missing(reason: str) -> NoReturn:
    """Fail under CI (CI must never pass by skipping), skip elsewhere, saying ``reason``."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
