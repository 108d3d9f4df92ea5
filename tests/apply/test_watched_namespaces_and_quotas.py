"""Under ``syncer run`` (watches), what a sync asks of objects it does not own (does the
app's namespace exist, does it hold a ResourceQuota) is answered by the cluster's watch
of every Namespace and every ResourceQuota: a first rollout into a new namespace creates
it, then sends one dry run per object (not a first round that can only answer
"namespace not found") and no quota LIST; a namespace that holds a quota is still
checked against its current usage."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import apply
from syncer.apply import informer
from syncer.config import model
from tests.apply.conftest import NS, OPEN_GATE, config_map, deployment, reset_log, settled
from tests.waiting import eventually

pytestmark = pytest.mark.integration

OPTIONS = model.SyncOptions(wait=30.0)


def sync(client: apply.ClusterClient, app: str, objects: list[dict[str, Any]], ns: str) -> Any:
    return apply.sync(
        client, app_name=app, objects=objects, options=OPTIONS, gateway_policy=OPEN_GATE,
        namespace=ns,
    )  # fmt: skip


def watched(client: apply.ClusterClient) -> informer.Watches:
    """The client's watches, with its watches of every Namespace and ResourceQuota synced."""
    watches = client.watches = informer.Watches(client)
    assert eventually(
        lambda: watches.every("v1", "Namespace") and watches.every("v1", "ResourceQuota"),
        timeout=30,
    )
    return watches


def requests(cluster: Any) -> list[str]:
    """The requests the sync sent (the watches' own LISTs and WATCHes left out)."""
    return [
        f"{r.method} {r.path}?{r.query}"
        for r in settled(cluster)
        if "watch=" not in r.query
        and not (r.method == "GET" and r.path in ("/api/v1/namespaces", "/api/v1/resourcequotas"))
    ]


def deployment_in(ns: str, name: str) -> dict[str, Any]:
    obj = deployment(name)
    obj["metadata"]["namespace"] = ns
    return obj


def test_a_first_sync_into_a_missing_namespace_creates_it_and_dry_runs_all_but_the_first_once(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sync(client, "setup", [config_map("setup"), deployment("setup")], NS)  # kinds known
    watches = watched(client)
    try:
        reset_log(cluster)
        result = sync(
            client, "fresh", [config_map("a", ns="fresh"), deployment_in("fresh", "b")], "fresh"
        )
        sent = requests(cluster)
    finally:
        watches.stop()
    assert result.namespace_created and len(result.created) == 2
    assert cluster.get("v1", "ConfigMap", "a", namespace="fresh")["data"]
    creates = [r for r in sent if r.startswith("POST /api/v1/namespaces?")]
    dry_runs = [r for r in sent if r.startswith("PATCH") and "dryRun=All" in r]
    writes = [r for r in sent if r.startswith("PATCH") and "dryRun=All" not in r]
    assert len(creates) == 1, sent
    # In the namespace made first, so none answered "not found"; the ConfigMap, first in
    # apply order and surely new there, is written before the rest and needs none.
    assert [r.replace("&dryRun=All", "") for r in dry_runs] == writes[1:], sent
    assert writes[0].startswith("PATCH /api/v1/namespaces/fresh/configmaps/a?"), sent
    # Nothing was read back to confirm that the new namespace's objects were absent.
    assert not [r for r in sent if r.startswith("GET /api/v1/namespaces/fresh/")], sent
    # The new namespace holds no quota: nothing to list for the quota check.
    assert not [r for r in sent if "/resourcequotas" in r or "/limitranges" in r], sent


def test_an_invalid_object_in_a_missing_namespace_still_fails_the_set_before_any_write(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sync(client, "setup", [config_map("setup"), deployment("setup")], NS)
    watches = watched(client)
    bad = deployment_in("fresh", "b")
    bad["spec"]["replicas"] = "many"
    try:
        with pytest.raises(apply.errors.InvalidObject, match=r"spec\.replicas"):
            sync(client, "broken", [config_map("a", ns="fresh"), bad], "fresh")
    finally:
        watches.stop()
    assert cluster.get("v1", "ConfigMap", "a", namespace="fresh") is None


def test_a_namespace_holding_a_quota_is_checked_against_it(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sync(client, "setup", [config_map("setup"), deployment("setup")], NS)
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tight"}})
    cluster.put({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "none", "namespace": "tight"}, "spec": {"hard": {"pods": "0"}},
    })  # fmt: skip
    watches = watched(client)
    try:
        quotas = watches.every("v1", "ResourceQuota")
        assert quotas is not None
        assert eventually(lambda: quotas.in_namespace("tight"), timeout=30)
        with pytest.raises(apply.errors.QuotaExceeded, match="pods"):
            sync(client, "tight", [deployment_in("tight", "b")], "tight")
    finally:
        watches.stop()
    assert cluster.get("apps/v1", "Deployment", "b", namespace="tight") is None
