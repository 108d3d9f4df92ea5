"""Fixtures of the CLI tests that run the installed ``syncer`` console script: its path,
an environment whose PATH finds it, and a config with apps, clusters and stages to name."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NAMES_CONFIG = """\
sources:
  - name: deploy
    git: {url: "https://git.invalid/deploy.git", branch: main}
clusters:
  - {name: dev-east, kubeconfig: kube, context: dev}
  - {name: prod-west, kubeconfig: kube, context: prod}
apps:
  - {name: web, source: deploy, path: web, namespace: web, clusters: [dev-east, prod-west]}
  - {name: worker, source: deploy, path: worker, namespace: worker, clusters: [dev-east]}
pipelines:
  - app: web
    stages:
      - {name: dev, clusters: [dev-east]}
      - {name: canary, clusters: [prod-west], after: dev}
state: {path: state/syncer.db}
"""


@pytest.fixture
def syncer_exe() -> str:
    """The ``syncer`` console script of the environment running the tests."""
    exe = Path(sys.executable).with_name("syncer")
    assert exe.is_file(), f"{exe}: not installed (pip install -e .)"
    return str(exe)


@pytest.fixture
def cli_env(syncer_exe: str) -> dict[str, str]:
    """The environment with ``syncer`` first on PATH and no colour settings inherited."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PATH"] = f"{Path(syncer_exe).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def names_config(tmp_path: Path) -> Path:
    """Two apps (web, worker), two clusters (dev-east, prod-west), web's stages dev and
    canary; nothing it names needs to be reachable."""
    path = tmp_path / "syncer.yaml"
    path.write_text(NAMES_CONFIG)
    return path
