"""``sync``: make one cluster hold exactly one app's objects, writing only what changed.

Called by the rollout layer (through ``syncer.apply.sync``) with the rendered objects
of one app for one cluster. Before the first write: prepare the set, check the gateway
policy, read the live state (``prepared``); send a server-side dry run of what would
change, side by side, which also confirms that objects presumed new do not exist
(``live``); refuse objects owned by another app; check quotas. A dry run the API
refuses fails the set as a whole; the first change in apply order (the lead) needs none
when its live state is known, as it is written first and alone: if the API refuses it,
nothing has been written. Then write: server-side apply in order (``order``), skipping
objects whose live state already matches (``compare``), waiting for CRDs to be
Established (``crds``) and for a changed sync wave to be healthy before the next; then
prune (``prune``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from syncer import errors as syncer_errors
from syncer.apply import client as client_mod
from syncer.apply import (
    compare,
    crds,
    errors,
    order,
    ownership,
    parallel,
    quota,
    refs,
    results,
    wait,
)
from syncer.apply import (
    desired as desired_mod,
)
from syncer.apply import live as live_mod
from syncer.apply import prepared as prepared_mod
from syncer.apply import prune as prune_mod
from syncer.config import model

log = logging.getLogger(__name__)

Change = tuple[dict[str, Any], refs.ObjectRef, dict[str, Any] | None]
"""A desired object the sync would write, its ref, and its live object (None: new)."""
DryRun = tuple[Change, parallel.Outcome[dict[str, Any]]]


def sync(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    objects: Iterable[dict[str, Any]],
    options: model.SyncOptions,
    gateway_policy: model.GatewayPolicy,
    namespace: str,
    previous_inventory: Sequence[refs.ObjectRef] = (),
    allow_empty: bool = False,
) -> results.SyncResult:
    """Apply, then prune; see the module docstring. Raises classified errors whose
    ``partial`` attribute holds the result reached so far. An empty ``objects`` never
    prunes everything unless ``allow_empty`` (which ``remove`` sets)."""
    previous_inventory = list(previous_inventory)
    requests0, writes0 = client.stats.mine()
    result = results.SyncResult(cluster=client.name, app=app_name)
    new: list[refs.ObjectRef] = []
    try:
        prepared = prepared_mod.Prepared(
            client,
            app_name=app_name,
            objects=objects,
            namespace=namespace,
            policy=gateway_policy,
            previous=previous_inventory,
            presume_absent=True,
        )
        if client.watches is not None:
            # What the app wants from now on: a watched change is judged against it.
            client.watches.expect(app_name, prepared.ordered)
        if namespace_missing(client, prepared, options=options, namespace=namespace):
            # Every change lies in the app's namespace, and the cluster has none: a dry
            # run there could only answer "namespace not found" and judge nothing, so it
            # is created first and the set is dry-run once, in it.
            result.namespace_created = create_namespace(client, namespace)
        dry_runs, lead = dry_run_changes(
            client,
            prepared,
            options=options,
            fresh_namespace=namespace if result.namespace_created else "",
        )
        adopting = prepared_mod.check_ownership(prepared, app_name=app_name, options=options)
        check_quota(client, prepared, policy=gateway_policy)
        new = [ref for ref in prepared.refs if prepared.live.get(ref) is None]
        client.claims.claim(app_name=app_name, objects=new)
        if validate_changes(client, dry_runs, options=options, namespace=namespace):
            result.namespace_created = True
        _apply_all(
            client, prepared, result=result, options=options, namespace=namespace,
            app_name=app_name, lead=lead,
        )  # fmt: skip
        result.adopted = [adoption_note(ref, managers) for ref, managers in adopting]
        prune_mod.prune(
            client,
            prepared,
            result=result,
            options=options,
            app_name=app_name,
            policy=gateway_policy,
            allow_empty=allow_empty,
        )
    except syncer_errors.SyncerError as err:
        created = {ref.identity for ref in result.created}
        client.claims.release(
            app_name=app_name, objects=[ref for ref in new if ref.identity not in created]
        )
        _finish(client, result, requests0, writes0)
        done = {ref.identity for ref in result.inventory}
        result.inventory += [ref for ref in previous_inventory if ref.identity not in done]
        if isinstance(err, errors.ApplyError):
            err.partial = result
        raise
    _finish(client, result, requests0, writes0)
    log.info(
        "sync done cluster=%s app=%s applied=%d unchanged=%d pruned=%d orphans=%d writes=%d",
        client.name,
        app_name,
        len(result.applied),
        len(result.unchanged),
        len(result.pruned),
        len(result.orphans),
        result.writes,
    )
    return result


def changes(client: client_mod.ClusterClient, prepared: prepared_mod.Prepared) -> list[Change]:
    """The objects an apply would write, each with its ref and live object (None: new)."""
    return [
        (obj, ref, current)
        for obj, ref in zip(prepared.ordered, prepared.refs, strict=True)
        if (current := prepared.live.get(ref)) is None
        or not unchanged(client, live=current, desired=obj)
    ]


def check_quota(
    client: client_mod.ClusterClient,
    prepared: prepared_mod.Prepared,
    *,
    policy: model.GatewayPolicy,
) -> None:
    """The gateway's quota rule (``quota``), on what this sync would write."""
    if policy.check_quota:
        quota.check(
            client, changes=[(obj, current) for obj, _, current in changes(client, prepared)]
        )


def namespace_missing(
    client: client_mod.ClusterClient,
    prepared: prepared_mod.Prepared,
    *,
    options: model.SyncOptions,
    namespace: str,
) -> bool:
    """Whether the sync may create the app's ``namespace``, every object it would write
    lies there, and the cluster's watch of all namespaces (synced) does not hold it.
    False when any of that is not known: then a dry run finds out (``validate_changes``)."""
    if not namespace or not options.create_namespace or client.watches is None:
        return False
    namespaces = client.watches.every("v1", "Namespace")
    if namespaces is None or namespaces.holds("", namespace):
        return False  # the usual sync: nothing more to work out
    changed = changes(client, prepared)
    return bool(changed) and all(ref.namespace == namespace for _, ref, _ in changed)


def dry_run_changes(
    client: client_mod.ClusterClient,
    prepared: prepared_mod.Prepared,
    *,
    options: model.SyncOptions,
    fresh_namespace: str = "",
) -> tuple[list[DryRun], live_mod.Identity | None]:
    """A server-side dry run of each object the sync would write, before any write,
    except the lead: the first change in apply order (unless it is presumed absent and
    others go out, then its dry run confirms it beside theirs). ``_apply_all`` writes
    the lead first and alone, so a refusal of it leaves nothing written, as its dry run
    would have; a sync of one object sends no dry run. Each answer is kept for
    ``validate_changes`` to judge. Kinds whose CRD comes with the set are left to
    the real apply. The dry runs go side by side (``parallel``) and are answered with
    the object's metadata only (all a judgement needs). Returns them and the lead's
    identity (None: every change was dry-run, or there is none).

    They also confirm the objects ``live`` presumed absent (``prepared.live.unconfirmed``),
    but for those in ``fresh_namespace``, which this sync has just created: an answer
    with a resourceVersion, or a refusal, means the object may exist after all; those
    are read with a GET, recorded in the live state like any object read, and dry-run
    again as what they are, so the ownership check that follows judges them."""
    live = prepared.live
    if fresh_namespace:
        live.unconfirmed -= {
            ref.identity for ref in prepared.refs if ref.namespace == fresh_namespace
        }
    changed = changes(client, prepared)
    lead = changed[0][1].identity if changed else None
    if lead in live.unconfirmed and len(changed) > 1:
        lead = None  # its dry run confirms it absent, side by side with the others'
    judged = [
        c
        for c in changed
        if c[1].identity != lead and client.discovery.lookup(c[1].api_version, c[1].kind)
    ]
    dry_runs = list(zip(judged, _dry_run_all(client, judged, options=options), strict=True))
    if not live.unconfirmed:
        return dry_runs, lead
    answered = {change[1].identity: outcome for change, outcome in dry_runs}
    doubtful = [
        ref
        for ref in prepared.refs
        if ref.identity in live.unconfirmed
        and prepared_mod.serves(client, ref)
        and _may_exist(answered.get(ref.identity))
    ]
    live.unconfirmed.clear()
    found = live_mod.confirm(client, live, doubtful, app_name=prepared.app_name)
    if not found:
        return dry_runs, lead
    changed = changes(client, prepared)
    lead = changed[0][1].identity if changed and changed[0][1].identity == lead else None
    again = [c for c in changed if c[1].identity in found and c[1].identity != lead]
    kept = [d for d in dry_runs if d[0][1].identity not in found]
    return kept + list(zip(again, _dry_run_all(client, again, options=options), strict=True)), lead


def _may_exist(outcome: parallel.Outcome[dict[str, Any]] | None) -> bool:
    """Whether a dry run's answer leaves open that the object exists: it was not sent,
    it was refused (a conflict with someone else's fields, say), or it answered with a
    resourceVersion (a dry-run create has none). In a namespace that does not exist
    (yet), nothing exists."""
    if outcome is not None and isinstance(outcome.error, errors.NotFound):
        return outcome.error.details.get("kind") != "namespaces"
    if outcome is None or outcome.error is not None:
        return True
    return bool(((outcome.value or {}).get("metadata") or {}).get("resourceVersion"))


def validate_changes(
    client: client_mod.ClusterClient,
    dry_runs: Sequence[DryRun],
    *,
    options: model.SyncOptions,
    namespace: str,
) -> bool:
    """Judge the dry runs of ``dry_run_changes``: an object the API refuses (invalid, a
    field its schema does not declare, a field conflict) fails the whole set, so a
    release is never half applied. A refused change of an immutable field is left to
    the replace path. When the app's namespace is missing and the sync may create it,
    it is created and the objects in it are dry-run again (a dry run in a missing
    namespace cannot be judged); True when it was."""
    missing_namespace = _judge(dry_runs, options=options, namespace=namespace)
    if not missing_namespace:
        return False
    create_namespace(client, namespace)
    again = _dry_run_all(client, missing_namespace, options=options)
    _judge(list(zip(missing_namespace, again, strict=True)), options=options, namespace="")
    return True


def _dry_run_all(
    client: client_mod.ClusterClient, changes: Sequence[Change], *, options: model.SyncOptions
) -> list[parallel.Outcome[dict[str, Any]]]:
    """Dry-run ``changes`` side by side; each one's answer (metadata only) or error."""

    def call(obj: dict[str, Any], current: dict[str, Any] | None) -> Callable[[], dict[str, Any]]:
        force = heal_options(options, live=current, desired=obj).force
        return lambda: client.apply(obj, force=force, dry_run=True, metadata_only=True)

    return parallel.run(client.stats, [call(obj, current) for obj, _, current in changes])


def _judge(
    dry_runs: Sequence[DryRun], *, options: model.SyncOptions, namespace: str
) -> list[Change]:
    """Raise the first refusal among ``dry_runs``; returns the changes that failed only
    because the app's ``namespace``, which the sync may create, is missing (none when
    ``namespace`` is empty)."""
    waiting = []
    for change, outcome in dry_runs:
        err = outcome.error
        _, ref, current = change
        if err is None:
            continue
        if isinstance(err, errors.NotFound):
            if namespace and _may_create_namespace(
                err, ref=ref, namespace=namespace, options=options
            ):
                waiting.append(change)
            continue  # the real apply says what is missing
        if isinstance(err, errors.InvalidObject) and current is not None and immutable(err):
            continue  # left to the replace path
        raise err
    return waiting


def _may_create_namespace(
    err: errors.NotFound, *, ref: refs.ObjectRef, namespace: str, options: model.SyncOptions
) -> bool:
    """The 404 is the app's own namespace missing, and the sync may create it."""
    missing_ns = err.details.get("kind") == "namespaces"
    return missing_ns and ref.namespace == namespace and options.create_namespace


def dry_run(
    client: client_mod.ClusterClient, obj: dict[str, Any], *, options: model.SyncOptions
) -> dict[str, Any]:
    """What the server would store; the object itself when the server cannot tell yet
    (its namespace or its CRD does not exist before the sync creates them)."""
    if client.discovery.lookup(str(obj["apiVersion"]), str(obj["kind"])) is None:
        return obj
    try:
        return client.apply(obj, force=options.force, dry_run=True)
    except errors.NotFound:
        return obj


def _finish(
    client: client_mod.ClusterClient, result: results.SyncResult, requests0: int, writes0: int
) -> None:
    requests1, writes1 = client.stats.mine()
    result.requests, result.writes = requests1 - requests0, writes1 - writes0


def _apply_all(
    client: client_mod.ClusterClient,
    prepared: prepared_mod.Prepared,
    *,
    result: results.SyncResult,
    options: model.SyncOptions,
    namespace: str,
    app_name: str,
    lead: live_mod.Identity | None = None,
) -> None:
    """Apply in order, one step at a time (``order.step``); the changed objects of one
    step are sent side by side (``parallel``), after the ``lead`` (not dry-run, see
    ``dry_run_changes``) alone."""
    pairs = list(zip(prepared.ordered, prepared.refs, strict=True))
    steps = [
        order.step(obj, namespaced=prepared.scopes.namespaced(obj)) for obj in prepared.ordered
    ]
    start = 0
    while start < len(pairs):
        end = start + 1
        while end < len(pairs) and steps[end] == steps[start]:
            end += 1
        _apply_step(
            client, pairs[start:end], prepared=prepared, result=result, options=options,
            namespace=namespace, app_name=app_name, lead=lead,
        )  # fmt: skip
        if end < len(pairs) and steps[end][0] != steps[start][0]:
            _await_wave(
                client, prepared, result=result, wave=steps[start][0], options=options,
                app_name=app_name,
            )  # fmt: skip
        start = end


def _apply_step(
    client: client_mod.ClusterClient,
    pairs: Sequence[tuple[dict[str, Any], refs.ObjectRef]],
    *,
    prepared: prepared_mod.Prepared,
    result: results.SyncResult,
    options: model.SyncOptions,
    namespace: str,
    app_name: str,
    lead: live_mod.Identity | None,
) -> None:
    changed: list[Change] = []
    for obj, ref in pairs:
        current = prepared.live.get(ref)
        if current is None or not unchanged(client, live=current, desired=obj):
            changed.append((obj, ref, current))

    def apply_call(
        obj: dict[str, Any], ref: refs.ObjectRef, current: dict[str, Any] | None
    ) -> Callable[[], dict[str, Any]]:
        return lambda: _apply_one(
            client, obj, ref=ref, options=heal_options(options, live=current, desired=obj),
            namespace=namespace, result=result, current=current, app_name=app_name,
        )  # fmt: skip

    # The lead goes first and alone: refused, it leaves the rest unwritten.
    sent = [change for change in changed if change[1].identity == lead]
    outcomes = parallel.run(client.stats, [apply_call(*change) for change in sent])
    if all(outcome.error is None for outcome in outcomes):
        rest = [change for change in changed if change[1].identity != lead]
        sent += rest
        outcomes += parallel.run(client.stats, [apply_call(*change) for change in rest])
    applied: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    first_error: BaseException | None = None
    for (obj, ref, _), outcome in zip(sent, outcomes, strict=True):
        if outcome.error is not None:
            first_error = first_error or outcome.error
            continue
        assert outcome.value is not None
        remember(client, desired=obj, applied=outcome.value)
        applied[ref.identity] = outcome.value
    # Recorded in apply order, whatever finished first; what was written is recorded
    # even when a neighbour failed, so it is pruned or kept like the rest.
    failed = {ref.identity for _, ref, _ in changed} - applied.keys()
    for _, ref in pairs:
        if ref.identity in failed:
            continue
        if ref.identity in applied:
            result.applied.append(ref)
            if prepared.live.get(ref) is None:
                result.created.append(ref)
        else:
            result.unchanged.append(ref)
        result.inventory.append(ref)
    if first_error is not None:
        raise first_error
    for obj, ref in pairs:
        if ref.kind == order.CRD:
            crds.await_established(
                client, obj, applied.get(ref.identity) or prepared.live.get(ref) or {}
            )


def _await_wave(
    client: client_mod.ClusterClient,
    prepared: prepared_mod.Prepared,
    *,
    result: results.SyncResult,
    wave: int,
    options: model.SyncOptions,
    app_name: str,
) -> None:
    """Before a later wave starts, a wave that changed something must be healthy (as in
    Argo CD: a migration Job in wave -1 completes before the Deployment of wave 0)."""
    members = [
        ref
        for obj, ref in zip(prepared.ordered, prepared.refs, strict=True)
        if order.wave(obj) == wave
    ]
    changed = {ref.identity for ref in result.applied}
    if not any(ref.identity in changed for ref in members):
        return  # nothing moved in this wave: it is as healthy as it was
    report = wait.wait_healthy(
        client, app_name=app_name, inventory=members, timeout=options.wait, interval=1.0
    )
    if not report.healthy:
        raise errors.WaveUnhealthy(
            f"cluster {client.name}: sync wave {wave} is not healthy, later waves were not "
            f"applied: {report.summary}",
            report=report,
        )


def adoption_note(ref: refs.ObjectRef, managers: Sequence[str]) -> str:
    """The line recorded for an object taken over from other managers."""
    return f"adopted {ref} (was created by {', '.join(managers) or 'an unknown manager'})"


def heal_options(
    options: model.SyncOptions, *, live: dict[str, Any] | None, desired: dict[str, Any]
) -> model.SyncOptions:
    """With selfHeal, fields someone took over imperatively are taken back (forced); an
    object being adopted on request (``syncer.io/adopt``) takes over all its fields."""
    if options.force or live is None:
        return options
    if not ownership.app_of(live) and ownership.wants_adoption(desired):
        return dataclasses.replace(options, force=True)
    if not options.self_heal:
        return options
    if compare.edited_imperatively(live=live, desired=desired):
        return dataclasses.replace(options, force=True)
    return options


def unchanged(
    client: client_mod.ClusterClient, *, live: dict[str, Any], desired: dict[str, Any]
) -> bool:
    """True when applying ``desired`` would not change ``live`` (no request needed)."""
    reason = compare.needs_apply(live=live, desired=desired)
    if not reason:
        return True
    # The server may store a value in another form than we sent (canonical quantities,
    # defaults inside our list items). If nothing moved since our own last apply of this
    # very object, the live state is what that apply produced: nothing to do.
    if _applied_before(client, live=live, desired=desired):
        return True
    log.debug(
        "apply needed cluster=%s object=%s reason=%s",
        client.name,
        refs.describe(desired),
        reason,
    )
    return False


def remember(
    client: client_mod.ClusterClient, *, desired: dict[str, Any], applied: dict[str, Any]
) -> None:
    """Note which resourceVersion our apply of this exact object produced."""
    version = str((applied.get("metadata") or {}).get("resourceVersion", ""))
    client.applied[refs.ObjectRef.of(desired).identity] = (desired_mod.digest(desired), version)
    if client.round_cache is not None:
        client.round_cache.put(applied)


def _applied_before(
    client: client_mod.ClusterClient, *, live: dict[str, Any], desired: dict[str, Any]
) -> bool:
    version = str((live.get("metadata") or {}).get("resourceVersion", ""))
    memo = client.applied.get(refs.ObjectRef.of(desired).identity)
    return memo is not None and memo == (desired_mod.digest(desired), version)


def _apply_one(
    client: client_mod.ClusterClient,
    obj: dict[str, Any],
    *,
    ref: refs.ObjectRef,
    options: model.SyncOptions,
    namespace: str,
    result: results.SyncResult,
    current: dict[str, Any] | None = None,
    app_name: str = "",
) -> dict[str, Any]:
    try:
        return client.apply(obj, force=options.force)
    except errors.InvalidObject as err:
        if not immutable(err):
            raise
        check_replace(client, obj, ref=ref, current=current, app_name=app_name, err=err)
        assert current is not None  # check_replace refuses a missing object
        replace(client, ref=ref, current=current, timeout=max(options.wait, 30.0))
        result.replaced.append(ref)
        return client.apply(obj, force=options.force)
    except errors.NotFound as err:
        # A namespaced object in a missing namespace: create the app's namespace when
        # allowed, once, then try again. Any other 404 is the caller's problem.
        if not _may_create_namespace(err, ref=ref, namespace=namespace, options=options):
            if err.details.get("kind") == "namespaces":
                raise errors.NotFound(
                    f"cluster {client.name}: namespace {ref.namespace!r} of {ref} does not "
                    "exist; create it, add it to the app, or set sync.createNamespace: true"
                    if ref.namespace == namespace
                    else f"cluster {client.name}: namespace {ref.namespace!r} of {ref} does not "
                    "exist (only the app's own namespace is created automatically)",
                    details=err.details,
                ) from err
            raise
    create_namespace(client, namespace)
    result.namespace_created = True
    return client.apply(obj, force=options.force)


# How kube-apiserver words a refused change to a field fixed at creation, by kind: most
# fields (Job template, selectors, Secret type); Service clusterIP(s); StatefulSet spec;
# PersistentVolumeClaim spec.
IMMUTABLE_WORDINGS = (
    "field is immutable",
    "may not change once set",
    "updates to statefulset spec for fields other than",
    "spec is immutable after creation",
)


def immutable(err: errors.InvalidObject) -> bool:
    """The API refused a change to a field that cannot change after creation."""
    text = str(err)
    return any(wording in text for wording in IMMUTABLE_WORDINGS)


def check_replace(
    client: client_mod.ClusterClient,
    obj: dict[str, Any],
    *,
    ref: refs.ObjectRef,
    current: dict[str, Any] | None,
    app_name: str,
    err: errors.InvalidObject,
) -> None:
    """Raise unless ``obj`` may be deleted and re-created to change an immutable field:
    it must be this app's (its label) and a Job or annotated ``syncer.io/replace``."""
    if current is None or ownership.app_of(current) != app_name:
        raise errors.InvalidObject(
            f"{err}\n{ref} is not owned by app {app_name!r}, so syncer will not delete and "
            "re-create it to change an immutable field; delete it by hand"
        ) from err
    if not ownership.replaceable(obj):
        raise errors.InvalidObject(
            f"{err}\n{ref}: a field that cannot change after creation differs; annotate it "
            f'in Git with {ownership.REPLACE_ANNOTATION}: "true" to let syncer delete and '
            "re-create it, or delete it by hand"
        ) from err


def replace(
    client: client_mod.ClusterClient,
    *,
    ref: refs.ObjectRef,
    current: dict[str, Any],
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Delete ``current`` (Background propagation, UID precondition) and wait until it is
    gone, so the caller can create it again."""
    uid = str((current.get("metadata") or {}).get("uid", ""))
    client.delete(ref, uid=uid)
    deadline = time.monotonic() + timeout
    while True:
        live = client.get(ref)
        if live is None or str((live.get("metadata") or {}).get("uid", "")) != uid:
            break
        if time.monotonic() > deadline:
            raise errors.NotDeleted(
                f"cluster {client.name}: {ref} was deleted to be re-created (immutable field) "
                f"but is still there after {timeout:.0f}s (a finalizer?); retry later"
            )
        time.sleep(interval)
    client.applied.pop(ref.identity, None)
    log.info("replaced cluster=%s object=%s (immutable field changed)", client.name, ref)


def create_namespace(client: client_mod.ClusterClient, name: str) -> bool:
    """Create a namespace (labelled as made by syncer, not owned by any app); False when
    it was there already."""
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {ownership.MANAGED_BY_LABEL: ownership.MANAGED_BY_VALUE},
        },
    }
    try:
        client.create(body)
    except errors.ApiError as err:
        if err.reason != "AlreadyExists":
            raise
        return False
    log.info("namespace created cluster=%s namespace=%s", client.name, name)
    return True


def remove(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    inventory: Sequence[refs.ObjectRef],
) -> results.SyncResult:
    """Delete everything an app owns on the cluster (the app left the config), in reverse
    order and only objects still carrying its label."""
    return sync(
        client,
        app_name=app_name,
        objects=[],
        options=model.SyncOptions(prune=True),
        gateway_policy=model.GatewayPolicy(allow_cluster_scoped=True),
        namespace="",
        previous_inventory=inventory,
        allow_empty=True,
    )
