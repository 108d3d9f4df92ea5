"""Custom resource definitions during a sync: wait until an applied CRD is Established,
and make discovery learn (or forget) the kinds it serves.

``sync`` calls ``await_established`` right after a CRD in the set is applied (or found
unchanged), so that its custom resources later in the same set can be applied; prune
calls ``forget`` after deleting one.
"""

from __future__ import annotations

import time
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import errors, refs

CRD_ESTABLISHED_TIMEOUT = 30.0
"""Seconds to wait for an applied CRD to be Established (real API servers take ~1s)."""


def await_established(
    client: client_mod.ClusterClient, obj: dict[str, Any], current: dict[str, Any]
) -> None:
    """Block until a CRD serves its kinds, then make discovery learn them."""
    ref = refs.ObjectRef.of(obj)
    deadline = time.monotonic() + CRD_ESTABLISHED_TIMEOUT
    delay = 0.05
    while not established(current):
        if time.monotonic() > deadline:
            raise errors.NotEstablished(
                f"cluster {client.name}: {ref} not Established after "
                f"{CRD_ESTABLISHED_TIMEOUT:.0f}s",
                retry_after=10.0,
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
        current = client.get(ref) or {}
    spec = obj.get("spec") or {}
    kind = (spec.get("names") or {}).get("kind", "")
    for api_version in served_versions(obj):
        # A miss re-fetches the group/version, so its kinds are known from now on.
        client.discovery.lookup(api_version, kind)


def forget(client: client_mod.ClusterClient, crd: dict[str, Any]) -> None:
    """Drop the kinds a deleted CRD served from discovery."""
    for api_version in served_versions(crd):
        client.discovery.forget(api_version)


def served_versions(crd: dict[str, Any]) -> list[str]:
    """The group/versions a CRD declares, e.g. ["example.com/v1"]."""
    spec = crd.get("spec") or {}
    return [f"{spec.get('group')}/{version.get('name')}" for version in spec.get("versions") or []]


def established(obj: dict[str, Any]) -> bool:
    return any(
        item.get("type") == "Established" and item.get("status") == "True"
        for item in (obj.get("status") or {}).get("conditions") or []
    )
