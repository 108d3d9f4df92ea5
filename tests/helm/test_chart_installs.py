"""The chart installed with ``helm install`` into a real cluster, and syncer run with the
chart's ServiceAccount token: every request syncer makes is allowed, and the chart's
RBAC grants nothing syncer does not use (least privilege, measured from the requests).

The app deploys one object of every kind the chart's default rules name, then a second
commit prunes them all but one ConfigMap, so each granted verb has a reason to exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.conftest import CHART, NAMESPACE, Rendered
from tests.waiting import eventually

pytestmark = pytest.mark.integration

APP_NS = "demo"
RELEASE = "t"
SERVICE_ACCOUNT = f"{RELEASE}-syncer"
LABELS = {"app": "demo"}
TEMPLATE = {
    "metadata": {"labels": LABELS},
    "spec": {"containers": [{"name": "c", "image": "registry.example.com/demo:1"}]},
}


def _object(api_version: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **fields}


EVERY_KIND = [
    _object("v1", "ConfigMap", "keep", data={"k": "v"}),
    _object("v1", "ConfigMap", "pruned", data={"k": "v"}),
    _object("v1", "ServiceAccount", "demo"),
    _object("v1", "Service", "demo", spec={"selector": LABELS, "ports": [{"port": 80}]}),
    _object(
        "v1",
        "PersistentVolumeClaim",
        "demo",
        spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    ),
    _object(
        "apps/v1",
        "Deployment",
        "demo",
        spec={"selector": {"matchLabels": LABELS}, "template": TEMPLATE},
    ),
    _object(
        "apps/v1",
        "StatefulSet",
        "demo",
        spec={"serviceName": "demo", "selector": {"matchLabels": LABELS}, "template": TEMPLATE},
    ),
    _object(
        "apps/v1",
        "DaemonSet",
        "demo",
        spec={"selector": {"matchLabels": LABELS}, "template": TEMPLATE},
    ),
    _object(
        "batch/v1",
        "Job",
        "demo",
        spec={"template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}},
    ),
    _object(
        "batch/v1",
        "CronJob",
        "demo",
        spec={
            "schedule": "0 0 1 1 *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        **TEMPLATE,
                        "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"},
                    }
                }
            },
        },
    ),
    _object(
        "networking.k8s.io/v1",
        "Ingress",
        "demo",
        spec={"defaultBackend": {"service": {"name": "demo", "port": {"number": 80}}}},
    ),
    _object(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "demo",
        spec={"podSelector": {"matchLabels": LABELS}},
    ),
    _object(
        "policy/v1",
        "PodDisruptionBudget",
        "demo",
        spec={"maxUnavailable": 1, "selector": {"matchLabels": LABELS}},
    ),
    _object(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "demo",
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"},
            "minReplicas": 1,
            "maxReplicas": 2,
        },
    ),
]


def _manifests(objects: list[dict[str, Any]]) -> dict[str, str | None]:
    return {"demo/all.yaml": yaml.safe_dump_all(objects, sort_keys=False)}


def _resource_verb(method: str, path: str, query: str, status: int) -> list[tuple[str, str, str]]:
    """(group, resource, verb) the authorizer checked for one request; [] for discovery."""
    parts = [p for p in path.split("/") if p]
    if parts[-1:] == ["selfsubjectaccessreviews"]:
        return []  # "may I watch?": every authenticated user may ask (system:basic-user)
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return []
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    resource, named = rest[0], len(rest) >= 2
    if len(rest) >= 3:
        resource = f"{resource}/{rest[2]}"
    if method == "GET":
        verb = "get" if named else ("watch" if "watch=true" in query else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
    found = [(group, resource, verb)]
    if method == "PATCH" and status == 201:  # an apply that created the object
        found.append((group, resource, "create"))
    return found


def _granted(rendered: Rendered) -> set[tuple[str, str, str]]:
    grants = set()
    for role in rendered.of_kind("ClusterRole") + rendered.of_kind("Role"):
        if role["metadata"]["name"].endswith("-secrets"):
            continue  # secret:… references by name: this config uses none
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        grants.add((group, resource, verb))
    return grants


def test_syncer_with_the_charts_service_account_uses_all_it_is_granted_and_nothing_more(
    kube_clusters: Callable[..., list[Any]],
    helm: Callable[..., subprocess.CompletedProcess[str]],
    render: Callable[..., Rendered],
    git_http: Any,
    tmp_path: Path,
) -> None:
    (cluster,) = kube_clusters(1)
    repo = git_http.create_repo("deploy", _manifests(EVERY_KIND))
    config = {
        "clusters": [{"name": "in-cluster", "inCluster": True}],
        "sources": [
            {"name": "deploy", "git": {"url": repo.url, "branch": "main", "interval": "1s"}}
        ],
        "apps": [
            {
                "name": "demo",
                "source": "deploy",
                "path": "demo",
                "namespace": APP_NS,
                "clusters": ["in-cluster"],
                "sync": {"prune": True, "createNamespace": True, "wait": "3s"},
            }
        ],
    }
    values = {"config": config, "persistence": {"enabled": False}}
    values_file = tmp_path / "values.yaml"
    values_file.write_text(json.dumps(values))
    installed = helm(
        "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
        "--values", str(values_file), "--kubeconfig", cluster.kubeconfig,
        "--kube-context", cluster.context,
    )  # fmt: skip
    assert "STATUS: deployed" in installed.stdout
    # The chart's Deployment runs (the test cluster's kubelet starts no containers).
    assert eventually(
        lambda: (
            (cluster.get("apps/v1", "Deployment", SERVICE_ACCOUNT, NAMESPACE) or {})
            .get("status", {})
            .get("availableReplicas")
            == 2
        )
    )

    # syncer as the pod would run it: the installed config, the ServiceAccount's token.
    token = cluster.make_token(service_account=f"{NAMESPACE}/{SERVICE_ACCOUNT}")
    sa_kubeconfig = cluster.kubeconfig_for(token, tmp_path / "sa.kubeconfig")
    installed_config = yaml.safe_load(
        cluster.get("v1", "ConfigMap", SERVICE_ACCOUNT, NAMESPACE)["data"]["config.yaml"]
    )
    installed_config["clusters"] = [
        {"name": "in-cluster", "kubeconfig": str(sa_kubeconfig), "context": cluster.context}
    ]
    # State as installed: Secrets in the release namespace, through the chart's Role.
    assert installed_config["state"]["kubernetes"] == {
        "cluster": "in-cluster",
        "namespace": NAMESPACE,
    }
    installed_config["state"]["path"] = str(tmp_path / "state.db")
    installed_config["server"] = {
        **installed_config.get("server", {}),
        "listen": "127.0.0.1:0",
        "webhookListen": "127.0.0.1:0",
    }
    config_path = tmp_path / "syncer.yaml"
    config_path.write_text(yaml.safe_dump(installed_config))
    deployment = render(values).one("Deployment")
    flags = [
        arg
        for arg in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        if arg.startswith(("--leader-elect", "--shard")) and "advertise" not in arg
    ]
    cluster.request_log.clear()
    run = subprocess.Popen(
        [
            sys.executable, "-m", "syncer", "run", "-c", str(config_path), "--grace=5",
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "run.log").open("w"),
    )  # fmt: skip
    try:
        assert eventually(
            lambda: cluster.get("autoscaling/v2", "HorizontalPodAutoscaler", "demo", APP_NS)
        ), (tmp_path / "run.log").read_text()
        # A quota in the namespace from now on: the next rollout's quota check reads it
        # and the namespace's LimitRanges (a namespace without quotas needs neither).
        cluster.put(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "roomy", "namespace": APP_NS},
                "spec": {"hard": {"pods": "100"}},
            }
        )
        assert eventually(
            lambda: ((cluster.get("v1", "ResourceQuota", "roomy", APP_NS) or {}).get("status")
                     or {}).get("used")
        )  # fmt: skip
        # A new object comes with the prunes: it counts against the quota.
        repo.commit(
            _manifests([*EVERY_KIND[:1], _object("v1", "ConfigMap", "added", data={"k": "v"})])
        )
        assert eventually(
            lambda: (
                cluster.get("v1", "ConfigMap", "pruned", APP_NS) is None
                and cluster.get("apps/v1", "Deployment", "demo", APP_NS) is None
            ),
            timeout=120,
        ), (tmp_path / "run.log").read_text()
    finally:
        run.terminate()
        run.wait(timeout=30)
    log = (tmp_path / "run.log").read_text()
    refused = [r for r in cluster.request_log if r.status == 403]
    assert not refused, refused
    used = {
        found
        for r in cluster.request_log
        for found in _resource_verb(r.method, r.path, r.query, r.status)
    }
    granted = _granted(render(values))
    assert used - granted == set(), f"used but not granted: {sorted(used - granted)}"
    # "get" of one object happens on paths this scenario does not take (the wait after an
    # immutable-field replace, a labelled object missing from a list): granted for every
    # kind syncer applies, and nothing else goes unused.
    gets = {(group, resource, "get") for group, resource, verb in used if verb == "patch"}
    # Heartbeat Leases of replicas gone for 10 lease durations are deleted: none here.
    gets.add(("coordination.k8s.io", "leases", "delete"))
    unused = granted - used - gets
    assert unused == set(), f"granted but never used: {sorted(unused)}\n{log}"
    # What it recorded is in the state Secrets, none of it on a volume.
    assert not (tmp_path / "state.db").exists()
    app_state = cluster.get("v1", "Secret", "syncer-app-demo", NAMESPACE)
    assert app_state["type"] == "syncer.dev/state"


def test_toggling_persistence_upgrades_in_place(
    kube_clusters: Callable[..., list[Any]],
    helm: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    """persistence.enabled switches the Deployment between RollingUpdate and Recreate; a
    real apiserver refuses Recreate beside a leftover rollingUpdate, so each upgrade must
    say the whole strategy."""
    (cluster,) = kube_clusters(1)
    where = ["--namespace", NAMESPACE, "--kubeconfig", cluster.kubeconfig]
    where += ["--kube-context", cluster.context]
    helm(
        "install",
        RELEASE,
        str(CHART),
        "--create-namespace",
        "--set",
        "persistence.enabled=false",
        "--set",
        "state.backend=sqlite",
        *where,
    )
    for enabled, strategy in (
        ("true", "Recreate"),
        ("false", "RollingUpdate"),
        ("true", "Recreate"),
    ):
        done = helm(
            "upgrade",
            RELEASE,
            str(CHART),
            "--set",
            f"persistence.enabled={enabled}",
            "--set",
            "state.backend=sqlite",
            *where,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        live = cluster.get("apps/v1", "Deployment", SERVICE_ACCOUNT, NAMESPACE)
        assert live["spec"]["strategy"]["type"] == strategy
        assert ("rollingUpdate" in live["spec"]["strategy"]) == (strategy == "RollingUpdate")
