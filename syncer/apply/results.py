"""What apply reports: plain dataclasses with ``to_json()``, for state, API and CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncer.apply import health, refs


def _refs(items: list[refs.ObjectRef]) -> list[dict[str, str]]:
    return [item.to_json() for item in items]


@dataclass
class SyncResult:
    """One sync of one app on one cluster.

    ``inventory`` is every object the app now owns there (store it: it is the next
    sync's ``previous_inventory``); ``writes`` counts the mutating requests sent.
    """

    cluster: str
    app: str
    applied: list[refs.ObjectRef] = field(default_factory=list)
    created: list[refs.ObjectRef] = field(default_factory=list)
    unchanged: list[refs.ObjectRef] = field(default_factory=list)
    pruned: list[refs.ObjectRef] = field(default_factory=list)
    orphans: list[refs.ObjectRef] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    inventory: list[refs.ObjectRef] = field(default_factory=list)
    replaced: list[refs.ObjectRef] = field(default_factory=list)
    """Deleted and re-created because a change hit an immutable field (also in applied)."""
    adopted: list[str] = field(default_factory=list)
    """``adopted <object> (was created by <managers>)`` for each object taken over."""
    namespace_created: bool = False
    writes: int = 0
    requests: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.pruned or self.namespace_created)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "app": self.app,
            "applied": _refs(self.applied),
            "created": _refs(self.created),
            "unchanged": _refs(self.unchanged),
            "pruned": _refs(self.pruned),
            "orphans": _refs(self.orphans),
            "skipped": list(self.skipped),
            "inventory": _refs(self.inventory),
            "replaced": _refs(self.replaced),
            "adopted": list(self.adopted),
            "namespaceCreated": self.namespace_created,
            "writes": self.writes,
            "requests": self.requests,
        }


@dataclass
class HealthReport:
    """Health of an app's objects on one cluster after waiting (or timing out)."""

    cluster: str
    app: str
    healthy: bool
    timed_out: bool
    objects: list[health.Health] = field(default_factory=list)
    waited: float = 0.0

    @property
    def problems(self) -> list[str]:
        """One line per object that is not healthy."""
        return [item.message for item in self.objects if item.status != health.HEALTHY]

    @property
    def summary(self) -> str:
        if self.healthy:
            return f"{len(self.objects)} objects healthy"
        prefix = f"timed out after {self.waited:.0f}s: " if self.timed_out else ""
        return prefix + "; ".join(self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "app": self.app,
            "healthy": self.healthy,
            "timedOut": self.timed_out,
            "waited": round(self.waited, 3),
            "summary": self.summary,
            "objects": [item.to_json() for item in self.objects],
        }


@dataclass
class ObjectPlan:
    """What a sync would do to one object, with a unified diff of live vs result."""

    ref: refs.ObjectRef
    action: str  # create | update | replace | adopt | delete | unchanged | orphan
    diff: str = ""
    fields: list[str] = field(default_factory=list)
    """Changed fields, live -> desired (``spec.replicas: 5 -> 2 (set by kubectl-scale)``)."""
    note: str = ""
    """Why the action is what it is (adoption, replacement)."""
    health: str = ""
    """The live object's health now (``health.assess``; Missing when it is not there)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.ref.to_json(),
            "action": self.action,
            "diff": self.diff,
            "fields": list(self.fields),
            "note": self.note,
            "health": self.health,
        }


@dataclass
class PlanResult:
    cluster: str
    app: str
    objects: list[ObjectPlan] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0, "unchanged": 0, "orphan": 0}
        for item in self.objects:
            counts[item.action] = counts.get(item.action, 0) + 1
        return counts

    @property
    def diff(self) -> str:
        """Every object's diff, concatenated (what ``syncer diff`` prints), each headed
        by its note and changed fields."""
        parts = []
        for item in self.objects:
            head = [f"# {item.ref}: {item.note}\n"] if item.note else []
            head += [f"# {item.ref}: {line}\n" for line in item.fields]
            if item.diff or head:
                parts.append("".join(head) + item.diff)
        return "".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "app": self.app,
            "summary": self.summary,
            "objects": [item.to_json() for item in self.objects],
        }


@dataclass
class DriftItem:
    """One object whose live state differs from what syncer applied."""

    ref: refs.ObjectRef
    missing: bool = False
    fields: list[str] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.missing:
            return f"{self.ref}: deleted by someone else"
        by = f" (changed by {', '.join(self.managers)})" if self.managers else ""
        return f"{self.ref}: {'; '.join(self.fields)}{by}"

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.ref.to_json(),
            "missing": self.missing,
            "fields": list(self.fields),
            "managers": list(self.managers),
            "message": self.message,
        }


@dataclass
class DriftReport:
    cluster: str
    app: str
    drifted: list[DriftItem] = field(default_factory=list)
    healed: SyncResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "app": self.app,
            "drifted": [item.to_json() for item in self.drifted],
            "healed": self.healed.to_json() if self.healed else None,
        }


@dataclass
class DeployResult:
    """A sync, its health, and, when it was unhealthy, the rollback and its health."""

    sync: SyncResult
    health: HealthReport
    rolled_back: SyncResult | None = None
    rollback_health: HealthReport | None = None

    @property
    def ok(self) -> bool:
        return self.health.healthy

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sync": self.sync.to_json(),
            "health": self.health.to_json(),
            "rolledBack": self.rolled_back.to_json() if self.rolled_back else None,
            "rollbackHealth": self.rollback_health.to_json() if self.rollback_health else None,
        }
