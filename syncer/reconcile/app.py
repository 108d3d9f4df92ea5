"""The per-app reconcile: source -> images -> release -> rollout plan -> per-cluster work.

``syncer.controller`` calls ``Reconciler.reconcile(app)`` from the app queue (one at a
time per app) and from ``syncer sync``. It decides the release the way ``syncer plan``
does (``syncer.reconcile.decide``: inputs, held-back images, rendered content), asks
``syncer.rollout`` which clusters take it now, leaves out what people hold (``Holds``:
a rollback's pin, a suspension, per app or pipeline stage), records that intent in
``syncer.state`` *before* touching any cluster, and then carries out every open target
with ``syncer.reconcile.target`` (clusters in parallel). Open targets left by a crash
are resumed the same way, so a release is rolled out exactly once.

A failure is the app's alone: it is recorded (state errors, history, the outcome) and
the reconcile returns; other apps are not affected.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

from syncer import errors, logs, metrics, release, rollout, threads
from syncer.config import model
from syncer.reconcile import decide as decide_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts as parts_
from syncer.reconcile import target as target_
from syncer.reconcile import writeback as writeback_
from syncer.render import images as render_images
from syncer.state import records
from syncer.state import store as store_

log = logging.getLogger("syncer.reconcile")

T = TypeVar("T")

MAX_PARALLEL_CLUSTERS = 8
"""Clusters of one app worked on at once (waiting for health is mostly idle time)."""
CLUSTER_THREADS = 1024
"""Most threads working on clusters for the whole process, all apps together: a ceiling
never meant to be reached (``settings.workers`` apps times ``MAX_PARALLEL_CLUSTERS``)."""
CLUSTER_HELPERS = threads.KeptPool(CLUSTER_THREADS, name="cluster")

MANUAL_REASONS = frozenset({"api", "manual"})
"""Reconciles a person asked for (API sync, ``syncer sync``)."""

RECHECK_REASONS = frozenset({"drift", "api", "manual", "startup"})
"""Reconciles that compare every cluster with its live objects (drift, health), not
only with the state file: the drift job, a sync someone asked for, controller start."""

HISTORY_KEEP = 1000
"""History entries kept per app (the newest); a release is about five entries per
cluster, so this covers well over a hundred releases."""

Progress = Callable[[str], None]


@dataclasses.dataclass
class Outcome:
    """What one reconcile of one app did."""

    app: str
    ok: bool
    release: str = ""
    message: str = ""
    clusters: dict[str, str] = dataclasses.field(default_factory=dict)
    """Cluster -> target state reached in this reconcile."""
    next_check: float | None = None
    """Unix time a gate (soak, window) should be looked at again, if any."""
    look_again: float | None = None
    """Unix time a rollout still waiting for health should be looked at again, if any
    (sooner when a watched object of the app changes)."""
    stage: str = ""
    """Where it failed: source, images, apply, health (empty when ok)."""
    outages: list[str] = dataclasses.field(default_factory=list)
    """Inputs that could not be read this time (a registry down), each with what was
    kept instead; the rest of the reconcile went on."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "app": self.app,
            "ok": self.ok,
            "release": self.release,
            "message": self.message,
            "clusters": dict(self.clusters),
        }
        if self.outages:
            data["outages"] = list(self.outages)
        return data


def app_clusters(
    *, app: model.App, config: model.Config, pipeline: model.Pipeline | None
) -> list[model.Cluster]:
    """Every cluster the app may run on (its own selection, or its pipeline's stages)."""
    if pipeline is None:
        return rollout.resolve(app.clusters, clusters=config.clusters, what=f"app {app.name}")
    seen: dict[str, model.Cluster] = {}
    for stage in pipeline.stages:
        for c in rollout.resolve(
            stage.clusters, clusters=config.clusters, what=f"pipeline {app.name}: {stage.name}"
        ):
            seen.setdefault(c.name, c)
    return list(seen.values())


def cluster_records(
    *, store: store_.Store, app: str, clusters: Sequence[str]
) -> dict[str, rollout.ClusterRecord]:
    """What each cluster is doing, as the rollout planner reads it."""
    deployed = {d.cluster: d for d in store.deployments(app)}
    result: dict[str, rollout.ClusterRecord] = {}
    for cluster, t in store.latest_targets(app).items():
        if cluster not in clusters:
            continue
        when = dt.datetime.fromtimestamp(t.finished_at or t.updated_at, tz=dt.UTC)
        running = deployed[cluster].release_id if cluster in deployed else ""
        result[cluster] = rollout.ClusterRecord(
            release=t.release_id,
            state=t.state,
            healthy_since=when if t.state == records.HEALTHY else None,
            finished_at=when if t.finished_at else None,
            running=running if running != t.release_id else "",
        )
    return result


def approved(*, store: store_.Store, app: str) -> set[tuple[str, str]]:
    """(release, stage) of every approval given, as the rollout planner reads them."""
    return {(a.release_id, a.stage) for a in store.approvals(app) if a.approved_at is not None}


def stage_clusters(
    *, app: model.App, config: model.Config, pipeline: model.Pipeline | None
) -> dict[str, list[str]]:
    """Stage -> the names of its clusters (empty without a pipeline)."""
    if pipeline is None:
        return {}
    return {
        stage.name: [
            c.name
            for c in rollout.resolve(
                stage.clusters, clusters=config.clusters, what=f"pipeline {app.name}: {stage.name}"
            )
        ]
        for stage in pipeline.stages
    }


@dataclasses.dataclass
class Holds:
    """What people hold of one app: app-wide (by kind) and per pipeline stage."""

    app: dict[str, records.Hold]
    stage_holds: list[records.Hold]
    stages: dict[str, list[str]]

    @classmethod
    def of(cls, holds: Sequence[records.Hold], *, stages: dict[str, list[str]]) -> Holds:
        return cls(
            app={h.kind: h for h in holds if not h.stage},
            stage_holds=[h for h in holds if h.stage],
            stages=stages,
        )

    def by_cluster(self) -> dict[str, records.Hold]:
        """Cluster -> the hold of its stage (a suspension wins over a pin)."""
        found: dict[str, records.Hold] = {}
        for h in sorted(self.stage_holds, key=lambda h: h.kind != records.SUSPEND):
            for cluster in self.stages.get(h.stage, []):
                found.setdefault(cluster, h)
        return found

    def suspended_clusters(self, names: Sequence[str]) -> set[str]:
        """Which of ``names`` a suspension covers (the app's, or their stage's)."""
        if records.SUSPEND in self.app:
            return set(names)
        return {c for c, h in self.by_cluster().items() if h.kind == records.SUSPEND}

    def allows(self, target: records.Target) -> bool:
        """Whether an open target may be carried out: nothing under a suspension; under a
        pin only the pinned release (the rollback that set it)."""
        held = self.app.get(records.SUSPEND) or self.app.get(records.PIN)
        held = held or self.by_cluster().get(target.cluster)
        if held is None:
            return True
        return held.kind == records.PIN and target.release_id == held.release_id

    def app_message(self, name: str, *, newest: release.Release) -> str:
        held = self.app.get(records.SUSPEND) or self.app[records.PIN]
        text = held.describe()
        if held.kind == records.SUSPEND:
            text += ": nothing applied"
        elif newest.id != held.release_id:
            text += f"; newest release {newest.short_id} waits"
        return f"{text} (`syncer resume {name}` to follow new releases)"


class Reconciler:
    """Reconciles apps of one config against one store, through ``parts``."""

    def __init__(
        self,
        *,
        config: model.Config,
        store: store_.Store,
        parts: parts_.Parts,
        inputs: inputs_.Inputs,
        progress: Progress | None = None,
        fence: Callable[[], None] | None = None,
        health_waits: target_.HealthWaits | None = None,
    ) -> None:
        """``fence`` (leader election's) is asked before a rollout is begun; it raises
        ``errors.Fenced``, which passes through everything here unrecorded.
        ``health_waits``: rollouts wait for health across passes, not in one
        (``target_.HealthWaits``; ``syncer run``)."""
        self.health_waits = health_waits
        self.config = config
        self.store = store
        self.fence = fence or (lambda: None)
        self.parts = parts
        self.inputs = inputs
        self.progress = progress or (lambda _text: None)
        self._apps = {a.name: a for a in config.apps}
        self._sources = {s.name: s for s in config.sources}
        self._pipelines = {p.app: p for p in config.pipelines}
        self._renders = decide_.RenderCache()

    def app(self, name: str) -> model.App:
        try:
            return self._apps[name]
        except KeyError:
            raise errors.PermanentError(
                f"no app named {name!r} (configured: {', '.join(sorted(self._apps)) or 'none'})"
            ) from None

    def clusters_of(self, name: str) -> list[model.Cluster]:
        return app_clusters(
            app=self.app(name), config=self.config, pipeline=self._pipelines.get(name)
        )

    def stage_clusters(self, name: str) -> dict[str, list[str]]:
        return stage_clusters(
            app=self.app(name), config=self.config, pipeline=self._pipelines.get(name)
        )

    def cluster_stages(self, name: str) -> dict[str, str]:
        """Cluster -> its pipeline stage ("" without a pipeline), for every cluster of ``name``."""
        stages = {c: s for s, names in self.stage_clusters(name).items() for c in names}
        return {c.name: stages.get(c.name, "") for c in self.clusters_of(name)}

    def decide(self, app: model.App, *, fresh: bool) -> decide_.Decision:
        """What ``app`` should run now (``syncer.reconcile.decide``, as ``plan`` sees it)."""
        return decide_.decide(
            app=app, source=self._sources[app.source], clusters=self.clusters_of(app.name),
            inputs=self.inputs, parts=self.parts, store=self.store, fresh=fresh,
            cache=self._renders,
        )  # fmt: skip

    # --- the reconcile ------------------------------------------------------------------
    def reconcile(
        self,
        name: str,
        *,
        reasons: frozenset[str] = frozenset(),
        fresh: bool = False,
        only: frozenset[str] | None = None,
    ) -> Outcome:
        """One pass over ``name``; never raises for the app's own failures.

        ``fresh`` polls Git and registries now instead of using the last poll;
        ``only`` limits the pass to these clusters (``syncer sync`` leaves out the
        ones it cannot reach, and plans them instead).
        """
        with logs.bound(app=name):
            return self._reconcile_logged(name, reasons=reasons, fresh=fresh, only=only)

    def _reconcile_logged(
        self, name: str, *, reasons: frozenset[str], fresh: bool, only: frozenset[str] | None
    ) -> Outcome:
        app = self.app(name)
        started = time.monotonic()
        try:
            # One read round: the many questions a pass asks of the app's state are
            # answered from one read (a Kubernetes state: one GET, not one per question).
            with self.store.reading(name):
                outcome = self._reconcile(app, reasons=reasons, fresh=fresh, only=only)
        except errors.SyncerError as err:
            outcome = Outcome(app=name, ok=False, message=str(err), stage="config")
        metrics.RECONCILE_DURATION.labels(app=name).observe(time.monotonic() - started)
        metrics.SYNCS.labels(app=name, result="ok" if outcome.ok else "failed").inc()
        if outcome.ok:
            metrics.LAST_SUCCESS.labels(app=name).set(time.time())
        else:
            metrics.RECONCILE_FAILURES.labels(app=name, reason=outcome.stage or "apply").inc()
        self.store.set_run(
            app=name,
            result="ok" if outcome.ok else "failed",
            message=outcome.message,
            desired_release=outcome.release,
        )
        self.store.trim_history(name, keep=HISTORY_KEEP)
        log.info(
            "app=%s release=%s ok=%s took=%.2fs %s",
            name,
            outcome.release[:12],
            outcome.ok,
            time.monotonic() - started,
            outcome.message,
        )
        return outcome

    def _reconcile(
        self,
        app: model.App,
        *,
        reasons: frozenset[str],
        fresh: bool,
        only: frozenset[str] | None,
    ) -> Outcome:
        try:
            decision = self.decide(app, fresh=fresh)
        except decide_.Failed as err:
            if err.stage == "source":
                message = self._warn(
                    app, stage="source",
                    message=self._source_outage(app.source, error=str(err.error)),
                )  # fmt: skip
                stuck = Outcome(app=app.name, ok=False, message=message, stage="source")
            else:
                stuck = self._fail(app, stage=err.stage, err=err.error)
            return self._resume_after(app, only=only, failed=stuck)
        warnings = decision.warnings()
        if warnings:
            # Replaces the app's error in place: the same warning is recorded once; the
            # images it holds back make it an image-held-back notification.
            stage = "source" if decision.source_failing else "images"
            held = {"held": decision.held} if decision.held else None
            self._warn(app, stage=stage, message="; ".join(warnings), data=held)
        else:
            self.store.clear_error(app=app.name)
        rel = decide_.known_release(store=self.store, rel=decision.release)
        created = records.NewEvent(
            app=app.name,
            kind="release",
            release_id=rel.id,
            message=f"new release {rel.describe()}",
            data={
                "commit": rel.commit,
                "images": [i.to_dict() for i in rel.images],
                "content": rel.content,
            },
        )
        # The release and its history entry in one transaction: a crash between them
        # would leave a release nobody is ever told about.
        if self.store.put_release(rel, event=created):
            log.info("app=%s release=%s new release %s", app.name, rel.short_id, rel.describe())
            self._check_images(app, rel=rel, decision=decision)
        holds = Holds.of(self.store.holds(app.name), stages=self.stage_clusters(app.name))
        clusters = self.clusters_of(app.name)
        if only is not None:
            clusters = [c for c in clusters if c.name in only]
        names = [c.name for c in clusters]
        next_check: float | None = None
        rejected = self.store.rejected(app.name)
        reached: dict[str, str] = {}
        manual = bool(reasons & MANUAL_REASONS)
        pinned = holds.app.get(records.PIN)
        # Plan, carry out, and plan again while that made progress: a stage that became
        # healthy may open the next one now (or start its soak, whose end is then
        # scheduled), without waiting for the next poll.
        for _round in range(len(clusters) + 1):
            if holds.app:
                # Held by a person: a suspended app applies nothing; a pinned one only
                # finishes putting its pinned release back (a rollback in progress).
                message = holds.app_message(app.name, newest=rel)
            elif rel.id in rejected:
                # Rolled back from (automatically or by a person): keep what runs until a
                # new release appears; open targets (a rollback in progress) still finish.
                message = f"release {rel.short_id} not rolled out: {rejected[rel.id]}"
            else:
                try:
                    message, next_check = self._plan(
                        app,
                        rel=rel,
                        names=names,
                        manual=manual and _round == 0,
                        holds=holds,
                        rejected=rejected,
                    )
                except errors.SyncerError as err:
                    return self._fail(app, stage="pipeline", err=err, release_id=rel.id)
            done = self._work(app, clusters=clusters, holds=holds)
            reached.update(done)
            if not done or rel.id in rejected or self._pipelines.get(app.name) is None:
                break
            if holds.app or any(s != records.HEALTHY for s in done.values()):
                break
        rechecks: list[target_.Recheck] = []
        if reasons & RECHECK_REASONS:
            rechecks = self._check_drift(
                app, clusters=clusters, busy=set(reached), no_heal=holds.suspended_clusters(names)
            )
        failed = {c: s for c, s in reached.items() if s not in (records.HEALTHY, records.APPLIED)}
        ok = not failed
        if failed:
            message = "; ".join(f"{c}: {s}" for c, s in sorted(failed.items()))
        elif not message:
            message = f"applied to {len(reached)} cluster(s)" if reached else "up to date"
        healed = sorted(r.cluster for r in rechecks if r.healed)
        if healed:
            message = f"{message}; drift re-applied on {', '.join(healed)}"
        problems = [f"{r.cluster}: {r.problem()}" for r in rechecks if r.problem()]
        if problems:
            message = f"{message}; {'; '.join(problems)}"
            # A person asked whether the cluster matches the release: it does not.
            ok = ok and "manual" not in reasons
        if warnings:
            message = f"{message}; warning: {'; '.join(warnings)}"
        wrote = writeback_.after_reconcile(
            store=self.store, parts=self.parts, app=app, source=self._sources[app.source], rel=rel
        )
        if wrote:
            message = f"{message}; {wrote}"
        outages = decision.outage_warnings()
        stage = ""
        if failed:
            unhealthy = (records.UNHEALTHY, records.ROLLED_BACK)
            stage = "health" if any(s in unhealthy for s in failed.values()) else "apply"
        elif outages and "manual" in reasons:
            # A person asked for a full pass and an input could not be read: what went
            # out is fine, but the pass is not complete (``syncer sync`` exits 1).
            ok, stage = False, "images"
        elif not ok:
            stage = "apply"
        return Outcome(
            app=app.name,
            ok=ok,
            release=pinned.release_id if pinned is not None else rel.id,
            message=message,
            clusters=reached,
            next_check=next_check,
            look_again=self._look_again(app.name, holds=holds),
            stage=stage,
            outages=outages,
        )

    def _look_again(self, app: str, *, holds: Holds) -> float | None:
        """When a rollout of ``app`` still waiting for health is to be looked at again;
        waits of targets no longer open (superseded, finished elsewhere) or held (a
        suspended app: its wait begins again when it is resumed) are dropped."""
        waits = self.health_waits
        if waits is None or not waits.waiting(app):
            return None  # the usual pass: no state read for it
        still = [
            t.id
            for ro in self.store.open_rollouts(app)
            for t in ro.targets
            if t.open and holds.allows(t)
        ]
        waits.forget(app, keep=still)
        return waits.next_look(app)

    def _resume_after(
        self, app: model.App, *, only: frozenset[str] | None, failed: Outcome
    ) -> Outcome:
        """A poll failed, so no new release can be made now; rollouts already decided
        (open targets, e.g. left by a crash) are still carried out: everything they need
        is recorded, and the Git commit of their release is in the cache."""
        clusters = self.clusters_of(app.name)
        if only is not None:
            clusters = [c for c in clusters if c.name in only]
        holds = Holds.of(self.store.holds(app.name), stages=self.stage_clusters(app.name))
        failed.clusters = self._work(app, clusters=clusters, holds=holds)
        failed.look_again = self._look_again(app.name, holds=holds)
        return failed

    def _plan(
        self,
        app: model.App,
        *,
        rel: release.Release,
        names: list[str],
        manual: bool,
        holds: Holds,
        rejected: dict[str, str],
    ) -> tuple[str, float | None]:
        """Ask the rollout planner and record the intent for the clusters it picks;
        returns why the rest waits and when a time gate should be looked at again."""
        current = cluster_records(store=self.store, app=app.name, clusters=names)
        plan = rollout.plan(
            app=app,
            pipeline=self._pipelines.get(app.name),
            clusters=self.config.clusters,
            release=rel.id,
            records=current,
            approvals=self._approvals(app.name),
            now=dt.datetime.now(dt.UTC),
        )
        for stage in plan.pending_approvals:
            self.store.request_approval(app=app.name, stage=stage, release_id=rel.id)
        held = holds.by_cluster()
        # A suspended or pinned stage takes nothing new until it is resumed. A cluster
        # still waiting for the health of a release found unhealthy elsewhere gets its
        # own verdict first (and its own rollback, recorded as one), not a move to the
        # next release as an ordinary rollout whenever a pass happens to come between.
        judging = {
            c for c, r in current.items()
            if r.state == records.APPLIED
            and records.rejected_automatically(rejected.get(r.release, ""))
        }  # fmt: skip
        steps = [
            s.cluster
            for s in plan.steps
            if s.cluster in names and s.cluster not in held and s.cluster not in judging
        ]
        if manual:
            # A person asked: clusters where this release could not be applied (gateway,
            # RBAC, conflict: fixed since?) are tried again, in the rollout that failed
            # there. Releases that turned unhealthy stay out; only a new release
            # replaces them.
            failed = [
                c for c, r in current.items()
                if r.release == rel.id and r.state == records.FAILED and c not in steps
                and c not in held
            ]  # fmt: skip
            if failed:
                self.store.retry_targets(
                    app=app.name, release_id=rel.id, clusters=failed, reason="sync requested"
                )
        if steps:
            earlier = self.store.targets_of_release(app.name, rel.id)
            cause = "catch-up" if earlier else "new-release"
            # Moving on to clusters that never had it (next stage, next cluster of a
            # oneAtATime stage) is a promotion; "catch-up" is for clusters tried before.
            if earlier and app.name in self._pipelines:
                cause = "catch-up" if {t.cluster for t in earlier} & set(steps) else "promotion"
            self.fence()
            self.store.begin_rollout(app=app.name, release_id=rel.id, clusters=steps, cause=cause)
        notes = [s.message for s in plan.stages if s.message]
        notes += [h.describe() for h in holds.stage_holds]
        return "; ".join(notes), plan.next_check.timestamp() if plan.next_check else None

    def _approvals(self, app: str) -> set[tuple[str, str]]:
        return approved(store=self.store, app=app)

    def _fail(
        self, app: model.App, *, stage: str, err: errors.SyncerError, release_id: str = ""
    ) -> Outcome:
        message = self._warn(app, stage=stage, message=str(err), release_id=release_id)
        return Outcome(app=app.name, ok=False, message=message, stage=stage)

    def _check_images(
        self, app: model.App, *, rel: release.Release, decision: decide_.Decision
    ) -> None:
        """Once per release: a warning in history (and the log) for each image policy
        that governs no container of the rendered objects; those stay as in Git."""
        if not rel.images:
            return
        names = [*decision.rendered, *decision.render_later]
        objs = next((o for name in names if (o := decision.objects(name)) is not None), None)
        if objs is None:
            return
        found = render_images.unmatched(
            objs=objs, choices=rel.images, image_fields=app.image_fields
        )
        for warning in found:
            self.store.record(
                app=app.name, kind="warning", message=f"images: {warning}", release_id=rel.id
            )
            log.warning("app=%s release=%s %s", app.name, rel.short_id, warning)

    def _warn(
        self,
        app: model.App,
        *,
        stage: str,
        message: str,
        release_id: str = "",
        data: dict[str, Any] | None = None,
    ) -> str:
        """Record a problem of ``stage`` (state errors, history once, the log)."""
        known = [e for e in self.store.errors(app.name) if not e.cluster]
        if not known or known[0].message != message:
            # History gets the error once; retries of the same error only count it.
            # Written before the error itself: whoever sees the app Degraded finds why.
            self.store.record(
                app=app.name,
                kind="error",
                message=f"{stage}: {message}",
                release_id=release_id,
                data=data,
                once=True,
            )
        self.store.set_error(app=app.name, stage=stage, message=message)
        log.warning("app=%s stage=%s %s", app.name, stage, message)
        return f"{stage}: {message}"

    def _source_outage(self, source: str, *, error: str) -> str:
        """How a failing Git source reads in the app's status and history."""
        return decide_.source_warning(error, commit=self.inputs.known_commit(source))

    def note_source_poll(self, name: str, *, source: str, error: str | None) -> None:
        """Record the result of a poll of app ``name``'s Git ``source``: an error is the
        app's (Degraded while what runs is healthy; what runs is kept); success clears it."""
        known = [e for e in self.store.errors(name) if not e.cluster]
        if error is not None:
            self._warn(
                self.app(name), stage="source", message=self._source_outage(source, error=error)
            )
            return
        if known and known[0].stage == "source":
            self.store.clear_error(app=name)

    def note_image_poll(self, name: str, *, repository: str, error: str | None) -> None:
        """Record the result of a registry poll of ``repository`` for app ``name``: an
        error is a warning of the app (what it runs is kept); success clears it."""
        known = [e for e in self.store.errors(name) if not e.cluster]
        if known and known[0].stage == "source":
            return  # a failing Git source is the app's bigger problem; it says so already
        if error is not None:
            app = self.app(name)
            repo = inputs_.normalise_repository(repository)
            image = next(
                i for i in app.images if inputs_.normalise_repository(i.repository) == repo
            )
            kept = inputs_.last_image(self.store, app=name, image=image)
            message = f"{error}; keeping {kept.ref if kept else 'the tag in Git'}"
            self._warn(app, stage="images", message=message)
            return
        if (
            known
            and known[0].stage == "images"
            and not known[0].message.startswith(decide_.HELD_BACK)
        ):
            self.store.clear_error(app=name)

    # --- carrying out targets -----------------------------------------------------------
    def _work(
        self, app: model.App, *, clusters: Sequence[model.Cluster], holds: Holds | None = None
    ) -> dict[str, str]:
        """Carry out every open target of the app (new ones and resumed ones) that no
        hold keeps back."""
        by_name = {c.name: c for c in clusters}
        todo = [
            t
            for ro in self.store.open_rollouts(app.name)
            for t in ro.targets
            if t.open and t.cluster in by_name and (holds is None or holds.allows(t))
        ]
        if not todo:
            return {}
        runner = target_.TargetRunner(
            app=app,
            store=self.store,
            parts=self.parts,
            source=self._sources[app.source],
            inputs=self.inputs,
            progress=self.progress,
            health_waits=self.health_waits,
            renders=self._renders,
        )
        reached: dict[str, str] = {}
        stage_of = self.cluster_stages(app.name)
        calls = [functools.partial(runner.run, target=t, cluster=by_name[t.cluster]) for t in todo]
        for index, state in per_cluster(calls):
            t = todo[index]
            reached[t.cluster] = state
            if state == records.APPLIED:
                continue  # still waiting for health: counted when it ends
            metrics.ROLLOUTS.labels(
                app=app.name, cluster=t.cluster, stage=stage_of.get(t.cluster, ""), result=state
            ).inc()
        return reached

    def _check_drift(
        self,
        app: model.App,
        *,
        clusters: Sequence[model.Cluster],
        busy: set[str],
        no_heal: Collection[str] = frozenset(),
    ) -> list[target_.Recheck]:
        """Compare each cluster with the release running there and judge its health
        again (``TargetRunner.drift``); clusters worked on in this pass are left out,
        and suspended ones (``no_heal``) are only reported on, never re-applied."""
        deployed = {d.cluster: d for d in self.store.deployments(app.name)}
        frozen = dataclasses.replace(app, sync=dataclasses.replace(app.sync, self_heal=False))
        runners = {
            held: target_.TargetRunner(
                app=frozen if held else app,
                store=self.store,
                parts=self.parts,
                source=self._sources[app.source],
                inputs=self.inputs,
                progress=self.progress,
                renders=self._renders,
            )
            for held in (False, True)
        }
        todo = [
            (c, deployed[c.name].release_id)
            for c in clusters
            if c.name not in busy and c.name in deployed
        ]
        if not todo:
            return []
        calls = [
            functools.partial(runners[c.name in no_heal].drift, cluster=c, release_id=release_id)
            for c, release_id in todo
        ]
        found = [result for _, result in sorted(per_cluster(calls), key=lambda done: done[0])]
        unreachable = {e.cluster for e in self.store.errors(app.name) if e.stage == "cluster"}
        for r in found:
            if r.cluster in unreachable and not r.error:
                self.store.clear_error(app=app.name, cluster=r.cluster)  # reachable again
            elif r.unreachable:
                # Its API stopped answering: what runs there is unknown now, not "healthy".
                self.note_unreachable(app.name, cluster=r.cluster, problem=r.error)
        return found

    def note_unreachable(self, name: str, *, cluster: str, problem: str) -> None:
        """Record that ``cluster`` was left out of a pass because it cannot be reached
        (``syncer sync``): a cluster error of the app, in history once."""
        known = next((e for e in self.store.errors(name) if e.cluster == cluster), None)
        message = f"cannot reach cluster {cluster}: {problem}"
        if known is None or known.message != message:
            run = self.store.run(name)
            self.store.record(
                app=name,
                kind="error",
                cluster=cluster,
                release_id=run.desired_release if run else "",
                message=f"{message}: nothing applied there",
                once=True,
            )
        self.store.set_error(app=name, cluster=cluster, stage="cluster", message=message)

    # --- rollback on request ------------------------------------------------------------
    def rollback_target(self, name: str, *, to: str | None, stage: str | None) -> release.Release:
        """The release a rollback of ``name`` (or of one pipeline ``stage``) goes to:
        ``to`` (an id or unique prefix), else the last healthy release before what runs
        there now. PermanentError when there is none."""
        if to:
            found = self.store.get_release(name, to)
            if found is None:
                raise errors.PermanentError(
                    f"app {name!r} has no release {to!r}: see `syncer history` for ids"
                )
            return found
        names = self._rollback_clusters(name, stage=stage)
        current = {d.release_id for d in self.store.deployments(name) if d.cluster in names}
        rid = self.store.last_healthy_release(name, exclude=sorted(current))
        found = self.store.get_release(name, rid) if rid else None
        if found is None:
            raise errors.PermanentError(
                f"app {name!r} has no earlier healthy release to roll back to"
            )
        return found

    def _rollback_clusters(self, name: str, *, stage: str | None) -> set[str]:
        if not stage:
            return {c.name for c in self.clusters_of(name)}
        stages = self.stage_clusters(name)
        if stage not in stages:
            known = ", ".join(stages) or "none: the app has no pipeline"
            raise errors.PermanentError(f"app {name!r} has no stage {stage!r} (stages: {known})")
        return set(stages[stage])

    def request_rollback(
        self, name: str, *, to: str | None, by: str, stage: str | None = None
    ) -> release.Release:
        """Record a rollback of ``name`` (or of one pipeline ``stage``) durably: the
        releases it leaves are rejected, the app (or stage) is pinned to the target and
        a rollout of it is opened. Any later reconcile, also after a crash, carries that
        rollout out (a pin lets only its own release through); ``rollback`` does it now."""
        names = self._rollback_clusters(name, stage=stage)
        target_rel = self.rollback_target(name, to=to, stage=stage)
        current = {d.release_id for d in self.store.deployments(name) if d.cluster in names}
        self.fence()  # a rollback is new work: only under a valid lease
        self.store.pin_rollback(
            app=name,
            stage=stage or "",
            release_id=target_rel.id,
            clusters=sorted(names),
            leaving=sorted(current - {target_rel.id}),
            by=by,
            message=f"rollback to {target_rel.describe()} requested by {by}"
            + (f" for stage {stage}" if stage else ""),
        )
        return target_rel

    def rollback(self, name: str, *, to: str | None, by: str, stage: str | None = None) -> Outcome:
        """Roll ``name`` back to release ``to`` (or the last healthy before the current)
        on all its clusters, or on those of one pipeline ``stage``, and pin it (or the
        stage) there until someone resumes it; the release rolled back from is not
        rolled out again."""
        app = self.app(name)
        names = self._rollback_clusters(name, stage=stage)
        clusters = [c for c in self.clusters_of(name) if c.name in names]
        target_rel = self.request_rollback(name, to=to, by=by, stage=stage)
        holds = Holds.of(self.store.holds(name), stages=self.stage_clusters(name))
        reached = self._work(app, clusters=clusters, holds=holds)
        ok = all(s == records.HEALTHY for s in reached.values())
        message = (
            f"rolled back to {target_rel.short_id}; pinned there until `syncer resume {name}"
            + (f" --stage {stage}`" if stage else "`")
            if ok
            else "; ".join(f"{c}: {s}" for c, s in sorted(reached.items()) if s != records.HEALTHY)
        )
        self.store.set_run(
            app=name,
            result="ok" if ok else "failed",
            message=message,
            desired_release=target_rel.id,
        )
        return Outcome(app=name, ok=ok, release=target_rel.id, message=message, clusters=reached)


def per_cluster(calls: Sequence[Callable[[], T]]) -> Iterator[tuple[int, T]]:
    """Each call's result with its index, as it ends. A lone call runs in this thread;
    several run side by side, at most ``MAX_PARALLEL_CLUSTERS`` at once, on the
    process's cluster threads (``CLUSTER_HELPERS``), kept between passes: starting a
    pool per app and pass cost more than the pass's own work. A call's exception is
    raised once every call has ended, so nothing of the app still runs when the pass
    ends."""
    if len(calls) == 1:
        yield 0, calls[0]()
        return
    gate = threading.BoundedSemaphore(MAX_PARALLEL_CLUSTERS)

    def gated(call: Callable[[], T]) -> T:
        try:
            return call()
        finally:
            gate.release()

    futures: dict[concurrent.futures.Future[T], int] = {}
    for index, call in enumerate(calls):
        gate.acquire()
        futures[CLUSTER_HELPERS.submit(functools.partial(gated, call))] = index
    failed: BaseException | None = None
    for future in concurrent.futures.as_completed(futures):
        try:
            result = future.result()
        except BaseException as err:  # raised below, once the others have ended
            failed = failed or err
            continue
        yield futures[future], result
    if failed is not None:
        raise failed
