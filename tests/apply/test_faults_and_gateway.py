"""A cluster down, API faults (429, 500, latency, dropped connections), permissions,
and gateway policies blocking before any write."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import apply
from syncer import errors as syncer_errors
from syncer.config import model
from tests.apply.conftest import (
    NS,
    basic_set,
    config_map,
    deployment,
    reset_log,
    run_sync,
    settled,
)

pytestmark = pytest.mark.integration


def test_one_cluster_down_fails_only_its_own_work(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    dev, prod = kube_clusters(2, names=["dev", "prod"])
    clients = {cluster.name: connect(cluster) for cluster in (dev, prod)}
    prod.stop()
    outcomes: dict[str, Any] = {}
    for name, client in clients.items():
        try:
            outcomes[name] = run_sync(client, basic_set(), options=options)
        except syncer_errors.SyncerError as err:
            outcomes[name] = err
    assert isinstance(outcomes["dev"], apply.SyncResult) and len(outcomes["dev"].created) == 3
    assert isinstance(outcomes["prod"], apply.errors.ClusterUnreachable)
    assert isinstance(outcomes["prod"], syncer_errors.TemporaryError)
    assert str(outcomes["prod"]).startswith("cluster prod: API unreachable")
    prod.start()
    again = run_sync(clients["prod"], basic_set(), options=options)
    assert len(again.created) == 3


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "retry_after", "seconds": 0.3, "count": 4},
        {"kind": "status", "status": 500, "count": 4},
        {"kind": "status", "status": 503, "count": 3, "method": "PATCH"},
        {"kind": "latency", "seconds": 0.2, "count": 6},
        {"kind": "drop", "count": 1, "method": "GET"},
    ],
    ids=["429-retry-after", "500", "503-on-patch", "latency", "dropped-connection"],
)
def test_faults_are_survived_without_losing_or_duplicating_work(
    kube_clusters: Any, connect: Any, options: model.SyncOptions, fault: dict[str, Any]
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    objects = [*basic_set(), *(config_map(f"cm-{i}") for i in range(5))]
    cluster.set_fault(fault.pop("kind"), **fault)
    result = run_sync(client, objects, options=options)
    cluster.clear_faults()
    assert len(result.created) == 8
    assert len(app_config_maps(cluster)) == 6
    assert len(cluster.list_objects("apps/v1", "Deployment", namespace=NS)) == 1
    reset_log(cluster)
    again = run_sync(client, objects, options=options, previous=result.inventory)
    assert again.writes == 0 and len(again.unchanged) == 8


def test_a_fault_that_does_not_stop_is_a_temporary_error(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    client.retry = apply.RetryPolicy(attempts=3, base_delay=0.01)
    cluster.set_fault("status", status=503)
    with pytest.raises(apply.errors.ApiUnavailable, match="HTTP 503, gave up after 3 tries"):
        run_sync(client, basic_set(), options=options)


def test_a_token_without_write_permission_is_a_permanent_error(
    kube_clusters: Any, connect: Any, options: model.SyncOptions, tmp_path: Any
) -> None:
    [cluster] = kube_clusters(1)
    token = cluster.make_token(verbs=["get", "list"])
    path = tmp_path / "readonly.kubeconfig"
    cluster.kubeconfig_for(token, path)
    client = apply.connect(model.Cluster(name="ro", kubeconfig=str(path), qps=0))
    with pytest.raises(apply.errors.Unauthorized, match="HTTP 403"):
        run_sync(client, basic_set(), options=options)
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS) is None


def _policy_cases() -> list[tuple[str, dict[str, Any], list[dict[str, Any]], str]]:
    no_limits = deployment()
    del no_limits["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    crd_like = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [],
    }
    return [
        (
            "requireResources",
            {"require_resources": True},
            [no_limits],
            "Deployment web/api: spec.template.spec.containers[app].resources.limits.cpu: missing",
        ),
        (
            "maxCpu",
            {"max_cpu": "250m"},
            [deployment()],
            "containers[app].resources.limits.cpu: 0.5 is above the maximum 250m (rule maxCpu)",
        ),
        (
            "maxMemory",
            {"max_memory": "100Mi"},
            [deployment()],
            "containers[app].resources.limits.memory: 128Mi is above the maximum 100Mi "
            "(rule maxMemory)",
        ),
        (
            "maxReplicas",
            {"max_replicas": 1},
            [deployment()],
            "Deployment web/api: spec.replicas: 2 is above the maximum 1 (rule maxReplicas)",
        ),
        (
            "allowedRegistries",
            {"allowed_registries": ("ghcr.io",)},
            [deployment()],
            "is not from an allowed registry (rule allowedRegistries: allowed are ghcr.io)",
        ),
        (
            "requireDigest",
            {"require_digest": True},
            [deployment()],
            "is not pinned by digest; write it as repo:tag@sha256:... (rule requireDigest)",
        ),
        (
            "allowedNamespaces",
            {},
            [config_map("x", ns="kube-system")],
            "ConfigMap kube-system/x: metadata.namespace: 'kube-system' is not an allowed "
            "namespace (rule allowedNamespaces: allowed are web)",
        ),
        (
            "allowClusterScoped",
            {},
            [crd_like],
            "ClusterRole reader: kind: ClusterRole is cluster-scoped, which this app may not "
            "create (rule allowClusterScoped",
        ),
    ]


@pytest.mark.parametrize(
    ("rule", "policy", "bad", "message"), _policy_cases(), ids=[case[0] for case in _policy_cases()]
)
def test_each_gateway_rule_blocks_and_nothing_is_written(
    kube_clusters: Any,
    connect: Any,
    options: model.SyncOptions,
    rule: str,
    policy: dict[str, Any],
    bad: list[dict[str, Any]],
    message: str,
) -> None:
    [cluster] = kube_clusters(1)
    objects = [config_map("first"), *bad]
    with pytest.raises(apply.errors.GatewayViolation) as caught:
        run_sync(connect(cluster), objects, options=options, gate=model.GatewayPolicy(**policy))
    assert isinstance(caught.value, syncer_errors.PermanentError)
    assert message in str(caught.value) and f"rule {rule}" in str(caught.value)
    assert settled(cluster).writes() == 0
    assert cluster.get("v1", "ConfigMap", "first", namespace=NS) is None


def test_the_per_cluster_timeout_bounds_a_slow_api(
    kube_clusters: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = apply.connect(
        model.Cluster(
            name=cluster.name,
            kubeconfig=str(cluster.kubeconfig),
            context=cluster.context,
            timeout=0.5,
            qps=0,
        )
    )
    cluster.set_fault("latency", seconds=3.0, method="GET")
    with pytest.raises(apply.errors.ClusterUnreachable, match="timed out"):
        run_sync(client, basic_set(), options=options)
    cluster.clear_faults()
    assert len(run_sync(client, basic_set(), options=options).created) == 3


def test_prune_survives_a_dropped_delete(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, [*basic_set(), config_map("gone")], options=options)
    cluster.set_fault("status", status=503, count=2, method="DELETE")
    result = run_sync(client, basic_set(), options=options, previous=first.inventory)
    assert [str(r) for r in result.pruned] == ["ConfigMap web/gone"]
    assert cluster.get("v1", "ConfigMap", "gone", namespace=NS) is None
    assert [str(r) for r in result.inventory] == [
        "ConfigMap web/settings",
        "Service web/api",
        "Deployment web/api",
    ]


def app_config_maps(cluster: Any) -> list[dict[str, Any]]:
    """The namespace's ConfigMaps but the CA bundle a real cluster puts in every namespace."""
    listed = cluster.list_objects("v1", "ConfigMap", namespace=NS)
    return [cm for cm in listed if cm["metadata"]["name"] != "kube-root-ca.crt"]
