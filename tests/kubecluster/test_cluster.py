"""The real test clusters themselves: what every cluster-facing test relies on.

The workloads come from the real controllers with the fake kubelet's pods; the fault
proxy's faults reach clients as a real apiserver's would; reset leaves nothing of a
test behind; scoped tokens meet real RBAC; the serve command starts and stops clusters.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.binaries import REPO_ROOT
from tests.waiting import eventually

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "%s"}]}
"""
JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: default}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "%s"}]
"""


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


def test_deployments_roll_out_and_a_failing_image_exceeds_its_deadline(kube_clusters: Any) -> None:
    (cluster,) = kube_clusters(1)
    cluster.fail_image(":broken")
    cluster.kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT % "web:1", check=True)
    done = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert done.returncode == 0, done.stderr
    pods = cluster.list_objects("v1", "Pod", namespace="default")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
    cluster.kubectl(
        "apply", "--server-side", "-f", "-", input=DEPLOYMENT % "web:broken", check=True
    )
    failed = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert failed.returncode != 0 and "exceeded its progress deadline" in failed.stderr
    live = cluster.get("apps/v1", "Deployment", "web", "default")
    assert _condition(live, "Progressing")["reason"] == "ProgressDeadlineExceeded"
    assert live["status"]["availableReplicas"] == 2  # the old pods keep serving


@pytest.mark.parametrize(("image", "outcome"), [("m:1", "Complete"), ("m:broken", "Failed")])
def test_job_pods_succeed_or_fail_as_the_test_says(
    kube_clusters: Any, image: str, outcome: str
) -> None:
    (cluster,) = kube_clusters(1)
    cluster.fail_image(":broken")
    cluster.kubectl("apply", "--server-side", "-f", "-", input=JOB % image, check=True)
    assert eventually(
        lambda: (
            _condition(cluster.get("batch/v1", "Job", "migrate", "default"), outcome).get("status")
            == "True"
        )
    )


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "status", "status": 503}, "ServiceUnavailable"),
        ({"kind": "retry_after", "seconds": 1}, "429"),
        ({"kind": "drop"}, "EOF"),
    ],
    ids=["503", "429", "drop"],
)
def test_faults_reach_kubectl_and_stop_when_cleared(
    kube_clusters: Any, fault: dict[str, Any], expected: str
) -> None:
    (cluster,) = kube_clusters(1)
    cluster.kubectl("get", "namespaces", check=True)  # discovery cached before the fault
    cluster.set_fault(fault.pop("kind"), method="GET", path_contains="/configmaps", **fault)
    broken = cluster.kubectl("get", "configmaps", "-v=6", "--request-timeout=5s")
    assert broken.returncode != 0
    assert expected in broken.stderr, broken.stderr[-2000:]
    cluster.clear_faults()
    assert cluster.kubectl("get", "configmaps").returncode == 0
    statuses = [r.status for r in cluster.request_log if r.path.endswith("/configmaps")]
    assert statuses[-1] == 200 and statuses[0] != 200


def test_going_down_refuses_clients_and_coming_back_keeps_state(kube_clusters: Any) -> None:
    (cluster,) = kube_clusters(1)
    cluster.kubectl("create", "configmap", "kept", "--from-literal=k=v", check=True)
    cluster.stop()
    down = cluster.kubectl("get", "configmap", "kept", "--request-timeout=5s")
    assert down.returncode != 0 and "refused" in down.stderr
    cluster.start()
    back = cluster.kubectl("get", "configmap", "kept", "-o", "json", check=True)
    assert json.loads(back.stdout)["data"] == {"k": "v"}


def test_scoped_tokens_meet_real_rbac(kube_clusters: Any, tmp_path: Path) -> None:
    (cluster,) = kube_clusters(1)
    token = cluster.make_token(verbs=["get", "list"], namespaces=["team"])
    cluster.kubeconfig = str(cluster.kubeconfig_for(token, tmp_path / "team.kubeconfig"))
    assert cluster.kubectl("-n", "team", "get", "configmaps").returncode == 0
    refused = cluster.kubectl("-n", "team", "create", "configmap", "x")
    assert refused.returncode != 0 and "forbidden" in refused.stderr
    elsewhere = cluster.kubectl("-n", "default", "get", "configmaps")
    assert elsewhere.returncode != 0 and "forbidden" in elsewhere.stderr


def test_reset_leaves_nothing_of_the_last_test(kube_clusters: Any) -> None:
    (cluster,) = kube_clusters(1)
    for namespace in ("web", "kube-system"):
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        cluster.kubectl("-n", namespace, "create", "configmap", "left", check=True)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT % "web:1", check=True)
    cluster.set_fault("latency", seconds=0.01)
    cluster.fail_image("web:1")
    cluster.stop()
    cluster.reset(name=cluster.name, workload_delay=0.2)
    assert cluster.running and not cluster.request_log
    assert cluster.get("v1", "Namespace", "web") is None
    assert cluster.get("v1", "ConfigMap", "left", "kube-system") is None
    assert cluster.get("apps/v1", "Deployment", "web", "default") is None
    assert cluster.get("v1", "ServiceAccount", "default", "default") is not None
    # The same names can be used again at once, and pods turn ready again.
    cluster.kubectl("create", "namespace", "web", check=True)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT % "web:1", check=True)
    done = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert done.returncode == 0, done.stderr


def test_serve_command_starts_real_clusters_and_stops_them(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.kubeapi", "serve", "--port", "0",
         "--kubeconfig", str(kubeconfig), "--clusters", "2"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert eventually(kubeconfig.exists, timeout=120), proc.stderr
        from tests import binaries

        for context in ("kube-0", "kube-1"):
            answer = subprocess.run(
                [binaries.require("kubectl"), f"--kubeconfig={kubeconfig}",
                 f"--context={context}", "version", "-o", "json"],
                capture_output=True, text=True, check=True,
                env={**os.environ, "HOME": str(tmp_path)},
            )  # fmt: skip
            assert json.loads(answer.stdout)["serverVersion"]["gitVersion"].startswith("v1.37")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "cluster kube-1 serving on https://127.0.0.1:" in out
    # Every front door and apiserver it started is gone.
    ports = [int(port) for port in re.findall(r"https://127\.0\.0\.1:(\d+)", out)]
    assert len(ports) == 4
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
