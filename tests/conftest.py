"""Fixtures shared by all tests: the real servers live in plugin modules of their own."""

from __future__ import annotations

import os

from tests.binaries import CACHE_BIN

pytest_plugins = [
    "tests.servers.git_fixtures",
    "tests.servers.registry_fixtures",
    "tests.servers.receivers",
    "tests.servers.chart_repo",
    "tests.kubecluster.fixtures",
]

# Subprocesses started by tests (kubectl, helm, git) find the pinned binaries first.
os.environ["PATH"] = f"{CACHE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
