"""``wait_healthy``: poll an app's objects until all are healthy, one fails, or time runs out.

Called after ``sync`` (by ``deploy`` and the rollout layer). Each round costs one LIST
per (kind, namespace) of the inventory, filtered by the app's label, or nothing where
the cluster is watched (``informer``) and the watch cache already holds, for every
object of the group, at least the version our own last apply of it produced (so it
cannot show the state from before that write; a cache that does not yet is looked at
again a moment later, and listed only on the wait's last look); judging is
``health.assess``. Many apps can then wait for health at once without a request per
app and second. A Degraded
object ends the wait at once (it will not recover without a change), like ``kubectl
rollout status`` on ProgressDeadlineExceeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

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
    watch cache as it is (``assess_all``); only for a look that follows no write of ours.
    Without it the cache is used only where it has caught up with our writes."""
    start = clock()
    delay = min(0.1, interval)
    while True:
        # While time is left, a watch that has not caught up with our write is waited
        # for (it will, within moments) rather than listed around; the last look lists.
        last = clock() - start >= timeout
        verdicts = assess_all(
            client, app_name=app_name, inventory=inventory, cached=cached, list_behind=last
        )
        waited = clock() - start
        if verdicts is None:
            sleep(min(delay, max(0.0, timeout - waited)))
            delay = min(delay * 2, interval)
            continue
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
    list_behind: bool = True,
) -> list[health.Health] | None:
    """One health verdict per inventory object, from one LIST per kind and namespace, or
    from the cluster's watch cache where it is synced and has caught up with our own
    writes of the group's objects; ``cached``: from the synced cache as it is (a look,
    not a wait after a write: the cache may trail our own write by a moment). Without
    ``list_behind``, None when a synced cache has not caught up yet (instead of a LIST:
    the caller looks again in a moment)."""
    groups: dict[tuple[str, str, str], dict[str, refs.ObjectRef]] = {}
    for ref in inventory:
        groups.setdefault((ref.api_version, ref.kind, ref.namespace), {})[ref.name] = ref
    verdicts: dict[tuple[str, str, str, str], health.Health] = {}
    for (api_version, kind, namespace), members in groups.items():
        found = None
        if client.watches is not None:
            found = client.watches.owned(
                api_version=api_version, kind=kind, namespace=namespace, app_name=app_name
            )
            if found is not None and not cached and not _caught_up(client, members, found):
                if not list_behind:
                    return None
                found = None  # the cache may still show the state from before our write
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


def _caught_up(
    client: client_mod.ClusterClient,
    members: dict[str, refs.ObjectRef],
    cached: list[dict[str, Any]],
) -> bool:
    """Whether the watch cache holds every member, each at least at the resourceVersion
    our last apply of it produced (``client.applied``). Versions are compared as the
    numbers etcd makes them; any other form must match exactly."""
    by_name = {str((obj.get("metadata") or {}).get("name")): obj for obj in cached}
    for name, ref in members.items():
        obj = by_name.get(name)
        if obj is None:
            return False
        memo = client.applied.get(ref.identity)
        if memo is None:
            continue  # not written by this process: the cache is as good as a list
        seen, wrote = str((obj.get("metadata") or {}).get("resourceVersion", "")), memo[1]
        if seen != wrote and not (seen.isdigit() and wrote.isdigit() and int(seen) > int(wrote)):
            return False
    return True
