"""Reading what is on the cluster for one app, with as few requests as possible.

One LIST per (kind, namespace) of the desired set and of the previous inventory,
filtered by the app's ownership label, finds everything the app already owns there.
A group holding objects new to the app (not in its previous inventory) is listed
unfiltered instead, because a new object may already exist unlabelled or labelled by
another app, and must be checked before it is touched. Inventory objects that did not
show up are looked for with a GET. A no-change sync is one LIST per group and nothing
else. The groups are read side by side (``parallel``), so reading costs one round
trip, not one per group. Where the cluster is watched (``informer``) or a read round is
open (``cache``), the label-filtered LISTs are answered from that cache, and a
no-change read costs no request at all.

With ``presume_absent`` (``sync`` asks for it), a group with new objects is answered
from such a cache too: every syncer-labelled object of the kind in the namespace,
whichever app's, so a name another app holds is refused as before. An object the cache
does not show is presumed absent and marked ``unconfirmed``: it may exist unlabelled
(made by hand, or since the snapshot), so ``sync`` confirms it before writing — the
server-side dry run it sends anyway answers with a resourceVersion only for an object
that exists — and reads and checks it like any other when it does. So a first sync of
many apps costs one LIST per kind in a round, not one per app, kind and namespace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import ownership, parallel, refs

Identity = tuple[str, str, str, str]


@dataclass
class LiveState:
    """Live objects by identity; ``owned`` are those carrying this app's label."""

    objects: dict[Identity, dict[str, Any]] = field(default_factory=dict)
    owned: dict[Identity, refs.ObjectRef] = field(default_factory=dict)
    unconfirmed: set[Identity] = field(default_factory=set)
    """New objects presumed absent from a cache of labelled objects: one not labelled by
    syncer would not show there, so each must be confirmed absent before a write."""

    def get(self, ref: refs.ObjectRef) -> dict[str, Any] | None:
        return self.objects.get(ref.identity)


def read(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    desired: Iterable[refs.ObjectRef],
    previous: Iterable[refs.ObjectRef],
    served: set[tuple[str, str]] | None = None,
    presume_absent: bool = False,
) -> LiveState:
    """The live state of the desired objects and of everything the app owns in their groups.

    ``served`` lists the (apiVersion, kind) the cluster serves; others (custom
    resources whose CRD is not applied yet) cannot exist and are not read.
    ``presume_absent``: see the module docstring.
    """
    wanted, before = list(desired), list(previous)
    known = {ref.identity for ref in before}
    groups: dict[tuple[str, str, str], list[refs.ObjectRef]] = {}
    for ref in [*wanted, *before]:
        groups.setdefault((ref.api_version, ref.kind, ref.namespace), [])
    for ref in wanted:
        groups[(ref.api_version, ref.kind, ref.namespace)].append(ref)
    state = LiveState()
    reads: list[tuple[list[refs.ObjectRef], bool, Callable[[], list[dict[str, Any]]]]] = []
    for (api_version, kind, namespace), members in groups.items():
        if served is not None and (api_version, kind) not in served:
            continue
        new = any(ref.identity not in known for ref in members)
        listed = None
        if not new:
            listed = cached(client, api_version=api_version, kind=kind, namespace=namespace,
                            app_name=app_name)  # fmt: skip
        elif presume_absent:
            listed = _presumed(client, members, app_name=app_name, known=known, state=state)
        if listed is not None:
            reads.append((members, new, functools.partial(list, listed)))
            continue
        selector = "" if new else ownership.selector(app_name)
        reads.append(
            (
                members,
                new,
                functools.partial(
                    client.list_objects, api_version=api_version, kind=kind,
                    namespace=namespace, label_selector=selector,
                ),
            )
        )  # fmt: skip
    # The groups are read side by side; the first error (in order) is the sync's.
    unseen: list[refs.ObjectRef] = []
    lists = parallel.run(client.stats, [call for _, _, call in reads])
    for (members, new, _), outcome in zip(reads, lists, strict=True):
        if outcome.error is not None:
            raise outcome.error
        for obj in outcome.value or []:
            _remember(state, obj, app_name=app_name)
        if not new:
            # Ours before, not listed with our label now: deleted, or relabelled.
            unseen.extend(ref for ref in members if ref.identity not in state.objects)
    gets = parallel.run(client.stats, [functools.partial(client.get, ref) for ref in unseen])
    for got in gets:
        if got.error is not None:
            raise got.error
        if got.value is not None:
            _remember(state, got.value, app_name=app_name)
    return state


def cached(
    client: client_mod.ClusterClient, *, api_version: str, kind: str, namespace: str, app_name: str
) -> list[dict[str, Any]] | None:
    """The app's objects of a kind in a namespace without a request: from the cluster's
    watches when synced (``informer``), else from the read round's snapshot (``cache``);
    None when neither has them."""
    for source in (client.watches, client.round_cache):
        if source is not None:
            found = source.owned(
                api_version=api_version, kind=kind, namespace=namespace, app_name=app_name
            )
            if found is not None:
                return list(found)
    return None


def confirm(
    client: client_mod.ClusterClient,
    state: LiveState,
    doubtful: Iterable[refs.ObjectRef],
    *,
    app_name: str,
) -> set[Identity]:
    """Read objects presumed absent that may exist after all (side by side, one GET
    each) and record those found; returns their identities."""
    doubtful = list(doubtful)
    gets = parallel.run(client.stats, [functools.partial(client.get, ref) for ref in doubtful])
    found: set[Identity] = set()
    for got in gets:
        if got.error is not None:
            raise got.error
        if got.value is not None:
            _remember(state, got.value, app_name=app_name)
            found.add(refs.ObjectRef.of(got.value).identity)
    return found


def _presumed(
    client: client_mod.ClusterClient,
    members: list[refs.ObjectRef],
    *,
    app_name: str,
    known: set[Identity],
    state: LiveState,
) -> list[dict[str, Any]] | None:
    """A group with new objects from a cache: the app's own objects of the group and any
    syncer-labelled object of the members' names; the new members not found there are
    marked unconfirmed. None when no cache has the kind."""
    first = members[0]
    where = {"api_version": first.api_version, "kind": first.kind, "namespace": first.namespace}
    names = {ref.name for ref in members}
    for source in (client.watches, client.round_cache):
        if source is None:
            continue
        mine = source.owned(**where, app_name=app_name)
        if mine is None:
            continue
        others = source.labelled(**where, names=names)
        if others is None:
            continue
        listed = {refs.ObjectRef.of(obj).identity: obj for obj in [*mine, *others]}
        state.unconfirmed.update(
            ref.identity for ref in members if ref.identity not in known | listed.keys()
        )
        return list(listed.values())
    return None


def _remember(state: LiveState, obj: dict[str, Any], *, app_name: str) -> None:
    ref = refs.ObjectRef.of(obj)
    state.objects[ref.identity] = obj
    if ownership.app_of(obj) == app_name:
        state.owned[ref.identity] = ref
