"""From parsed documents to apply-ready objects: checked, namespaced, labelled.

``syncer.render.render`` hands every document (with the file it came from) to
``collect`` and then ``finish``. A document that is not a Kubernetes object is an error
naming its file and index; ``kind: List`` is unpacked; namespaced objects without a
namespace get the app's; every object gets syncer's ownership labels
(``syncer.render.labels``). Duplicates (same kind, namespace and name; a cluster-scoped
object's namespace does not count) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncer.render import errors, labels

CLUSTER_SCOPED_KINDS = frozenset(
    {
        # core
        "Namespace", "Node", "PersistentVolume", "ComponentStatus",
        # apiextensions, apiregistration, admission
        "CustomResourceDefinition", "APIService",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
        # RBAC
        "ClusterRole", "ClusterRoleBinding",
        # storage, scheduling, node, networking
        "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass",
        "PriorityClass", "RuntimeClass", "IngressClass", "IPAddress", "ServiceCIDR",
        # certificates, flow control, auth reviews, resource claims
        "CertificateSigningRequest", "ClusterTrustBundle",
        "FlowSchema", "PriorityLevelConfiguration",
        "TokenReview", "SelfSubjectReview", "SelfSubjectAccessReview",
        "SelfSubjectRulesReview", "SubjectAccessReview",
        "DeviceClass", "ResourceSlice",
    }
)  # fmt: skip
"""Built-in kinds that live outside namespaces (Kubernetes 1.35)."""


@dataclass
class Item:
    """One object and where it came from (for messages and image changes)."""

    obj: dict[str, Any]
    origin: str
    """``apps/web/deploy.yaml#1`` (file and document index), or ``helm``/``kustomize``."""
    generated: list[tuple[str | int, ...]] = field(default_factory=list)
    """Fields whose value differs between two renders of the same inputs (Helm's
    ``randAlphaNum`` and the like; see ``syncer.render.generated``)."""


def collect(*, data: Any, origin: str) -> list[Item]:
    """The object(s) in one document; ``kind: List`` gives its items."""
    check_object(data, origin=origin)
    if data["kind"] == "List" or (data["kind"].endswith("List") and "items" in data):
        items = data.get("items") or []
        if not isinstance(items, list):
            raise errors.RenderError(f"{origin}: 'items' of a {data['kind']} must be a list")
        found = []
        for number, item in enumerate(items):
            where = f"{origin} items[{number}]"
            check_object(item, origin=where)
            found.append(Item(obj=item, origin=where))
        return found
    return [Item(obj=data, origin=origin)]


def check_object(data: Any, *, origin: str) -> None:
    if not isinstance(data, dict):
        raise errors.RenderError(
            f"{origin}: not a Kubernetes object (a {_type_name(data)}, expected a mapping "
            "with apiVersion, kind and metadata.name)"
        )
    missing = [k for k in ("apiVersion", "kind") if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise errors.RenderError(
            f"{origin}: not a Kubernetes object: missing {' and '.join(missing)}"
        )
    if data["kind"].endswith("List") and "items" in data:
        return
    meta = data.get("metadata")
    if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
        raise errors.RenderError(f"{origin}: {data['kind']} has no metadata.name")


def finish(*, items: list[Item], app: str, namespace: str) -> list[dict[str, Any]]:
    """Namespace, label and de-duplicate; return the objects in the given order."""
    cluster_scoped = custom_cluster_scoped(items)
    seen: dict[tuple[str, str, str, str], str] = {}
    objects = []
    for item in items:
        obj = item.obj
        meta = obj.setdefault("metadata", {})
        group = obj["apiVersion"].rpartition("/")[0]
        scoped = obj["kind"] in CLUSTER_SCOPED_KINDS or (group, obj["kind"]) in cluster_scoped
        if not scoped and not meta.get("namespace"):
            meta["namespace"] = namespace
        obj_labels = meta.get("labels")
        if not isinstance(obj_labels, dict):
            obj_labels = meta["labels"] = {}
        obj_labels[labels.MANAGED_BY_LABEL] = labels.MANAGED_BY_VALUE
        obj_labels[labels.APP_LABEL] = app
        # A cluster-scoped object's namespace is dropped by the API server: copies that
        # differ only by a stray namespace are one object, and the last would win silently.
        where = "" if scoped else str(meta.get("namespace", ""))
        key = (group, obj["kind"], where, str(meta.get("name", "")))
        if key[3] and key in seen:
            raise errors.RenderError(
                f"{item.origin}: duplicate {obj['kind']} {describe(obj)} "
                f"(also in {seen[key]}); each object may appear once"
            )
        seen[key] = item.origin
        objects.append(obj)
    return objects


def describe(obj: dict[str, Any]) -> str:
    """``namespace/name`` or ``name``, as in kubectl."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName", "")
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else str(name)


def custom_cluster_scoped(items: list[Item]) -> set[tuple[str, str]]:
    """(group, kind) of custom resources whose CRD, in this same set, says Cluster scope."""
    found = set()
    for item in items:
        obj = item.obj
        if obj["kind"] == "CustomResourceDefinition" and isinstance(obj.get("spec"), dict):
            spec = obj["spec"]
            names = spec.get("names") or {}
            if spec.get("scope") == "Cluster" and isinstance(names, dict):
                found.add((str(spec.get("group", "")), str(names.get("kind", ""))))
    return found


def _type_name(data: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(data), type(data).__name__
    )
