"""Reading what is on the cluster for one app, with as few requests as possible.

One LIST per (kind, namespace) of the desired set and of the previous inventory,
filtered by the app's ownership label, finds everything the app already owns there.
Only desired objects that did not show up are looked for further: one GET when a
group misses one object, one unfiltered LIST when it misses several (they may exist
unlabelled, or labelled by another app). A no-change sync is therefore one LIST per
group and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import ownership, refs

Identity = tuple[str, str, str, str]


@dataclass
class LiveState:
    """Live objects by identity; ``owned`` are those carrying this app's label."""

    objects: dict[Identity, dict[str, Any]] = field(default_factory=dict)
    owned: dict[Identity, refs.ObjectRef] = field(default_factory=dict)

    def get(self, ref: refs.ObjectRef) -> dict[str, Any] | None:
        return self.objects.get(ref.identity)


def read(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    desired: Iterable[refs.ObjectRef],
    previous: Iterable[refs.ObjectRef],
    served: set[tuple[str, str]] | None = None,
) -> LiveState:
    """The live state of the desired objects and of everything the app owns in their groups.

    ``served`` lists the (apiVersion, kind) the cluster serves; others (custom
    resources whose CRD is not applied yet) cannot exist and are not read.
    """
    wanted = list(desired)
    groups: dict[tuple[str, str, str], list[refs.ObjectRef]] = {}
    for ref in [*wanted, *previous]:
        groups.setdefault((ref.api_version, ref.kind, ref.namespace), [])
    for ref in wanted:
        groups[(ref.api_version, ref.kind, ref.namespace)].append(ref)
    state = LiveState()
    for (api_version, kind, namespace), members in groups.items():
        if served is not None and (api_version, kind) not in served:
            continue
        _read_group(
            client,
            state,
            app_name=app_name,
            api_version=api_version,
            kind=kind,
            namespace=namespace,
            members=members,
        )
    return state


def _read_group(
    client: client_mod.ClusterClient,
    state: LiveState,
    *,
    app_name: str,
    api_version: str,
    kind: str,
    namespace: str,
    members: list[refs.ObjectRef],
) -> None:
    listed = client.list_objects(
        api_version=api_version,
        kind=kind,
        namespace=namespace,
        label_selector=ownership.selector(app_name),
    )
    for obj in listed:
        _remember(state, obj, app_name=app_name)
    unseen = [ref for ref in members if ref.identity not in state.objects]
    if len(unseen) == 1:
        found = client.get(unseen[0])
        if found is not None:
            _remember(state, found, app_name=app_name)
    elif unseen:
        for obj in client.list_objects(api_version=api_version, kind=kind, namespace=namespace):
            _remember(state, obj, app_name=app_name)


def _remember(state: LiveState, obj: dict[str, Any], *, app_name: str) -> None:
    ref = refs.ObjectRef.of(obj)
    state.objects[ref.identity] = obj
    if ownership.app_of(obj) == app_name:
        state.owned[ref.identity] = ref
