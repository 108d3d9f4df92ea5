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

    def list(self, key: Key, namespace: str | None = None) -> list[Obj]:
        """Objects sorted by (namespace, name); namespace None = all namespaces."""
        with self.lock:
            items = self._objects.get(key, {})
            return [
                copy.deepcopy(items[k])
                for k in sorted(items)
                if namespace is None or k[0] == namespace
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
            self._objects.setdefault(key, {})[(ns, obj["metadata"]["name"])] = obj
            self._record(Event(rv, event, key, ns, copy.deepcopy(obj), prev))
            return copy.deepcopy(obj)

    def remove(self, key: Key, obj: Obj) -> Obj:
        with self.lock:
            rv = self.next_rv()
            ns = obj["metadata"].get("namespace", "")
            gone = self._objects.get(key, {}).pop((ns, obj["metadata"]["name"]), None)
            final = copy.deepcopy(gone if gone is not None else obj)
            final["metadata"]["resourceVersion"] = str(rv)
            self._record(Event(rv, "DELETED", key, ns, final, None))
            return copy.deepcopy(final)

    def drop_key(self, key: Key) -> None:
        """Forget every object of a resource type (its CRD was deleted) with DELETED events."""
        with self.lock:
            for obj in self.list(key):
                self.remove(key, obj)
            self._objects.pop(key, None)

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
