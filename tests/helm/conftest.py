"""Rendering the chart in helm/syncer with the real helm binary."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.binaries import REPO_ROOT, require

CHART = REPO_ROOT / "helm" / "syncer"
NAMESPACE = "syncer"


@pytest.fixture
def helm(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run helm with its cache/config/data homes in a temporary directory."""
    binary = require("helm")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )
        if check and proc.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{proc.stderr}", pytrace=False)
        return proc

    return run


class Rendered:
    """The objects of one ``helm template``, by kind."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.objects: list[dict[str, Any]] = [
            doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)
        ]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    @property
    def container(self) -> dict[str, Any]:
        return self.one("Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture
def render(
    helm: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> Callable[..., Rendered]:
    """``render(values_dict)`` → the rendered objects (release "t" in namespace syncer);
    ``api_versions`` are kinds the cluster is said to serve (CRDs)."""

    def run(values: dict[str, Any] | None = None, *, api_versions: Sequence[str] = ()) -> Rendered:
        args = ["template", "t", str(CHART), "--namespace", NAMESPACE]
        for kind in api_versions:
            args += ["--api-versions", kind]
        if values:
            path = tmp_path / f"values-{len(list(tmp_path.glob('values-*')))}.yaml"
            path.write_text(json.dumps(values))
            args += ["--values", str(path)]
        return Rendered(helm(*args).stdout)

    return run
