"""The quota-aware gateway on a real cluster: a rollout that would not fit the
namespace's ResourceQuota (replicas, rolling-update surge, LimitRange defaults) is
refused before any write, with the numbers; one that fits goes through."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from syncer import apply
from syncer.config import model
from tests.apply.conftest import NS, config_map, deployment, reset_log, run_sync, settled
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def sized(name: str, *, cpu: str, replicas: int, **strategy: Any) -> dict[str, Any]:
    obj = deployment(name, replicas=replicas)
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}
    if strategy:
        obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": strategy}
    return obj


def quota(cluster: Any, hard: dict[str, str], *, name: str = "compute", fresh: bool = True) -> None:
    # Pods the controllers re-created from an earlier test's ReplicaSets just after the
    # cluster was reset are garbage-collected shortly; the quota must not count them. A
    # ReplicaSet controller whose cache still trails the reset may create one more a
    # moment after the namespace looked empty: it must stay empty for a while.
    assert not fresh or eventually(lambda: quiet(cluster))
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"hard": hard},
        }
    )
    assert eventually(
        lambda: (
            (status := used(cluster, name)) is not None
            and (not fresh or all(value == "0" for value in status.values()))
            and (not fresh or not cluster.list_objects("v1", "Pod", namespace=NS))
        )
    ), f"quota status never computed, or pods of an earlier test still count: {used(cluster)}"


def quiet(cluster: Any, *, settle: float = 2.0) -> bool:
    """No Pod or ReplicaSet in the namespace, now and ``settle`` seconds later."""

    def empty() -> bool:
        return not cluster.list_objects("v1", "Pod", namespace=NS) and not cluster.list_objects(
            "apps/v1", "ReplicaSet", namespace=NS
        )

    if not empty():
        return False
    time.sleep(settle)
    return empty()


def used(cluster: Any, name: str = "compute") -> dict[str, str] | None:
    found = cluster.get("v1", "ResourceQuota", name, namespace=NS)
    return ((found or {}).get("status") or {}).get("used")


def other_team_uses(cluster: Any, *, cpu: str, replicas: int, expect: str) -> None:
    """Another app's pods already hold part of the quota (created directly, not by syncer)."""
    cluster.put(sized("other", cpu=cpu, replicas=replicas))
    assert eventually(lambda: (used(cluster) or {}).get("requests.cpu") == expect), used(cluster)


def crowded(kube_clusters: Any, connect: Any) -> tuple[Any, apply.ClusterClient]:
    """A cluster whose namespace has 2 CPUs of requests, 1500m of them used by another app."""
    [cluster] = kube_clusters(1)
    quota(cluster, {"requests.cpu": "2"})
    other_team_uses(cluster, cpu="500m", replicas=3, expect="1500m")
    return cluster, connect(cluster)


def test_a_rollout_that_would_exceed_the_quota_is_refused_before_any_write(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    quota(cluster, {"requests.cpu": "2", "limits.cpu": "4"})
    other_team_uses(cluster, cpu="500m", replicas=3, expect="1500m")
    client = connect(cluster)
    reset_log(cluster)
    with pytest.raises(apply.errors.QuotaExceeded) as refused:
        run_sync(
            client, [config_map("settings"), sized("api", cpu="500m", replicas=2)], options=options
        )
    assert refused.value.violations == [
        "namespace web quota compute: requests.cpu would be 2500m of 2 (used 1500m, this "
        "rollout +1000m); lower the rollout's requests, limits or replicas, or raise the quota"
    ]
    assert isinstance(refused.value, apply.errors.GatewayViolation)  # handled like one
    assert settled(cluster).writes() == 0
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS) is None
    quota_reads = [
        r.path for r in settled(cluster) if r.path.endswith(("resourcequotas", "limitranges"))
    ]
    assert quota_reads == [
        f"/api/v1/namespaces/{NS}/resourcequotas",
        f"/api/v1/namespaces/{NS}/limitranges",
    ]

    # The same plan is refused the same way; a rollout that fits is applied.
    with pytest.raises(apply.errors.QuotaExceeded, match="would be 2500m of 2"):
        apply.plan(
            client,
            app_name="web",
            objects=[sized("api", cpu="500m", replicas=2)],
            options=options,
            gateway_policy=model.GatewayPolicy(),
            namespace=NS,
        )
    result = run_sync(client, [sized("api", cpu="250m", replicas=2)], options=options)
    assert len(result.created) == 1
    assert eventually(lambda: (used(cluster) or {}).get("requests.cpu") == "2")


def test_without_the_rule_the_same_rollout_starts_and_its_pods_are_never_created(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    """What the rule prevents: the API server takes the Deployment, then refuses its pods."""
    cluster, client = crowded(kube_clusters, connect)
    gate = model.GatewayPolicy(check_quota=False)
    quick = model.SyncOptions(wait=0)
    result = run_sync(client, [sized("api", cpu="500m", replicas=2)], options=quick, gate=gate)
    assert len(result.created) == 1

    def refused_pods() -> bool:
        sets = cluster.list_objects("apps/v1", "ReplicaSet", namespace=NS)
        return any(
            c.get("type") == "ReplicaFailure" and "exceeded quota" in c.get("message", "")
            for rs in sets
            for c in (rs.get("status") or {}).get("conditions") or []
        )

    assert eventually(refused_pods), "the ReplicaSet never reported the quota refusal"


def test_the_rolling_update_surge_counts_and_max_surge_0_fits(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    cluster, client = crowded(kube_clusters, connect)
    first = run_sync(client, [sized("api", cpu="250m", replicas=2)], options=options)
    assert eventually(lambda: (used(cluster) or {}).get("requests.cpu") == "2")

    # A new image rolls the pods: 25% of 2 replicas is one extra pod while it rolls.
    update = sized("api", cpu="250m", replicas=2)
    update["spec"]["template"]["spec"]["containers"][0]["image"] += "-2"
    reset_log(cluster)
    with pytest.raises(apply.errors.QuotaExceeded) as refused:
        run_sync(client, [update], options=options, previous=first.inventory)
    assert "requests.cpu would be 2250m of 2 (used 2000m, this rollout +250m)" in str(refused.value)
    assert settled(cluster).writes() == 0

    # Rolling without an extra pod (maxSurge 0) fits, and is applied.
    no_surge = copy.deepcopy(update)
    no_surge["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    result = run_sync(client, [no_surge], options=options, previous=first.inventory)
    assert len(result.applied) == 1


def test_limit_range_defaults_count_and_a_tracked_resource_nobody_sets_is_refused(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    quota(cluster, {"requests.memory": "1Gi", "limits.memory": "1Gi"})
    bare = deployment("api", replicas=3)
    del bare["spec"]["template"]["spec"]["containers"][0]["resources"]
    client = connect(cluster)
    with pytest.raises(apply.errors.QuotaExceeded) as refused:
        run_sync(client, [bare], options=options)
    assert refused.value.violations == [
        "Deployment web/api: every container must set requests.memory, limits.memory: quota "
        "compute in namespace web tracks it and no LimitRange gives a default, so the API "
        "server would refuse its pods"
    ]

    # With a LimitRange default of 512Mi, three replicas would ask for 1536Mi.
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "defaults", "namespace": NS},
            "spec": {"limits": [{"type": "Container", "default": {"memory": "512Mi"}}]},
        }
    )
    with pytest.raises(apply.errors.QuotaExceeded) as refused:
        run_sync(client, [bare], options=options)
    assert "requests.memory would be 1536Mi of 1Gi (used 0, this rollout +1536Mi)" in str(
        refused.value
    )
    bare["spec"]["replicas"] = 2
    result = run_sync(client, [bare], options=options)
    assert len(result.created) == 1
    assert eventually(lambda: (used(cluster) or {}).get("limits.memory") == "1Gi")


def secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "stringData": {"k": "v"},
    }


def test_object_count_quotas_and_a_rollout_that_frees_room_in_an_overfull_namespace(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    quota(cluster, {"count/secrets": "1", "pods": "4"})
    client = connect(cluster)
    objects = [secret("one"), secret("two"), sized("api", cpu="100m", replicas=5)]
    with pytest.raises(apply.errors.QuotaExceeded) as refused:
        run_sync(client, objects, options=options)
    assert [line.split(";")[0] for line in refused.value.violations] == [
        "namespace web quota compute: count/secrets would be 2 of 1 (used 0, this rollout +2)",
        "namespace web quota compute: pods would be 5 of 4 (used 0, this rollout +5)",
    ]
    fits = [secret("one"), sized("api", cpu="100m", replicas=4)]
    first = run_sync(client, fits, options=options)
    assert eventually(lambda: (used(cluster) or {}).get("pods") == "4")

    # The quota is lowered below what runs: scaling down still goes through (it frees
    # pods and needs no new one), while scaling back up is refused.
    quota(cluster, {"count/secrets": "1", "pods": "1"}, fresh=False)
    assert eventually(
        lambda: (
            (
                (cluster.get("v1", "ResourceQuota", "compute", namespace=NS) or {}).get("status")
                or {}
            )
            .get("hard", {})
            .get("pods")
            == "1"
        )
    )
    fits[1]["spec"]["replicas"] = 2
    result = run_sync(client, fits, options=options, previous=first.inventory)
    assert len(result.applied) == 1
    assert eventually(lambda: (used(cluster) or {}).get("pods") == "2")
    fits[1]["spec"]["replicas"] = 3
    with pytest.raises(
        apply.errors.QuotaExceeded, match="pods would be 3 of 1 \\(used 2, this rollout \\+1\\)"
    ):
        run_sync(client, fits, options=options, previous=result.inventory)


def test_a_token_that_may_not_read_quotas_is_told_which_grant_is_missing(
    kube_clusters: Any, options: model.SyncOptions, tmp_path: Any
) -> None:
    [cluster] = kube_clusters(1)
    token = cluster.make_token(resources=["deployments", "configmaps", "namespaces"])
    path = tmp_path / "no-quotas.kubeconfig"
    cluster.kubeconfig_for(token, path)
    client = apply.connect(model.Cluster(name="narrow", kubeconfig=str(path), qps=0))
    try:
        with pytest.raises(apply.errors.Unauthorized) as refused:
            run_sync(client, [sized("api", cpu="100m", replicas=1)], options=options)
    finally:
        client.close()
    assert str(refused.value) == (
        "cluster narrow: the quota check (gateway rule checkQuota) may not list "
        "ResourceQuotas in namespace web: grant list on resourcequotas and limitranges, "
        "or set gateway.checkQuota: false"
    )
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS) is None
