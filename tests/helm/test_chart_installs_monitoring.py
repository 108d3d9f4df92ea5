"""``helm install`` with every optional piece on (Ingress, PodDisruptionBudget,
ServiceMonitor, PrometheusRule, Grafana dashboard) into a real cluster: refused with a
clear message while the Prometheus Operator's CRDs are missing, and accepted by the API
server, which checks each object against its schema, once they are installed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helm.conftest import CHART, NAMESPACE
from tests.helm.test_chart_monitoring import EVERYTHING
from tests.promtool import build as promtool_build
from tests.waiting import eventually

# A real cluster and a real syncer (or helm install twice): more than the default on a busy machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RELEASE = "t"
FULLNAME = f"{RELEASE}-syncer"


def test_install_with_monitoring_needs_the_crds_and_then_creates_everything(
    kube_clusters: Callable[..., list[Any]],
    helm: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    promtool_build.require()  # it also fetches the Prometheus Operator's CRDs
    (cluster,) = kube_clusters(1)
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps({**EVERYTHING, "persistence": {"enabled": False}}))
    where = ["--namespace", NAMESPACE, "--kubeconfig", cluster.kubeconfig]
    where += ["--kube-context", cluster.context]
    install = ["install", RELEASE, str(CHART), "--create-namespace", "--values", str(values)]

    refused = helm(*install, *where, check=False)
    assert refused.returncode != 0
    assert "needs the Prometheus Operator CRD monitoring.coreos.com/v1" in refused.stderr

    for crd in promtool_build.crd_files():
        cluster.kubectl("apply", "--server-side", "-f", str(crd), check=True)
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
        check=True,
    )  # fmt: skip

    installed = helm(*install, *where)
    assert "STATUS: deployed" in installed.stdout
    # What the API server accepted and keeps.
    monitor = cluster.get("monitoring.coreos.com/v1", "ServiceMonitor", FULLNAME, NAMESPACE)
    assert monitor is not None
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    rule = cluster.get("monitoring.coreos.com/v1", "PrometheusRule", FULLNAME, NAMESPACE)
    assert rule is not None
    alerts = [r["alert"] for r in rule["spec"]["groups"][0]["rules"]]
    assert alerts == [
        "SyncerAppUnhealthy",
        "SyncerRolloutFailed",
        "SyncerApprovalPending",
        "SyncerGitSourceUnreachable",
        "SyncerRegistryUnreachable",
        "SyncerNoLeader",
    ]
    ingress = cluster.get("networking.k8s.io/v1", "Ingress", f"{FULLNAME}-webhooks", NAMESPACE)
    assert ingress is not None
    budget = cluster.get("policy/v1", "PodDisruptionBudget", FULLNAME, NAMESPACE)
    assert budget is not None and budget["spec"]["maxUnavailable"] == 1
    dashboard = cluster.get("v1", "ConfigMap", f"{FULLNAME}-dashboard", NAMESPACE)
    assert dashboard is not None and json.loads(dashboard["data"]["syncer.json"])["panels"]
    service = cluster.get("v1", "Service", FULLNAME, NAMESPACE)
    assert service is not None
    assert [p["name"] for p in service["spec"]["ports"]] == ["http", "webhooks"]
    # Two replicas come up, and the budget counts them.
    assert eventually(
        lambda: (
            (cluster.get("policy/v1", "PodDisruptionBudget", FULLNAME, NAMESPACE) or {})
            .get("status", {})
            .get("currentHealthy")
            == 2
        ),
        timeout=90,
    )
