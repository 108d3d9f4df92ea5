"""The order objects are applied in (and pruned in, reversed).

CRDs first (their custom resources need them), then Namespaces, other cluster-scoped
kinds, config that workloads mount or run as, Services (so endpoints exist when pods
start), workloads, and the rest. The ``syncer.io/sync-wave`` annotation (an integer,
default 0) overrides this: lower waves go first, and the kind order applies inside a
wave, as in Argo CD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from syncer.apply import ownership, refs

CRD = "CustomResourceDefinition"
NAMESPACE = "Namespace"

CONFIG_KINDS = frozenset(
    {
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Role",
        "RoleBinding",
        "LimitRange",
        "ResourceQuota",
        "PersistentVolumeClaim",
    }
)
SERVICE_KINDS = frozenset({"Service", "Endpoints", "EndpointSlice"})
WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
)

PHASE_CRD, PHASE_NAMESPACE, PHASE_CLUSTER, PHASE_CONFIG = 0, 1, 2, 3
PHASE_SERVICE, PHASE_WORKLOAD, PHASE_REST = 4, 5, 6


class WaveError(ValueError):
    """A sync-wave annotation that is not an integer."""


def wave(obj: dict[str, Any]) -> int:
    """The object's sync wave (0 without the annotation)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(ownership.SYNC_WAVE_ANNOTATION)
    if raw is None:
        return 0
    try:
        return int(str(raw).strip())
    except ValueError:
        raise WaveError(
            f"{refs.describe(obj)}: annotation {ownership.SYNC_WAVE_ANNOTATION}={raw!r} "
            'is not an integer; write e.g. "-1" or "2"'
        ) from None


def phase(obj: dict[str, Any], *, namespaced: bool) -> int:
    """The kind order of one object (see the module docstring)."""
    kind = obj.get("kind", "")
    if kind == CRD:
        return PHASE_CRD
    if kind == NAMESPACE:
        return PHASE_NAMESPACE
    if not namespaced:
        return PHASE_CLUSTER
    if kind in CONFIG_KINDS:
        return PHASE_CONFIG
    if kind in SERVICE_KINDS:
        return PHASE_SERVICE
    if kind in WORKLOAD_KINDS:
        return PHASE_WORKLOAD
    return PHASE_REST


def step(obj: dict[str, Any], *, namespaced: bool) -> tuple[int, int]:
    """Objects of one wave and kind phase may be applied side by side: the phases keep
    the order users rely on (CRDs, Namespaces, config before the workloads that mount it,
    Services before the pods behind them), and inside one nothing depends on another."""
    return wave(obj), phase(obj, namespaced=namespaced)


def sort_key(
    obj: dict[str, Any], *, is_namespaced: Callable[[dict[str, Any]], bool]
) -> tuple[int, int, str, str, str]:
    ref = refs.ObjectRef.of(obj)
    return (
        wave(obj),
        phase(obj, namespaced=is_namespaced(obj)),
        ref.kind,
        ref.namespace,
        ref.name,
    )


def ordered(
    objects: Iterable[dict[str, Any]], *, is_namespaced: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The objects in apply order (stable, so equal keys keep their input order)."""
    return sorted(objects, key=lambda obj: sort_key(obj, is_namespaced=is_namespaced))
