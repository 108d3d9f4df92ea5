"""Rollout: which clusters get a release, in what order, and the gates between stages.

Sits between ``syncer.reconcile`` (which calls it on every reconcile of an app) and
``syncer.apply`` (which carries out the steps). Pure functions over data: no I/O, no
clock; ``now`` is always a parameter.

    from syncer import rollout
    result = rollout.plan(app=app, pipeline=pipeline, clusters=config.clusters,
                          release=release_id, records=records, approvals=approvals,
                          now=datetime.now(UTC))
    for step in result.steps: ...   # apply step.release to step.cluster

``rollout.problems`` lists what is wrong with a pipeline (``plan`` raises ``ConfigError``
with them); ``rollout.resolve`` turns a cluster selection into clusters, in order;
``rollout.window_state`` tells whether a stage's time window is open and when it opens.
"""

from __future__ import annotations

from syncer.rollout.model import (
    APPLIED,
    APPLYING,
    APPROVAL,
    BLOCKED,
    BLOCKED_PHASE,
    DONE,
    ERROR,
    FAILED,
    FAILURES,
    HEALTHY,
    IN_FLIGHT,
    PENDING,
    ROLLED_BACK,
    STATES,
    SUPERSEDED,
    UNHEALTHY,
    ClusterRecord,
    ClusterStatus,
    GateResult,
    RolloutPlan,
    StageStatus,
    Step,
)
from syncer.rollout.planner import plan
from syncer.rollout.selection import resolve
from syncer.rollout.validate import problems
from syncer.rollout.windows import WindowState
from syncer.rollout.windows import evaluate as window_state

__all__ = [
    "APPLIED",
    "APPLYING",
    "APPROVAL",
    "BLOCKED",
    "BLOCKED_PHASE",
    "DONE",
    "ERROR",
    "FAILED",
    "FAILURES",
    "HEALTHY",
    "IN_FLIGHT",
    "PENDING",
    "ROLLED_BACK",
    "STATES",
    "SUPERSEDED",
    "UNHEALTHY",
    "ClusterRecord",
    "ClusterStatus",
    "GateResult",
    "RolloutPlan",
    "StageStatus",
    "Step",
    "WindowState",
    "plan",
    "problems",
    "resolve",
    "window_state",
]
