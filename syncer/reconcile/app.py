"""The per-app reconcile: source -> images -> release -> rollout plan -> per-cluster work.

``syncer.controller`` calls ``Reconciler.reconcile(app)`` from the app queue (one at a
time per app) and from ``syncer sync``. It reads inputs (``syncer.reconcile.inputs``),
makes the content-addressed release (``syncer.release``), asks ``syncer.rollout`` which
clusters take it now, records that intent in ``syncer.state`` *before* touching any
cluster, and then carries out every open target with ``syncer.reconcile.target``
(clusters in parallel). Open targets left by a crash are resumed the same way, so a
release is rolled out exactly once.

A failure is the app's alone: it is recorded (state errors, history, the outcome) and
the reconcile returns; other apps are not affected.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from syncer import errors, images, metrics, release, rollout
from syncer.config import model
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts as parts_
from syncer.reconcile import target as target_
from syncer.render import images as render_images
from syncer.state import records
from syncer.state import store as store_

log = logging.getLogger("syncer.reconcile")

MAX_PARALLEL_CLUSTERS = 8
"""Clusters of one app worked on at once (waiting for health is mostly idle time)."""

MANUAL_REASONS = frozenset({"api", "manual"})
"""Reconciles a person asked for (API sync, ``syncer sync``)."""

RECHECK_REASONS = frozenset({"drift", "api", "manual", "startup"})
"""Reconciles that compare every cluster with its live objects (drift, health), not
only with the state file: the drift job, a sync someone asked for, controller start."""

REGISTRY_OUTAGES = (images.RegistryUnreachableError, images.RegistryUnavailableError)
"""Registry errors that keep the last image instead of failing the app."""

HELD_BACK = "held back image"
"""How the app's warning about an image a rollback found bad starts."""

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
    ) -> None:
        self.config = config
        self.store = store
        self.parts = parts
        self.inputs = inputs
        self.progress = progress or (lambda _text: None)
        self._apps = {a.name: a for a in config.apps}
        self._sources = {s.name: s for s in config.sources}
        self._pipelines = {p.app: p for p in config.pipelines}

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
        app = self.app(name)
        started = time.monotonic()
        try:
            outcome = self._reconcile(app, reasons=reasons, fresh=fresh, only=only)
        except errors.SyncerError as err:
            outcome = Outcome(app=name, ok=False, message=str(err), stage="config")
        metrics.RECONCILE_DURATION.labels(app=name).observe(time.monotonic() - started)
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
        source = self._sources[app.source]
        try:
            snap = self.inputs.snapshot(source, fresh=fresh)
        except errors.SyncerError as err:
            message = self._warn(
                app, stage="source", message=self._source_outage(source.name, error=str(err))
            )
            stuck = Outcome(app=app.name, ok=False, message=message, stage="source")
            return self._resume_after(app, only=only, failed=stuck)
        chosen: list[release.Image] = []
        outages: list[str] = []
        failing_source = self.inputs.source_error(source.name)
        if failing_source is not None and not fresh:
            # A snapshot from memory while the poll job sees the source failing (branch
            # deleted, server down): what runs stays, and the app says why it is stuck.
            outages.append(self._source_outage(source.name, error=failing_source))
        for image in app.images:
            try:
                chosen.append(self.inputs.image(image, fresh=fresh))
            except REGISTRY_OUTAGES as err:
                # An outage of the registry must not hold back what Git says: keep the
                # image the app last ran (or the tag written in Git) and carry on.
                kept = inputs_.last_image(self.store, app=app.name, image=image)
                if kept is not None:
                    chosen.append(kept)
                outages.append(f"{err}; keeping {kept.ref if kept else 'the tag in Git'}")
            except errors.SyncerError as err:
                return self._resume_after(
                    app, only=only, failed=self._fail(app, stage="images", err=err)
                )
            else:
                # A decision from memory while the poll job sees the registry failing.
                failing = self.inputs.image_poll_errors(image.repository).get(app.name)
                if failing is not None and not fresh:
                    outages.append(f"{failing}; keeping {chosen[-1].ref}")
        chosen, held = self._hold_back(app.name, chosen)
        if outages or held:
            # Replaces the app's error in place: the same warning is recorded once.
            stage = "source" if failing_source is not None and not fresh else "images"
            self._warn(app, stage=stage, message="; ".join([*held, *outages]))
        else:
            self.store.clear_error(app=app.name)
        rel = release.make(
            app=app.name,
            commit=snap.commit,
            images=chosen,
            config_digest=release.config_digest(app),
            source=source.name,
        )
        if self.store.put_release(rel):
            self.store.record(
                app=app.name,
                kind="release",
                release_id=rel.id,
                message=f"new release {rel.describe()}",
                data={"commit": rel.commit, "images": [i.to_dict() for i in rel.images]},
            )
            log.info("app=%s release=%s new release %s", app.name, rel.short_id, rel.describe())
            self._check_images(app, rel=rel, snap=snap)
        clusters = self.clusters_of(app.name)
        if only is not None:
            clusters = [c for c in clusters if c.name in only]
        names = [c.name for c in clusters]
        next_check: float | None = None
        rejected = self.store.rejected(app.name)
        reached: dict[str, str] = {}
        manual = bool(reasons & MANUAL_REASONS)
        # Plan, carry out, and plan again while that made progress: a stage that became
        # healthy may open the next one now (or start its soak, whose end is then
        # scheduled), without waiting for the next poll.
        for _round in range(len(clusters) + 1):
            if rel.id in rejected:
                # Rolled back from (automatically or by a person): keep what runs until a
                # new release appears; open targets (a rollback in progress) still finish.
                message = f"release {rel.short_id} not rolled out: {rejected[rel.id]}"
            else:
                try:
                    message, next_check = self._plan(
                        app, rel=rel, names=names, manual=manual and _round == 0
                    )
                except errors.SyncerError as err:
                    return self._fail(app, stage="pipeline", err=err, release_id=rel.id)
            done = self._work(app, clusters=clusters)
            reached.update(done)
            if not done or rel.id in rejected or self._pipelines.get(app.name) is None:
                break
            if any(s != records.HEALTHY for s in done.values()):
                break
        rechecks: list[target_.Recheck] = []
        if reasons & RECHECK_REASONS:
            rechecks = self._check_drift(app, clusters=clusters, busy=set(reached))
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
        if outages or held:
            message = f"{message}; warning: {'; '.join([*held, *outages])}"
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
            release=rel.id,
            message=message,
            clusters=reached,
            next_check=next_check,
            stage=stage,
            outages=outages,
        )

    def _hold_back(
        self, name: str, chosen: list[release.Image]
    ) -> tuple[list[release.Image], list[str]]:
        """Replace images a rollback found bad (``inputs.held_back``) by the last good
        image of their repository; a different image picked by the policy goes out."""
        bad = inputs_.held_back(store=self.store, app=name)
        if not bad:
            return chosen, []
        result: list[release.Image] = []
        notes: list[str] = []
        for image in chosen:
            why = bad.get((image.repository, image.digest))
            good = (
                inputs_.last_good(store=self.store, app=name, repository=image.repository)
                if why
                else None
            )
            if why is None or good is None or good.digest == image.digest:
                result.append(image)
                continue
            result.append(good)
            notes.append(
                f"{HELD_BACK} {image.ref}: {why}; using {good.ref} until the policy picks "
                "another image"
            )
        return result, notes

    def _resume_after(
        self, app: model.App, *, only: frozenset[str] | None, failed: Outcome
    ) -> Outcome:
        """A poll failed, so no new release can be made now; rollouts already decided
        (open targets, e.g. left by a crash) are still carried out: everything they need
        is recorded, and the Git commit of their release is in the cache."""
        clusters = self.clusters_of(app.name)
        if only is not None:
            clusters = [c for c in clusters if c.name in only]
        failed.clusters = self._work(app, clusters=clusters)
        return failed

    def _plan(
        self, app: model.App, *, rel: release.Release, names: list[str], manual: bool
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
        steps = [s.cluster for s in plan.steps if s.cluster in names]
        if manual:
            # A person asked: clusters where this release could not be applied (gateway,
            # RBAC, conflict: fixed since?) are tried again, in the rollout that failed
            # there. Releases that turned unhealthy stay out; only a new release
            # replaces them.
            failed = [
                c for c, r in current.items()
                if r.release == rel.id and r.state == records.FAILED and c not in steps
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
            self.store.begin_rollout(app=app.name, release_id=rel.id, clusters=steps, cause=cause)
        message = "; ".join(s.message for s in plan.stages if s.message)
        return message, plan.next_check.timestamp() if plan.next_check else None

    def _approvals(self, app: str) -> set[tuple[str, str]]:
        return {
            (a.release_id, a.stage) for a in self.store.approvals(app) if a.approved_at is not None
        }

    def _fail(
        self, app: model.App, *, stage: str, err: errors.SyncerError, release_id: str = ""
    ) -> Outcome:
        message = self._warn(app, stage=stage, message=str(err), release_id=release_id)
        return Outcome(app=app.name, ok=False, message=message, stage=stage)

    def _check_images(self, app: model.App, *, rel: release.Release, snap: parts_.Snapshot) -> None:
        """Once per release: a warning in history (and the log) for each image policy
        that governs no container of the rendered objects; those stay as in Git."""
        if not rel.images:
            return
        try:
            clusters = self.clusters_of(app.name)
            if not clusters:
                return
            objs = self.parts.render(app=app, cluster=clusters[0], snapshot=snap, images=rel.images)
        except errors.SyncerError:
            return  # the rollout renders again and reports it
        found = render_images.unmatched(
            objs=objs, choices=rel.images, image_fields=app.image_fields
        )
        for warning in found:
            self.store.record(
                app=app.name, kind="warning", message=f"images: {warning}", release_id=rel.id
            )
            log.warning("app=%s release=%s %s", app.name, rel.short_id, warning)

    def _warn(self, app: model.App, *, stage: str, message: str, release_id: str = "") -> str:
        """Record a problem of ``stage`` (state errors, history once, the log)."""
        known = [e for e in self.store.errors(app.name) if not e.cluster]
        self.store.set_error(app=app.name, stage=stage, message=message)
        if not known or known[0].message != message:
            # History gets the error once; retries of the same error only count it.
            self.store.record(
                app=app.name,
                kind="error",
                message=f"{stage}: {message}",
                release_id=release_id,
                once=True,
            )
        log.warning("app=%s stage=%s %s", app.name, stage, message)
        return f"{stage}: {message}"

    def _source_outage(self, source: str, *, error: str) -> str:
        """How a failing Git source reads in the app's status and history."""
        commit = self.inputs.known_commit(source)
        return f"{error}; keeping commit {commit[:12]}" if commit else error

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
        if known and known[0].stage == "images" and not known[0].message.startswith(HELD_BACK):
            self.store.clear_error(app=name)

    # --- carrying out targets -----------------------------------------------------------
    def _work(self, app: model.App, *, clusters: Sequence[model.Cluster]) -> dict[str, str]:
        """Carry out every open target of the app (new ones and resumed ones)."""
        by_name = {c.name: c for c in clusters}
        todo = [
            t
            for ro in self.store.open_rollouts(app.name)
            for t in ro.targets
            if t.open and t.cluster in by_name
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
        )
        reached: dict[str, str] = {}
        workers = min(MAX_PARALLEL_CLUSTERS, len(todo))
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"app-{app.name}"
        ) as pool:
            futures = {
                pool.submit(runner.run, target=t, cluster=by_name[t.cluster]): t for t in todo
            }
            for future in concurrent.futures.as_completed(futures):
                t = futures[future]
                reached[t.cluster] = future.result()
        return reached

    def _check_drift(
        self, app: model.App, *, clusters: Sequence[model.Cluster], busy: set[str]
    ) -> list[target_.Recheck]:
        """Compare each cluster with the release running there and judge its health
        again (``TargetRunner.drift``); clusters worked on in this pass are left out."""
        deployed = {d.cluster: d for d in self.store.deployments(app.name)}
        runner = target_.TargetRunner(
            app=app,
            store=self.store,
            parts=self.parts,
            source=self._sources[app.source],
            inputs=self.inputs,
            progress=self.progress,
        )
        todo = [
            (c, deployed[c.name].release_id)
            for c in clusters
            if c.name not in busy and c.name in deployed
        ]
        if not todo:
            return []
        workers = min(MAX_PARALLEL_CLUSTERS, len(todo))
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"drift-{app.name}"
        ) as pool:
            found = list(
                pool.map(lambda item: runner.drift(cluster=item[0], release_id=item[1]), todo)
            )
        unreachable = {e.cluster for e in self.store.errors(app.name) if e.stage == "cluster"}
        for r in found:
            if r.cluster in unreachable and not r.error:
                self.store.clear_error(app=app.name, cluster=r.cluster)  # reachable again
        return found

    def note_unreachable(self, name: str, *, cluster: str, problem: str) -> None:
        """Record that ``cluster`` was left out of a pass because it cannot be reached
        (``syncer sync``): a cluster error of the app, in history once."""
        known = next((e for e in self.store.errors(name) if e.cluster == cluster), None)
        message = f"cannot reach cluster {cluster}: {problem}"
        self.store.set_error(app=name, cluster=cluster, stage="cluster", message=message)
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

    # --- rollback on request ------------------------------------------------------------
    def rollback(self, name: str, *, to: str | None, by: str) -> Outcome:
        """Roll ``name`` back to release ``to`` (or the last healthy before the current)
        on all its clusters; the release rolled back from is not rolled out again."""
        app = self.app(name)
        clusters = self.clusters_of(name)
        current = {d.release_id for d in self.store.deployments(name)}
        if to:
            target_rel = self.store.get_release(name, to)
            if target_rel is None:
                raise errors.PermanentError(
                    f"app {name!r} has no release {to!r}: see `syncer history` for ids"
                )
        else:
            rid = self.store.last_healthy_release(name, exclude=sorted(current))
            if rid is None:
                raise errors.PermanentError(
                    f"app {name!r} has no earlier healthy release to roll back to"
                )
            target_rel = self.store.get_release(name, rid)
            assert target_rel is not None
        for rid in sorted(current - {target_rel.id}):
            self.store.reject(app=name, release_id=rid, reason=f"rolled back by {by}")
        self.store.begin_rollout(
            app=name,
            release_id=target_rel.id,
            clusters=[c.name for c in clusters],
            cause="rollback",
        )
        self.store.record(
            app=name,
            kind="rollback",
            release_id=target_rel.id,
            message=f"rollback to {target_rel.describe()} requested by {by}",
        )
        reached = self._work(app, clusters=clusters)
        ok = all(s == records.HEALTHY for s in reached.values())
        message = (
            f"rolled back to {target_rel.short_id}"
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
