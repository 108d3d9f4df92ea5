"""The desired set, made ready to apply: scope resolved, namespaces defaulted,
ownership labels stamped, server-owned fields removed, duplicates refused.

``sync``, ``plan`` and ``drift`` call ``prepare`` first. A custom resource whose CRD
is in the same set is resolved from that CRD (the cluster does not serve it yet).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import errors, order, ownership, refs

# Fields the server owns; sending them would fail or fight the server.
_SERVER_METADATA = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


class Scopes:
    """Answers "is this object namespaced?" from discovery, or from a CRD in the set."""

    def __init__(self, *, client: client_mod.ClusterClient, objects: Iterable[dict[str, Any]]):
        self._client = client
        self._from_crds: dict[tuple[str, str], bool] = {}
        for obj in objects:
            if obj.get("kind") == order.CRD and str(obj.get("apiVersion", "")).startswith(
                "apiextensions.k8s.io/"
            ):
                spec = obj.get("spec") or {}
                group = spec.get("group", "")
                kind = (spec.get("names") or {}).get("kind", "")
                for version in spec.get("versions") or []:
                    key = (f"{group}/{version.get('name', '')}", kind)
                    self._from_crds[key] = spec.get("scope") == "Namespaced"

    def namespaced(self, obj: dict[str, Any]) -> bool:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        key = (api_version, kind)
        if key in self._from_crds:
            return self._from_crds[key]
        return self._client.resource(api_version, kind).namespaced

    def served(self, obj: dict[str, Any]) -> bool:
        """False for a custom resource whose CRD is only in the set (not yet applied)."""
        found = self._client.discovery.lookup(str(obj.get("apiVersion")), str(obj.get("kind")))
        return found is not None


def prepare(
    objects: Iterable[dict[str, Any]],
    *,
    app_name: str,
    namespace: str,
    scopes: Scopes,
) -> list[dict[str, Any]]:
    """Objects ready to apply, in input order; ``InvalidObject`` on a malformed one."""
    prepared: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for index, obj in enumerate(objects):
        _check_shape(obj, index)
        clean = ownership.stamped(obj, app_name=app_name)
        clean.pop("status", None)
        meta = clean["metadata"]
        for key in _SERVER_METADATA:
            meta.pop(key, None)
        if scopes.namespaced(clean):
            meta["namespace"] = meta.get("namespace") or namespace
        else:
            meta.pop("namespace", None)
        try:
            order.wave(clean)
        except order.WaveError as err:
            raise errors.InvalidObject(str(err)) from None
        identity = refs.ObjectRef.of(clean).identity
        if identity in seen:
            raise errors.InvalidObject(
                f"{refs.describe(clean)} appears twice in the app's objects (items "
                f"{seen[identity]} and {index}); keep one"
            )
        seen[identity] = index
        prepared.append(clean)
    return prepared


def _check_shape(obj: Any, index: int) -> None:
    if not isinstance(obj, dict):
        raise errors.InvalidObject(f"object {index} is not a mapping")
    meta = obj.get("metadata")
    if not obj.get("apiVersion") or not obj.get("kind") or not isinstance(meta, dict):
        raise errors.InvalidObject(
            f"object {index} needs apiVersion, kind and metadata (got {sorted(obj)[:6]})"
        )
    if not meta.get("name"):
        raise errors.InvalidObject(
            f"object {index} ({obj.get('kind')}) has no metadata.name; generateName is "
            "not supported by server-side apply"
        )


def digest(obj: dict[str, Any]) -> str:
    """A stable hash of an object, to remember what was last applied."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
