"""Tenants end to end on real clusters: what renders outside a tenant's bounds is refused
by plan and sync before any write (and shown by status and history), and a tenant that
impersonates applies as its own ServiceAccount, bounded by the cluster's RBAC, which
the API server's audit log records."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.test_plan_sync_agree import run
from tests.waiting import eventually

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: "%s"}
"""
CLUSTER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: team-a-reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: %s}
data: {k: v}
"""


def write_config(tmp: Path, *, url: str, kubeconfig: str, apps: list[dict[str, Any]]) -> str:
    team_a = {
        "name": "team-a",
        "sources": [{"repo": url, "path": "*"}],
        "clusters": ["a"],
        "namespaces": ["team-a", "team-a-*"],
        "registries": ["registry.example.com/team-a"],
        "kinds": {"deny": ["Secret"]},
        "gateway": {"checkQuota": False},
    }
    team_b = {
        "name": "team-b",
        "sources": [{"repo": url, "path": "b/*"}],
        "clusters": ["a"],
        # Its gateway lets it write to team-a too: the cluster's RBAC is what stops it.
        "namespaces": ["team-b", "team-a"],
        "impersonate": {"serviceAccount": "team-b/deployer"},
    }
    data = {
        "sources": [{"name": "deploy", "git": {"url": url, "branch": "main"}}],
        "clusters": [{"name": "a", "kubeconfig": kubeconfig, "context": "a"}],
        "tenants": [team_a, team_b],
        "apps": [
            {
                "source": "deploy",
                "clusters": ["a"],
                "sync": {"wait": "10s", "rollbackOnFailure": False},
                **app,
            }
            for app in apps
        ],
        "state": {"path": "state/syncer.db"},
    }
    path = tmp / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_objects_outside_the_tenant_are_refused_by_plan_and_sync_before_any_write(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    for namespace in ("team-a", "other"):
        a.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    repo = git_http.create_repo(
        "deploy",
        {
            "web/deploy.yaml": DEPLOYMENT % ("other", "docker.io/library/nginx:1"),
            "web/role.yaml": CLUSTER_ROLE,
            "web/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: token}\n",
        },
    )
    config = write_config(
        tmp_path,
        url=repo.url,
        kubeconfig=a.kubeconfig,
        apps=[{"name": "web", "path": "web", "namespace": "team-a", "tenant": "team-a"}],
    )
    refusals = [
        "tenant team-a allows namespaces team-a, team-a-*; Deployment other/web is in other",
        "tenant team-a allows images from registry.example.com/team-a; Deployment other/web"
        " spec.template.spec.containers[web] uses docker.io/library/nginx:1",
        "tenant team-a allows no cluster-scoped kinds (kinds.clusterScoped);"
        " ClusterRole team-a-reader is cluster-scoped",
        "tenant team-a denies kinds Secret; Secret team-a/token is one",
    ]
    a.request_log.clear()
    for command in ("plan", "sync"):
        code, out = run(capsys, command, "-c", config)
        assert code == 1, out
        for refusal in refusals:
            assert refusal in out, (command, refusal, out)
    assert a.request_log.writes() == 0
    assert a.get("apps/v1", "Deployment", "web", namespace="other") is None
    code, out = run(capsys, "history", "-c", config, "web")
    assert code == 0 and refusals[0] in out, out
    code, out = run(capsys, "status", "-c", config, "web")
    assert "tenant team-a allows namespaces" in out, out


def test_a_tenant_applies_as_its_service_account_and_the_clusters_rbac_bounds_it(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    started = time.time()
    for namespace in ("team-a", "team-b"):
        a.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    # The tenant's account may do anything in its own namespace, nothing elsewhere.
    a.put(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": "team-b"},
        }
    )
    a.put(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer", "namespace": "team-b"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team-b"}],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
        }
    )
    repo = git_http.create_repo(
        "deploy",
        {
            "b/web/deploy.yaml": DEPLOYMENT % ("team-b", "web:1"),
            "b/reach/config.yaml": CONFIGMAP % "team-a",
        },
    )
    config = write_config(
        tmp_path,
        url=repo.url,
        kubeconfig=a.kubeconfig,
        apps=[
            {"name": "web", "path": "b/web", "namespace": "team-b", "tenant": "team-b"},
            {
                "name": "reach",
                "path": "b/reach",
                "namespace": "team-b",
                "tenant": "team-b",
                "gateway": {"allowedNamespaces": ["team-a"]},
            },
        ],
    )
    code, out = run(capsys, "sync", "-c", config, "web")
    assert code == 0, out
    assert a.get("apps/v1", "Deployment", "web", namespace="team-b") is not None

    code, out = run(capsys, "sync", "-c", config, "reach")
    assert code == 1, out
    # Its reads are the tenant's too: listing what it owns there is already refused.
    assert 'cannot list resource "configmaps"' in out, out
    assert 'User "system:serviceaccount:team-b:deployer" cannot' in out, out
    assert "syncer acts as system:serviceaccount:team-b:deployer here" in out, out
    assert a.get("v1", "ConfigMap", "settings", namespace="team-a") is None

    def applied_as_tenant() -> list[dict[str, Any]]:
        return [
            event
            for event in a.audit_events(since=started)
            if (event.get("objectRef") or {}).get("resource") == "deployments"
            and (event.get("objectRef") or {}).get("name") == "web"
            and event.get("verb") == "patch"
            and event.get("stage") == "ResponseComplete"
        ]

    assert eventually(applied_as_tenant), "the apply never showed in the audit log"
    [event, *_] = applied_as_tenant()
    assert event["user"]["username"] == "admin"  # syncer's own credentials ...
    assert event["impersonatedUser"]["username"] == "system:serviceaccount:team-b:deployer"
    assert event["responseStatus"]["code"] == 201 or event["responseStatus"]["code"] == 200
