"""The package's public surface is pinned, and kubernetes stays inside syncer/apply."""

from __future__ import annotations

import ast
from pathlib import Path

import syncer
from syncer import apply

ROOT = Path(syncer.__file__).parent


def test_public_api_is_pinned() -> None:
    assert sorted(apply.__all__) == [
        "ClusterClient",
        "DeployResult",
        "DriftItem",
        "DriftReport",
        "HealthReport",
        "Identity",
        "ObjectPlan",
        "ObjectRef",
        "PlanResult",
        "RetryPolicy",
        "SyncResult",
        "check_gateway",
        "connect",
        "deploy",
        "drift",
        "errors",
        "plan",
        "read_round",
        "remove",
        "rollback",
        "sync",
        "wait_healthy",
    ]


def test_only_the_client_module_imports_kubernetes_in_apply() -> None:
    importers = []
    for path in (ROOT / "apply").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] in ("kubernetes", "urllib3") for name in names):
                importers.append(path.name)
    assert set(importers) <= {"client.py", "lease.py"}
    assert "client.py" in importers
