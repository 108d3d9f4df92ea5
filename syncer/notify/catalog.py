"""What can be notified: event types, severities, provider types, template fields.

The vocabulary shared by ``syncer.config.checks`` (which validates rules against it)
and the rest of ``syncer.notify``; ``classify`` says which history entries
(``syncer.state`` records every change of an app as one) are which event. Nothing here
imports the rest of syncer, so the config layer can read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RELEASE_CREATED = "release-created"
ROLLOUT_STARTED = "rollout-started"
ROLLOUT_HEALTHY = "rollout-healthy"
ROLLOUT_FAILED = "rollout-failed"
ROLLED_BACK = "rolled-back"
AWAITING_APPROVAL = "awaiting-approval"
APPROVED = "approved"
REJECTED = "rejected"
DRIFT_HEALED = "drift-healed"
IMAGE_HELD_BACK = "image-held-back"
UNREACHABLE = "unreachable"

INFO, WARNING, ERROR = "info", "warning", "error"
SEVERITIES = (INFO, WARNING, ERROR)
"""In rising order: a rule's ``severity`` is the lowest it sends."""

EVENTS: dict[str, str] = {
    RELEASE_CREATED: INFO,
    ROLLOUT_STARTED: INFO,
    ROLLOUT_HEALTHY: INFO,
    ROLLOUT_FAILED: ERROR,
    ROLLED_BACK: WARNING,
    AWAITING_APPROVAL: INFO,
    APPROVED: INFO,
    REJECTED: WARNING,
    DRIFT_HEALED: WARNING,
    IMAGE_HELD_BACK: WARNING,
    UNREACHABLE: ERROR,
}
"""Event type -> its severity."""

_BY_KIND = {
    "release": RELEASE_CREATED,
    "rollout": ROLLOUT_STARTED,
    "healthy": ROLLOUT_HEALTHY,
    "unhealthy": ROLLOUT_FAILED,
    "failed": ROLLOUT_FAILED,
    "rollback": ROLLED_BACK,
    "approval": AWAITING_APPROVAL,
    "approved": APPROVED,
    "rejected": REJECTED,
    "unreachable": UNREACHABLE,
}
"""History kind -> event type (``drift`` is one only when it was healed, ``error`` only
when it holds back images)."""

CHAT = ("slack", "teams")
COMMIT_STATUS = ("github", "gitlab", "gitea")
PROVIDER_TYPES = (*CHAT, "webhook", *COMMIT_STATUS, "kubernetes")

STATUS_EVENTS = {ROLLOUT_STARTED: "pending", ROLLOUT_HEALTHY: "success", ROLLOUT_FAILED: "failure"}
"""The events a commit status tells, and the state each sets (GitHub's words)."""

KUBERNETES_EVENTS = {
    ROLLOUT_STARTED: "RolloutStarted",
    ROLLOUT_HEALTHY: "RolloutHealthy",
    ROLLOUT_FAILED: "RolloutFailed",
    ROLLED_BACK: "RolledBack",
    DRIFT_HEALED: "DriftHealed",
}
"""The events put on a cluster's objects, and their ``reason``: those about a cluster."""

TEMPLATE_FIELDS = (
    "app", "event", "severity", "cluster", "stage", "release", "commit", "images", "by",
    "message",
)  # fmt: skip
"""Names a message template may use (``$app`` or ``${app}``)."""


def classify(kind: str, data: Mapping[str, Any]) -> str | None:
    """The event type of a history entry of ``kind``; None when it is not one."""
    if kind == "drift":
        return DRIFT_HEALED if data.get("healed") else None
    if kind == "error":
        return IMAGE_HELD_BACK if data.get("held") else None
    return _BY_KIND.get(kind)


def accepts(provider_type: str, event: str) -> bool:
    """Whether a provider of this type has anything to say about ``event``."""
    if provider_type in COMMIT_STATUS:
        return event in STATUS_EVENTS
    if provider_type == "kubernetes":
        return event in KUBERNETES_EVENTS
    return True


def per_cluster(provider_type: str) -> bool:
    """Providers that speak about one cluster at a time (a status context, an object
    in a cluster): an event about several clusters is one delivery per cluster."""
    return provider_type in COMMIT_STATUS or provider_type == "kubernetes"
