"""Prune: delete what left an app's desired set, in reverse order, only when it is ours.

``sync`` calls ``prune`` after applying. Candidates are the previous inventory plus any
live object carrying the app's label that is not desired any more. Each is deleted
only while its ownership label still names this app (with a UID precondition, so an
object re-created by someone else meanwhile is spared); with prune off they are
reported as orphans and stay in the inventory.
"""

from __future__ import annotations

from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import crds, errors, gateway, order, ownership, refs, results
from syncer.apply import prepared as prepared_mod
from syncer.config import model


def _stub(ref: refs.ObjectRef) -> dict[str, Any]:
    meta = {"name": ref.name, "namespace": ref.namespace}
    return {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta}


def _has_namespace(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("namespace"))


def prune(
    client: client_mod.ClusterClient,
    prepared: prepared_mod.Prepared,
    *,
    result: results.SyncResult,
    options: model.SyncOptions,
    app_name: str,
    policy: model.GatewayPolicy | None = None,
    allow_empty: bool = False,
) -> None:
    candidates = prepared.prune_candidates()
    if options.prune and candidates and not prepared.refs and not allow_empty:
        # As Argo CD without allowEmpty: never wipe an app because its render came out
        # empty; a real removal is deleting the app (or its objects) on purpose.
        raise errors.EmptyRender(
            f"cluster {client.name}: app {app_name!r} has no objects but owns "
            f"{len(candidates)} there; refusing to prune them all. Check the app's path, "
            "branch and overlays (deleting an app's objects on purpose is apply.remove)."
        )
    # Reverse apply order: workloads before their config, CRs before their CRD.
    lookup = {ref.identity: prepared.live.get(ref) for ref in candidates}
    candidates.sort(
        key=lambda ref: order.sort_key(
            lookup[ref.identity] or _stub(ref), is_namespaced=_has_namespace
        ),
        reverse=True,
    )
    # The app no longer declares these: its claims on them (claims.py) end here.
    client.claims.release(app_name=app_name, objects=candidates)
    for ref in candidates:
        current = lookup[ref.identity]
        if current is None and prepared_mod.serves(client, ref):
            # In the inventory but not listed with our label: gone, or relabelled.
            current = client.get(ref)
        if current is None:
            continue
        tenant = policy.tenant if policy is not None else None
        beyond = (
            list(gateway.tenant_refusals(_stub(ref), tenant, namespaced=bool(ref.namespace)))
            if tenant is not None
            else []
        )
        if beyond:
            # A tenant's app writes only within its bounds; it deletes only there too,
            # whatever its label says (say, a name another team's app used before).
            result.skipped.append(f"{ref}: not pruned, {'; '.join(beyond)}")
            continue
        owner = ownership.app_of(current)
        if owner != app_name:
            who = f"app {owner!r}" if owner else "nobody (its ownership label was removed)"
            result.skipped.append(f"{ref}: not pruned, it now belongs to {who}")
            continue
        if not options.prune:
            result.orphans.append(ref)
            result.inventory.append(ref)
            continue
        uid = str((current.get("metadata") or {}).get("uid", ""))
        # False means it was already gone (or a retried DELETE had in fact succeeded):
        # either way it has left the cluster, which is what prune reports.
        client.delete(ref, uid=uid)
        result.pruned.append(ref)
        if client.round_cache is not None:
            client.round_cache.forget(ref)
        if ref.kind == order.CRD:
            crds.forget(client, current)
