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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each name is imported on first use: ``syncer validate`` checks pipelines with
# ``syncer.rollout.validate`` alone and must not pay for the planner and its gates.
_WHERE: dict[str, tuple[str, str]] = {
    "APPLIED": ("syncer.rollout.model", "APPLIED"),
    "APPLYING": ("syncer.rollout.model", "APPLYING"),
    "APPROVAL": ("syncer.rollout.model", "APPROVAL"),
    "BLOCKED": ("syncer.rollout.model", "BLOCKED"),
    "BLOCKED_PHASE": ("syncer.rollout.model", "BLOCKED_PHASE"),
    "ClusterRecord": ("syncer.rollout.model", "ClusterRecord"),
    "ClusterStatus": ("syncer.rollout.model", "ClusterStatus"),
    "DONE": ("syncer.rollout.model", "DONE"),
    "ERROR": ("syncer.rollout.model", "ERROR"),
    "FAILED": ("syncer.rollout.model", "FAILED"),
    "FAILURES": ("syncer.rollout.model", "FAILURES"),
    "GateResult": ("syncer.rollout.model", "GateResult"),
    "HEALTHY": ("syncer.rollout.model", "HEALTHY"),
    "IN_FLIGHT": ("syncer.rollout.model", "IN_FLIGHT"),
    "PENDING": ("syncer.rollout.model", "PENDING"),
    "ROLLED_BACK": ("syncer.rollout.model", "ROLLED_BACK"),
    "RolloutPlan": ("syncer.rollout.model", "RolloutPlan"),
    "STATES": ("syncer.rollout.model", "STATES"),
    "SUPERSEDED": ("syncer.rollout.model", "SUPERSEDED"),
    "StageStatus": ("syncer.rollout.model", "StageStatus"),
    "Step": ("syncer.rollout.model", "Step"),
    "UNHEALTHY": ("syncer.rollout.model", "UNHEALTHY"),
    "WindowState": ("syncer.rollout.windows", "WindowState"),
    "plan": ("syncer.rollout.planner", "plan"),
    "problems": ("syncer.rollout.validate", "problems"),
    "resolve": ("syncer.rollout.selection", "resolve"),
    "window_state": ("syncer.rollout.windows", "evaluate"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'syncer.rollout' has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


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
