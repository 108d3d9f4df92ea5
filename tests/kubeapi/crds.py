"""CustomResourceDefinitions: what the apiextensions controllers do when one is written.

objects.py calls ``prepare`` before storing a CRD (validation, names, Established
condition), ``sync_registry`` after storing it (its served versions become resources in
discovery and routing) and ``unregister`` after it is gone (its objects go too).
"""

from __future__ import annotations

import datetime
from typing import Any

from tests.kubeapi import errors, resources, store


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prepare(crd: dict[str, Any]) -> None:
    """Validate a CRD and fill in its status as the apiextensions controllers would."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = crd["metadata"].get("name", "")
    causes = []
    group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
    if not group:
        causes.append(("FieldValueRequired", "spec.group", "Required value"))
    if not plural:
        causes.append(("FieldValueRequired", "spec.names.plural", "Required value"))
    if not kind:
        causes.append(("FieldValueRequired", "spec.names.kind", "Required value"))
    if name != f"{plural}.{group}":
        causes.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            (
                "FieldValueNotSupported",
                "spec.scope",
                'Unsupported value: supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(
            (
                "FieldValueRequired",
                "spec.versions",
                "Required value: must have exactly one version marked as storage version",
            )
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    if causes:
        raise errors.invalid(
            kind="CustomResourceDefinition", group="apiextensions.k8s.io", name=name, causes=causes
        )
    accepted = {
        "plural": plural,
        "singular": names.get("singular") or kind.lower(),
        "kind": kind,
        "listKind": names.get("listKind") or f"{kind}List",
    }
    for key in ("shortNames", "categories"):
        if names.get(key):
            accepted[key] = names[key]
    names.setdefault("singular", accepted["singular"])
    names.setdefault("listKind", accepted["listKind"])
    spec.setdefault("conversion", {"strategy": "None"})
    for version in versions:
        version.setdefault("served", True)
    stamp = _now()
    crd["status"] = {
        "acceptedNames": accepted,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": stamp,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": stamp,
            },
        ],
        "storedVersions": [v["name"] for v in versions if v.get("storage")],
    }


def types_of(crd: dict[str, Any]) -> list[resources.ResourceType]:
    spec = crd["spec"]
    names = spec["names"]
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        sub = version.get("subresources") or {}
        out.append(
            resources.ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                status="status" in sub,
                scale="scale" in sub,
                categories=tuple(names.get("categories") or ()),
                crd=True,
            )
        )
    return out


def sync_registry(registry: resources.Registry, crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    registry.register(types_of(crd), replace_key=(spec["group"], spec["names"]["plural"]))


def unregister(registry: resources.Registry, objects: store.Store, crd: dict[str, Any]) -> None:
    key = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
    objects.drop_key(key)
    registry.unregister(key=key)
