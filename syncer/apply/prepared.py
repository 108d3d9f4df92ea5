"""A desired set made ready for one cluster, with the live state it will be compared to.

``sync``, ``plan`` and ``drift`` start here: ``Prepared`` resolves scopes, prepares the
objects (``desired``), checks the gateway policy (``gateway``), orders them (``order``)
and reads the live state (``live``); ``check_ownership`` refuses objects that belong to
another app, or that syncer did not create unless adopting them was asked for. Nothing
is written at this stage.
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
        presume_absent: bool = False,
    ) -> None:
        objects = list(objects)
        self.app_name = app_name
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
            client, app_name=app_name, desired=self.refs, previous=self.previous, served=served,
            presume_absent=presume_absent,
        )  # fmt: skip

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


def check_ownership(
    prepared: Prepared,
    *,
    app_name: str,
    options: model.SyncOptions | None = None,
) -> list[tuple[refs.ObjectRef, list[str]]]:
    """Refuse the whole set (before any write) when an object belongs to another app, or
    already exists without syncer's labels and adopting it was not asked for.

    Returns the objects that will be adopted, each with the field managers that made it.
    An object syncer did not create is taken over only with the annotation
    ``syncer.io/adopt: "true"`` on the desired object, or ``sync.force``.
    """
    force = bool(options and options.force)
    known = {ref.identity for ref in prepared.previous}
    problems = []
    adopted: list[tuple[refs.ObjectRef, list[str]]] = []
    for obj, ref in zip(prepared.ordered, prepared.refs, strict=True):
        current = prepared.live.get(ref)
        if current is None:
            continue
        owner = ownership.app_of(current)
        if owner and owner != app_name:
            problems.append(
                f"{ref} on cluster belongs to app {owner!r} (label {ownership.APP_LABEL}); "
                f"app {app_name!r} will not touch it: remove it from one of the two apps"
            )
            continue
        if owner or ref.identity in known or ownership.made_by_syncer(current):
            continue
        managers = ownership.managers(current)
        if force or ownership.wants_adoption(obj):
            adopted.append((ref, managers))
            continue
        made_by = f" (made by {', '.join(managers)})" if managers else ""
        problems.append(
            f"{ref} already exists on the cluster and was not created by syncer{made_by}; "
            f"app {app_name!r} will not take it over: delete it, or annotate it in Git with "
            f'{ownership.ADOPT_ANNOTATION}: "true" (or set sync.force: true) to adopt it'
        )
    if problems:
        raise errors.OwnershipConflict("\n".join(problems))
    return adopted
