"""Which resource serves an apiVersion/kind on one cluster, cached per group/version.

The client asks ``resource(api_version, kind)`` before building a URL. A group/version
is fetched once (``/api/v1`` or ``/apis/GROUP/VERSION``) and kept; an unknown kind
triggers one re-fetch of its group/version, which is how custom resources whose CRD
was applied in the same sync become known.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from syncer.apply import errors


@dataclass(frozen=True)
class Resource:
    """One served resource: the URL segment (plural) and whether it is namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    watchable: bool = True
    """The API serves ``watch`` on it (aggregated APIs and some others may not)."""

    def path(self, *, namespace: str = "", name: str = "") -> str:
        """The collection URL, or the object URL when ``name`` is given."""
        base = (
            f"/api/{self.api_version}"
            if "/" not in self.api_version
            else (f"/apis/{self.api_version}")
        )
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


# fetch(path) -> the parsed JSON document, or None when the path is not served (404).
Fetch = Callable[[str], dict[str, Any] | None]


class Discovery:
    """Per-cluster cache of served resources, safe to share between threads."""

    def __init__(self, *, fetch: Fetch, cluster: str) -> None:
        self._fetch = fetch
        self._cluster = cluster
        self._kinds: dict[str, dict[str, Resource]] = {}
        self._lock = threading.Lock()

    def resource(self, api_version: str, kind: str) -> Resource:
        """The resource for apiVersion/kind; ``UnknownKind`` when the cluster has none."""
        found = self.lookup(api_version, kind)
        if found is None:
            raise errors.UnknownKind(
                f"cluster {self._cluster}: no resource serves kind {kind} in apiVersion "
                f"{api_version}; install its CustomResourceDefinition first or fix apiVersion"
            )
        return found

    def lookup(self, api_version: str, kind: str) -> Resource | None:
        """Like ``resource`` but None when unknown (after one refresh)."""
        with self._lock:
            cached = self._kinds.get(api_version)
        if cached is not None and kind in cached:
            return cached[kind]
        # Unknown or never fetched: (re)fetch this group/version once.
        kinds = self._load(api_version)
        return kinds.get(kind)

    def forget(self, api_version: str) -> None:
        """Drop a group/version, e.g. after a CRD serving it was applied or deleted."""
        with self._lock:
            self._kinds.pop(api_version, None)

    def _load(self, api_version: str) -> dict[str, Resource]:
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        document = self._fetch(path) or {}
        kinds: dict[str, Resource] = {}
        for item in document.get("resources") or []:
            name = str(item.get("name", ""))
            if not name or "/" in name:  # subresources such as deployments/status
                continue
            kinds[str(item.get("kind"))] = Resource(
                api_version=api_version,
                kind=str(item.get("kind")),
                plural=name,
                namespaced=bool(item.get("namespaced")),
                watchable="watch" in (item.get("verbs") or ["watch"]),
            )
        with self._lock:
            self._kinds[api_version] = kinds
        return kinds
