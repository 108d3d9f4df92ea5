"""A round of many apps' syncs on one cluster reads each kind once."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import apply
from syncer.config import model
from tests.apply.conftest import NS, OPEN_GATE, config_map, deployment, reset_log, service, settled

pytestmark = pytest.mark.integration


def app_set(index: int) -> list[dict[str, Any]]:
    return [deployment(f"api-{index}"), service(f"api-{index}"), config_map(f"cfg-{index}")]


def sync_all(
    client: apply.ClusterClient, inventories: dict[int, Any], sets: dict[int, list[dict[str, Any]]]
) -> dict[int, apply.SyncResult]:
    out = {}
    for index, objects in sets.items():
        out[index] = apply.sync(
            client,
            app_name=f"app-{index}",
            objects=objects,
            options=model.SyncOptions(),
            gateway_policy=OPEN_GATE,
            namespace=NS,
            previous_inventory=inventories.get(index, []),
        )
        inventories[index] = out[index].inventory
    return out


def test_a_no_change_round_costs_one_list_per_kind(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sets = {index: app_set(index) for index in range(6)}
    inventories: dict[int, Any] = {}
    sync_all(client, inventories, sets)
    reset_log(cluster)
    with apply.read_round(client):
        results = sync_all(client, inventories, sets)
    assert all(not result.applied and len(result.unchanged) == 3 for result in results.values())
    assert settled(cluster).writes() == 0, list(cluster.request_log)
    assert len(settled(cluster)) == 3  # Deployments, Services, ConfigMaps: one LIST each


def test_changes_inside_a_round_are_applied_and_seen(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sets = {index: app_set(index) for index in range(3)}
    inventories: dict[int, Any] = {}
    sync_all(client, inventories, sets)
    live = cluster.get("v1", "ConfigMap", "cfg-2", namespace=NS)
    live["data"] = {"k": "edited by hand"}
    cluster.put(live, manager="kubectl-edit")
    sets[1][0]["spec"]["replicas"] = 4
    sets[0] = sets[0][:2]  # app-0 drops its ConfigMap
    with apply.read_round(client):
        first = sync_all(client, inventories, sets)
        second = sync_all(client, inventories, sets)  # same round: sees its own writes
    assert [str(r) for r in first[0].pruned] == ["ConfigMap web/cfg-0"]
    assert [str(r) for r in first[1].applied] == ["Deployment web/api-1"]
    assert [str(r) for r in first[2].applied] == ["ConfigMap web/cfg-2"]
    assert all(not r.applied and not r.pruned and r.writes == 0 for r in second.values())
    assert cluster.get("v1", "ConfigMap", "cfg-2", namespace=NS)["data"] == {"k": "v"}


def test_a_token_limited_to_one_namespace_falls_back_to_namespace_reads(
    kube_clusters: Any, tmp_path: Any
) -> None:
    [cluster] = kube_clusters(1)
    admin = apply.connect(
        model.Cluster(
            name="admin", kubeconfig=str(cluster.kubeconfig), context=cluster.context, qps=0
        )
    )
    sets = {0: app_set(0)}
    inventories: dict[int, Any] = {}
    sync_all(admin, inventories, sets)
    path = tmp_path / "scoped.kubeconfig"
    cluster.kubeconfig_for(cluster.make_token(namespaces=[NS]), path)
    scoped = apply.connect(model.Cluster(name="scoped", kubeconfig=str(path), qps=0))
    with apply.read_round(scoped):
        [result] = sync_all(scoped, inventories, sets).values()
    assert len(result.unchanged) == 3 and result.writes == 0
