"""The cache of a Kubernetes state (``KubeStore.watch``, what ``syncer run`` uses):
reads cost no request once the watch is synced, this process's writes are read back at
once, another writer's changes arrive by the watch, and without RBAC to watch the reads
go to the API server as before. Real API server, real RBAC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncer.apply import client as kube_client
from syncer.config import model
from syncer.state import kube, records
from tests import waiting
from tests.state.conftest import NAMESPACE, kube_store

SECRETS = f"/api/v1/namespaces/{NAMESPACE}/secrets"


def state_reads(cluster: Any, first: int) -> list[str]:
    """GETs and LISTs of state Secrets since request ``first`` (the watch not counted)."""
    return [
        f"{r.method} {r.path}"
        for r in list(cluster.request_log)[first:]
        if r.method == "GET" and r.path.startswith(SECRETS) and "watch=true" not in r.query
    ]


def test_reads_come_from_the_watch_and_see_every_write(state_cluster: Any) -> None:
    writer = kube_store(state_cluster)  # another process: no cache
    for app in ("web", "api"):
        writer.set_run(app=app, result="ok", message="", desired_release="r1")
        writer.record(app=app, kind="note", message="before")
    store = kube_store(state_cluster)
    store.watch()
    assert waiting.eventually(lambda: store.objects.cache_synced, timeout=30, every=0.05)

    # Every app's state, many times over: not one request.
    first = len(state_cluster.request_log)
    for _ in range(5):
        for app in ("web", "api"):
            run = store.run(app)
            assert run is not None and run.desired_release == "r1"
            assert [e.message for e in store.history(app)] == ["before"]
        assert store.open_rollouts() == []
        assert store.due_deliveries(now=0, limit=10) == []
    assert state_reads(state_cluster, first) == []
    assert store.objects.cached_reads > 0

    # Its own write is read back at once (not when the watch brings it).
    ro = store.begin_rollout(app="web", release_id="r2", clusters=["a"], cause="new")
    (open_ro,) = store.open_rollouts("web")
    assert open_ro.id == ro.id
    store.set_target(ro.targets[0].id, state=records.HEALTHY)
    assert store.open_rollouts("web") == []
    assert store.deployments("web")[0].release_id == "r2"

    # Another writer's change arrives by the watch.
    writer.set_run(app="api", result="failed", message="apply: refused", desired_release="r3")
    writer.record(app="new-app", kind="note", message="hello")

    def seen() -> bool:
        run = store.run("api")
        news = store.history("new-app")
        return run is not None and run.result == "failed" and [e.message for e in news] == ["hello"]

    assert waiting.eventually(seen, timeout=30, every=0.05)
    writer.close()
    store.close()


def test_without_rbac_to_watch_reads_get_the_secrets(state_cluster: Any, tmp_path: Path) -> None:
    kube_store(state_cluster).record(app="web", kind="note", message="hello")
    token = state_cluster.make_token(
        verbs=["get", "list", "create", "update"], resources=["secrets"], namespaces=[NAMESPACE]
    )
    config = state_cluster.kubeconfig_for(token, tmp_path / "no-watch")
    where = model.Cluster(name=state_cluster.name, kubeconfig=str(config))
    store = kube.KubeStore(client=kube_client.connect(where), namespace=NAMESPACE)
    store.watch()
    # The LIST is allowed, the WATCH after it is not: the cache gives up and says so.
    assert waiting.eventually(
        lambda: store.objects.cache_state() == "unavailable", timeout=30, every=0.05
    )
    first = len(state_cluster.request_log)
    assert [e.message for e in store.history("web")] == ["hello"]
    store.record(app="web", kind="note", message="again")
    assert [e.message for e in store.history("web")] == ["again", "hello"]
    assert not store.objects.cache_synced
    assert state_reads(state_cluster, first)  # read from the API server, as before
    store.close()
