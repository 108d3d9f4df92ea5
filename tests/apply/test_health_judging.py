"""Health judged from object dicts, as kubectl rollout status and kstatus do."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.apply import health


def deploy(
    status: dict[str, Any],
    *,
    replicas: int = 3,
    generation: int = 2,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status = {"observedGeneration": 2, **status}
    if conditions:
        status["conditions"] = conditions
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "web", "generation": generation},
        "spec": {"replicas": replicas},
        "status": status,
    }


@pytest.mark.parametrize(
    ("obj", "status", "reason"),
    [
        (
            deploy({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            "Healthy",
            "3 of 3 replicas available",
        ),
        (
            deploy(
                {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 1},
                conditions=[
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ],
            ),
            "Degraded",
            "ProgressDeadlineExceeded: 1 of 3 replicas available",
        ),
        (
            # A rollback to an available ReplicaSet: the timed-out condition is stale.
            deploy(
                {"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3},
                conditions=[
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ],
            ),
            "Progressing",
            "3 of 3 replicas available; waiting for the controller to replace an earlier "
            "ProgressDeadlineExceeded",
        ),
        (
            # A failed rollout with a surge pod: the old replicas still serve, yet the
            # updated one is not available.
            deploy(
                {
                    "replicas": 4,
                    "updatedReplicas": 3,
                    "availableReplicas": 3,
                    "unavailableReplicas": 1,
                },
                conditions=[
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ],
            ),
            "Degraded",
            "ProgressDeadlineExceeded: 3 of 3 replicas available (3 updated, 1 unavailable)",
        ),
        (
            deploy({"replicas": 3, "updatedReplicas": 1, "availableReplicas": 1}),
            "Progressing",
            "1 of 3 updated replicas",
        ),
        (
            deploy({"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
            "Progressing",
            "1 old replicas pending termination",
        ),
        (
            deploy({"observedGeneration": 1}),
            "Progressing",
            "waiting for generation 2 to be observed (at 1)",
        ),
    ],
)
def test_deployment(obj: dict[str, Any], status: str, reason: str) -> None:
    verdict = health.assess(obj)
    assert (verdict.status, verdict.reason) == (status, reason)


def test_message_format_names_kind_namespace_name() -> None:
    obj = deploy(
        {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 1},
        conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ],
    )
    assert health.assess(obj).message == (
        "Deployment web/api: ProgressDeadlineExceeded: 1 of 3 replicas available"
    )


def k(kind: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "x/v1",
        "kind": kind,
        "metadata": {"name": "n", "namespace": "ns", "generation": 1},
        "spec": spec,
        "status": status,
    }


@pytest.mark.parametrize(
    ("obj", "status"),
    [
        (
            k("StatefulSet", {"replicas": 2}, {"observedGeneration": 1, "readyReplicas": 1}),
            "Progressing",
        ),
        (
            k(
                "StatefulSet",
                {"replicas": 2},
                {
                    "observedGeneration": 1,
                    "readyReplicas": 2,
                    "currentRevision": "a",
                    "updateRevision": "a",
                },
            ),
            "Healthy",
        ),
        (
            k(
                "StatefulSet",
                {"replicas": 2},
                {
                    "observedGeneration": 1,
                    "readyReplicas": 2,
                    "currentRevision": "a",
                    "updateRevision": "b",
                },
            ),
            "Progressing",
        ),
        (
            k(
                "DaemonSet",
                {},
                {
                    "observedGeneration": 1,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 2,
                },
            ),
            "Progressing",
        ),
        (
            k(
                "DaemonSet",
                {},
                {
                    "observedGeneration": 1,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 3,
                },
            ),
            "Healthy",
        ),
        (
            k("ReplicaSet", {"replicas": 2}, {"observedGeneration": 1, "availableReplicas": 2}),
            "Healthy",
        ),
        (k("Job", {}, {"conditions": [{"type": "Complete", "status": "True"}]}), "Healthy"),
        (
            k(
                "Job",
                {},
                {
                    "conditions": [
                        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
                    ]
                },
            ),
            "Degraded",
        ),
        (k("Job", {}, {"active": 1}), "Progressing"),
        (
            k("Pod", {}, {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
            "Healthy",
        ),
        (
            k(
                "Pod",
                {},
                {
                    "phase": "Pending",
                    "containerStatuses": [
                        {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                    ],
                },
            ),
            "Degraded",
        ),
        (k("PersistentVolumeClaim", {}, {"phase": "Bound"}), "Healthy"),
        (k("PersistentVolumeClaim", {}, {"phase": "Pending"}), "Progressing"),
        (
            k(
                "Widget",
                {},
                {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]},
            ),
            "Healthy",
        ),
        (
            k(
                "Widget",
                {},
                {
                    "observedGeneration": 1,
                    "conditions": [{"type": "Ready", "status": "False", "reason": "Waiting"}],
                },
            ),
            "Progressing",
        ),
        (
            k(
                "Widget",
                {},
                {"conditions": [{"type": "Stalled", "status": "True", "reason": "BadSpec"}]},
            ),
            "Degraded",
        ),
        (k("Widget", {}, {"observedGeneration": 0}), "Progressing"),
        (k("ConfigMap", {}, {}), "Healthy"),
    ],
)
def test_other_kinds(obj: dict[str, Any], status: str) -> None:
    assert health.assess(obj).status == status
