"""Auth (401/403), injected faults, request counting, and a cluster going down and back up."""

from __future__ import annotations

import json
import time

import pytest
import requests
from kubernetes import client, watch

from tests.kubeapi import cluster
from tests.kubeapi.conftest import Api, configmap, deployment

pytestmark = pytest.mark.integration

CM = "/api/v1/namespaces/default/configmaps"


def test_unknown_or_missing_token_is_401_but_version_is_public(kube: cluster.KubeCluster) -> None:
    anonymous = Api(kube)
    assert anonymous.call("GET", "/version").json()["gitVersion"].startswith("v1.35")
    resp = anonymous.call("GET", CM)
    assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"
    assert Api(kube, "not-a-token").call("GET", "/apis").status_code == 401


def test_limited_token_is_forbidden_outside_its_grant(kube: cluster.KubeCluster, api: Api) -> None:
    api.call(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
    )
    token = kube.make_token(
        verbs=["get", "list", "patch"], namespaces=["team"], resources=["configmaps"]
    )
    limited = Api(kube, token)
    assert limited.call("GET", "/api/v1/namespaces/team/configmaps").status_code == 200
    assert limited.call("GET", "/apis").status_code == 200  # discovery is open to any user
    denied = limited.call(
        "POST", "/api/v1/namespaces/team/configmaps", configmap("x", {}, ns="team")
    )
    assert denied.status_code == 403
    body = denied.json()
    assert body["reason"] == "Forbidden" and body["details"]["kind"] == "configmaps"
    assert (
        'cannot create resource "configmaps" in API group "" in the namespace "team"'
        in body["message"]
    )
    assert limited.call("GET", CM).status_code == 403  # other namespace
    assert (
        limited.call("GET", "/api/v1/namespaces/team/secrets").status_code == 403
    )  # other resource
    assert limited.call("GET", "/api/v1/configmaps").status_code == 403  # cluster-wide list


def test_limited_kubeconfig_with_kubectl(kube: cluster.KubeCluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = kube.make_token(verbs=["get", "list"], resources=["configmaps"])
    path = kube.kubeconfig_for(token, tmp_path / "limited")
    proc = kube.kubectl("--kubeconfig", str(path), "create", "configmap", "x", "--from-literal=a=b")
    assert proc.returncode != 0 and "forbidden" in proc.stderr


def test_wrong_json_types_are_422_invalid(api: Api) -> None:
    bad = deployment("web")
    bad["spec"]["replicas"] = "many"
    resp = api.call(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web",
        bad,
        ctype="application/apply-patch+yaml",
        fieldManager="t",
    )
    assert (
        resp.status_code == 422 and resp.json()["details"]["causes"][0]["field"] == "spec.replicas"
    )
    bad = configmap("c", {"n": 1})  # type: ignore[dict-item]
    assert api.call("POST", CM, bad).status_code == 422


def test_request_log_counts_writes_but_not_dry_runs(kube: cluster.KubeCluster, api: Api) -> None:
    kube.request_log.clear()
    api.call("POST", CM, configmap("a", {}))
    api.call("POST", CM, configmap("b", {}), dryRun="All")
    api.call("GET", f"{CM}/a")
    api.call("DELETE", f"{CM}/a")
    assert kube.request_log.writes() == 2
    assert kube.request_log.count(method="GET") == 1
    assert kube.request_log.count(path_contains="/configmaps/a") == 2
    assert [r.status for r in kube.request_log] == [201, 201, 200, 200]
    assert kube.request_log[1].query == "dryRun=All"


def test_status_faults_with_count_then_recovery(kube: cluster.KubeCluster, api: Api) -> None:
    kube.set_fault("status", status=503, count=2, method="GET")
    assert api.call("GET", CM).status_code == 503
    resp = api.call("GET", CM)
    assert resp.status_code == 503 and resp.json()["reason"] == "ServiceUnavailable"
    assert api.call("GET", CM).status_code == 200
    kube.set_fault("status", status=500, path_contains="/secrets")
    assert api.call("GET", "/api/v1/namespaces/default/secrets").status_code == 500
    assert api.call("GET", CM).status_code == 200
    kube.clear_faults()
    assert api.call("GET", "/api/v1/namespaces/default/secrets").status_code == 200


def test_retry_after_latency_and_probability(kube: cluster.KubeCluster, api: Api) -> None:
    kube.set_fault("retry_after", seconds=3, count=1)
    resp = api.call("GET", CM)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert resp.json()["details"]["retryAfterSeconds"] == 3
    kube.set_fault("latency", seconds=0.3, count=1)
    started = time.monotonic()
    assert api.call("GET", CM).status_code == 200
    assert time.monotonic() - started >= 0.3
    kube.set_fault("status", status=500, probability=0.5)
    codes = [api.call("GET", CM).status_code for _ in range(40)]
    assert 5 < codes.count(500) < 35 and codes.count(200) == 40 - codes.count(500)


def test_dropped_connection(kube: cluster.KubeCluster, api: Api) -> None:
    kube.set_fault("drop", count=1)
    with pytest.raises(requests.ConnectionError):
        api.call("GET", CM)
    assert api.call("GET", CM).status_code == 200


def test_watch_cut_mid_stream(kube: cluster.KubeCluster) -> None:
    kube.set_fault("watch_cut", seconds=0.5, count=1)
    core = client.CoreV1Api(kube.api_client())
    started = time.monotonic()
    with pytest.raises(Exception) as info:  # urllib3 raises its ProtocolError
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", timeout_seconds=10
        ):
            pass
    assert time.monotonic() - started < 5
    assert "ProtocolError" in type(info.value).__name__ or "IncompleteRead" in repr(info.value)


def test_stop_refuses_connections_and_start_keeps_state(
    kube: cluster.KubeCluster, api: Api
) -> None:
    api.call("POST", CM, configmap("kept", {"a": "1"}))
    assert api.call("GET", CM).status_code == 200  # leaves a keep-alive connection open
    port = kube.port
    kube.stop()
    with pytest.raises(requests.ConnectionError):
        api.call("GET", CM)
    with pytest.raises(requests.ConnectionError):
        Api(kube, kube.token).call("GET", CM)
    kube.start()
    assert kube.port == port
    fresh = Api(kube, kube.token)
    assert fresh.call("GET", f"{CM}/kept").json()["data"] == {"a": "1"}


def test_stop_cuts_open_watches(kube: cluster.KubeCluster, api: Api) -> None:
    session = Api(kube, kube.token).session
    resp = session.get(f"{kube.url}{CM}", params={"watch": "true"}, stream=True, timeout=10)
    lines = resp.iter_lines()
    kube.stop()
    with pytest.raises(requests.exceptions.RequestException):
        for line in lines:
            json.loads(line)
    kube.start()


RBAC_OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: syncer}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: syncer}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-config, namespace: syncer}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [allowed]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: robot-reads, namespace: syncer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-config}
subjects:
- {kind: ServiceAccount, name: robot, namespace: syncer}
"""


def test_service_account_tokens_follow_rbac_objects(kube: cluster.KubeCluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = kube.kubectl("apply", "-f", "-", input=RBAC_OBJECTS)
    assert proc.returncode == 0, proc.stderr
    token = kube.kubectl("create", "token", "robot", "-n", "syncer").stdout.strip()
    assert token
    path = str(kube.kubeconfig_for(token, tmp_path / "robot"))
    assert kube.kubectl("--kubeconfig", path, "-n", "syncer", "get", "configmaps").returncode == 0
    denied = kube.kubectl("--kubeconfig", path, "-n", "syncer", "get", "deployments")
    assert denied.returncode != 0
    assert (
        'User "system:serviceaccount:syncer:robot" cannot list resource "deployments"'
        in denied.stderr
    )
    assert kube.kubectl("--kubeconfig", path, "-n", "default", "get", "configmaps").returncode != 0
    can = kube.kubectl("--kubeconfig", path, "-n", "syncer", "auth", "can-i", "list", "configmaps")
    assert (can.returncode, can.stdout.strip()) == (0, "yes")
    cannot = kube.kubectl(
        "--kubeconfig", path, "-n", "syncer", "auth", "can-i", "delete", "configmaps"
    )
    assert cannot.stdout.strip() == "no" and cannot.returncode != 0
    robot = Api(kube, kube.make_token(service_account="syncer/robot"))
    assert (
        robot.call("GET", "/api/v1/namespaces/syncer/secrets/allowed").status_code == 404
    )  # allowed, absent
    assert robot.call("GET", "/api/v1/namespaces/syncer/secrets/other").status_code == 403
    assert robot.call("GET", "/api/v1/namespaces/syncer/secrets").status_code == 403
    # a ClusterRoleBinding to the seeded cluster-admin role opens everything
    Api(kube, kube.token).call(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "robot-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "syncer"}],
        },
    )
    assert robot.call("GET", "/apis/apps/v1/deployments").status_code == 200
    assert kube.kubectl("--kubeconfig", path, "get", "nodes").returncode == 0
