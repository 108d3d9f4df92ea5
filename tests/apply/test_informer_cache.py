"""The watch cache's own logic, on a fake client: which changes ask for a drift check,
re-listing after 410 Gone, and falling back to listing when a watch is refused."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

from syncer.apply import discovery, errors, informer

SYNCER = {"app.kubernetes.io/managed-by": "syncer", "syncer.io/app": "web"}


def config_map(name: str, version: str, data: dict[str, str], **meta: Any) -> dict[str, Any]:
    """A live ConfigMap as syncer's apply left it (its fields owned by manager syncer)."""
    fields = {
        "f:data": {f"f:{key}": {} for key in data},
        "f:metadata": {"f:labels": {f"f:{key}": {} for key in SYNCER}},
    }
    managed = [
        {
            "manager": "syncer",
            "operation": "Apply",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "web", "resourceVersion": version,
                     "labels": dict(SYNCER), "managedFields": managed, **meta},
        "data": data,
    }  # fmt: skip


def desired(live: dict[str, Any]) -> dict[str, Any]:
    """What the app's release has for it (no server-set metadata)."""
    meta = {k: v for k, v in live["metadata"].items() if k in ("name", "namespace", "labels")}
    return {**live, "metadata": meta}


class Stream:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.events

    def close(self) -> None:
        pass


class FakeClient:
    """Answers LISTs and WATCHes from scripted queues; the informer's thread ends when
    the scripts run out (the last watch blocks until released)."""

    name = "a"

    def __init__(self) -> None:
        self.lists: list[tuple[list[dict[str, Any]], str]] = []
        self.watches: list[Any] = []
        self.listed = 0
        self.watched: list[str] = []
        self.applied: dict[Any, Any] = {}
        self.done = threading.Event()
        self.release = threading.Event()
        self.may_watch = {""}
        """Namespaces ("" = all at once) the credentials may list and watch in."""
        self.reviews: list[str] = []
        self.list_namespaces: list[str] = []

    def resource(self, api_version: str, kind: str) -> discovery.Resource:
        return discovery.Resource(api_version, kind, "configmaps", True)

    def allowed(self, *, namespace: str, **_: Any) -> bool:
        self.reviews.append(namespace)
        return namespace in self.may_watch

    def list_versioned(self, *, namespace: str = "", **_: Any) -> tuple[list[dict[str, Any]], str]:
        self.listed += 1
        self.list_namespaces.append(namespace)
        items, version = self.lists.pop(0) if self.lists else ([], "1")
        return copy.deepcopy(items), version

    def watch(self, *, resource_version: str, **_: Any) -> Stream:
        self.watched.append(resource_version)
        if not self.watches:
            self.done.set()
            self.release.wait(30)  # nothing more scripted: hold like a quiet watch
            return Stream([])
        step = self.watches.pop(0)
        if isinstance(step, BaseException):
            raise step
        return Stream(step)


def stop(watches: informer.Watches, client: FakeClient) -> None:
    client.release.set()
    watches.stop()


def watches_of(client: FakeClient, notified: list[str]) -> informer.Watches:
    return informer.Watches(client, notify=notified.append, sync_wait=5)  # type: ignore[arg-type]


def test_changes_that_leave_the_release_ask_for_a_check_and_the_rest_do_not() -> None:
    client = FakeClient()
    notified: list[str] = []
    watches = watches_of(client, notified)
    wanted = desired(config_map("cfg", "1", {"k": "v"}))
    watches.expect("web", [wanted])
    live = config_map("cfg", "5", {"k": "v"})
    # Status or bookkeeping only: a controller at work.
    assert watches.drifted(live, {**live, "metadata": {**live["metadata"],
                           "resourceVersion": "6"}, "status": {"x": 1}}) == ""  # fmt: skip
    # Still what the app wants (its own apply): no check.
    assert watches.drifted(None, live) == ""
    # A field the app sets, changed by someone: a check.
    assert watches.drifted(live, config_map("cfg", "7", {"k": "edited"})) == "web"
    # Deleted while wanted: a check; deleted after the app stopped wanting it (pruned): none.
    assert watches.drifted(live, None) == "web"
    watches.expect("web", [])
    assert watches.drifted(live, None) == ""
    # An app that has not said what it wants yet (a restart): any change is checked.
    assert watches.drifted(None, {**live, "metadata": {**live["metadata"],
                           "labels": {**SYNCER, "syncer.io/app": "api"}}}) == "api"  # fmt: skip
    stop(watches, client)


def test_expired_version_lists_again_and_reports_what_changed_meanwhile() -> None:
    client = FakeClient()
    first = config_map("cfg", "10", {"k": "v"})
    gone = config_map("old", "11", {"k": "v"})
    client.lists = [([first, gone], "12"), ([config_map("cfg", "20", {"k": "edited"})], "21")]
    client.watches = [
        [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
         {"type": "ERROR", "object": {"code": 410, "reason": "Expired"}}],
    ]  # fmt: skip
    notified: list[str] = []
    watches = watches_of(client, notified)
    watches.expect("web", [desired(first), desired(gone)])
    assert client.done.wait(10)
    # LIST, WATCH from its version, 410 after a bookmark, LIST again, WATCH from the new one.
    assert client.listed == 2 and client.watched == ["12", "21"]
    assert sorted(notified) == ["web", "web"]  # cfg changed, old deleted while unwatched
    cached = watches.owned(api_version="v1", kind="ConfigMap", namespace="web", app_name="web")
    assert cached is not None and [o["data"] for o in cached] == [{"k": "edited"}]
    stop(watches, client)


def test_refused_watch_falls_back_to_listing_and_says_why() -> None:
    client = FakeClient()
    client.lists = [([config_map("cfg", "1", {"k": "v"})], "2")]
    client.watches = [errors.Unauthorized("cluster a: GET WATCH ConfigMap: forbidden (HTTP 403)")]
    watches = watches_of(client, [])
    watches.informer("v1", "ConfigMap", wait=False)
    for _ in range(200):
        if any(s["state"] == informer.UNAVAILABLE for s in watches.status()):
            break
        threading.Event().wait(0.02)
    # The caller lists by itself: no answer from a cache that no watch keeps current.
    assert watches.owned(api_version="v1", kind="ConfigMap", namespace="", app_name="web") is None
    (entry,) = watches.status()
    assert entry["state"] == "unavailable" and "RBAC forbids" in entry["reason"], entry
    assert watches.misses == 1 and watches.hits == 0
    stop(watches, client)


def test_namespaced_roles_get_a_watch_per_namespace_up_to_the_limit() -> None:
    client = FakeClient()
    client.may_watch = {"web", "api", "db"}  # Roles in three namespaces, nothing cluster-wide
    watches = informer.Watches(client, notify=None, sync_wait=5, max_namespaces=2)  # type: ignore[arg-type]
    for namespace in ("web", "api", "db", "web"):
        watches.owned(api_version="v1", kind="ConfigMap", namespace=namespace, app_name="x")
    states = {s["namespace"]: (s["state"], s["reason"]) for s in watches.status()}
    assert states["web"][0] == states["api"][0] == "synced", states
    assert states["db"] == ("unavailable", "already 2 namespace watches on this cluster")
    assert sorted(client.list_namespaces) == ["api", "web"]  # never a refused cluster-wide LIST
    assert watches.hits == 3 and watches.misses == 1
    stop(watches, client)


def test_cached_objects_share_their_keys_and_short_strings() -> None:
    import json

    # Each watch event is decoded on its own, as the client does: without sharing, every
    # cached object would hold its own copy of every key and of values like "Apply".
    made = [config_map(f"cfg-{n}", str(n), {"k": "v"}) for n in range(2, 5)]
    events = [json.loads(json.dumps({"type": "ADDED", "object": obj})) for obj in made]
    client = FakeClient()
    client.lists = [([], "1")]
    client.watches = [events]
    watches = watches_of(client, [])
    watches.informer("v1", "ConfigMap", wait=False)
    assert client.done.wait(10)
    cached = watches.owned(api_version="v1", kind="ConfigMap", namespace="web", app_name="web")
    assert cached is not None and len(cached) == 3
    first, second = (o["metadata"]["managedFields"][0] for o in cached[:2])
    assert [a is b for a, b in zip(first, second, strict=True)] == [True] * len(first)
    assert first["operation"] is second["operation"] == "Apply"
    # Content is what the server sent.
    assert sorted(o["metadata"]["name"] for o in cached) == ["cfg-2", "cfg-3", "cfg-4"]
    assert (
        cached[0]["metadata"]["managedFields"] == events[0]["object"]["metadata"]["managedFields"]
    )
    stop(watches, client)
