"""In-memory object storage of one test cluster, with resourceVersions and watch history.

objects.py (the object lifecycle) writes through ``Store.save``/``Store.remove`` while it
holds ``Store.lock``; watch.py reads ``events_since`` and waits on ``Store.changed``;
workloads.py subscribes with ``Store.listeners``. One global counter gives every write a
cluster-wide monotonic resourceVersion, as etcd's revision does.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, plural)
Ref = tuple[Key, str, str]  # (key, namespace, name)


@dataclasses.dataclass(frozen=True)
class Event:
    """One change, as a watch stream reports it."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: Key
    namespace: str
    obj: Obj
    prev: Obj | None


class Store:
    """Objects per (group, plural) and (namespace, name); a bounded event history."""

    def __init__(self, *, history: int = 2000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._rv = 1
        self._objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        self._events: collections.deque[Event] = collections.deque(maxlen=history)
        self._compacted_rv = 1
        self.listeners: list[Callable[[Event], None]] = []
        # indexes for garbage collection and namespace termination
        self._uids: dict[str, Ref] = {}
        self._owned: dict[str, set[Ref]] = {}  # owner uid -> dependents
        self._namespaced: dict[str, set[Ref]] = {}  # namespace -> objects in it
        self._terminating: set[Ref] = set()

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def next_rv(self) -> int:
        with self.lock:
            self._rv += 1
            return self._rv

    def get(self, key: Key, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self._objects.get(key, {}).get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def select(
        self, key: Key, namespace: str | None = None, *, where: Callable[[Obj], bool] | None = None
    ) -> list[Obj]:
        """Objects sorted by (namespace, name); namespace None = all namespaces; where
        filters before copying."""
        with self.lock:
            items = self._objects.get(key, {})
            return [
                copy.deepcopy(items[k])
                for k in sorted(items)
                if (namespace is None or k[0] == namespace) and (where is None or where(items[k]))
            ]

    def kinds(self) -> list[Key]:
        with self.lock:
            return list(self._objects)

    def save(self, key: Key, obj: Obj, *, event: str, prev: Obj | None) -> Obj:
        """Store obj under a new resourceVersion and record the event; returns a copy."""
        with self.lock:
            rv = self.next_rv()
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(rv)
            ns = obj["metadata"].get("namespace", "")
            items = self._objects.setdefault(key, {})
            ref = (key, ns, obj["metadata"]["name"])
            self._unindex(ref, items.get((ns, ref[2])))
            items[(ns, ref[2])] = obj
            self._index(ref, obj)
            self._record(Event(rv, event, key, ns, copy.deepcopy(obj), prev))
            return copy.deepcopy(obj)

    def remove(self, key: Key, obj: Obj) -> Obj:
        with self.lock:
            rv = self.next_rv()
            ns = obj["metadata"].get("namespace", "")
            gone = self._objects.get(key, {}).pop((ns, obj["metadata"]["name"]), None)
            self._unindex((key, ns, obj["metadata"]["name"]), gone)
            final = copy.deepcopy(gone if gone is not None else obj)
            final["metadata"]["resourceVersion"] = str(rv)
            self._record(Event(rv, "DELETED", key, ns, final, None))
            return copy.deepcopy(final)

    def drop_key(self, key: Key) -> None:
        """Forget every object of a resource type (its CRD was deleted) with DELETED events."""
        with self.lock:
            for obj in self.select(key):
                self.remove(key, obj)
            self._objects.pop(key, None)

    def _index(self, ref: Ref, obj: Obj) -> None:
        meta = obj["metadata"]
        if meta.get("uid"):
            self._uids[meta["uid"]] = ref
        for owner in meta.get("ownerReferences") or []:
            self._owned.setdefault(str(owner.get("uid")), set()).add(ref)
        if ref[1]:
            self._namespaced.setdefault(ref[1], set()).add(ref)
        if meta.get("deletionTimestamp"):
            self._terminating.add(ref)

    def _unindex(self, ref: Ref, obj: Obj | None) -> None:
        if obj is None:
            return
        meta = obj["metadata"]
        if self._uids.get(meta.get("uid", "")) == ref:
            del self._uids[meta["uid"]]
        for owner in meta.get("ownerReferences") or []:
            self._owned.get(str(owner.get("uid")), set()).discard(ref)
        self._namespaced.get(ref[1], set()).discard(ref)
        self._terminating.discard(ref)

    def _fetch(self, refs: set[Ref]) -> list[tuple[Key, Obj]]:
        out = []
        for key, ns, name in sorted(refs):
            obj = self._objects.get(key, {}).get((ns, name))
            if obj is not None:
                out.append((key, copy.deepcopy(obj)))
        return out

    def has_uid(self, uid: str) -> bool:
        with self.lock:
            return uid in self._uids

    def dependents(self, uid: str) -> list[tuple[Key, Obj]]:
        """Objects with an ownerReference to uid."""
        with self.lock:
            return self._fetch(set(self._owned.get(uid, set())))

    def in_namespace(self, namespace: str) -> list[tuple[Key, Obj]]:
        with self.lock:
            return self._fetch(set(self._namespaced.get(namespace, set())))

    def count_in_namespace(self, namespace: str) -> int:
        with self.lock:
            return len(self._namespaced.get(namespace, set()))

    def terminating(self) -> list[tuple[Key, Obj]]:
        """Objects with a deletionTimestamp still waiting for finalizers."""
        with self.lock:
            return self._fetch(set(self._terminating))

    def _record(self, event: Event) -> None:
        if len(self._events) == self._events.maxlen:
            self._compacted_rv = self._events[0].rv
        self._events.append(event)
        self.changed.notify_all()
        for listener in list(self.listeners):
            listener(event)

    def compact(self) -> None:
        """Forget the event history (as etcd compaction does): older watches get 410."""
        with self.lock:
            self._events.clear()
            self._compacted_rv = self._rv

    def events_since(self, rv: int) -> list[Event] | None:
        """Events with resourceVersion > rv, or None when rv is older than the history."""
        with self.lock:
            if rv < self._compacted_rv:
                return None
            return [e for e in self._events if e.rv > rv]
