"""How a real kube-apiserver answers what the manifests get wrong, and what syncer makes
of it: schema errors (a 500 with "field not declared in schema") are permanent, named and
not retried; invalid objects (422) name the object and field and nothing of the set is
written; every kind's immutable-field wording leads to a replace where it is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from syncer.apply import errors
from tests.apply.conftest import NS, config_map, deployment, run_sync, service
from tests.waiting import eventually

pytestmark = pytest.mark.integration

REPLACE = {"syncer.io/replace": "true"}


def _with(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    *parents, leaf = path.split(".")
    node = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[leaf] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("spec.replica", 3, 'unknown field "spec.replica"'),
        ("spec.replicas", "three", 'field "spec.replicas": expected numeric'),
    ],
    ids=["undeclared-field", "wrong-type"],
)
def test_schema_errors_are_permanent_name_the_field_and_are_sent_once(
    kube_clusters: Any, connect: Any, options: Any, path: str, value: Any, expected: str
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    run_sync(client, [config_map("settings")], options=options)
    cluster.request_log.clear()
    bad = _with(deployment(), path, value)
    with pytest.raises(errors.InvalidObject) as caught:
        run_sync(client, [config_map("settings"), bad], options=options)
    text = str(caught.value)
    assert "Deployment web/api" in text and expected in text, text
    assert "fix the manifest" in text
    patches = [r for r in cluster.request_log if r.method == "PATCH" and "/deployments/" in r.path]
    # One dry run (the whole set is checked before any write) and no retries.
    assert [r.status for r in patches] == [500], patches
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS) is None


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("spec.replicas", -1, "spec.replicas"),
        (
            "spec.template.spec.containers.0.ports",
            [{"containerPort": 70000}],
            "spec.template.spec.containers[0].ports[0].containerPort",
        ),
        (
            "spec.template.spec.containers.0.resources",
            {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
            "spec.template.spec.containers[0].resources.requests",
        ),
        ("spec.strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}, "spec.strategy"),
    ],
    ids=["negative-replicas", "port-over-65535", "requests-above-limits", "recreate-with-rolling"],
)
def test_invalid_objects_name_the_field_and_nothing_is_written(
    kube_clusters: Any, connect: Any, options: Any, path: str, value: Any, field: str
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    cluster.request_log.clear()
    with pytest.raises(errors.InvalidObject) as caught:
        run_sync(
            client, [config_map("settings"), _with(deployment(), path, value)], options=options
        )
    text = str(caught.value)
    assert "Deployment web/api" in text and field in text, text
    assert cluster.request_log.writes() <= 1  # at most the namespace, never the objects
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS) is None


def test_a_refused_first_object_is_written_before_the_rest_so_none_of_them_is(
    kube_clusters: Any, connect: Any, options: Any
) -> None:
    """The first change in apply order is not dry-run: it goes out first and alone."""
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    run_sync(client, [config_map("settings")], options=options)
    cluster.request_log.clear()
    with pytest.raises(errors.InvalidObject) as caught:
        run_sync(client, [config_map("settings", {"bad key!": "x"}), deployment()], options=options)
    assert "ConfigMap web/settings" in str(caught.value), caught.value
    patches = [(r.path.rsplit("/", 2)[-2], "dryRun=All" in r.query, r.status)
               for r in cluster.request_log if r.method == "PATCH"]  # fmt: skip
    # The Deployment was judged by a dry run; the ConfigMap's write was refused; nothing
    # else was sent.
    assert patches == [("deployments", True, 201), ("configmaps", False, 422)], patches
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS) is None
    assert "bad key!" not in cluster.get("v1", "ConfigMap", "settings", namespace=NS)["data"]


def test_a_change_of_two_objects_sends_one_dry_run_and_writes_the_first_before_the_other(
    kube_clusters: Any, connect: Any, options: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    run_sync(client, [config_map("settings"), deployment()], options=options)
    cluster.request_log.clear()
    changed = _with(deployment(), "spec.replicas", 3)
    run_sync(client, [config_map("settings", {"v": "2"}), changed], options=options)
    patches = [(r.path.rsplit("/", 2)[-2], "dryRun=All" in r.query)
               for r in cluster.request_log if r.method == "PATCH"]  # fmt: skip
    assert patches == [("deployments", True), ("configmaps", False), ("deployments", False)]
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS)["spec"]["replicas"] == 3


def _statefulset(selector: str) -> dict[str, Any]:
    labels = {"app": selector}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": NS, "annotations": dict(REPLACE)},
        "spec": {
            "serviceName": "db",
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "db", "image": "registry.example.com/db:1"}]},
            },
        },
    }


def _claim(storage_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": NS, "annotations": dict(REPLACE)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


def _fixed_ip_service(ip: str) -> dict[str, Any]:
    svc = service("api")
    svc["metadata"]["annotations"] = dict(REPLACE)
    svc["spec"]["clusterIP"] = ip
    return svc


@pytest.mark.parametrize(
    ("before", "after", "kind_path"),
    [
        (_fixed_ip_service("10.96.0.50"), _fixed_ip_service("10.96.0.51"), ("v1", "Service")),
        (_statefulset("db"), _statefulset("db2"), ("apps/v1", "StatefulSet")),
        (_claim("fast"), _claim("slow"), ("v1", "PersistentVolumeClaim")),
    ],
    ids=["service-cluster-ip", "statefulset-selector", "pvc-storage-class"],
)
def test_immutable_field_changes_are_replaced_when_annotated(
    kube_clusters: Any,
    connect: Any,
    options: Any,
    before: dict[str, Any],
    after: dict[str, Any],
    kind_path: tuple[str, str],
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, [before], options=options)
    name = before["metadata"]["name"]
    uid = cluster.get(*kind_path, name, namespace=NS)["metadata"]["uid"]
    result = run_sync(client, [after], options=options, previous=first.inventory)
    assert [str(ref) for ref in result.replaced] == [f"{before['kind']} {NS}/{name}"]
    assert eventually(lambda: cluster.get(*kind_path, name, namespace=NS)["metadata"]["uid"] != uid)

    # Without the annotation the same change is refused, naming what to do.
    plain = copy.deepcopy(before)
    plain["metadata"].pop("annotations")
    again = run_sync(client, [after], options=options, previous=result.inventory)
    assert again.writes == 0
    with pytest.raises(errors.InvalidObject) as caught:
        run_sync(client, [plain], options=options, previous=again.inventory)
    assert "syncer.io/replace" in str(caught.value), str(caught.value)


def test_a_dripping_answer_ends_at_the_timeout_and_a_huge_one_is_refused(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    client.timeout = 2.0
    client.retry = dataclasses.replace(client.retry, attempts=1, connect_attempts=1)
    # One byte every 0.2 s: each read is quick, the answer never completes in time.
    cluster.set_fault("drip", seconds=0.2, method="GET", path_contains="/configmaps")
    with pytest.raises(errors.ClusterUnreachable, match="answer not complete after 2s"):
        client.list_objects(api_version="v1", kind="ConfigMap", namespace="default")
    cluster.clear_faults()
    client.max_response_bytes = 1024  # the namespace's CA bundle alone is larger
    with pytest.raises(errors.ApiError, match=r"the answer is over 1,024 bytes; refused"):
        client.list_objects(api_version="v1", kind="ConfigMap", namespace="default")
