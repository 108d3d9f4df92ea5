"""The official kubernetes Python client (DynamicClient) works against a test cluster."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import dynamic, watch
from kubernetes.client import exceptions as client_exceptions
from kubernetes.dynamic import exceptions

from tests.kubeapi import cluster
from tests.kubeapi.conftest import configmap, deployment

pytestmark = pytest.mark.integration


@pytest.fixture
def dyn(kube: cluster.KubeCluster) -> Any:
    client = kube.api_client()
    yield dynamic.DynamicClient(client)
    client.close()


def test_discovery_finds_builtin_kinds_with_scope_and_short_names(dyn: Any) -> None:
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and deployments.name == "deployments"
    assert "deploy" in deployments.short_names
    assert "patch" in deployments.verbs and "watch" in deployments.verbs
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    assert namespaces.namespaced is False
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    assert crds.namespaced is False
    for api_version, kind in [
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("networking.k8s.io/v1", "Ingress"),
        ("policy/v1", "PodDisruptionBudget"),
        ("coordination.k8s.io/v1", "Lease"),
        ("v1", "PersistentVolumeClaim"),
    ]:
        assert dyn.resources.get(api_version=api_version, kind=kind).kind == kind
    with pytest.raises(exceptions.ResourceNotFoundError):
        dyn.resources.get(api_version="example.com/v1", kind="Widget")


def test_server_side_apply_creates_then_updates_with_managed_fields(dyn: Any) -> None:
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = deployment("web", replicas=1)
    created = res.server_side_apply(
        body=body, name="web", namespace="default", field_manager="syncer"
    )
    assert created.metadata.generation == 1 and created.spec.replicas == 1
    body["spec"]["replicas"] = 3
    updated = res.server_side_apply(
        body=body, name="web", namespace="default", field_manager="syncer"
    )
    assert updated.spec.replicas == 3 and updated.metadata.generation == 2
    assert int(updated.metadata.resourceVersion) > int(created.metadata.resourceVersion)
    (entry,) = [mf for mf in updated.metadata.managedFields if mf.manager == "syncer"]
    assert entry.operation == "Apply"
    # another manager taking replicas is a 409 Conflict unless forced
    with pytest.raises(exceptions.ConflictError) as info:
        res.server_side_apply(
            body={
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": 5},
            },
            name="web",
            namespace="default",
            field_manager="hpa",
        )
    status = json.loads(info.value.body or "{}")
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "syncer" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_list_with_label_and_field_selectors_and_pagination(dyn: Any) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    for i in range(7):
        tier = "front" if i % 2 == 0 else "back"
        res.create(
            body=configmap(f"cm-{i}", {"i": str(i)}, labels={"tier": tier, "n": str(i)}),
            namespace="default",
        )
    assert [
        i.metadata.name for i in res.get(namespace="default", label_selector="tier=front").items
    ] == ["cm-0", "cm-2", "cm-4", "cm-6"]
    assert len(res.get(namespace="default", label_selector="tier!=front,n in (1,3)").items) == 2
    assert len(res.get(namespace="default", label_selector="n notin (0,1,2),tier").items) == 4
    named = res.get(namespace="default", field_selector="metadata.name=cm-3")
    assert [i.metadata.name for i in named.items] == ["cm-3"]
    assert len(res.get(field_selector="metadata.namespace=default").items) == 7
    seen: list[str] = []
    pages = 0
    token = None
    while True:
        page = res.get(namespace="default", limit=3, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items]
        token = page.metadata["continue"]
        if not token:
            break
        assert page.metadata.remainingItemCount == 7 - len(seen)
    assert pages == 3 and seen == [f"cm-{i}" for i in range(7)]
    with pytest.raises(exceptions.BadRequestError):
        res.get(namespace="default", field_selector="data.i=1")


def test_watch_from_a_resource_version(dyn: Any, kube: cluster.KubeCluster) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    res.create(body=configmap("before", {"a": "1"}), namespace="default")
    rv = res.get(namespace="default").metadata.resourceVersion
    res.create(body=configmap("after", {"a": "1"}), namespace="default")
    res.patch(
        body={"data": {"a": "2"}},
        name="after",
        namespace="default",
        content_type="application/merge-patch+json",
    )
    res.delete(name="after", namespace="default")
    seen = list(dyn.watch(res, namespace="default", resource_version=rv, timeout=1))
    events = [(e["type"], e["object"].metadata.name) for e in seen]
    assert events == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]
    versions = [int(e["object"].metadata.resourceVersion) for e in seen]
    assert int(rv) < versions[0] < versions[1] < versions[2]  # one cluster-wide counter
    # without a resourceVersion, the current state comes first as ADDED
    events = [
        (e["type"], e["object"].metadata.name)
        for e in dyn.watch(res, namespace="default", timeout=1)
    ]
    assert events == [("ADDED", "before")]


def test_watch_streams_live_changes_and_label_transitions(dyn: Any) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    rv = res.get(namespace="default").metadata.resourceVersion
    got: list[tuple[str, str]] = []

    def consume() -> None:
        for e in dyn.watch(
            res, namespace="default", label_selector="app=web", resource_version=rv, timeout=3
        ):
            got.append((e["type"], e["object"].metadata.name))
            if len(got) == 3:
                return

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.3)
    res.create(body=configmap("a", {}, labels={"app": "web"}), namespace="default")
    res.create(body=configmap("ignored", {}, labels={"app": "db"}), namespace="default")
    res.patch(
        body={"metadata": {"labels": {"app": "db"}}},
        name="a",
        namespace="default",
        content_type="application/merge-patch+json",
    )
    res.patch(
        body={"metadata": {"labels": {"app": "web"}}},
        name="ignored",
        namespace="default",
        content_type="application/merge-patch+json",
    )
    thread.join(timeout=10)
    # leaving the selection is a DELETED event, entering it an ADDED one
    assert got == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "ignored")]


def test_watch_from_a_compacted_version_is_410_gone(dyn: Any, kube: cluster.KubeCluster) -> None:
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")
    rv = res.get(namespace="default").metadata.resourceVersion
    res.create(body=configmap("x", {}), namespace="default")
    kube.compact()
    with pytest.raises(client_exceptions.ApiException) as info:
        list(dyn.watch(res, namespace="default", resource_version=rv, timeout=1))
    assert info.value.status == 410


def test_watch_bookmarks_and_timeout(kube: cluster.KubeCluster) -> None:
    from kubernetes import client

    api = client.CoreV1Api(kube.api_client())
    listed = api.list_namespaced_config_map("default")
    assert listed.metadata is not None
    rv = listed.metadata.resource_version
    started = time.monotonic()
    stream = watch.Watch().stream(
        api.list_namespaced_config_map,
        "default",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=1,
    )
    kinds = [e["type"] for e in stream]
    assert time.monotonic() - started < 5  # the server ended the stream at timeoutSeconds
    assert "BOOKMARK" in kinds
