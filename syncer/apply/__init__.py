"""Applying one app's rendered objects to one cluster: safely, cheaply, with health.

Where it sits: ``rollout`` (and the CLI's diff) call this package with the objects
``render`` produced for one app and one cluster; this package is the only one that
talks to Kubernetes (``client`` wraps the ``kubernetes`` library).

Public API (every function takes keyword arguments after the client)::

    client = apply.connect(cluster, base_dir=config.base_dir)    # model.Cluster; lazy
    result = apply.sync(client, app_name=, objects=, options=, gateway_policy=,
                        namespace=, previous_inventory=())        # -> SyncResult
    plan   = apply.plan(client, ...same arguments as sync...)     # -> PlanResult
    report = apply.wait_healthy(client, app_name=, inventory=, timeout=)  # -> HealthReport
    report = apply.drift(client, ...same arguments as sync...)    # -> DriftReport
    result = apply.rollback(client, app_name=, previous_objects=, failed_inventory=,
                            options=, gateway_policy=, namespace=)  # -> SyncResult
    result = apply.deploy(client, ...sync arguments..., previous_objects=)  # -> DeployResult
    result = apply.remove(client, app_name=, inventory=)   # the app left the config
    apply.check_gateway(objects, policy=, namespace=, is_namespaced=)  # pure, raises
    with apply.read_round(client):   # optional: a round of many apps' syncs on one
        ...                          # cluster reads each kind once (see apply.cache)

- ``objects`` are plain dicts; ``options`` is ``model.SyncOptions``, ``gateway_policy``
  ``model.GatewayPolicy``, ``namespace`` the app's namespace.
- ``previous_inventory`` is the ``inventory`` of the last SyncResult for this app and
  cluster (a list of ``ObjectRef``; ``ObjectRef.to_json``/``from_json`` for state).
- Results are dataclasses with ``to_json()``; ``SyncResult.replaced`` lists objects
  deleted and re-created for an immutable field, ``SyncResult.adopted`` one line per
  object taken over; a ``PlanResult`` shows them as ``replace``/``adopt``.
- Errors are ``syncer.errors`` classes (see ``syncer.apply.errors``): PermanentError
  for gateway violations, ownership and field conflicts (an existing object syncer did
  not create, unless annotated ``syncer.io/adopt: "true"`` or ``sync.force``), invalid
  objects (an immutable field of an object that is neither a Job nor annotated
  ``syncer.io/replace: "true"``), unknown kinds, 401/403; TemporaryError for
  unreachable clusters, certificates that do not verify, and exhausted 429/5xx
  retries; ``WaveUnhealthy`` (plain SyncerError) when a sync wave does not become
  healthy. When ``sync`` stops part-way, the error's ``partial`` holds the SyncResult
  so far (record its ``inventory``); when ``deploy`` then rolled back, the error's
  ``rolled_back`` holds the rollback's SyncResult.
- A ``ClusterClient`` belongs to one cluster; keep one per cluster and reuse it
  (discovery cache, connection pool, request counters in ``client.stats``).
- ``connect(cluster, guard=fence)``: ``fence`` is called before every write and raises
  ``syncer.errors.Fenced`` (not a SyncerError: nothing here catches it) to stop it.
"""

from __future__ import annotations

from syncer.apply import errors
from syncer.apply.cache import read_round
from syncer.apply.client import ClusterClient, Identity, connect
from syncer.apply.deploy import deploy, rollback
from syncer.apply.drift import drift
from syncer.apply.gateway import check as check_gateway
from syncer.apply.plan import plan
from syncer.apply.refs import ObjectRef
from syncer.apply.results import (
    DeployResult,
    DriftItem,
    DriftReport,
    HealthReport,
    ObjectPlan,
    PlanResult,
    SyncResult,
)
from syncer.apply.sync import remove, sync
from syncer.apply.throttle import RetryPolicy
from syncer.apply.wait import wait_healthy

__all__ = [
    "ClusterClient",
    "DeployResult",
    "DriftItem",
    "DriftReport",
    "HealthReport",
    "Identity",
    "ObjectPlan",
    "ObjectRef",
    "PlanResult",
    "RetryPolicy",
    "SyncResult",
    "check_gateway",
    "connect",
    "deploy",
    "drift",
    "errors",
    "plan",
    "read_round",
    "remove",
    "rollback",
    "sync",
    "wait_healthy",
]
