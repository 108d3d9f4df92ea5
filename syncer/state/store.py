"""The ``Store`` interface: everything syncer must not forget across restarts.

``syncer.reconcile`` records releases and rollouts through it, ``syncer.controller``
and the CLI read status and history from it. ``syncer.state.sqlite`` is the default
implementation; the interface is small so that a Kubernetes-backed store can follow.

Crash safety is part of the contract: ``begin_rollout`` records the intent (one
rollout, one target per cluster) in one transaction before anything is applied, and
returns the open rollout of that release when there already is one, so a restart after
``kill -9`` resumes the same rollout instead of starting a second one.

Writing only what changed is part of it too: every setter given what the state already
holds (the same run outcome, inventory, seen image, Git head, write-back; an error to
clear that is not there; history already within its limit) writes nothing, so that a
steady state (polls and drift checks finding nothing new) costs no state write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from syncer import release as release_mod
from syncer.state import records

READ_ROUND_SECONDS = 2.0
"""How old an app's state read inside ``Store.reading`` may be when read again there."""


class Store(Protocol):
    """Durable state of the controller. Every method is thread-safe."""

    # --- releases -------------------------------------------------------------------
    def put_release(
        self, release: release_mod.Release, *, event: records.NewEvent | None = None
    ) -> bool:
        """Store a release; False when it was already there (releases never change).
        ``event`` is recorded in history in the same transaction when it is new."""
        ...

    def get_release(self, app: str, ref: str) -> release_mod.Release | None:
        """A release by id or unique id prefix; PermanentError when the prefix is ambiguous."""
        ...

    def releases(self, app: str, *, limit: int = 50) -> list[release_mod.Release]:
        """The app's releases, newest first."""
        ...

    def release_by_content(self, app: str, content: str) -> release_mod.Release | None:
        """The (first) release of the app that deploys ``content``; None when none does."""
        ...

    def set_release_content(self, *, app: str, release_id: str, content: str) -> None:
        """Fill in the content of a release recorded before content identity (schema 2)."""
        ...

    # --- rollouts -------------------------------------------------------------------
    def begin_rollout(
        self, *, app: str, release_id: str, clusters: Sequence[str], cause: str
    ) -> records.Rollout:
        """Record the intent to roll ``release_id`` out to ``clusters`` (targets PENDING).

        If an open rollout of this release exists, clusters missing from it are added
        to it and it is returned: the same release is never rolled out twice at once.
        Open rollouts of other releases of the app for these clusters are superseded.
        """
        ...

    def set_target(
        self,
        target_id: int,
        *,
        state: str,
        message: str = "",
        attempt: bool = False,
        event: records.NewEvent | None = None,
    ) -> records.Target:
        """Move a target to ``state``; ``attempt`` counts one more apply attempt.
        Reaching HEALTHY updates the cluster's deployment and last healthy release;
        reaching any other state that means "applied" updates the deployment. ``event``
        is recorded in history in the same transaction: a crash never leaves the state
        change without its record, or the record without the change."""
        ...

    def pin_rollback(
        self,
        *,
        app: str,
        stage: str,
        release_id: str,
        clusters: Sequence[str],
        leaving: Sequence[str],
        by: str,
        message: str,
    ) -> records.Hold:
        """A rollback someone asked for, in one transaction: reject the releases it
        leaves, record ``message`` in history, pin the app (or ``stage``) to
        ``release_id`` and open a rollout of it to ``clusters``. A crash leaves all of
        it or none."""
        ...

    def roll_back(self, *, target_id: int, to_release: str, reason: str) -> records.Rollout:
        """In one transaction: mark the target UNHEALTHY, reject its release, and
        record the intent to roll its cluster back to ``to_release`` (cause rollback)."""
        ...

    def open_rollouts(self, app: str | None = None) -> list[records.Rollout]:
        """Rollouts with targets still to do, oldest first (what a restart resumes)."""
        ...

    def retry_targets(
        self, *, app: str, release_id: str, clusters: Sequence[str], reason: str
    ) -> list[str]:
        """Open again the failed target of ``release_id`` on each of ``clusters`` in its
        own rollout (a retry someone asked for is not a new rollout); the clusters
        retried."""
        ...

    def rollouts(self, app: str, *, limit: int = 50) -> list[records.Rollout]:
        """The app's rollouts, newest first."""
        ...

    def get_rollout(self, rollout_id: int) -> records.Rollout | None: ...

    def latest_targets(self, app: str) -> dict[str, records.Target]:
        """Per cluster, the newest target that was not superseded (what it is doing)."""
        ...

    def targets_of_release(self, app: str, release_id: str) -> list[records.Target]:
        """Every target ever created for this release, oldest first."""
        ...

    # --- what runs where ------------------------------------------------------------
    def deployments(self, app: str) -> list[records.Deployment]:
        """What runs on each cluster of the app, by cluster name."""
        ...

    def last_healthy_release(self, app: str, *, exclude: Sequence[str] = ()) -> str | None:
        """The release that most recently became healthy on a cluster and never
        turned unhealthy, skipping ``exclude``; None when there is none."""
        ...

    def reject(self, *, app: str, release_id: str, reason: str) -> None:
        """Never roll this release of the app out again automatically (it failed, or
        someone rolled back from it); a new release lifts nothing else."""
        ...

    def rejected(self, app: str) -> dict[str, str]:
        """Rejected release ids of the app and why."""
        ...

    # --- history ----------------------------------------------------------------------
    def record(
        self,
        *,
        app: str,
        kind: str,
        message: str,
        release_id: str = "",
        cluster: str = "",
        data: dict[str, Any] | None = None,
        once: bool = False,
        key: str = "",
    ) -> bool:
        """Append a history entry; False when ``once`` and the newest entry of the app and
        cluster is already this one (same kind and message): a problem found again, by
        a retry or a restarted process, is in history once. A ``key`` records the entry
        at most once ever (False when an entry with that key was recorded before)."""
        ...

    def history(self, app: str, *, limit: int = 50) -> list[records.Event]:
        """The app's history, newest first."""
        ...

    def trim_history(self, app: str, *, keep: int) -> int:
        """Delete all but the newest ``keep`` history entries of the app; how many went."""
        ...

    # --- inventories ------------------------------------------------------------------
    def set_inventory(self, *, app: str, cluster: str, objects: Sequence[str]) -> None:
        """The object keys applied for the app on the cluster (what pruning compares)."""
        ...

    def inventory(self, app: str, cluster: str) -> list[str] | None:
        """The recorded object keys, or None when nothing was ever applied."""
        ...

    def inventories(self) -> dict[str, dict[str, list[str]]]:
        """Every non-empty inventory: app -> cluster -> object keys (finds the apps that
        left the config but still own objects)."""
        ...

    # --- polls --------------------------------------------------------------------------
    def set_seen_image(self, *, repository: str, policy: str, tag: str, digest: str) -> None: ...

    def seen_image(self, repository: str, policy: str) -> records.SeenImage | None: ...

    def set_git_head(self, *, source: str, ref: str, commit: str) -> None: ...

    def git_head(self, source: str, ref: str) -> str | None: ...

    def set_write_back(self, *, app: str, images: Sequence[str], branch: str, commit: str) -> None:
        """Record that Git names ``images`` for the app on ``branch`` (``commit`` pushed)."""
        ...

    def write_back(self, app: str) -> records.WriteBack | None: ...

    # --- errors and runs --------------------------------------------------------------
    def set_error(self, *, app: str, cluster: str = "", stage: str, message: str) -> None: ...

    def clear_error(self, *, app: str, cluster: str = "") -> None: ...

    def errors(self, app: str) -> list[records.AppError]: ...

    def set_run(self, *, app: str, result: str, message: str, desired_release: str) -> None:
        """Record the outcome of a reconcile (success sets ``last_success_at``). An
        outcome the state already records (``records.same_outcome``: a check that found
        nothing new) is not written again: this store remembers its time in memory."""
        ...

    def run(self, app: str) -> records.AppRun | None:
        """The app's last outcome, with the times of this store's latest reconcile of it
        (another process sees when the outcome was last recorded)."""
        ...

    def writer(self, app: str) -> dict[str, Any] | None:
        """Who last wrote the app's state with sharded replicas (``holder``, ``lease``,
        ``term``, ``last``: when); None without sharding."""
        ...

    # --- approvals --------------------------------------------------------------------
    def request_approval(self, *, app: str, stage: str, release_id: str) -> records.Approval: ...

    def approve(self, *, app: str, stage: str, by: str) -> records.Approval:
        """Approve the pending request; PermanentError when there is none."""
        ...

    def reject_promotion(
        self, *, app: str, stage: str, release_id: str, by: str
    ) -> records.Approval:
        """Refuse the promotion of ``release_id`` into ``stage`` that waits for approval:
        the release is rejected (rolled out nowhere more; what runs stays) and the
        refusal is recorded in history. PermanentError when it does not wait there."""
        ...

    def approvals(self, app: str) -> list[records.Approval]: ...

    # --- holds (pins and suspensions) -------------------------------------------------
    def hold(
        self, *, app: str, stage: str, kind: str, release_id: str = "", by: str, reason: str = ""
    ) -> records.Hold:
        """Hold the app (``stage`` empty) or a pipeline stage: ``pin`` keeps it on
        ``release_id``, ``suspend`` applies nothing; replaces a hold of the same kind.
        Recorded in history."""
        ...

    def holds(self, app: str) -> list[records.Hold]:
        """The app's holds (app-wide ones have an empty stage)."""
        ...

    def release_holds(self, *, app: str, stage: str | None, by: str) -> list[records.Hold]:
        """Lift the holds of one stage (``""``: the app's own), or all of the app's
        (None); returns what was lifted. Recorded in history."""
        ...

    # --- notification deliveries ----------------------------------------------------
    # Every history entry also enters an outbox in its own transaction (whoever writes
    # it: the controller, a CLI command); the notification worker routes it.
    def route_events(self, *, route: records.Route, limit: int, max_pending: int) -> records.Routed:
        """Take up to ``limit`` events out of the outbox, oldest first, and queue the
        deliveries ``route`` makes of each, in one transaction; deliveries beyond
        ``max_pending`` waiting are dropped (and returned as such)."""
        ...

    def due_deliveries(
        self, *, now: float, limit: int, skip: Collection[str] = ()
    ) -> list[records.Delivery]:
        """Pending deliveries due at ``now``, oldest first, leaving out those to the
        providers in ``skip`` (being sent to already: their backlog hides no others')."""
        ...

    def next_delivery_at(self) -> float | None:
        """When the earliest pending delivery is due; None when none waits."""
        ...

    def finish_delivery(
        self, delivery_id: str, *, state: str, error: str = "", next_at: float | None = None
    ) -> None:
        """Record one attempt: ``delivered``, ``failed`` for good, or ``pending`` again
        at ``next_at``. Finished deliveries beyond the newest few thousand are trimmed."""
        ...

    def deliveries(self, *, limit: int = 100) -> list[records.Delivery]:
        """Deliveries, newest first."""
        ...

    def delivering(self, app: str) -> contextlib.AbstractContextManager[bool]:
        """The block in which one delivery of ``app``'s events is claimed, sent and
        recorded: False (send nothing) when it is not this process's to send; while
        inside, the app stays this process's (a shard being given back waits)."""
        ...

    def claim_delivery(self, delivery: records.Delivery, *, window: float) -> records.Claim:
        """Claim ``delivery`` for one attempt before it is sent (inside ``delivering``),
        an attempt that lasts at most ``window`` seconds. A store written by one process
        claims without writing; sharded replicas record the claim in the app's state
        first (see ``syncer.state.kube``)."""
        ...

    def reading(self, app: str) -> contextlib.AbstractContextManager[None]:
        """A block of this thread's work on ``app`` (one reconcile): a store may serve
        its reads of the app from what it read there moments ago (at most
        ``READ_ROUND_SECONDS``), its own writes always seen at once. Writes are as ever."""
        ...

    def close(self) -> None: ...
