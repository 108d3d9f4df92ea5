"""The records ``syncer.state`` keeps, as frozen dataclasses.

``syncer.reconcile`` writes them through a ``Store`` while it rolls releases out;
the controller's status/history API, the CLI and the scheduler read them back.
Timestamps are Unix seconds (float). Everything converts to plain JSON data with
``to_dict()`` for the API and ``-o json``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import Any

from syncer import errors
from syncer.rollout import model as rollout_model

# Per-cluster rollout target states: one vocabulary, defined by the rollout model
# (the planner reads these strings back), stored here as they are.
PENDING = rollout_model.PENDING
APPLYING = rollout_model.APPLYING
APPLIED = rollout_model.APPLIED
ERROR = rollout_model.ERROR
HEALTHY = rollout_model.HEALTHY
UNHEALTHY = rollout_model.UNHEALTHY
ROLLED_BACK = rollout_model.ROLLED_BACK
FAILED = rollout_model.FAILED
SUPERSEDED = rollout_model.SUPERSEDED

AUTO_REJECTED = "unhealthy on "
"""How the reason of a release rejected by an automatic rollback (``Store.roll_back``)
starts: ``unhealthy on CLUSTER: what was wrong``. A rollback of the same release on a
further cluster keeps that first reason, so what the release is known for (and the
warning about an image it holds back) does not change with each cluster's verdict."""


def rejected_automatically(reason: str) -> bool:
    """Whether a release's rejection ``reason`` is an automatic rollback's."""
    return reason.startswith(AUTO_REJECTED)


OPEN_STATES = rollout_model.IN_FLIGHT
"""Targets that still have work to do: resumed after a restart."""
TARGET_STATES = rollout_model.STATES


@dataclasses.dataclass(frozen=True)
class Target:
    """One cluster's part of a rollout."""

    id: int
    rollout_id: int
    app: str
    cluster: str
    release_id: str
    state: str
    attempts: int
    message: str
    started_at: float
    updated_at: float
    finished_at: float | None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "release": self.release_id,
            "state": self.state,
            "attempts": self.attempts,
            "message": self.message,
            "startedAt": self.started_at,
            "updatedAt": self.updated_at,
            "finishedAt": self.finished_at,
        }


@dataclasses.dataclass(frozen=True)
class Rollout:
    """A release on its way to a set of clusters."""

    id: int
    app: str
    release_id: str
    cause: str
    """Why: ``new-release``, ``catch-up``, ``rollback``, ``manual``."""
    created_at: float
    finished_at: float | None
    targets: tuple[Target, ...]

    @property
    def open(self) -> bool:
        return any(t.open for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "release": self.release_id,
            "cause": self.cause,
            "createdAt": self.created_at,
            "finishedAt": self.finished_at,
            "targets": [t.to_dict() for t in self.targets],
        }


@dataclasses.dataclass(frozen=True)
class Deployment:
    """What runs on one cluster for one app, as far as syncer knows."""

    app: str
    cluster: str
    release_id: str
    healthy: bool
    last_healthy_release: str
    updated_at: float
    applied_at: float | None = None
    """When the release was last applied there (None: before state schema 3)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "release": self.release_id,
            "healthy": self.healthy,
            "lastHealthyRelease": self.last_healthy_release,
            "updatedAt": self.updated_at,
            "lastAppliedAt": self.applied_at,
        }


@dataclasses.dataclass(frozen=True)
class NewEvent:
    """A history entry to record with a state change (``Store.set_target``)."""

    app: str
    kind: str
    message: str
    release_id: str = ""
    cluster: str = ""
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Event:
    """One history entry: something that happened to an app (and maybe a cluster)."""

    id: int
    app: str
    at: float
    kind: str
    """``release``, ``rollout``, ``applied``, ``healthy``, ``unhealthy``, ``rollback``,
    ``error``, ``drift``, ``blocked``, ``superseded``."""
    release_id: str
    cluster: str
    message: str
    data: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """An event back from its ``to_dict()`` (as outboxes and deliveries keep it)."""
        return cls(
            id=data["id"], app=data["app"], at=data["at"], kind=data["kind"],
            release_id=data["release"], cluster=data["cluster"], message=data["message"],
            data=data["data"],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "at": self.at,
            "kind": self.kind,
            "release": self.release_id,
            "cluster": self.cluster,
            "message": self.message,
            "data": self.data,
        }


@dataclasses.dataclass(frozen=True)
class AppError:
    """The current error of an app (cluster empty) or of one of its clusters."""

    app: str
    cluster: str
    stage: str
    """Where it happened: ``source``, ``images``, ``render``, ``gateway``, ``apply``, ``health``."""
    message: str
    since: float
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "stage": self.stage,
            "message": self.message,
            "since": self.since,
            "count": self.count,
        }


@dataclasses.dataclass(frozen=True)
class Approval:
    """A promotion into ``stage`` waiting for (or given) a manual approval."""

    app: str
    stage: str
    release_id: str
    requested_at: float
    approved_at: float | None
    approved_by: str

    def to_dict(self, *, rejected: bool = False) -> dict[str, Any]:
        """``rejected``: the release was rejected (the row itself is never approved then)."""
        state = "approved" if self.approved_at is not None else "pending"
        return {
            "stage": self.stage,
            "release": self.release_id,
            "state": "rejected" if rejected and state == "pending" else state,
            "requestedAt": self.requested_at,
            "approvedAt": self.approved_at,
            "approvedBy": self.approved_by,
        }


@dataclasses.dataclass(frozen=True)
class SeenImage:
    """What a registry poll last found for one repository under one policy."""

    repository: str
    policy: str
    tag: str
    digest: str
    at: float


@dataclasses.dataclass(frozen=True)
class WriteBack:
    """An app's last Git write-back: the images it made Git name, and where."""

    app: str
    images: tuple[str, ...]
    """The image references written (sorted), as the release had them."""
    branch: str
    commit: str
    """The commit pushed; empty when Git already named these images."""
    at: float


@dataclasses.dataclass(frozen=True)
class AppRun:
    """The outcome of an app's last reconcile."""

    app: str
    last_attempt_at: float
    last_success_at: float | None
    result: str
    """``ok``, ``failed``, ``planned``."""
    message: str
    desired_release: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "lastAttemptAt": self.last_attempt_at,
            "lastSuccessAt": self.last_success_at,
            "result": self.result,
            "message": self.message,
            "desiredRelease": self.desired_release,
        }


def same_outcome(was: AppRun | None, *, result: str, message: str, desired_release: str) -> bool:
    """Whether a reconcile with this outcome repeats the recorded one (a drift check or a
    poll that found nothing new): then the stores write nothing, and only the times move
    (``Attempts``). A first success after failures is never a repeat."""
    if was is None or (was.result, was.message, was.desired_release) != (
        result, message, desired_release,
    ):  # fmt: skip
        return False
    return result != "ok" or was.last_success_at is not None


class Attempts:
    """When this process last reconciled each app with an outcome the state already
    records (``same_outcome``): kept in memory instead of written, so that a steady
    state costs no state write per check. ``Store.run`` answers the later of these and
    the recorded times; another process reading the same state sees when the outcome
    was last recorded. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at: dict[str, tuple[float, float | None]] = {}

    def note(self, app: str, *, at: float, ok: bool) -> None:
        with self._lock:
            _attempt, success = self._at.get(app, (0.0, None))
            self._at[app] = (at, at if ok else success)

    def forget(self, app: str) -> None:
        """The outcome was written (with its own times)."""
        with self._lock:
            self._at.pop(app, None)

    def merge(self, run: AppRun | None) -> AppRun | None:
        if run is None:
            return None
        with self._lock:
            found = self._at.get(run.app)
        if found is None:
            return run
        attempt, success = found
        successes = [s for s in (success, run.last_success_at) if s is not None]
        return dataclasses.replace(
            run,
            last_attempt_at=max(attempt, run.last_attempt_at),
            last_success_at=max(successes) if successes else None,
        )


SUSPEND = "suspend"
"""A hold that applies nothing (the app or stage is still polled)."""
PIN = "pin"
"""A hold that keeps the app or stage on one release (set by a rollback)."""
HOLD_KINDS = (SUSPEND, PIN)


@dataclasses.dataclass(frozen=True)
class Hold:
    """An app (``stage`` empty) or a pipeline stage held by a person until resumed."""

    app: str
    stage: str
    kind: str
    """``suspend`` or ``pin``."""
    release_id: str
    """The release a pin keeps (empty for a suspension)."""
    by: str
    at: float
    reason: str

    def describe(self) -> str:
        """``pinned to 3f2a9c1b4d5e by alice (cli) at 2026-…Z (rollback)``."""
        when = dt.datetime.fromtimestamp(self.at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        what = f"pinned to {self.release_id[:12]}" if self.kind == PIN else "suspended"
        where = f"stage {self.stage} " if self.stage else ""
        why = f" ({self.reason})" if self.reason else ""
        return f"{where}{what} by {self.by} at {when}{why}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "kind": self.kind,
            "release": self.release_id,
            "by": self.by,
            "at": self.at,
            "reason": self.reason,
            "message": self.describe(),
        }


PENDING_DELIVERY = "pending"
"""A notification waiting to be sent (again)."""
DELIVERED = "delivered"
GAVE_UP = "failed"
"""Refused for good by its receiver, or still failing after the retry limit."""
DELIVERY_STATES = (PENDING_DELIVERY, DELIVERED, GAVE_UP)

CLAIMED = "claimed"
"""``Claim.verdict``: this process may send the delivery now (after ``Claim.check``)."""
BUSY = "busy"
"""``Claim.verdict``: another holder of the app's shard claimed it and may still be
sending it; not sent here (looked at again on a later pass)."""


def _may_send() -> None:
    return None


class ClaimLost(errors.Fenced):
    """A delivery's claim is another holding's now (another replica, or this one
    under a later term of the shard): the outcome of this process's attempt is not
    recorded, and its new holder decides whether to send it again."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """What ``Store.claim_delivery`` decided about one attempt at a delivery."""

    verdict: str
    """``CLAIMED``, ``BUSY``, or ``DELIVERED`` / ``GAVE_UP`` when a previous holder's
    outcome is recorded already (nothing is sent; the queue is told)."""
    holder: str = ""
    """Who holds the claim (``BUSY``)."""
    check: Callable[[], None] = _may_send
    """Asked right before the request goes out: raises ``errors.Fenced`` once this
    process may no longer start sending under the claim."""


@dataclasses.dataclass(frozen=True)
class NewDelivery:
    """A notification of one history event to one provider (and, for providers that
    speak per cluster, one cluster), made when the event is routed (``Route``)."""

    id: str
    """Stable across retries and restarts: receivers deduplicate on it."""
    provider: str
    cluster: str = ""


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A queued notification and how sending it went so far."""

    id: str
    provider: str
    cluster: str
    event: Event
    state: str
    attempts: int
    last_error: str
    created_at: float
    next_at: float
    done_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "cluster": self.cluster,
            "event": self.event.to_dict(),
            "state": self.state,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "createdAt": self.created_at,
            "nextAt": self.next_at,
            "doneAt": self.done_at,
        }


Route = Callable[[Event], Sequence[NewDelivery]]
"""What ``Store.route_events`` asks of each event in the outbox: its deliveries
(``syncer.notify.router.Router.route``)."""


@dataclasses.dataclass(frozen=True)
class Routed:
    """What one ``Store.route_events`` did."""

    events: int
    """Events taken out of the outbox."""
    queued: list[NewDelivery]
    dropped: list[NewDelivery]
    """Deliveries that did not fit in the queue (``max_pending``)."""
