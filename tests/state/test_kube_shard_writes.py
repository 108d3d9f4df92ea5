"""A Kubernetes state written by sharded replicas (``KubeStore.shard``): each replica
writes only the app Secrets of its shards, every write carries its shard term and a
stale term is refused by the API-side document, and each works the notification queue
of its own apps only. Two handles on one real test apiserver play two replicas."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import errors
from syncer.state import kube, records
from tests.state.conftest import kube_store


def stamp(holder: str, term: int) -> dict[str, Any]:
    return {"shard": 0, "shards": 2, "lease": "syncer-state/syncer-shard-0", "holder": holder,
            "term": term}  # fmt: skip


def test_replicas_write_only_their_apps_and_a_stale_term_is_refused(state_cluster: Any) -> None:
    a, b = kube_store(state_cluster), kube_store(state_cluster)
    owner = {"web": "a", "api": "b"}
    terms = {"a": 1, "b": 1}

    def shard_for(me: str) -> Any:
        def check(app: str) -> dict[str, Any]:
            if owner[app] != me:
                raise errors.Fenced(f"app {app}: shard lease is not held here")
            return stamp(me, terms[me])

        return check

    a.shard(stamp=shard_for("a"), owns=lambda app: owner[app] == "a")
    b.shard(stamp=shard_for("b"), owns=lambda app: owner[app] == "b")
    try:
        a.record(app="web", kind="note", message="by a")
        b.record(app="api", kind="note", message="by b")
        with pytest.raises(errors.Fenced, match="not held here"):
            a.record(app="api", kind="note", message="a writing b's app")
        assert [e.message for e in b.history("api")] == ["by b"]
        assert a.writer("web") is not None and a.writer("web")["holder"] == "a"  # type: ignore[index]

        # web moves to b under a later term of the shard; a, not knowing yet (its fence
        # still passing), tries to write: the document refuses the older term.
        owner["web"], terms["b"] = "b", 2
        b.record(app="web", kind="note", message="by b, term 2")
        owner["web"] = "a"  # a's stale view
        with pytest.raises(errors.Fenced, match="after this replica's term 1"):
            a.record(app="web", kind="note", message="stale")
        assert [e.message for e in a.history("web", limit=5)] == ["by b, term 2", "by a"]
        writers = state_cluster_writers(a, "web")
        assert [(w["holder"], w["term"]) for w in writers] == [("a", 1), ("b", 2)]

        # Each routes (and later delivers) the events of its own apps only.
        def route(event: records.Event) -> list[records.NewDelivery]:
            return [records.NewDelivery(id=f"{event.app}-{event.id}", provider="hook")]

        owner["web"] = "b"
        routed_a = a.route_events(route=route, limit=10, max_pending=100)
        assert routed_a.events == 0
        routed_b = b.route_events(route=route, limit=10, max_pending=100)
        assert {d.id.split("-")[0] for d in routed_b.queued} == {"web", "api"}
        assert a.due_deliveries(now=1e12, limit=10) == []
        assert {d.event.app for d in b.due_deliveries(now=1e12, limit=10)} == {"web", "api"}
    finally:
        a.close()
        b.close()


def state_cluster_writers(store: Any, app: str) -> list[dict[str, Any]]:
    """The ``writers`` log of the app's Secret as the API holds it."""
    return list(store.objects.get(kube.app_secret(app)).data["writers"])
