"""A read cache for one controller round: many apps' syncs, one LIST per kind.

The reconciler syncs every app on a cluster in rounds. Inside ``with
apply.read_round(client):`` the label-filtered reads of ``live`` (what the app owns,
per kind and namespace) are answered from one cluster-wide LIST per kind of every
object labelled ``app.kubernetes.io/managed-by=syncer``, made the first time the
kind is needed; syncer's own applies and deletes update it. So a no-change round over
200 apps costs one LIST per kind, not one per app and kind.

It is a snapshot: a change someone makes during the round is seen by the next round
(or the next drift check), exactly as if it had happened just after the round. Reads
that guard safety (objects new to an app, checked for another owner) and health
checks always go to the server. Where the token may not list a kind cluster-wide
(403), that kind falls back to per-namespace reads.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Collection, Iterator
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import errors, ownership, refs

_Key = tuple[str, str]  # apiVersion, kind
_Slot = tuple[str, str]  # namespace, app


class RoundCache:
    """Cluster-wide lists of syncer-managed objects, per kind, for one round."""

    def __init__(self, client: client_mod.ClusterClient) -> None:
        self._client = client
        self._kinds: dict[_Key, dict[_Slot, dict[str, dict[str, Any]]] | None] = {}
        self._namespaces: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, ...], threading.Lock] = {}
        """One lock per list being made: syncs starting together wait for one LIST."""

    def _loader(self, key: tuple[str, ...]) -> threading.Lock:
        with self._lock:
            return self._loading.setdefault(key, threading.Lock())

    def listing(self, *, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace, labelled or not, as first listed in this
        round (one LIST per namespace and round). For reads whose answer changes rarely
        and only gates a closer look: whether a namespace has any ResourceQuota."""
        key = (api_version, kind, namespace)
        with self._loader(key):
            with self._lock:
                found = self._namespaces.get(key)
            if found is None:
                found = self._client.list_objects(
                    api_version=api_version, kind=kind, namespace=namespace
                )
                with self._lock:
                    self._namespaces[key] = found
        return copy.deepcopy(found)

    def owned(
        self, *, api_version: str, kind: str, namespace: str, app_name: str
    ) -> list[dict[str, Any]] | None:
        """Copies of the app's objects of a kind in a namespace; None when not cached."""
        index = self._index(api_version, kind)
        if index is None:
            return None
        with self._lock:
            found = index.get((namespace, app_name), {})
            return [copy.deepcopy(obj) for obj in found.values()]

    def labelled(
        self, *, api_version: str, kind: str, namespace: str, names: Collection[str]
    ) -> list[dict[str, Any]] | None:
        """Copies of the syncer-labelled objects of ``names`` (a kind, a namespace),
        whichever app they belong to; None when not cached."""
        index = self._index(api_version, kind)
        if index is None:
            return None
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (ns, _app), found in index.items()
                if ns == namespace
                for name in names
                if (obj := found.get(name)) is not None
            ]

    def put(self, obj: dict[str, Any]) -> None:
        """Record what an apply returned (only for kinds already cached)."""
        ref = refs.ObjectRef.of(obj)
        with self._lock:
            index = self._kinds.get((ref.api_version, ref.kind))
            if index is None:
                return
            self._drop(index, ref)
            index.setdefault((ref.namespace, ownership.app_of(obj)), {})[ref.name] = obj

    def forget(self, ref: refs.ObjectRef) -> None:
        """Drop a deleted object."""
        with self._lock:
            index = self._kinds.get((ref.api_version, ref.kind))
            if index is not None:
                self._drop(index, ref)

    @staticmethod
    def _drop(index: dict[_Slot, dict[str, dict[str, Any]]], ref: refs.ObjectRef) -> None:
        for (namespace, _app), objects in index.items():
            if namespace == ref.namespace:
                objects.pop(ref.name, None)

    def _index(self, api_version: str, kind: str) -> dict[_Slot, dict[str, dict[str, Any]]] | None:
        key = (api_version, kind)
        with self._lock:
            if key in self._kinds:
                return self._kinds[key]
        with self._loader(key):
            return self._load(key)

    def _load(self, key: _Key) -> dict[_Slot, dict[str, dict[str, Any]]] | None:
        """List a kind once (the caller holds its loader lock)."""
        with self._lock:
            if key in self._kinds:
                return self._kinds[key]  # listed by the thread this one waited for
        api_version, kind = key
        selector = f"{ownership.MANAGED_BY_LABEL}={ownership.MANAGED_BY_VALUE}"
        index: dict[_Slot, dict[str, dict[str, Any]]] | None
        try:
            listed = self._client.list_objects(
                api_version=api_version, kind=kind, label_selector=selector
            )
        except errors.Unauthorized:
            # Least-privilege tokens may only list per namespace: read those directly.
            index = None
        else:
            index = {}
            for obj in listed:
                ref = refs.ObjectRef.of(obj)
                slot = (ref.namespace, ownership.app_of(obj))
                index.setdefault(slot, {})[ref.name] = obj
        with self._lock:
            return self._kinds.setdefault(key, index)


@contextlib.contextmanager
def read_round(client: client_mod.ClusterClient) -> Iterator[RoundCache]:
    """Serve this client's ownership reads from one snapshot until the block ends."""
    cache = RoundCache(client)
    previous, client.round_cache = client.round_cache, cache
    try:
        yield cache
    finally:
        client.round_cache = previous
