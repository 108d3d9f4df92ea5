"""``drift``: has anyone changed, on the cluster, the fields syncer applied?

Called by the scheduler every ``sync.driftInterval``, and at once when a watched object
of the app changed (``informer``). It reads the live objects (from the watch cache, or
one LIST per kind and namespace) and compares them with the desired set; for each change
it names the fields and the field managers that now own them. With ``selfHeal`` it
re-applies (a normal ``sync``, which writes only the drifted objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import compare, ownership, refs, results
from syncer.apply import prepared as prepared_mod
from syncer.apply import sync as sync_mod
from syncer.config import model


def drift(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    objects: Iterable[dict[str, Any]],
    options: model.SyncOptions,
    gateway_policy: model.GatewayPolicy,
    namespace: str,
    previous_inventory: Sequence[refs.ObjectRef] = (),
) -> results.DriftReport:
    """The drift report; ``healed`` holds the re-apply's result when selfHeal is on."""
    objects = list(objects)
    prepared = prepared_mod.Prepared(
        client,
        app_name=app_name,
        objects=objects,
        namespace=namespace,
        policy=gateway_policy,
        previous=previous_inventory,
    )
    if client.watches is not None:
        client.watches.expect(app_name, prepared.ordered)
    report = results.DriftReport(cluster=client.name, app=app_name)
    for obj, ref in zip(prepared.ordered, prepared.refs, strict=True):
        item = _drift_of(client, obj, ref=ref, current=prepared.live.get(ref))
        if item is not None:
            report.drifted.append(item)
    if report.drifted and options.self_heal:
        report.healed = sync_mod.sync(
            client,
            app_name=app_name,
            objects=objects,
            options=options,
            gateway_policy=gateway_policy,
            namespace=namespace,
            previous_inventory=previous_inventory,
        )
    return report


def _drift_of(
    client: client_mod.ClusterClient,
    obj: dict[str, Any],
    *,
    ref: refs.ObjectRef,
    current: dict[str, Any] | None,
) -> results.DriftItem | None:
    if current is None:
        return results.DriftItem(ref=ref, missing=True)
    if sync_mod.unchanged(client, live=current, desired=obj):
        return None
    item = results.DriftItem(ref=ref)
    for difference in compare.differences(live=current, desired=obj):
        item.fields.append(compare.change_text(current, difference, backwards=True))
        for manager in compare.owners(current, difference.segments):
            if manager != ownership.FIELD_MANAGER and manager not in item.managers:
                item.managers.append(manager)
    if not item.fields:
        item.fields.append(compare.needs_apply(live=current, desired=obj))
    return item
