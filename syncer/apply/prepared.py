"""A desired set made ready for one cluster, with the live state it will be compared to.

``sync``, ``plan`` and ``drift`` start here: ``Prepared`` resolves scopes, prepares the
objects (``desired``), checks the gateway policy (``gateway``), orders them (``order``)
and reads the live state (``live``); ``check_ownership`` refuses objects that belong to
another app. Nothing is written at this stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import desired, errors, gateway, live, order, ownership, refs
from syncer.config import model


class Prepared:
    """A desired set made ready, with its scopes, order and live state."""

    def __init__(
        self,
        client: client_mod.ClusterClient,
        *,
        app_name: str,
        objects: Iterable[dict[str, Any]],
        namespace: str,
        policy: model.GatewayPolicy,
        previous: Sequence[refs.ObjectRef],
    ) -> None:
        objects = list(objects)
        self.scopes = desired.Scopes(client=client, objects=objects)
        self.objects = desired.prepare(
            objects, app_name=app_name, namespace=namespace, scopes=self.scopes
        )
        gateway.check(
            self.objects, policy=policy, namespace=namespace, is_namespaced=self.scopes.namespaced
        )
        self.ordered = order.ordered(self.objects, is_namespaced=self.scopes.namespaced)
        self.refs = [refs.ObjectRef.of(obj) for obj in self.ordered]
        served = {
            (obj["apiVersion"], obj["kind"]) for obj in self.ordered if self.scopes.served(obj)
        }
        self.previous = list(previous)
        served |= {(ref.api_version, ref.kind) for ref in self.previous if serves(client, ref)}
        self.live = live.read(
            client, app_name=app_name, desired=self.refs, previous=self.previous, served=served
        )

    def prune_candidates(self) -> list[refs.ObjectRef]:
        """Objects the app owned (inventory or label) that left the desired set."""
        wanted = {ref.identity for ref in self.refs}
        found: dict[tuple[str, str, str, str], refs.ObjectRef] = {}
        for ref in [*self.previous, *self.live.owned.values()]:
            if ref.identity not in wanted:
                found.setdefault(ref.identity, ref)
        return list(found.values())


def serves(client: client_mod.ClusterClient, ref: refs.ObjectRef) -> bool:
    return client.discovery.lookup(ref.api_version, ref.kind) is not None


def check_ownership(prepared: Prepared, *, app_name: str) -> None:
    """Refuse the whole set when any object belongs to another app (before any write)."""
    problems = []
    for ref in prepared.refs:
        obj = prepared.live.get(ref)
        owner = ownership.app_of(obj) if obj else ""
        if owner and owner != app_name:
            problems.append(
                f"{ref} on cluster belongs to app {owner!r} (label {ownership.APP_LABEL}); "
                f"app {app_name!r} will not touch it: remove it from one of the two apps"
            )
    if problems:
        raise errors.OwnershipConflict("\n".join(problems))
