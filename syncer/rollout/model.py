"""The data the rollout planner reads and returns, as frozen dataclasses.

``syncer.reconcile`` builds a ``ClusterRecord`` per cluster from its state and calls
``syncer.rollout.plan``; it gets back a ``RolloutPlan``: the ``Step``s to carry out now
and, per stage, a ``StageStatus`` with every gate's ``GateResult`` — data for the
status API and CLI (``to_dict()``) and one sentence each for people.

All times are timezone-aware ``datetime``s (UTC).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

# --- what a cluster is doing with a release (the strings syncer.state stores) -------

PENDING = "pending"
"""Recorded as intended; nothing sent yet (the controller resumes it)."""
APPLYING = "applying"
"""Apply in progress; a crash here is resumed (server-side apply is idempotent)."""
APPLIED = "applied"
"""Objects written; waiting for health."""
ERROR = "error"
"""A temporary failure (cluster unreachable, API error): the controller retries it."""
HEALTHY = "healthy"
"""Applied and healthy: the release runs there."""
UNHEALTHY = "unhealthy"
"""Never became healthy (rollback off)."""
ROLLED_BACK = "rolled-back"
"""Unhealthy; the previous release was restored (``ClusterRecord.running``)."""
FAILED = "failed"
"""Could not be applied for a reason retrying will not fix (gateway, render, conflict)."""
SUPERSEDED = "superseded"
"""A newer release replaced it before it finished."""

IN_FLIGHT = frozenset({PENDING, APPLYING, APPLIED, ERROR})
"""Still on its way: the controller owns these, the planner never re-issues them."""
FAILURES = frozenset({UNHEALTHY, ROLLED_BACK, FAILED})
"""The release is bad there: never retried, and it blocks later clusters and stages."""
STATES = (PENDING, APPLYING, APPLIED, ERROR, HEALTHY, UNHEALTHY, ROLLED_BACK, FAILED, SUPERSEDED)

# --- gates and stage phases -----------------------------------------------------------

AFTER = "after"
SOAK = "soak"
APPROVAL = "approval"
WINDOW = "window"
ONE_AT_A_TIME = "oneAtATime"
HEALTH = "health"
"""A cluster of the stage itself failed on the release."""
CLUSTERS = "clusters"
"""The stage selects no clusters."""

PASSED = "passed"
WAITING = "waiting"
BLOCKED = "blocked"
"""Will not pass for this release: only a newer release (or a fix) moves on."""

DONE = "done"
"""Every cluster of the stage is healthy on the release."""
PROGRESSING = "progressing"
"""Steps issued now, or clusters on their way."""
WAITING_PHASE = "waiting"
"""Gates keep the release out for now."""
BLOCKED_PHASE = "blocked"
"""A gate will not pass for this release (its upstream failed, the window never opens)."""
FAILED_PHASE = "failed"
"""A cluster of the stage failed on the release."""
EMPTY = "empty"
"""The stage selects no clusters."""


@dataclasses.dataclass(frozen=True)
class ClusterRecord:
    """What one cluster is doing: the latest release given to it and how that went."""

    release: str
    """Id of the release applied or being applied (after a rollback: the one that failed)."""
    state: str
    """One of ``STATES``."""
    healthy_since: dt.datetime | None = None
    """When it became healthy on ``release``; required when ``state`` is healthy."""
    finished_at: dt.datetime | None = None
    """When the rollout of ``release`` there ended (healthy or not)."""
    running: str = ""
    """The release actually running when it is not ``release`` (after a rollback)."""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"cluster record state {self.state!r}: use one of {', '.join(STATES)}")
        if self.state == HEALTHY and self.healthy_since is None:
            raise ValueError("a healthy cluster record needs healthy_since (soak counts from it)")
        for name in ("healthy_since", "finished_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"cluster record {name} must be timezone-aware (UTC)")


@dataclasses.dataclass(frozen=True)
class Step:
    """Apply ``release`` to ``cluster`` now (as part of ``stage``; ``""`` = no pipeline)."""

    cluster: str
    stage: str
    release: str

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "stage": self.stage, "release": self.release}


@dataclasses.dataclass(frozen=True)
class GateResult:
    """One gate of one stage for one release."""

    gate: str
    """``after``, ``soak``, ``approval``, ``window``, ``oneAtATime``, ``health``, ``clusters``."""
    state: str
    """``passed``, ``waiting`` or ``blocked``."""
    message: str
    """A sentence for people, starting with ``stage NAME:``."""
    until: dt.datetime | None = None
    """For time gates: when the gate passes (soak end, window opening or closing)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "state": self.state,
            "message": self.message,
            "until": _iso(self.until),
        }


@dataclasses.dataclass(frozen=True)
class ClusterStatus:
    """One cluster of a stage, for the status API."""

    name: str
    release: str
    """Release of its record (``""`` when none)."""
    state: str
    """State of its record (``""`` when none)."""
    running: str
    """The release that runs there as far as syncer knows (``""`` when unknown)."""
    current: bool
    """Healthy on the release being planned."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "release": self.release,
            "state": self.state,
            "running": self.running,
            "current": self.current,
        }


@dataclasses.dataclass(frozen=True)
class StageStatus:
    """Where a stage stands with the release being planned."""

    name: str
    phase: str
    """``done``, ``progressing``, ``waiting``, ``blocked``, ``failed`` or ``empty``."""
    clusters: tuple[ClusterStatus, ...]
    gates: tuple[GateResult, ...]
    """Every gate evaluated; empty when the stage is done."""

    @property
    def waits(self) -> tuple[GateResult, ...]:
        """The gates that hold the release back (waiting or blocked)."""
        return tuple(g for g in self.gates if g.state != PASSED)

    @property
    def message(self) -> str:
        return "; ".join(g.message for g in self.waits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "message": self.message,
            "clusters": [c.to_dict() for c in self.clusters],
            "gates": [g.to_dict() for g in self.gates],
        }


@dataclasses.dataclass(frozen=True)
class RolloutPlan:
    """What to do now for one app and release, and why the rest waits."""

    app: str
    release: str
    steps: tuple[Step, ...]
    """Clusters to give the release now, in order (one stage's in config order)."""
    stages: tuple[StageStatus, ...]
    """Every stage in pipeline order; without a pipeline one stage named ``""``."""
    pending_approvals: tuple[str, ...]
    """Stages whose approval of this release is awaited (what ``approve`` may accept)."""
    next_check: dt.datetime | None
    """The earliest time a soak ends or a window opens: plan again then."""

    @property
    def done(self) -> bool:
        """Every stage is healthy on the release."""
        return all(s.phase == DONE for s in self.stages)

    @property
    def messages(self) -> tuple[str, ...]:
        """Every waiting or blocked gate as a sentence, in stage order."""
        return tuple(g.message for s in self.stages for g in s.waits)

    def stage(self, name: str) -> StageStatus:
        """The status of stage ``name``; ``KeyError`` if there is none."""
        for status in self.stages:
            if status.name == name:
                return status
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "release": self.release,
            "done": self.done,
            "steps": [s.to_dict() for s in self.steps],
            "stages": [s.to_dict() for s in self.stages],
            "pendingApprovals": list(self.pending_approvals),
            "nextCheck": _iso(self.next_check),
            "messages": list(self.messages),
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
