"""One cluster's part of a rollout: render -> apply -> health -> (rollback).

``syncer.reconcile.app`` hands every open ``records.Target`` to ``TargetRunner.run``.
Each step is recorded in ``syncer.state`` as it happens (applying, applied, healthy,
...), so a crash anywhere leaves a state from which the next reconcile resumes: apply
is server-side apply (idempotent, no writes when nothing changed), so doing a step
twice changes nothing in the cluster.

Outcomes, by what should happen next:

- cluster unreachable, API errors (``TemporaryError``/``SyncerError``) -> ``error``:
  the target stays open and is retried with the app's backoff;
- bad input (``PermanentError``: render, gateway, conflict) -> ``failed``;
- never healthy within ``sync.wait`` -> ``unhealthy``; with ``rollbackOnFailure`` the
  last healthy release is restored (as a rollout of its own, cause ``rollback``) and
  the failed release is rejected so it is not rolled out again.

Under ``syncer run`` (``HealthWaits``), a worker waits for health only briefly after
the apply: a target still progressing stays ``applied`` and the worker goes on to other
apps. The app is looked at again (one look, no wait: the worker is not held again) when
a watched object of it changes, or after a short delay, until it is healthy, fails, or
its ``sync.wait`` runs out; so a thousand rollouts wait
for their Deployments side by side, not a few at a time. A rollback's own health is
still waited for in one go (its outcome decides the failed target's).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from syncer import errors, logs, metrics, release
from syncer.config import model
from syncer.reconcile import decide as decide_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts as parts_
from syncer.state import records
from syncer.state import store as store_

log = logging.getLogger("syncer.reconcile")


@dataclasses.dataclass
class _Wait:
    """One target's health wait across passes."""

    began: float
    """When it began (``HealthWaits`` clock)."""
    due: float = 0.0
    """Unix time of the next look (0: none scheduled yet)."""
    looks: int = 0
    """Looks scheduled so far: each next one comes later."""


class HealthWaits:
    """The health waits in progress without a worker held (``syncer run``): when each
    target's wait began in this process (its ``sync.wait`` counts from there; a restart
    begins it again, as a held wait did) and when its app should be looked at again.
    Shared by every pass and kept across config reloads; thread-safe."""

    FIRST_LOOK_AGAIN = 2.0
    """Seconds before the first look again when no watched change comes sooner."""
    MOST_BETWEEN_LOOKS = 10.0
    """Looks again are spaced out by doubling up to this."""

    def __init__(self, *, hold: float = 1.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold = hold
        """Seconds a worker waits for health right after an apply before it goes on to
        other work, while no other app waits for a worker (``crowded``)."""
        self.crowded: Callable[[], bool] = lambda: False
        """Whether other apps wait for a worker (``syncer.scheduling.AppQueue.crowded``):
        then an apply does not hold its worker either, and a big rollout is applied at
        the pace of the applies, not of ``workers`` health holds at a time."""
        self._finishing = False
        self._clock = clock
        self._lock = threading.Lock()
        self._waits: dict[str, dict[int, _Wait]] = {}
        """App -> target id -> its wait; an app is here only while it has one."""
        self._looked: set[str] = set()
        """Apps a look was scheduled for."""

    def holding(self, *, after_apply: bool) -> float:
        """Seconds a worker waits for health now: ``hold`` right after an apply while the
        queue is not crowded, none for a later look (it looks once), and the rest of each
        wait once ``finish`` was called."""
        if self._finishing:
            return math.inf
        return self.hold if after_apply and not self.crowded() else 0.0

    def finish(self) -> None:
        """The controller is stopping: every look waits out the rest of its wait."""
        self._finishing = True

    def began(self, *, app: str, target_id: int) -> float:
        """How many seconds ago the wait of ``target_id`` began (0 for a new one)."""
        now = self._clock()
        with self._lock:
            wait = self._waits.setdefault(app, {}).setdefault(target_id, _Wait(began=now))
        return now - wait.began

    def look_again(self, *, app: str, target_id: int, within: float) -> None:
        """Schedule the next look at ``target_id``: sooner at first, never after
        ``within`` seconds (the end of its wait)."""
        with self._lock:
            wait = self._waits[app][target_id]
            delay = min(self.FIRST_LOOK_AGAIN * 2**wait.looks, self.MOST_BETWEEN_LOOKS, within)
            wait.looks += 1
            wait.due = time.time() + max(0.0, delay)
            self._looked.add(app)

    def ended(self, *, app: str, target_id: int) -> None:
        with self._lock:
            waits = self._waits.get(app, {})
            waits.pop(target_id, None)
            if not waits:
                self._waits.pop(app, None)

    def had_looks(self, app: str) -> bool:
        """True once after the last wait of ``app`` ended (its look may be dropped)."""
        with self._lock:
            if app in self._waits or app not in self._looked:
                return False
            self._looked.discard(app)
            return True

    def waiting(self, app: str) -> bool:
        with self._lock:
            return app in self._waits

    def waiting_apps(self) -> list[str]:
        with self._lock:
            return sorted(self._waits)

    def next_look(self, app: str) -> float | None:
        """Unix time ``app`` should be looked at again for a wait in progress, if any."""
        with self._lock:
            due = [w.due for w in self._waits.get(app, {}).values() if w.due]
        # Past already when a pass took longer than the delay (another cluster's
        # rollback waited in it): then the look is due at once.
        return min(due) if due else None

    def forget(self, app: str, *, keep: Collection[int]) -> None:
        """Drop ``app``'s waits of targets other than ``keep`` (ended, superseded, or
        finished by another replica): what is left is what is still waited for."""
        with self._lock:
            waits = {t: w for t, w in self._waits.get(app, {}).items() if t in keep}
            if waits:
                self._waits[app] = waits
            else:
                self._waits.pop(app, None)


class TargetRunner:
    """Carries out targets of one app; thread-safe (one thread per cluster)."""

    def __init__(
        self,
        *,
        app: model.App,
        store: store_.Store,
        parts: parts_.Parts,
        source: model.Source,
        inputs: inputs_.Inputs,
        progress: Callable[[str], None],
        health_waits: HealthWaits | None = None,
        renders: decide_.RenderCache | None = None,
    ) -> None:
        """``health_waits``: wait for health only briefly and leave the rest to later
        passes (``syncer run``); without it, wait up to ``sync.wait`` in one go.
        ``renders``: the renders the app's decisions made, so that applying or checking
        the release they decided renders it no second time."""
        self.app = app
        self.store = store
        self.parts = parts
        self.source = source
        self.inputs = inputs
        self.progress = progress
        self.health_waits = health_waits
        self.renders = renders

    # --- inputs of a release ------------------------------------------------------------
    def _release(self, release_id: str) -> release.Release:
        rel = self.store.get_release(self.app.name, release_id)
        if rel is None:
            raise errors.PermanentError(
                f"app {self.app.name}: release {release_id[:12]} is not in the state file"
            )
        return rel

    def _snapshot(self, rel: release.Release) -> parts_.Snapshot:
        try:
            current = self.inputs.snapshot(self.source)
        except errors.SyncerError:
            # The remote cannot be polled now; the release's commit is in the cache.
            return self.parts.checkout(self.source, rel.commit)
        if current.commit == rel.commit:
            return current
        return self.parts.checkout(self.source, rel.commit)

    def render(self, *, rel: release.Release, cluster: model.Cluster) -> list[dict[str, Any]]:
        snapshot = self._snapshot(rel)
        if self.renders is not None:
            done = self.renders.render(
                parts=self.parts, app=self.app, cluster=cluster, snapshot=snapshot,
                chosen=rel.images,
            )  # fmt: skip
            if done.objects is not None:
                return done.objects
        # The render failed (the cache keeps no failure): its error is raised from here.
        return self.parts.render(
            app=self.app, cluster=cluster, snapshot=snapshot, images=rel.images
        )

    # --- one target ---------------------------------------------------------------------
    def run(self, *, target: records.Target, cluster: model.Cluster) -> str:
        """Take ``target`` as far as it goes now; returns the state it reached."""
        # On a worker thread of its own: every line logged while it works names where.
        with logs.bound(app=self.app.name, cluster=cluster.name, release=target.release_id[:12]):
            return self._run(target=target, cluster=cluster)

    def _run(self, *, target: records.Target, cluster: model.Cluster) -> str:
        rel_id = target.release_id
        where = f"app={self.app.name} cluster={cluster.name} release={rel_id[:12]}"
        if target.state == records.APPLIED:
            # Applied (and recorded so) before a restart: only its health is left to see.
            try:
                rel = self._release(rel_id)
                objects = self.render(rel=rel, cluster=cluster)
            except errors.SyncerError as err:
                return self._stop(
                    target, cluster=cluster, state=records.ERROR, stage="apply", err=err
                )
            inventory = self.store.inventory(self.app.name, cluster.name) or []
            return self._await_health(
                target, cluster=cluster, rel=rel, objects=objects, inventory=inventory,
                after_apply=False,
            )  # fmt: skip
        self.progress(f"{self.app.name} -> {cluster.name}: applying {rel_id[:12]}")
        self.store.set_target(target.id, state=records.APPLYING, attempt=True)
        try:
            rel = self._release(rel_id)
            objects = self.render(rel=rel, cluster=cluster)
            applied = self.parts.apply(
                app=self.app,
                cluster=cluster,
                objects=objects,
                inventory=self.store.inventory(self.app.name, cluster.name),
            )
        except errors.SyncerError as err:
            partial = getattr(err, "partial_inventory", None)
            if partial is not None:
                self.store.set_inventory(app=self.app.name, cluster=cluster.name, objects=partial)
            state = records.FAILED if isinstance(err, errors.PermanentError) else records.ERROR
            return self._stop(target, cluster=cluster, state=state, stage="apply", err=err)
        self.store.set_inventory(app=self.app.name, cluster=cluster.name, objects=applied.inventory)
        self.store.set_target(
            target.id,
            state=records.APPLIED,
            message=applied.summary(),
            event=records.NewEvent(
                app=self.app.name,
                kind="applied",
                release_id=rel_id,
                cluster=cluster.name,
                message=f"applied {rel.describe()}: {applied.summary()}",
                # The sync options in force: an app later removed from the config is
                # pruned (or not) as its last sync was (``syncer.reconcile.removed``).
                # A tenant's own app (appsFrom) says so: while its tenant's files cannot
                # be read, it is not taken for removed.
                data={
                    "writes": applied.writes,
                    "prune": self.app.sync.prune,
                    **applied.details,
                    **(
                        {"tenant": self.app.tenant, "origin": self.app.origin}
                        if self.app.origin
                        else {}
                    ),
                },
            ),
        )
        metrics.APPLIES.labels(app=self.app.name, cluster=cluster.name, result="ok").inc()
        log.info("%s applied: %s", where, applied.summary())
        return self._await_health(
            target, cluster=cluster, rel=rel, objects=objects, inventory=applied.inventory,
            after_apply=True,
        )  # fmt: skip

    def _await_health(
        self,
        target: records.Target,
        *,
        cluster: model.Cluster,
        rel: release.Release,
        objects: list[dict[str, Any]],
        inventory: Sequence[str],
        after_apply: bool,
    ) -> str:
        """``after_apply``: the worker may wait a moment (``HealthWaits.holding``: a quick
        rollout is done in one pass); a later pass, brought back by a change of the app's
        objects or its scheduled look, looks once."""
        where = f"app={self.app.name} cluster={cluster.name} release={rel.short_id}"
        self.progress(f"{self.app.name} -> {cluster.name}: waiting for health")
        waits = self.health_waits
        if waits is not None and target_is_rollback(self.store, target):
            waits = None  # a rollback's outcome is judged here, in one go
        wait = self.app.sync.wait
        left = (
            wait
            if waits is None
            else max(0.0, wait - waits.began(app=self.app.name, target_id=target.id))
        )
        timeout = left if waits is None else min(waits.holding(after_apply=after_apply), left)
        try:
            health = self.parts.wait_healthy(
                app=self.app,
                cluster=cluster,
                objects=objects,
                inventory=inventory,
                timeout=timeout,
            )
        except errors.SyncerError as err:
            if waits is not None:
                waits.ended(app=self.app.name, target_id=target.id)
            return self._stop(target, cluster=cluster, state=records.ERROR, stage="health", err=err)
        if waits is not None and health.timed_out and left > timeout:
            # Still progressing: the worker goes on; a change of the app's objects, or
            # the look scheduled here, brings the app back (``syncer.controller``).
            waits.look_again(app=self.app.name, target_id=target.id, within=left - timeout)
            self.parts.await_change(app=self.app, cluster=cluster)
            log.debug("%s still progressing: %s", where, health.message)
            return records.APPLIED
        if waits is not None:
            waits.ended(app=self.app.name, target_id=target.id)
        if health.healthy:
            self.store.set_target(
                target.id,
                state=records.HEALTHY,
                message=health.message,
                event=records.NewEvent(
                    app=self.app.name,
                    kind="healthy",
                    release_id=rel.id,
                    cluster=cluster.name,
                    message=f"{rel.short_id} healthy on {cluster.name}: {health.message}",
                ),
            )
            self.store.clear_error(app=self.app.name, cluster=cluster.name)
            self.progress(f"{self.app.name} -> {cluster.name}: healthy")
            log.info("%s healthy", where)
            return records.HEALTHY
        return self._unhealthy(target, cluster=cluster, rel=rel, health=health)

    def _stop(
        self,
        target: records.Target,
        *,
        cluster: model.Cluster,
        state: str,
        stage: str,
        err: errors.SyncerError,
    ) -> str:
        message = str(err)
        known = next(
            (e for e in self.store.errors(self.app.name) if e.cluster == cluster.name), None
        )
        if known is None or known.message != message:
            # Retries of the same error (an unreachable cluster) are counted, not repeated.
            # Written first: whoever sees the cluster failing finds why in history.
            self.store.record(
                app=self.app.name,
                kind="error" if state == records.ERROR else "failed",
                release_id=target.release_id,
                cluster=cluster.name,
                message=f"{stage} on {cluster.name}: {message}",
                once=True,
            )
        self.store.set_target(target.id, state=state, message=message)
        self.store.set_error(app=self.app.name, cluster=cluster.name, stage=stage, message=message)
        metrics.APPLIES.labels(app=self.app.name, cluster=cluster.name, result=state).inc()
        log.warning(
            "app=%s cluster=%s release=%s %s: %s",
            self.app.name,
            cluster.name,
            target.release_id[:12],
            state,
            message,
        )
        self.progress(f"{self.app.name} -> {cluster.name}: {state}: {message}")
        return state

    def _unhealthy(
        self,
        target: records.Target,
        *,
        cluster: model.Cluster,
        rel: release.Release,
        health: parts_.Health,
    ) -> str:
        name = self.app.name
        self.store.record(
            app=name,
            kind="unhealthy",
            release_id=rel.id,
            cluster=cluster.name,
            message=f"{rel.short_id} unhealthy on {cluster.name}: {health.message}",
            data=health.details,
        )
        log.warning(
            "app=%s cluster=%s release=%s unhealthy: %s",
            name,
            cluster.name,
            rel.short_id,
            health.message,
        )
        deployed = {d.cluster: d for d in self.store.deployments(name)}
        previous = deployed[cluster.name].last_healthy_release if cluster.name in deployed else ""
        if previous == rel.id:
            previous = ""
        previous = previous or (self.store.last_healthy_release(name, exclude=[rel.id]) or "")
        if (
            not self.app.sync.rollback_on_failure
            or not previous
            or target_is_rollback(self.store, target)
        ):
            why = (
                "rollback off"
                if not self.app.sync.rollback_on_failure
                else ("no healthy release to roll back to" if not previous else "rollback failed")
            )
            self.store.set_target(
                target.id, state=records.UNHEALTHY, message=f"{health.message} ({why})"
            )
            self.store.set_error(
                app=name, cluster=cluster.name, stage="health", message=health.message
            )
            return records.UNHEALTHY
        # One transaction: the failed target, the rejection and the rollback intent, so
        # a crash here still rolls back on restart.
        back = self.store.roll_back(
            target_id=target.id,
            to_release=previous,
            reason=f"{records.AUTO_REJECTED}{cluster.name}: {health.message}",
        )
        self.progress(f"{name} -> {cluster.name}: unhealthy, rolling back to {previous[:12]}")
        (rb_target,) = [t for t in back.targets if t.cluster == cluster.name and t.open]
        reached = self.run(target=rb_target, cluster=cluster)
        if reached == records.HEALTHY:
            self.store.set_target(
                target.id,
                state=records.ROLLED_BACK,
                message=f"{health.message}; rolled back to {previous[:12]}",
                event=records.NewEvent(
                    app=name,
                    kind="rollback",
                    release_id=previous,
                    cluster=cluster.name,
                    message=f"rolled back {cluster.name} from {rel.short_id} to "
                    f"{previous[:12]}: {health.message}",
                    data={"from": rel.id, "to": previous},
                ),
            )
            metrics.ROLLBACKS.labels(app=name, cluster=cluster.name).inc()
        self.store.set_error(
            app=name,
            cluster=cluster.name,
            stage="health",
            message=f"release {rel.short_id} unhealthy: {health.message}; "
            f"rolled back to {previous[:12]}",
        )
        return records.ROLLED_BACK if reached == records.HEALTHY else records.UNHEALTHY

    # --- drift and health, re-checked -------------------------------------------------
    def drift(self, *, cluster: model.Cluster, release_id: str) -> Recheck:
        """Compare live objects with the release running there (heal when configured),
        then judge its health again from the live objects.

        Health is re-assessed, never acted on: a release whose rollout's wait timed out
        and that became healthy since is marked healthy; one that was healthy and is not
        any more is reported (status, history once). Only a rollout's own wait decides
        a rollback."""
        with logs.bound(app=self.app.name, cluster=cluster.name, release=release_id[:12]):
            return self._drift(cluster=cluster, release_id=release_id)

    def _drift(self, *, cluster: model.Cluster, release_id: str) -> Recheck:
        try:
            rel = self._release(release_id)
            objects = self.render(rel=rel, cluster=cluster)
            found = self.parts.drift(
                app=self.app,
                cluster=cluster,
                objects=objects,
                inventory=self.store.inventory(self.app.name, cluster.name),
                heal=self.app.sync.self_heal,
            )
        except errors.SyncerError as err:
            log.warning(
                "app=%s cluster=%s drift check failed: %s", self.app.name, cluster.name, err
            )
            return Recheck(
                cluster=cluster.name,
                error=str(err),
                unreachable=isinstance(err, errors.TemporaryError),
            )
        if found.drifted:
            metrics.DRIFT_DETECTED.labels(app=self.app.name, cluster=cluster.name).inc(
                len(found.drifted)
            )
            if found.healed:
                metrics.DRIFT_HEALED.labels(app=self.app.name, cluster=cluster.name).inc(
                    len(found.drifted)
                )
            self.store.record(
                app=self.app.name,
                kind="drift",
                release_id=release_id,
                cluster=cluster.name,
                message=f"drift on {cluster.name}: {', '.join(found.drifted)}"
                + (" (healed)" if found.healed else " (self-heal off: reported only)"),
                data={"objects": found.drifted, "healed": found.healed},
            )
        result = Recheck(cluster=cluster.name, drifted=list(found.drifted), healed=found.healed)
        self._recheck_health(cluster=cluster, rel=rel, objects=objects, result=result)
        return result

    def _recheck_health(
        self,
        *,
        cluster: model.Cluster,
        rel: release.Release,
        objects: list[dict[str, Any]],
        result: Recheck,
    ) -> None:
        name = self.app.name
        inventory = self.store.inventory(name, cluster.name)
        if not inventory:
            return
        try:
            # One look (no wait), unless objects were just re-applied: then as a rollout.
            health = self.parts.wait_healthy(
                app=self.app,
                cluster=cluster,
                objects=objects,
                inventory=inventory,
                timeout=self.app.sync.wait if result.healed else 0.0,
                # A look only (nothing written): the watch cache answers it for free.
                cached=not result.healed,
            )
        except errors.SyncerError as err:
            log.warning("app=%s cluster=%s health check failed: %s", name, cluster.name, err)
            result.error = str(err)
            result.unreachable = isinstance(err, errors.TemporaryError)
            return
        result.healthy, result.health = health.healthy, health.message
        latest = self.store.latest_targets(name).get(cluster.name)
        known = next((e for e in self.store.errors(name) if e.cluster == cluster.name), None)
        if health.healthy:
            if (
                latest is not None
                and latest.release_id == rel.id
                and latest.state == records.UNHEALTHY
            ):
                # Its rollout's wait ran out, but it got there since.
                self.store.set_target(
                    latest.id, state=records.HEALTHY, message=f"{health.message} (on a later check)"
                )
                self.store.clear_error(app=name, cluster=cluster.name)
                self._record_health(
                    cluster, rel, "healthy", f"healthy on a later check: {health.message}"
                )
            elif known is not None and known.message.startswith(NOT_HEALTHY_ANY_MORE):
                self.store.clear_error(app=name, cluster=cluster.name)
                self._record_health(cluster, rel, "healthy", f"healthy again: {health.message}")
            return
        if latest is not None and latest.state == records.UNHEALTHY and latest.release_id == rel.id:
            return  # never got healthy: already reported by its rollout
        message = f"{NOT_HEALTHY_ANY_MORE}: {health.message}"
        if known is None or known.message != message:
            self._record_health(
                cluster, rel, "unhealthy", f"{message} (no automatic rollback after its rollout)"
            )
        self.store.set_error(app=name, cluster=cluster.name, stage="health", message=message)

    def _record_health(
        self, cluster: model.Cluster, rel: release.Release, kind: str, text: str
    ) -> None:
        self.store.record(
            app=self.app.name,
            kind=kind,
            release_id=rel.id,
            cluster=cluster.name,
            message=f"{rel.short_id} on {cluster.name}: {text}",
        )
        log.info("app=%s cluster=%s release=%s %s", self.app.name, cluster.name, rel.short_id, text)


NOT_HEALTHY_ANY_MORE = "not healthy any more"
"""How a cluster error set by a later health check starts (``syncer.controller`` reads
such a cluster as not healthy)."""


@dataclasses.dataclass
class Recheck:
    """What a drift and health re-check of one cluster found."""

    cluster: str
    drifted: list[str] = dataclasses.field(default_factory=list)
    healed: bool = False
    healthy: bool | None = None
    """None when health could not be judged (no inventory, cluster error)."""
    health: str = ""
    error: str = ""
    unreachable: bool = False
    """The cluster's API did not answer (a temporary error): its health is unknown."""

    def problem(self) -> str:
        """Why this cluster differs from its release now, in words; empty when it does not."""
        if self.error:
            return f"check failed: {self.error}"
        parts = []
        if self.drifted and not self.healed:
            parts.append(f"drift (self-heal off): {', '.join(self.drifted)}")
        if self.healthy is False:
            parts.append(f"not healthy: {self.health}")
        return "; ".join(parts)


def target_is_rollback(store: store_.Store, target: records.Target) -> bool:
    """A rollback that itself fails is not rolled back again (no ping-pong)."""
    found = store.get_rollout(target.rollout_id)
    return found is not None and found.cause == "rollback"
