"""The rendered chart is accepted by a Kubernetes API: ``kubectl apply --server-side
--dry-run=server`` against the project's API test server (or a real cluster when
``SYNCER_TEST_KUBECONFIG`` names one)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.helm.conftest import NAMESPACE, Rendered

NAMESPACE_YAML = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"


@pytest.mark.integration
@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "replicaCount": 2,
            "existingSecret": "syncer-credentials",
            "rbac": {"readSecrets": [{"namespace": NAMESPACE, "name": "pull"}]},
        },
        {
            "rbac": {"scope": "namespaces", "namespaces": [NAMESPACE]},
            "persistence": {"enabled": False},
        },
    ],
    ids=["default", "two-replicas-with-secrets", "namespaced-no-persistence"],
)
def test_rendered_manifests_pass_server_side_dry_run(
    kube_clusters: Callable[..., list[Any]],
    render: Callable[..., Rendered],
    values: dict[str, Any],
) -> None:
    (cluster,) = kube_clusters(1)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=NAMESPACE_YAML, check=True)
    rendered = render(values)
    proc: subprocess.CompletedProcess[str] = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=rendered.text, check=False
    )
    assert proc.returncode == 0, proc.stderr
    applied = [line for line in proc.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(rendered.objects), proc.stdout
    # A dry run writes nothing.
    assert cluster.get("apps/v1", "Deployment", "t-syncer", NAMESPACE) is None
