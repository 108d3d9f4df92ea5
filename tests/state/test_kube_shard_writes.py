"""A Kubernetes state written by sharded replicas (``KubeStore.shard``): each replica
writes only the app Secrets of its shards, every write carries its shard term and a
stale term is refused by the API-side document, and each works the notification queue
of its own apps only. Two handles on one real test apiserver play two replicas."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import errors
from syncer.state import kube, records
from tests import waiting
from tests.state.conftest import kube_store


def stamp(holder: str, term: int) -> dict[str, Any]:
    return {"shard": 0, "shards": 2, "lease": "syncer-state/syncer-shard-0", "holder": holder,
            "term": term}  # fmt: skip


def shard_for(me: str, owner: dict[str, str], terms: dict[str, int]) -> Any:
    """The stamp of replica ``me``: refused unless ``owner`` says the app is its."""

    def check(app: str) -> dict[str, Any]:
        if owner[app] != me:
            raise errors.Fenced(f"app {app}: shard lease is not held here")
        return stamp(me, terms[me])

    return check


def test_replicas_write_only_their_apps_and_a_stale_term_is_refused(state_cluster: Any) -> None:
    a, b = kube_store(state_cluster), kube_store(state_cluster)
    owner = {"web": "a", "api": "b"}
    terms = {"a": 1, "b": 1}

    a.shard(stamp=shard_for("a", owner, terms), owns=lambda app: owner[app] == "a")
    b.shard(stamp=shard_for("b", owner, terms), owns=lambda app: owner[app] == "b")
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


def test_a_delivery_is_claimed_by_one_term_and_recorded_only_by_it(state_cluster: Any) -> None:
    a, b = kube_store(state_cluster), kube_store(state_cluster)
    owner, terms = {"web": "a"}, {"a": 1, "b": 2}

    a.shard(stamp=shard_for("a", owner, terms), owns=lambda app: owner[app] == "a")
    b.shard(stamp=shard_for("b", owner, terms), owns=lambda app: owner[app] == "b")
    try:
        a.record(app="web", kind="note", message="to tell")
        a.route_events(
            route=lambda e: [records.NewDelivery(id=f"d-{e.id}", provider="hook")],
            limit=10, max_pending=100,
        )  # fmt: skip
        (delivery,) = a.due_deliveries(now=1e12, limit=10)
        claim = a.claim_delivery(delivery, window=0)
        assert claim.verdict == records.CLAIMED
        claim.check()
        # The shard moves to b (term 2) while a sends: b does not send it yet ...
        owner["web"] = "b"
        with pytest.raises(errors.Fenced, match="not held here"):
            claim.check()  # ... and a, had it not started, would not start now.
        busy = b.claim_delivery(delivery, window=0)
        assert (busy.verdict, busy.holder) == (records.BUSY, "a")
        # b writes the app under its term: a (its view stale) records nothing after.
        b.record(app="web", kind="note", message="b's")
        owner["web"] = "a"
        with pytest.raises(errors.Fenced, match="after this replica's term 1"):
            a.finish_delivery(delivery.id, state=records.DELIVERED)
        owner["web"] = "b"
        assert [d.state for d in b.deliveries()] == [records.PENDING_DELIVERY]
        # Once a's claim has been open for its window (on b's clock) b claims it.
        assert waiting.eventually(
            lambda: b.claim_delivery(delivery, window=0).verdict == records.CLAIMED,
            timeout=60, every=0.5,
        )  # fmt: skip
        b.finish_delivery(delivery.id, state=records.DELIVERED)
        assert [d.state for d in b.deliveries()] == [records.DELIVERED]
        doc = b.objects.get(kube.app_secret("web"))
        assert doc is not None
        claimed = doc.data["claims"][delivery.id]
        assert (claimed["holder"], claimed["term"], claimed["done"]) == ("b", 2, "delivered")
        # Asked again (a queue entry not yet marked, say), the outcome is what is told.
        assert b.claim_delivery(delivery, window=0).verdict == records.DELIVERED
    finally:
        a.close()
        b.close()
