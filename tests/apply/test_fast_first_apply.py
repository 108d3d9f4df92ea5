"""A first apply of many apps in a read round: one LIST per kind, yet nothing made by
someone else is taken over; dry runs and writes side by side, within the rate limit;
health waits read the watch cache once it has caught up with our writes."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import pytest

from syncer import apply
from syncer.apply import client as client_mod
from syncer.apply import informer
from syncer.config import model
from tests.apply.conftest import (
    NS,
    OPEN_GATE,
    config_map,
    deployment,
    reset_log,
    service,
    settled,
)

pytestmark = pytest.mark.integration

OPTIONS = model.SyncOptions(wait=30.0)


def sync(client: apply.ClusterClient, app: str, objects: list[dict[str, Any]]) -> Any:
    return apply.sync(
        client,
        app_name=app,
        objects=objects,
        options=OPTIONS,
        gateway_policy=OPEN_GATE,
        namespace=NS,
    )


def app_set(index: int) -> list[dict[str, Any]]:
    return [deployment(f"api-{index}"), service(f"api-{index}"), config_map(f"cfg-{index}")]


def test_a_first_apply_round_lists_each_kind_once_and_sends_one_dry_run_and_one_write(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sync(client, "setup", app_set(99))  # the namespace exists, the kinds are known
    reset_log(cluster)
    # Side by side, as the controller's workers do: they wait for one LIST per kind.
    with apply.read_round(client), concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda i: sync(client, f"app-{i}", app_set(i)), range(5)))
    assert all(len(result.created) == 3 for result in results)
    log = list(settled(cluster))
    lists = [r for r in log if r.method == "GET" and not r.path.rstrip("/").endswith(
        tuple(f"-{i}" for i in range(5)))]  # fmt: skip
    dry_runs = [r for r in log if r.method == "PATCH" and "dryRun=All" in r.query]
    writes = [r for r in log if r.method == "PATCH" and "dryRun=All" not in r.query]
    # Deployments, Services, ConfigMaps (syncer's, cluster-wide) and the namespace's
    # ResourceQuotas: once each for the round, not once per app.
    assert len(lists) == 4, [f"{r.method} {r.path}?{r.query}" for r in lists]
    assert len(dry_runs) == len(writes) == 15
    assert len(log) == 4 + 30


def test_an_object_made_by_hand_after_the_rounds_snapshot_is_not_taken_over(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sync(client, "setup", [config_map("setup")])
    with apply.read_round(client):
        sync(client, "app-0", app_set(0))  # the round's snapshot of ConfigMaps is taken
        for name in ("cfg-1", "lone", "adopt-me"):
            cluster.put(config_map(name, {"k": "by hand"}), manager="kubectl-create")
        # Two objects: the dry run finds the ConfigMap exists after all.
        with pytest.raises(apply.errors.OwnershipConflict, match="not created by syncer"):
            sync(client, "app-1", [config_map("cfg-1"), service("api-1")])
        # One object alone (no dry run): it is looked for before it is written.
        with pytest.raises(apply.errors.OwnershipConflict, match="not created by syncer"):
            sync(client, "app-2", [config_map("lone")])
        adopted = config_map("adopt-me", {"k": "ours"})
        adopted["metadata"]["annotations"] = {"syncer.io/adopt": "true"}
        result = sync(client, "app-3", [adopted, service("api-3")])
    assert [str(ref) for ref in result.created] == ["Service web/api-3"]
    assert len(result.adopted) == 1 and "kubectl-create" in result.adopted[0]
    for name in ("cfg-1", "lone"):
        live = cluster.get("v1", "ConfigMap", name, namespace=NS)
        assert live["data"] == {"k": "by hand"}
        assert not (live["metadata"].get("labels") or {})
        assert {m["manager"] for m in live["metadata"]["managedFields"]} == {"kubectl-create"}
    assert cluster.get("v1", "Service", "api-1", namespace=NS) is None  # nothing of app-1
    assert cluster.get("v1", "ConfigMap", "adopt-me", namespace=NS)["data"] == {"k": "ours"}


def test_an_object_of_another_app_in_the_snapshot_is_a_conflict(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    with apply.read_round(client):
        sync(client, "app-0", app_set(0))
        with pytest.raises(apply.errors.OwnershipConflict, match="belongs to app 'app-0'"):
            sync(client, "app-1", [config_map("cfg-0"), service("api-1")])
    assert cluster.get("v1", "Service", "api-1", namespace=NS) is None


def test_parallel_dry_runs_and_writes_stay_within_the_rate_limit(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    real = connect(cluster)
    sync(real, "setup", [config_map("setup")])
    # The client's clock only moves when its rate limit makes a request wait (to the
    # time that request may go): it ends where the requests must have taken at that rate.
    now = [0.0]
    lock = threading.Lock()
    read = threading.local()

    def clock() -> float:
        with lock:
            read.at = now[0]
            return now[0]

    def sleep(seconds: float) -> None:
        with lock:
            now[0] = max(now[0], getattr(read, "at", now[0]) + seconds)

    qps = 20.0
    client = client_mod.ClusterClient(
        name=cluster.name, api=real._api, qps=qps, sleep=sleep, clock=clock
    )
    objects = [config_map(f"cm-{i}") for i in range(40)]
    result = sync(client, "many", objects)
    requests = client.stats.snapshot()[0]
    burst = max(10, int(qps))
    assert len(result.created) == 40 and requests >= 80
    # Burst spent, every further request waited its turn, parallel or not.
    assert now[0] >= (requests - burst) / qps - 1e-6


def test_a_real_api_server_says_it_limits_load_itself_so_no_limit_of_ours_applies(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)  # qps 0: automatic
    sync(client, "setup", [config_map("setup")])
    # Every answer named its API Priority and Fairness flow schema.
    assert client.flow_control is True


def test_a_health_wait_after_a_write_is_answered_by_the_caught_up_watch_cache(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    client.watches = informer.Watches(client)
    try:
        first = sync(client, "web", [deployment("api"), config_map("cfg")])
        report = apply.wait_healthy(
            client, app_name="web", inventory=first.inventory, timeout=30.0, interval=0.2
        )
        assert report.healthy
        changed = deployment("api")
        changed["spec"]["template"]["metadata"]["annotations"] = {"rev": "2"}
        second = sync(client, "web", [changed, config_map("cfg")])
        assert [str(ref) for ref in second.applied] == ["Deployment web/api"]
        reset_log(cluster)
        report = apply.wait_healthy(
            client, app_name="web", inventory=second.inventory, timeout=30.0, interval=0.2
        )
        lists = [r for r in settled(cluster) if r.method == "GET" and "watch=" not in r.query]
        assert report.healthy
        # Healthy means the new template rolled out, not the state before our write.
        live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
        assert live["status"]["observedGeneration"] == live["metadata"]["generation"]
        assert live["status"].get("updatedReplicas") == live["spec"]["replicas"]
        # At most the reads of the moment the cache trailed our write, not one per poll.
        assert len(lists) <= 2, [f"{r.path}?{r.query}" for r in lists]
    finally:
        client.watches.stop()


def test_objects_in_a_namespace_the_sync_creates_are_not_looked_up(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    sync(client, "setup", app_set(99))  # the kinds are known
    reset_log(cluster)
    with apply.read_round(client):
        result = apply.sync(
            client,
            app_name="fresh",
            objects=[config_map("a", ns="fresh"), config_map("b", ns="fresh")],
            options=OPTIONS,
            gateway_policy=OPEN_GATE,
            namespace="fresh",
        )
    assert result.namespace_created and len(result.created) == 2
    # The dry runs' 404 for the missing namespace says the objects cannot exist.
    gets = [r.path for r in settled(cluster) if r.method == "GET" and "/configmaps/" in r.path]
    assert gets == []
