"""Object identity: ``ObjectRef`` names one object on one cluster, and the inventory is a
list of them. Used by every step of apply, by results, and by the state store (as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ObjectRef:
    """apiVersion, kind, namespace ("" when cluster-scoped) and name of one object."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes two refs the same object: the version does not count."""
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    def to_json(self) -> dict[str, str]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObjectRef:
        return cls(
            api_version=str(data["apiVersion"]),
            kind=str(data["kind"]),
            namespace=str(data.get("namespace") or ""),
            name=str(data["name"]),
        )

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectRef:
        """The ref of an object dict as it is (namespace not defaulted)."""
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name", "")),
        )


def describe(obj: dict[str, Any]) -> str:
    """``Kind namespace/name`` of an object dict, for messages."""
    return str(ObjectRef.of(obj))
