"""``deploy`` and ``rollback``: sync, wait for health, and go back when it goes wrong.

The rollout layer calls ``deploy`` per app and cluster with the new objects and the
last good release's objects. When the new set is unhealthy (Degraded, or not healthy
within ``sync.wait``) and ``rollbackOnFailure`` is on, ``rollback`` re-applies the
previous set and prunes whatever the failed one added; the result reports both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from syncer.apply import client as client_mod
from syncer.apply import errors, refs, results, wait
from syncer.apply import sync as sync_mod
from syncer.config import model


def deploy(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    objects: Iterable[dict[str, Any]],
    options: model.SyncOptions,
    gateway_policy: model.GatewayPolicy,
    namespace: str,
    previous_inventory: Sequence[refs.ObjectRef] = (),
    previous_objects: Sequence[dict[str, Any]] | None = None,
    poll_interval: float = 1.0,
) -> results.DeployResult:
    """Sync, wait up to ``options.wait``, roll back to ``previous_objects`` if unhealthy.

    A sync that fails part-way (after writing some objects) is rolled back too, so the
    cluster is not left half on the new release; the error is raised afterwards with
    ``rolled_back`` set to the rollback's result.
    """
    try:
        synced = sync_mod.sync(
            client,
            app_name=app_name,
            objects=objects,
            options=options,
            gateway_policy=gateway_policy,
            namespace=namespace,
            previous_inventory=previous_inventory,
        )
    except errors.ApplyError as err:
        partial = err.partial
        if (
            options.rollback_on_failure
            and previous_objects is not None
            and partial is not None
            and (partial.applied or partial.pruned)
        ):
            err.rolled_back = rollback(
                client,
                app_name=app_name,
                previous_objects=previous_objects,
                failed_inventory=partial.inventory,
                options=options,
                gateway_policy=gateway_policy,
                namespace=namespace,
            )
        raise
    report = wait.wait_healthy(
        client,
        app_name=app_name,
        inventory=synced.inventory,
        timeout=options.wait,
        interval=poll_interval,
    )
    outcome = results.DeployResult(sync=synced, health=report)
    if report.healthy or not options.rollback_on_failure or previous_objects is None:
        return outcome
    outcome.rolled_back = rollback(
        client,
        app_name=app_name,
        previous_objects=previous_objects,
        failed_inventory=synced.inventory,
        options=options,
        gateway_policy=gateway_policy,
        namespace=namespace,
    )
    outcome.rollback_health = wait.wait_healthy(
        client,
        app_name=app_name,
        inventory=outcome.rolled_back.inventory,
        timeout=options.wait,
        interval=poll_interval,
    )
    return outcome


def rollback(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    previous_objects: Sequence[dict[str, Any]],
    failed_inventory: Sequence[refs.ObjectRef],
    options: model.SyncOptions,
    gateway_policy: model.GatewayPolicy,
    namespace: str,
) -> results.SyncResult:
    """Re-apply the previous good set; objects only the failed set had are pruned."""
    return sync_mod.sync(
        client,
        app_name=app_name,
        objects=previous_objects,
        options=dataclasses.replace(options, prune=True),
        gateway_policy=gateway_policy,
        namespace=namespace,
        previous_inventory=failed_inventory,
    )
