"""Quota-aware gateway: would this rollout fit the target namespaces' ResourceQuotas?

``sync`` and ``plan`` call ``check`` after ``prepared`` has read the live state and
before the first write (gateway rule ``checkQuota``). For every namespace where the
rollout creates objects or changes a pod template, it lists the ResourceQuotas and
LimitRanges once (in a read round, ``cache``, a namespace whose snapshot holds no
ResourceQuota is passed over: one LIST per namespace and round; under ``syncer run`` so
is a namespace that the cluster's watch of every ResourceQuota shows without one, at no
request; quotas themselves are always read fresh, for their current ``status.used``),
applies the LimitRange defaults to containers that lack requests or limits (as the API
server's admission would), and adds up what the rollout's pods ask for: per container,
times replicas, plus the rolling-update surge, minus what the live objects it replaces
hold now. A quota whose ``status.used`` plus that change would pass
``spec.hard`` refuses the whole rollout (``errors.QuotaExceeded``) with the numbers,
instead of a rollout that starts and hangs with pods that can never be created.

``violations`` is the pure part (objects, quotas and ranges in, lines out).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from syncer import quantity
from syncer.apply import client as client_mod
from syncer.apply import compare, errors, refs
from syncer.render import images

Resources = dict[str, Decimal]
Change = tuple[dict[str, Any], dict[str, Any] | None]
"""A desired object the rollout writes, and its live object (None when it is new)."""

_BARE_REQUESTS = frozenset({"cpu", "memory", "ephemeral-storage", "storage"})
"""Quota keys without a prefix that mean requests (``cpu`` is ``requests.cpu``)."""
_LEGACY_COUNTS = frozenset(
    {"services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers"}
)
"""Core resources a quota may count by their bare name as well as ``count/<name>``."""
_REQUIRED = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
"""Quota keys for which the API server refuses a pod whose container does not set them."""


@dataclasses.dataclass(frozen=True)
class PodGroup:
    """``count`` pods (negative: pods the rollout frees) of one pod spec, each asking for
    ``requests`` and ``limits`` once LimitRange defaults are applied."""

    owner: str
    spec: dict[str, Any]
    count: int
    requests: Resources
    limits: Resources


def check(
    client: client_mod.ClusterClient,
    *,
    changes: Sequence[Change],
) -> None:
    """Read each affected namespace's quotas and ranges (one list of each) and raise
    ``QuotaExceeded`` when the rollout would not fit; return when it would."""
    namespaces = sorted({ns for obj, current in changes if (ns := _affects(obj, current))})
    found: list[str] = []
    watched = client.watches.every("v1", "ResourceQuota") if client.watches is not None else None
    for namespace in namespaces:
        if watched is not None and not watched.in_namespace(namespace):
            continue  # none in the watch of every quota: nothing to exceed
        if client.round_cache is not None and not _listed(client, "ResourceQuota", namespace):
            continue  # none in this round's snapshot: nothing to exceed
        quotas = _list(client, "ResourceQuota", namespace)
        if not quotas:
            continue
        ranges = _list(client, "LimitRange", namespace)
        found += violations(
            [c for c in changes if _namespace(c[0]) == namespace],
            namespace=namespace,
            quotas=quotas,
            limit_ranges=ranges,
            plural_of=lambda obj: _plural(client, obj),
        )
    if found:
        raise errors.QuotaExceeded(found)


def _list(client: client_mod.ClusterClient, kind: str, namespace: str) -> list[dict[str, Any]]:
    try:
        return client.list_objects(api_version="v1", kind=kind, namespace=namespace)
    except errors.Unauthorized as err:
        # Under impersonation it is the tenant's account that lacks the grant: name it.
        who = f" (acting as {client.impersonate})" if client.impersonate is not None else ""
        raise errors.Unauthorized(
            f"cluster {client.name}: the quota check (gateway rule checkQuota) may not list "
            f"{kind}s in namespace {namespace}{who}: grant list on resourcequotas and "
            "limitranges, or set gateway.checkQuota: false"
        ) from err


def _listed(client: client_mod.ClusterClient, kind: str, namespace: str) -> list[dict[str, Any]]:
    """``_list`` answered from the read round: one LIST per namespace and round."""
    try:
        return list(client.round_cache.listing(api_version="v1", kind=kind, namespace=namespace))
    except errors.Unauthorized:
        return _list(client, kind, namespace)  # the same refusal, with its explanation


def _plural(client: client_mod.ClusterClient, obj: dict[str, Any]) -> str | None:
    found = client.discovery.lookup(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    return found.plural if found is not None else None


def _namespace(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _affects(obj: dict[str, Any], current: dict[str, Any] | None) -> str:
    """The namespace whose quotas the change may move: a new namespaced object (counts),
    or a changed object that runs pods or claims storage; "" when none."""
    namespace = _namespace(obj)
    if not namespace:
        return ""
    if current is None or _pod_spec(obj) is not None:
        return namespace
    return namespace if obj.get("kind") == "PersistentVolumeClaim" else ""


def violations(
    changes: Sequence[Change],
    *,
    namespace: str,
    quotas: Sequence[dict[str, Any]],
    limit_ranges: Sequence[dict[str, Any]],
    plural_of: Callable[[dict[str, Any]], str | None],
) -> list[str]:
    """One line per quota key the rollout would push past its hard limit, and per pod
    the API server would refuse (a tracked resource unset and no LimitRange default)."""
    groups = [group for obj, current in changes for group in pod_groups(obj, current, limit_ranges)]
    other = _object_usage(changes, plural_of=plural_of)
    found: list[str] = []
    for quota in quotas:
        name = str((quota.get("metadata") or {}).get("name", ""))
        hard = (quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard")
        used = (quota.get("status") or {}).get("used") or {}
        scoped = _scoped(quota)
        matching = [g for g in groups if _in_scope(quota, g)]
        found += _unset(
            matching, namespace=namespace, quota=name, hard=hard or {}, limit_ranges=limit_ranges
        )
        for key, limit in sorted((hard or {}).items()):
            added, freed = _pods_usage(matching, key)
            if not scoped:
                added += other.get(_count_alias(key), Decimal(0))
            if added == 0 and freed == 0:
                continue
            try:
                now, most = quantity.parse(used.get(key, 0)), quantity.parse(limit)
            except ValueError:
                continue  # the API server stores quantities it can parse; nothing to judge
            freed = min(freed, now)
            after = now + added - freed
            if after > most and added > freed:
                shown = _shown([after, now, added - freed], like=str(limit))
                found.append(
                    f"namespace {namespace} quota {name}: {key} would be {shown[0]} of {limit} "
                    f"(used {shown[1]}, this rollout +{shown[2]}); lower the rollout's "
                    "requests, limits or replicas, or raise the quota"
                )
    return found


def pod_groups(
    obj: dict[str, Any],
    current: dict[str, Any] | None,
    limit_ranges: Sequence[dict[str, Any]],
) -> list[PodGroup]:
    """The pods the change creates (positive counts, surge included) and those it
    replaces (negative counts, from the live object)."""
    new_spec = _pod_spec(obj)
    if new_spec is None:
        return []
    owner = refs.describe(obj)

    def group(
        spec: dict[str, Any], count: int, *, larger: dict[str, Any] | None = None
    ) -> PodGroup:
        requests, limits = pod_resources(spec, limit_ranges)
        if larger is not None:  # the larger of two pod specs, resource by resource
            other_requests, other_limits = pod_resources(larger, limit_ranges)
            requests, limits = _most(requests, other_requests), _most(limits, other_limits)
        return PodGroup(owner=owner, spec=spec, count=count, requests=requests, limits=limits)

    old_spec = _pod_spec(current) if current is not None else None
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return [group(new_spec, 1)] if current is None else []
    if kind == "CronJob":  # one run at a time; running Jobs stay as they are
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return [group(new_spec, _parallelism(job))]
    if kind == "Job":
        live = int(((current or {}).get("status") or {}).get("active") or 0)
        out = [group(new_spec, _parallelism(spec))]
        return out + ([group(old_spec, -live)] if old_spec is not None and live else [])
    replicas = _replicas(obj, current)
    live_pods = _live_pods(current)
    rolling = old_spec is not None and _template_changed(obj, current)
    out = []
    if old_spec is not None and live_pods:
        out.append(group(old_spec, -live_pods))
    if kind in ("ReplicaSet", "ReplicationController") and old_spec is not None:
        # A new template does not replace running pods; only added ones use it.
        out.append(group(old_spec, min(replicas, live_pods)))
        out.append(group(new_spec, max(0, replicas - live_pods)))
        return [g for g in out if g.count]
    if kind == "StatefulSet" and rolling:
        # Pods are replaced one at a time: at worst every ordinal holds the larger of the two.
        out.append(group(new_spec, replicas, larger=old_spec))
        return out
    out.append(group(new_spec, replicas))
    surge = _surge(obj, replicas) if rolling else 0
    if surge:
        out.append(group(new_spec, surge, larger=old_spec))
    return [g for g in out if g.count]


def pod_resources(
    spec: dict[str, Any], limit_ranges: Sequence[dict[str, Any]]
) -> tuple[Resources, Resources]:
    """A pod's requests and limits as quota admission counts them: containers summed,
    init containers taken at their peak (sidecars with ``restartPolicy: Always`` stay
    running), after defaulting (requests from limits) and LimitRange defaults."""
    totals: list[Resources] = [{}, {}]
    for index in (0, 1):
        running: Resources = {}
        sidecars: Resources = {}
        init_peak: Resources = {}
        for container in _list_of(spec.get("initContainers")):
            own = container_resources(container, limit_ranges)[index]
            if container.get("restartPolicy") == "Always":
                sidecars = _add(sidecars, own)
            else:
                init_peak = _most(init_peak, _add(sidecars, own))
        for container in _list_of(spec.get("containers")):
            running = _add(running, container_resources(container, limit_ranges)[index])
        totals[index] = _most(_add(running, sidecars), init_peak)
    pod_level = spec.get("resources") or {}
    for index, section in ((0, "requests"), (1, "limits")):
        totals[index].update(_quantities(pod_level.get(section)))
    return totals[0], totals[1]


def container_resources(
    container: dict[str, Any], limit_ranges: Sequence[dict[str, Any]]
) -> tuple[Resources, Resources]:
    """One container's requests and limits once the API server has filled them in."""
    resources = container.get("resources") or {}
    limits = _quantities(resources.get("limits"))
    requests = _quantities(resources.get("requests"))
    for key, value in limits.items():
        requests.setdefault(key, value)  # API defaulting: a limit alone is also the request
    for item in _container_limits(limit_ranges):
        default = _quantities(item.get("default"))
        for key, value in _quantities(item.get("max")).items():
            default.setdefault(key, value)
        default_request = _quantities(item.get("defaultRequest"))
        for key, value in default.items():
            default_request.setdefault(key, value)
        for key, value in default.items():
            limits.setdefault(key, value)
        for key, value in default_request.items():
            requests.setdefault(key, value)
    return requests, limits


def _container_limits(limit_ranges: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for limit_range in limit_ranges:
        for item in _list_of((limit_range.get("spec") or {}).get("limits")):
            if item.get("type") == "Container":
                yield item


def _unset(
    groups: Iterable[PodGroup],
    *,
    namespace: str,
    quota: str,
    hard: dict[str, Any],
    limit_ranges: Sequence[dict[str, Any]],
) -> list[str]:
    """Pods the API server would refuse: the quota tracks CPU/memory requests or limits
    and a container sets none (and no LimitRange gives a default)."""
    tracked = [key for key in _REQUIRED if key in hard or key.partition(".")[2] in hard]
    found = []
    for group in groups:
        if group.count <= 0 or not tracked:
            continue
        missing = [
            key for key in tracked if not _every_container_sets(group.spec, key, limit_ranges)
        ]
        if missing:
            found.append(
                f"{group.owner}: every container must set {', '.join(missing)}: quota {quota} "
                f"in namespace {namespace} tracks it and no LimitRange gives a default, so "
                "the API server would refuse its pods"
            )
    return found


def _every_container_sets(
    spec: dict[str, Any], key: str, limit_ranges: Sequence[dict[str, Any]]
) -> bool:
    section, _, resource = key.partition(".")
    index = 0 if section == "requests" else 1
    return all(
        resource in container_resources(container, limit_ranges)[index]
        for container in [*_list_of(spec.get("initContainers")), *_list_of(spec.get("containers"))]
    )


def _pods_usage(groups: Iterable[PodGroup], key: str) -> tuple[Decimal, Decimal]:
    """What the pod groups add and free for one quota key."""
    added, freed = Decimal(0), Decimal(0)
    for group in groups:
        amount = _per_pod(group, key) * abs(group.count)
        if group.count > 0:
            added += amount
        else:
            freed += amount
    return added, freed


def _per_pod(group: PodGroup, key: str) -> Decimal:
    if key in ("pods", "count/pods"):
        return Decimal(1)
    section, _, resource = key.partition(".")
    if key in _BARE_REQUESTS:
        section, resource = "requests", key
    if section == "requests" and resource != "storage":
        return group.requests.get(resource, Decimal(0))
    if section == "limits":
        return group.limits.get(resource, Decimal(0))
    return Decimal(0)


def _object_usage(
    changes: Sequence[Change], *, plural_of: Callable[[dict[str, Any]], str | None]
) -> dict[str, Decimal]:
    """Object counts (``count/<resource>.<group>``) the new objects add, and the storage
    that new PersistentVolumeClaims (also from StatefulSets' claim templates) request."""
    usage: dict[str, Decimal] = {}

    def add(key: str, amount: Decimal) -> None:
        usage[key] = usage.get(key, Decimal(0)) + amount

    for obj, current in changes:
        if current is None and obj.get("kind") != "Pod":  # pods are counted as pods
            plural = plural_of(obj)
            group = str(obj.get("apiVersion", "")).rpartition("/")[0]
            if plural:
                add(f"count/{plural}.{group}" if group else f"count/{plural}", Decimal(1))
        claims: list[tuple[dict[str, Any], int]] = []
        if obj.get("kind") == "PersistentVolumeClaim" and current is None:
            claims.append((obj, 1))
        if obj.get("kind") == "StatefulSet":
            added = _replicas(obj, current) - _replicas_of(current)
            templates = _list_of((obj.get("spec") or {}).get("volumeClaimTemplates"))
            claims += [(template, added) for template in templates if added > 0]
        for claim, count in claims:
            add("count/persistentvolumeclaims", Decimal(count))
            requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests")
            add("requests.storage", _quantities(requests).get("storage", Decimal(0)) * count)
    return usage


def _count_alias(key: str) -> str:
    return f"count/{key}" if key in _LEGACY_COUNTS else key


def _scoped(quota: dict[str, Any]) -> bool:
    spec = quota.get("spec") or {}
    return bool(spec.get("scopes") or (spec.get("scopeSelector") or {}).get("matchExpressions"))


def _in_scope(quota: dict[str, Any], group: PodGroup) -> bool:
    """Whether the quota's scopes (``scopes`` and ``scopeSelector``) count these pods."""
    spec = quota.get("spec") or {}
    selectors = [{"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or []]
    selectors += _list_of((spec.get("scopeSelector") or {}).get("matchExpressions"))
    return all(_scope_matches(selector, group) for selector in selectors)


def _scope_matches(selector: dict[str, Any], group: PodGroup) -> bool:
    name, operator = selector.get("scopeName"), selector.get("operator", "Exists")
    if name == "PriorityClass":
        priority = str(group.spec.get("priorityClassName") or "")
        values = selector.get("values") or []
        return {
            "In": priority in values,
            "NotIn": priority not in values,
            "Exists": bool(priority),
            "DoesNotExist": not priority,
        }.get(str(operator), True)
    best_effort = not any(
        resource in section
        for section in (group.requests, group.limits)
        for resource in ("cpu", "memory")
    )
    truth = {
        "Terminating": group.spec.get("activeDeadlineSeconds") is not None,
        "NotTerminating": group.spec.get("activeDeadlineSeconds") is None,
        "BestEffort": best_effort,
        "NotBestEffort": not best_effort,
    }.get(str(name))
    if truth is None:
        return True  # a scope this check does not know: count the pods (the safe side)
    return not truth if operator == "DoesNotExist" else truth


def _pod_spec(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    path = images.POD_SPEC_PATHS.get(str(obj.get("kind", "")))
    if path is None:
        return None
    spec: Any = obj
    for step in path:
        spec = spec.get(step) if isinstance(spec, dict) else None
    return spec if isinstance(spec, dict) else None


def _template_changed(obj: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """True when applying ``obj`` changes the live pod template (a rollout of new pods)."""
    if current is None:
        return False
    desired = (obj.get("spec") or {}).get("template")
    live = (current.get("spec") or {}).get("template")
    wrapped = {"spec": {"template": desired}} if desired is not None else {}
    return bool(compare.differences(live={"spec": {"template": live}}, desired=wrapped))


def _replicas(obj: dict[str, Any], current: dict[str, Any] | None) -> int:
    """Desired replicas: the object's, else the live one's (an autoscaler owns them),
    else the API default of 1. DaemonSets: the nodes the live one runs on, else 1."""
    if obj.get("kind") == "DaemonSet":
        scheduled = ((current or {}).get("status") or {}).get("desiredNumberScheduled")
        return max(1, int(scheduled or 0))
    value = (obj.get("spec") or {}).get("replicas")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    live = _replicas_of(current)
    return live if current is not None else 1


def _replicas_of(current: dict[str, Any] | None) -> int:
    value = ((current or {}).get("spec") or {}).get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _live_pods(current: dict[str, Any] | None) -> int:
    """Pods the live object runs now (its status; the spec when it has none)."""
    if current is None:
        return 0
    status = current.get("status") or {}
    for field in ("replicas", "currentNumberScheduled"):
        if isinstance(status.get(field), int):
            return int(status[field])
    return _replicas_of(current)


def _surge(obj: dict[str, Any], replicas: int) -> int:
    """Extra pods a rolling update may run: ``maxSurge`` (Deployments default 25%,
    DaemonSets 0), a percentage rounded up as the controller does."""
    strategy = (obj.get("spec") or {}).get(
        "strategy" if obj.get("kind") == "Deployment" else "updateStrategy"
    ) or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    default = "25%" if obj.get("kind") == "Deployment" else 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", default)
    if obj.get("kind") not in ("Deployment", "DaemonSet"):
        return 0
    if isinstance(value, str) and value.endswith("%"):
        try:
            return math.ceil(Decimal(value[:-1]) * replicas / 100)
        except ArithmeticError:
            return 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _parallelism(job_spec: dict[str, Any]) -> int:
    parallelism = job_spec.get("parallelism", 1)
    completions = job_spec.get("completions")
    if isinstance(completions, int) and isinstance(parallelism, int):
        return min(parallelism, completions)
    return parallelism if isinstance(parallelism, int) else 1


def _quantities(section: Any) -> Resources:
    """A requests/limits map as Decimals; a value that is not a quantity is left to the
    server's validation (the dry run names it)."""
    out: Resources = {}
    for key, value in (section or {}).items() if isinstance(section, dict) else ():
        try:
            out[str(key)] = quantity.parse(value)
        except ValueError:
            continue
    return out


def _list_of(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _add(left: Resources, right: Resources) -> Resources:
    return {key: left.get(key, Decimal(0)) + right.get(key, Decimal(0)) for key in {*left, *right}}


def _most(left: Resources, right: Resources) -> Resources:
    return {
        key: max(left.get(key, Decimal(0)), right.get(key, Decimal(0))) for key in {*left, *right}
    }


def _shown(values: Sequence[Decimal], *, like: str) -> list[str]:
    """Quantities written in the unit family of ``like`` (the quota's hard value): binary
    or decimal suffixes for sizes, millis when a CPU-like number is fractional."""
    shown = [_written(value, like=like, values=values) for value in values]
    return shown


def _written(value: Decimal, *, like: str, values: Sequence[Decimal]) -> str:
    """One of ``values`` in the unit all of them can be written in; zero is ``0``."""
    if value == 0:
        return "0"
    for units in (quantity.BINARY_UNITS, quantity.DECIMAL_UNITS):
        if like.endswith(tuple(suffix for suffix, _ in units)):
            for suffix, size in units:
                if all(other % size == 0 for other in values):
                    return f"{quantity.normalize(value / size)}{suffix}"
            return quantity.normalize(value)
    if all(other == other.to_integral_value() for other in values):
        return quantity.normalize(value)
    return f"{quantity.normalize(value * 1000)}m"
