"""How lists inside built-in objects merge: the only schema knowledge the server has.

patch.py (strategic merge patch) asks ``merge_key``; apply.py (server-side apply and
managedFields) asks ``list_type``. Both mirror the Go struct tags of k8s.io/api
(``patchMergeKey``/``patchStrategy`` and ``listType``/``listMapKey``) for the fields
syncer's manifests use; every other list is atomic, as it is for CRDs without schema
annotations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

Path = tuple[str, ...]

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# field name -> (SMP merge key, SSA list-map keys), where the parent does not matter
_BY_NAME: dict[str, tuple[str, tuple[str, ...]]] = {
    "containers": ("name", ("name",)),
    "initContainers": ("name", ("name",)),
    "ephemeralContainers": ("name", ("name",)),
    "volumes": ("name", ("name",)),
    "imagePullSecrets": ("name", ("name",)),
    "hostAliases": ("ip", ("ip",)),
    "topologySpreadConstraints": ("topologyKey", ("topologyKey", "whenUnsatisfiable")),
    "conditions": ("type", ("type",)),
    "ownerReferences": ("uid", ("uid",)),
    "resourceClaims": ("name", ("name",)),
    "schedulingGates": ("name", ("name",)),
}

# fields of a container
_IN_CONTAINER: dict[str, tuple[str, tuple[str, ...]]] = {
    "ports": ("containerPort", ("containerPort", "protocol")),
    "env": ("name", ("name",)),
    "volumeMounts": ("mountPath", ("mountPath",)),
    "volumeDevices": ("devicePath", ("devicePath",)),
}

# primitive lists merged as sets
_SETS = {("metadata", "finalizers")}


def _rule(path: Path, kind: str) -> tuple[str, tuple[str, ...]] | None:
    if not path:
        return None
    name = path[-1]
    if len(path) >= 2 and path[-2] in _CONTAINER_LISTS and name in _IN_CONTAINER:
        return _IN_CONTAINER[name]
    if kind == "Service" and path == ("spec", "ports"):
        return ("port", ("port", "protocol"))
    if name == "conditions" and path[0] != "status":
        return None
    return _BY_NAME.get(name)


@dataclasses.dataclass(frozen=True)
class CustomTypes:
    """List types of a custom resource, from its CRD's openAPIV3Schema annotations."""

    openapi: dict[str, Any]

    def list_type(self, path: Path) -> tuple[str, tuple[str, ...]]:
        if path and path[0] == "metadata":
            return list_type(path, kind="")
        node: Any = self.openapi
        for name in path:
            if isinstance(node, dict) and node.get("type") == "array":
                node = node.get("items") or {}
            props = node.get("properties") if isinstance(node, dict) else None
            extra = node.get("additionalProperties") if isinstance(node, dict) else None
            node = (props or {}).get(name) or (extra if isinstance(extra, dict) else {})
        ltype = node.get("x-kubernetes-list-type", "atomic")
        if ltype == "map":
            return ("map", tuple(node.get("x-kubernetes-list-map-keys") or ()))
        return ("set", ()) if ltype == "set" else ("atomic", ())


Kind = str | CustomTypes  # a built-in kind's name, or a custom resource's schema


def types_for(kind: str, openapi: dict[str, Any] | None) -> Kind:
    return CustomTypes(openapi) if openapi else kind


def is_set(path: Path) -> bool:
    return path[-2:] in _SETS


def merge_key(path: Path, *, kind: str) -> str | None:
    """SMP merge key of the list at path; None = replace the whole list."""
    rule = _rule(path, kind)
    return rule[0] if rule else None


def list_type(path: Path, *, kind: Kind) -> tuple[str, tuple[str, ...]]:
    """SSA list type of the list at path: ("map", keys), ("set", ()) or ("atomic", ())."""
    if isinstance(kind, CustomTypes):
        return kind.list_type(path)
    if is_set(path):
        return ("set", ())
    rule = _rule(path, kind)
    return ("map", rule[1]) if rule else ("atomic", ())
