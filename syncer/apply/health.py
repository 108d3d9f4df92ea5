"""Health of one live object, judged the way ``kubectl rollout status`` and kstatus do.

``assess(obj)`` is pure (it reads the object dict only); ``wait`` polls the cluster
with it. Statuses: Healthy, Progressing (not there yet, may still get there), Degraded
(failed: needs a change to recover, e.g. ProgressDeadlineExceeded), Missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from syncer.apply import refs

HEALTHY = "Healthy"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
MISSING = "Missing"


@dataclass(frozen=True)
class Health:
    """One object's health; ``reason`` says why, ``message`` is the full line for users."""

    ref: refs.ObjectRef
    status: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.ref}: {self.reason}" if self.reason else f"{self.ref}: {self.status}"

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.ref.to_json(),
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


def assess(obj: dict[str, Any]) -> Health:
    """The health of one live object."""
    ref = refs.ObjectRef.of(obj)
    judge = _JUDGES.get(ref.kind, _generic)
    status, reason = _observed(obj) or judge(obj)
    return Health(ref=ref, status=status, reason=reason)


def missing(ref: refs.ObjectRef) -> Health:
    return Health(ref=ref, status=MISSING, reason="not found on the cluster")


_Verdict = tuple[str, str]


def _observed(obj: dict[str, Any]) -> _Verdict | None:
    """Progressing while the controller has not seen the latest spec (generation)."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return PROGRESSING, f"waiting for generation {generation} to be observed (at {observed})"
    return None


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = (obj.get("status") or {}).get("conditions") or []
    return {str(item.get("type")): item for item in items if isinstance(item, dict)}


def _deployment(obj: dict[str, Any]) -> _Verdict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("paused"):
        return HEALTHY, "paused"
    if "observedGeneration" not in status:
        return PROGRESSING, "waiting for the controller to observe it"
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    current = int(status.get("replicas", 0))
    progressing = _conditions(obj).get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        unavailable = int(status.get("unavailableReplicas", 0))
        if not unavailable and updated >= wanted and available >= wanted:
            # The deployment controller keeps a timed-out condition until its counts say
            # complete: after a rollback to a ReplicaSet that is already available, only
            # the failed pods' scale-down is left, and the condition is about them.
            return PROGRESSING, (
                f"{available} of {wanted} replicas available; waiting for the controller "
                "to replace an earlier ProgressDeadlineExceeded"
            )
        detail = f" ({updated} updated, {unavailable} unavailable)" if unavailable else ""
        message = str(progressing.get("message") or "")
        return DEGRADED, (
            f"ProgressDeadlineExceeded: {available} of {wanted} replicas available{detail}"
            + (f": {message}" if message else "")
        )
    if updated < wanted:
        return PROGRESSING, f"{updated} of {wanted} updated replicas"
    if current > updated:
        return PROGRESSING, f"{current - updated} old replicas pending termination"
    if available < updated:
        return PROGRESSING, f"{available} of {updated} updated replicas available"
    return HEALTHY, f"{available} of {wanted} replicas available"


def _statefulset(obj: dict[str, Any]) -> _Verdict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if "observedGeneration" not in status:
        return PROGRESSING, "waiting for the controller to observe it"
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return HEALTHY, "OnDelete update strategy: not tracked"
    wanted = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    if ready < wanted:
        return PROGRESSING, f"{ready} of {wanted} replicas ready"
    partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
    if partition:
        updated = int(status.get("updatedReplicas", 0))
        if updated < wanted - partition:
            return PROGRESSING, f"{updated} of {wanted - partition} partitioned replicas updated"
        return HEALTHY, f"partitioned rollout done: {updated} updated"
    if status.get("updateRevision") and status.get("updateRevision") != status.get(
        "currentRevision"
    ):
        updated = int(status.get("updatedReplicas", 0))
        return PROGRESSING, f"{updated} of {wanted} replicas updated"
    return HEALTHY, f"{ready} of {wanted} replicas ready"


def _daemonset(obj: dict[str, Any]) -> _Verdict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if "observedGeneration" not in status:
        return PROGRESSING, "waiting for the controller to observe it"
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return HEALTHY, "OnDelete update strategy: not tracked"
    wanted = int(status.get("desiredNumberScheduled", 0))
    updated = int(status.get("updatedNumberScheduled", 0))
    available = int(status.get("numberAvailable", 0))
    if updated < wanted:
        return PROGRESSING, f"{updated} of {wanted} updated pods scheduled"
    if available < wanted:
        return PROGRESSING, f"{available} of {wanted} updated pods available"
    return HEALTHY, f"{available} of {wanted} pods available"


def _replicaset(obj: dict[str, Any]) -> _Verdict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    failure = _conditions(obj).get("ReplicaFailure", {})
    if failure.get("status") == "True":
        return DEGRADED, f"{failure.get('reason', 'ReplicaFailure')}: {failure.get('message', '')}"
    wanted = int(spec.get("replicas", 1))
    available = int(status.get("availableReplicas", 0))
    if available < wanted:
        return PROGRESSING, f"{available} of {wanted} replicas available"
    return HEALTHY, f"{available} of {wanted} replicas available"


def _job(obj: dict[str, Any]) -> _Verdict:
    conditions = _conditions(obj)
    failed = conditions.get("Failed", {})
    if failed.get("status") == "True":
        reason = failed.get("reason") or "Failed"
        return DEGRADED, f"{reason}: {failed.get('message', '')}".rstrip(": ")
    if conditions.get("Complete", {}).get("status") == "True":
        return HEALTHY, "complete"
    if (obj.get("spec") or {}).get("suspend"):
        return HEALTHY, "suspended"
    status = obj.get("status") or {}
    return PROGRESSING, (
        f"{status.get('succeeded', 0)} succeeded, {status.get('active', 0)} active, "
        f"{status.get('failed', 0)} failed"
    )


_BAD_WAITING = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "CrashLoopBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def _pod(obj: dict[str, Any]) -> _Verdict:
    status = obj.get("status") or {}
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return HEALTHY, "succeeded"
    if phase == "Failed":
        return DEGRADED, f"Failed: {status.get('reason') or status.get('message') or 'pod failed'}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _BAD_WAITING:
            return DEGRADED, f"{waiting['reason']}: container {container.get('name')}"
    if _conditions(obj).get("Ready", {}).get("status") == "True":
        return HEALTHY, "ready"
    return PROGRESSING, f"{phase}, not ready"


def _pvc(obj: dict[str, Any]) -> _Verdict:
    phase = (obj.get("status") or {}).get("phase", "Pending")
    if phase == "Bound":
        return HEALTHY, "bound"
    if phase == "Lost":
        return DEGRADED, "Lost: its volume is gone"
    return PROGRESSING, f"{phase}, not bound yet"


def _crd(obj: dict[str, Any]) -> _Verdict:
    conditions = _conditions(obj)
    if conditions.get("Established", {}).get("status") == "True":
        return HEALTHY, "established"
    names = conditions.get("NamesAccepted", {})
    if names.get("status") == "False":
        return DEGRADED, f"{names.get('reason', 'NamesNotAccepted')}: {names.get('message', '')}"
    return PROGRESSING, "not established yet"


def _generic(obj: dict[str, Any]) -> _Verdict:
    """kstatus for any kind: Stalled/Ready/Reconciling conditions, else current."""
    conditions = _conditions(obj)
    stalled = conditions.get("Stalled", {})
    if stalled.get("status") == "True":
        return DEGRADED, f"{stalled.get('reason', 'Stalled')}: {stalled.get('message', '')}"
    reconciling = conditions.get("Reconciling", {})
    if reconciling.get("status") == "True":
        return PROGRESSING, f"{reconciling.get('reason', 'Reconciling')}"
    ready = conditions.get("Ready", {})
    if ready.get("status") == "False":
        return PROGRESSING, f"{ready.get('reason', 'NotReady')}: {ready.get('message', '')}".rstrip(
            ": "
        )
    return HEALTHY, ""


_JUDGES: dict[str, Callable[[dict[str, Any]], _Verdict]] = {
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "ReplicaSet": _replicaset,
    "Job": _job,
    "Pod": _pod,
    "PersistentVolumeClaim": _pvc,
    "CustomResourceDefinition": _crd,
}
