"""``wait_healthy``: poll an app's objects until all are healthy, one fails, or time runs out.

Called after ``sync`` (by ``deploy`` and the rollout layer). Each round costs one LIST
per (kind, namespace) of the inventory, filtered by the app's label; judging is
``health.assess``. A Degraded object ends the wait at once (it will not recover
without a change), like ``kubectl rollout status`` on ProgressDeadlineExceeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from syncer.apply import client as client_mod
from syncer.apply import health, ownership, refs, results


def wait_healthy(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    inventory: Sequence[refs.ObjectRef],
    timeout: float,
    interval: float = 1.0,
    cached: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> results.HealthReport:
    """The health of every inventory object once all are healthy, one is Degraded, or
    ``timeout`` seconds passed (then ``timed_out`` is set). ``cached``: judged from the
    watch cache (``assess_all``); only for a look that follows no write of ours."""
    start = clock()
    delay = min(0.1, interval)
    while True:
        verdicts = assess_all(client, app_name=app_name, inventory=inventory, cached=cached)
        waited = clock() - start
        statuses = {item.status for item in verdicts}
        done = statuses <= {health.HEALTHY} or health.DEGRADED in statuses
        if done or waited >= timeout:
            return results.HealthReport(
                cluster=client.name,
                app=app_name,
                healthy=statuses <= {health.HEALTHY},
                timed_out=not done,
                objects=verdicts,
                waited=waited,
            )
        sleep(min(delay, max(0.0, timeout - waited)))
        delay = min(delay * 2, interval)


def assess_all(
    client: client_mod.ClusterClient,
    *,
    app_name: str,
    inventory: Sequence[refs.ObjectRef],
    cached: bool = False,
) -> list[health.Health]:
    """One health verdict per inventory object, from one LIST per kind and namespace;
    ``cached``: from the cluster's watch cache where it is synced (a look, not a wait
    after a write: the cache may trail our own write by a moment)."""
    groups: dict[tuple[str, str, str], dict[str, refs.ObjectRef]] = {}
    for ref in inventory:
        groups.setdefault((ref.api_version, ref.kind, ref.namespace), {})[ref.name] = ref
    verdicts: dict[tuple[str, str, str, str], health.Health] = {}
    for (api_version, kind, namespace), members in groups.items():
        found = None
        if cached and client.watches is not None:
            found = client.watches.owned(
                api_version=api_version, kind=kind, namespace=namespace, app_name=app_name
            )
        listed = found if found is not None else client.list_objects(
            api_version=api_version,
            kind=kind,
            namespace=namespace,
            label_selector=ownership.selector(app_name),
        )  # fmt: skip
        by_name = {str((obj.get("metadata") or {}).get("name")): obj for obj in listed}
        for name, ref in members.items():
            obj = by_name.get(name)
            verdicts[ref.identity] = health.assess(obj) if obj else health.missing(ref)
    return [verdicts[ref.identity] for ref in inventory]
