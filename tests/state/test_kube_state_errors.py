"""Kubernetes state against bad ground: a missing namespace, missing RBAC, a state
Secret edited into garbage, a document over the size limit, a second writer. Each is
one clear error naming the object and what to do, and nothing recorded is lost."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from syncer import errors
from syncer.apply import client as kube_client
from syncer.config import model
from syncer.state import kube, kubelock, kubeobjects, lock
from tests.state.conftest import NAMESPACE, kube_store


def test_a_missing_namespace_is_named_with_the_command_to_make_it(kube_clusters: Any) -> None:
    (cluster,) = kube_clusters(1)
    with pytest.raises(kubeobjects.StateObjectError) as refused:
        kube_store(cluster, namespace="no-such-ns")
    message = str(refused.value)
    assert "state namespace no-such-ns does not exist on cluster kube-0" in message
    assert "kubectl create namespace no-such-ns" in message


def test_missing_rbac_names_the_secret_and_the_permissions(
    kube_clusters: Any, tmp_path: Path
) -> None:
    (cluster,) = kube_clusters(1)
    token = cluster.make_token(verbs=["get", "list"], resources=["configmaps"],
                               namespaces=[NAMESPACE])  # fmt: skip
    config = cluster.kubeconfig_for(token, tmp_path / "limited")
    where = model.Cluster(name=cluster.name, kubeconfig=str(config))
    with pytest.raises(kubeobjects.StateObjectError) as refused:
        kube.KubeStore(client=kube_client.connect(where), namespace=NAMESPACE)
    message = str(refused.value)
    assert f"state Secret {NAMESPACE}/syncer-state (cluster {cluster.name}): get refused" in message
    assert f"create and update on secrets in namespace {NAMESPACE}" in message
    assert token not in message


def _garble(cluster: Any, name: str, data: str) -> None:
    secret = cluster.get("v1", "Secret", name, NAMESPACE)
    secret["data"] = {kubeobjects.DATA_KEY: base64.b64encode(data.encode()).decode()}
    cluster.put(secret)


def test_a_secret_edited_into_garbage_is_named_and_never_overwritten(
    state_cluster: Any,
) -> None:
    store = kube_store(state_cluster)
    store.record(app="web", kind="note", message="kept")
    store.record(app="api", kind="note", message="other app")
    _garble(state_cluster, "syncer-app-web", "not gzip at all")
    for attempt in (
        lambda: store.history("web"),
        lambda: store.record(app="web", kind="note", message="lost?"),
    ):
        with pytest.raises(kubeobjects.StateObjectError) as refused:
            attempt()
        message = str(refused.value)
        assert f"state Secret {NAMESPACE}/syncer-app-web (cluster kube-0)" in message
        assert "is not valid syncer state" in message
        assert f"kubectl -n {NAMESPACE} delete secret syncer-app-web" in message
    # Untouched: what a person may still recover by hand is still there ...
    garbled = state_cluster.get("v1", "Secret", "syncer-app-web", NAMESPACE)
    assert base64.b64decode(garbled["data"][kubeobjects.DATA_KEY]) == b"not gzip at all"
    # ... and the other apps go on.
    assert [e.message for e in store.history("api")] == ["other app"]
    store.close()


def test_a_document_without_a_schema_is_refused(state_cluster: Any) -> None:
    import gzip

    store = kube_store(state_cluster)
    store.record(app="web", kind="note", message="kept")
    secret = state_cluster.get("v1", "Secret", "syncer-app-web", NAMESPACE)
    secret["data"] = {kubeobjects.DATA_KEY: base64.b64encode(gzip.compress(b'["a list"]')).decode()}
    state_cluster.put(secret)
    with pytest.raises(kubeobjects.StateObjectError, match="holds no syncer state document"):
        store.errors("web")
    store.close()


def test_over_the_size_limit_history_is_trimmed_then_a_write_is_refused(
    state_cluster: Any,
) -> None:
    store = kube_store(state_cluster, max_bytes=6000)
    for n in range(300):
        store.record(app="web", kind="note", message=f"entry {n} " + "x" * (n % 7))
    kept = store.history("web", limit=1000)
    # The oldest went first to make room; the newest are all there.
    assert kept[0].message.startswith("entry 299") and 0 < len(kept) < 300
    store.set_inventory(app="web", cluster="a", objects=["v1/Service/web/web"])
    huge = [f"apps/v1/Deployment/web/{n:08d}-{n * 7919 % 100003:x}" for n in range(3000)]
    with pytest.raises(kubeobjects.StateObjectError) as refused:
        store.set_inventory(app="web", cluster="a", objects=huge)
    message = str(refused.value)
    assert f"state Secret {NAMESPACE}/syncer-app-web" in message
    assert "over the limit of 6,000; nothing was written" in message
    assert store.inventory("web", "a") == ["v1/Service/web/web"]
    store.close()


def test_conflicts_are_re_read_and_re_applied(state_cluster: Any) -> None:
    """Another writer changes the Secret between our read and our write: the API says
    409, and the change is applied again to what is there now (both kept)."""
    store, other = kube_store(state_cluster), kube_store(state_cluster)
    store.record(app="web", kind="note", message="first")
    reads = 0
    get = store.objects.fetch  # what a write reads (never a cache)

    def racing_get(name: str) -> kubeobjects.Doc | None:
        nonlocal reads
        doc = get(name)
        reads += 1
        if reads == 1:
            other.record(app="web", kind="note", message="meanwhile")
        return doc

    store.objects.fetch = racing_get  # type: ignore[method-assign]
    store.record(app="web", kind="note", message="mine")
    assert reads == 2  # the 409 made it read again
    assert [e.message for e in other.history("web")] == ["mine", "meanwhile", "first"]
    assert any(r.status == 409 for r in state_cluster.request_log)
    store.close()
    other.close()


def test_the_writer_lock_admits_one_process_and_fences_writes(state_cluster: Any) -> None:
    where = model.Cluster(
        name=state_cluster.name, kubeconfig=state_cluster.kubeconfig, context=state_cluster.context
    )
    first = kubelock.KubeStateLock(cluster=where, namespace=NAMESPACE)
    second = kubelock.KubeStateLock(cluster=where, namespace=NAMESPACE)
    second.identity = "other-host/1"
    store = kube_store(state_cluster)
    store.add_guard(first.fence)
    with pytest.raises(errors.Fenced):
        store.record(app="web", kind="note", message="not before the lock")
    first.acquire()
    store.record(app="web", kind="note", message="under the lock")
    with pytest.raises(lock.StateLockedError) as refused:
        second.acquire()
    assert first.identity in str(refused.value) and "syncer-state-writer" in str(refused.value)
    first.release()
    second.acquire(wait=2.0)
    assert second.held
    with pytest.raises(errors.Fenced):
        store.record(app="web", kind="note", message="after letting go")
    second.release()
    assert [e.message for e in store.history("web")] == ["under the lock"]
    store.close()


def test_a_read_round_answers_many_questions_with_one_request(state_cluster: Any) -> None:
    store = kube_store(state_cluster)
    ro = store.begin_rollout(app="web", release_id="r1", clusters=["a"], cause="new")
    store.set_target(ro.targets[0].id, state="healthy")
    state_cluster.request_log.clear()
    with store.reading("web"):
        for _ in range(3):
            store.errors("web"), store.holds("web"), store.deployments("web")
            store.latest_targets("web"), store.rejected("web"), store.run("web")
    gets = [r for r in state_cluster.request_log if r.method == "GET"]
    assert len(gets) == 1 and gets[0].path.endswith("/secrets/syncer-app-web")
    state_cluster.request_log.clear()
    store.errors("web"), store.holds("web")  # outside a round: each reads afresh
    assert len([r for r in state_cluster.request_log if r.method == "GET"]) == 2
    store.close()
