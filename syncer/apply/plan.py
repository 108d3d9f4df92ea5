"""``plan``: what a sync would do, as a unified diff per object and a summary, writing nothing.

Called by ``syncer diff`` and the API. Changed objects are sent as a server-side dry
run, so the diff shows what the server would store (defaults, merges with other
managers' fields); server-owned fields (status, managedFields, resourceVersion ...)
are left out, and Secret values are masked.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from syncer import redact
from syncer.apply import client as client_mod
from syncer.apply import compare, errors, health, ownership, refs, results
from syncer.apply import prepared as prepared_mod
from syncer.apply import sync as sync_mod
from syncer.config import model

_VOLATILE_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
)


def plan(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    objects: Iterable[dict[str, Any]],
    options: model.SyncOptions,
    gateway_policy: model.GatewayPolicy,
    namespace: str,
    previous_inventory: Sequence[refs.ObjectRef] = (),
) -> results.PlanResult:
    """The plan; raises what ``sync`` would raise before or while writing (gateway
    violations, ownership and field conflicts, invalid objects, an immutable field
    syncer may not replace), so a plan that succeeds means the sync would apply."""
    prepared = prepared_mod.Prepared(
        client,
        app_name=app_name,
        objects=objects,
        namespace=namespace,
        policy=gateway_policy,
        previous=previous_inventory,
    )
    adopting = dict(prepared_mod.check_ownership(prepared, app_name=app_name, options=options))
    sync_mod.check_quota(client, prepared, policy=gateway_policy)
    outcome = results.PlanResult(cluster=client.name, app=app_name)
    for obj, ref in zip(prepared.ordered, prepared.refs, strict=True):
        item = _plan_one(
            client,
            obj,
            ref=ref,
            current=prepared.live.get(ref),
            options=options,
            app_name=app_name,
        )
        current = prepared.live.get(ref)
        item.health = health.assess(current).status if current is not None else health.MISSING
        managers = adopting.get(ref)
        if managers is not None and item.action != "unchanged":
            item.action = "adopt"
            item.note = sync_mod.adoption_note(ref, managers)
        outcome.objects.append(item)
    for ref in prepared.prune_candidates():
        current = prepared.live.get(ref) or (
            client.get(ref) if prepared_mod.serves(client, ref) else None
        )
        if current is None or ownership.app_of(current) != app_name:
            continue
        action = "delete" if options.prune else "orphan"
        text = unified(ref, before=current, after=None) if options.prune else ""
        outcome.objects.append(
            results.ObjectPlan(
                ref=ref, action=action, diff=text, health=health.assess(current).status
            )
        )
    return outcome


def _plan_one(
    client: client_mod.ClusterClient,
    obj: dict[str, Any],
    *,
    ref: refs.ObjectRef,
    current: dict[str, Any] | None,
    options: model.SyncOptions,
    app_name: str,
) -> results.ObjectPlan:
    if current is not None and sync_mod.unchanged(client, live=current, desired=obj):
        return results.ObjectPlan(ref=ref, action="unchanged")
    # The same conflict handling as the real apply: with selfHeal, fields someone took
    # over imperatively (kubectl edit/scale/patch) are taken back.
    heal = sync_mod.heal_options(options, live=current, desired=obj)
    try:
        after = sync_mod.dry_run(client, obj, options=heal)
    except errors.InvalidObject as err:
        if current is None or not sync_mod.immutable(err):
            raise
        sync_mod.check_replace(client, obj, ref=ref, current=current, app_name=app_name, err=err)
        return results.ObjectPlan(
            ref=ref,
            action="replace",
            diff=unified(ref, before=current, after=obj),
            note="a field that cannot change after creation differs: deleted and re-created",
        )
    if current is not None and clean(current) == clean(after):
        return results.ObjectPlan(ref=ref, action="unchanged")
    action = "create" if current is None else "update"
    return results.ObjectPlan(
        ref=ref,
        action=action,
        diff=unified(ref, before=current, after=after),
        fields=_changed_fields(current, obj) if current is not None else [],
    )


def _changed_fields(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    """``path: live -> desired (set by MANAGER)`` for each field the sync changes."""
    lines = []
    for difference in compare.differences(live=current, desired=desired):
        managers = [
            m for m in compare.owners(current, difference.segments) if m != ownership.FIELD_MANAGER
        ]
        by = f" (set by {', '.join(managers)})" if managers else ""
        lines.append(compare.change_text(current, difference) + by)
    return lines


def clean(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The object without server-owned fields, Secret values masked."""
    if obj is None:
        return {}
    out = {key: value for key, value in obj.items() if key != "status"}
    meta = {
        key: value
        for key, value in (obj.get("metadata") or {}).items()
        if key not in _VOLATILE_METADATA
    }
    out["metadata"] = meta
    return dict(redact.secret_object(out))


def unified(
    ref: refs.ObjectRef, *, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> str:
    """A unified diff of two object states as YAML."""
    old = yaml.safe_dump(clean(before), sort_keys=True) if before else ""
    new = yaml.safe_dump(clean(after), sort_keys=True) if after else ""
    name = f"{ref.kind}/{ref.namespace + '/' if ref.namespace else ''}{ref.name}"
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"live/{name}",
            tofile=f"desired/{name}",
        )
    )
