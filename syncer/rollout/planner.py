"""The promotion planner: which clusters get a release now, and why the others wait.

``syncer.reconcile`` calls ``plan`` on every reconcile of an app with the app's newest
release, what each cluster is doing (``model.ClusterRecord``), the approvals given and
the time; it carries out the returned ``Step``s (``syncer.apply``) and records their
outcome, which feeds the next call. Nothing here reads clocks, files or the network.

Stages go in pipeline order. A stage takes the release when every gate passes (the
``after`` stage healthy on it, soak, approval, window); ``oneAtATime`` stages take it one
cluster at a time and stop at the first failure. Only the newest release is planned:
clusters on an older one keep it until the newest passes their gates (a newer release
supersedes an older one mid-pipeline), and a release that failed on a cluster is never
re-issued there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence

from syncer import errors
from syncer.config import model as config
from syncer.rollout import gates, model, selection, validate


def plan(
    *,
    app: config.App,
    pipeline: config.Pipeline | None,
    clusters: Sequence[config.Cluster],
    release: str,
    records: Mapping[str, model.ClusterRecord],
    approvals: Collection[tuple[str, str]],
    now: dt.datetime,
) -> model.RolloutPlan:
    """Plan the rollout of ``release`` (the app's newest) at ``now``.

    ``clusters`` is the configured cluster list; ``records`` maps cluster name to its
    record (absent: never given a release); ``approvals`` holds ``(release, stage)``
    pairs. Raises ``ConfigError`` when the pipeline has problems (see ``validate``) and
    ``ValueError`` when ``now`` is naive.
    """
    if now.tzinfo is None:
        raise ValueError("plan: now must be timezone-aware (UTC)")
    now = now.astimezone(dt.UTC)
    context = _Context(app=app, release=release, records=records, approvals=approvals, now=now)
    if pipeline is None:
        members = selection.resolve(app.clusters, clusters=clusters, what=f"app {app.name}")
        statuses = [context.stage(stage=None, name="", members=[c.name for c in members])]
    else:
        found = validate.problems(app=app, pipeline=pipeline, clusters=clusters)
        if found:
            raise errors.ConfigError(found)
        statuses = []
        for stage in pipeline.stages:
            members = selection.resolve(
                stage.clusters, clusters=clusters, what=f"pipeline {app.name}: stage {stage.name}"
            )
            statuses.append(
                context.stage(stage=stage, name=stage.name, members=[c.name for c in members])
            )
    return model.RolloutPlan(
        app=app.name,
        release=release,
        steps=tuple(context.steps),
        stages=tuple(statuses),
        pending_approvals=tuple(
            s.name
            for s in statuses
            for g in s.gates
            if g.gate == model.APPROVAL and g.state == model.WAITING
        ),
        next_check=min(
            (
                g.until
                for s in statuses
                for g in s.gates
                if g.state == model.WAITING and g.until is not None and g.until > now
            ),
            default=None,
        ),
    )


class _Context:
    """What one ``plan`` call knows, and the stages it has evaluated so far."""

    def __init__(
        self,
        *,
        app: config.App,
        release: str,
        records: Mapping[str, model.ClusterRecord],
        approvals: Collection[tuple[str, str]],
        now: dt.datetime,
    ) -> None:
        self.app = app
        self.release = release
        self.records = records
        self.approvals = approvals
        self.now = now
        self.done: dict[str, model.StageStatus] = {}
        self.members: dict[str, list[str]] = {}
        self.steps: list[model.Step] = []

    def stage(
        self, *, stage: config.Stage | None, name: str, members: list[str]
    ) -> model.StageStatus:
        """Evaluate one stage (``stage`` None: the app has no pipeline) and add its steps."""
        clusters = tuple(self.cluster_status(n) for n in members)
        status = self._evaluate(stage=stage, name=name, clusters=clusters)
        self.done[name] = status
        self.members[name] = members
        return status

    def cluster_status(self, name: str) -> model.ClusterStatus:
        record = self.records.get(name)
        if record is None:
            return model.ClusterStatus(name, "", "", "", current=False)
        stays = record.state in model.IN_FLIGHT or record.state in (model.HEALTHY, model.UNHEALTHY)
        return model.ClusterStatus(
            name,
            record.release,
            record.state,
            record.running or (record.release if stays else ""),
            current=record.release == self.release and record.state == model.HEALTHY,
        )

    def _evaluate(
        self, *, stage: config.Stage | None, name: str, clusters: tuple[model.ClusterStatus, ...]
    ) -> model.StageStatus:
        at = gates.prefix(name)
        if not clusters:
            what = f"stage {name}" if stage else f"app {self.app.name}"
            gate = model.GateResult(
                model.CLUSTERS, model.WAITING, f"{at}{what} selects no clusters"
            )
            return model.StageStatus(name, model.EMPTY, clusters, (gate,))
        if all(c.current for c in clusters):
            return model.StageStatus(name, model.DONE, clusters, ())
        on_release = [c for c in clusters if c.release == self.release]
        failed = [c for c in on_release if c.state in model.FAILURES]
        one_at_a_time = stage is not None and stage.one_at_a_time
        results: list[model.GateResult] = []
        if failed:
            results.append(self._failure(at=at, cluster=failed[0], stops=one_at_a_time))
        # A failure stops a oneAtATime stage; other stages still send the release to
        # their remaining clusters (one cluster's failure never stops the others).
        entry = [] if failed and one_at_a_time else self._entry_gates(stage=stage)
        results += entry
        entry_open = not (failed and one_at_a_time) and all(g.state == model.PASSED for g in entry)
        # Clusters that need the release: not on it yet, or on it but superseded before.
        todo = [c for c in clusters if c.release != self.release or c.state == model.SUPERSEDED]
        if one_at_a_time and not failed:
            busy = [c for c in clusters if c.state in model.IN_FLIGHT]
            results.append(self._one_at_a_time(at=at, busy=busy, todo=todo, go=entry_open))
            todo = todo[:1] if not busy else []
        steps = [model.Step(c.name, name, self.release) for c in todo] if entry_open else []
        self.steps += steps
        return model.StageStatus(
            name, self._phase(results, steps, on_release), clusters, tuple(results)
        )

    def _phase(
        self,
        results: list[model.GateResult],
        steps: list[model.Step],
        on_release: list[model.ClusterStatus],
    ) -> str:
        if any(g.gate == model.HEALTH for g in results):
            return model.FAILED_PHASE
        if steps or any(c.state in model.IN_FLIGHT for c in on_release):
            return model.PROGRESSING
        if any(g.state == model.BLOCKED for g in results):
            return model.BLOCKED_PHASE
        return model.WAITING_PHASE

    def _entry_gates(self, *, stage: config.Stage | None) -> list[model.GateResult]:
        """after (+ soak), approval, window: all must pass for the release to enter."""
        if stage is None:
            return []
        results = []
        if stage.after:
            upstream = self.done[stage.after]
            gate = gates.after(stage=stage.name, upstream=upstream, release=self.release)
            results.append(gate)
            if gate.state == model.BLOCKED:
                # Never roll a release into a stage whose upstream failed on it.
                return results
            if stage.soak > 0:
                results.append(
                    gates.soak(
                        stage=stage.name,
                        upstream=upstream,
                        healthy_since=self._healthy_since(stage.after)
                        if gate.state == model.PASSED
                        else None,
                        seconds=stage.soak,
                        now=self.now,
                    )
                )
        if stage.approval:
            results.append(
                gates.approval(
                    app=self.app.name,
                    stage=stage.name,
                    release=self.release,
                    approvals=self.approvals,
                )
            )
        if stage.window is not None:
            results.append(gates.window(stage=stage.name, window=stage.window, now=self.now))
        return results

    def _healthy_since(self, stage: str) -> dt.datetime:
        """When the last cluster of ``stage`` became healthy (all are, on the release)."""
        times = [self.records[n].healthy_since for n in self.members[stage]]
        return max(t for t in times if t is not None)

    def _failure(self, *, at: str, cluster: model.ClusterStatus, stops: bool) -> model.GateResult:
        state = cluster.state.replace("-", " ")
        text = f"release {gates.short(self.release)} {state} in cluster {cluster.name}"
        if stops:
            text = f"blocked: {text}; the rest of the stage waits"
        return model.GateResult(model.HEALTH, model.BLOCKED, f"{at}{text}")

    def _one_at_a_time(
        self,
        *,
        at: str,
        busy: list[model.ClusterStatus],
        todo: list[model.ClusterStatus],
        go: bool,
    ) -> model.GateResult:
        if busy:
            return model.GateResult(
                model.ONE_AT_A_TIME,
                model.WAITING,
                f"{at}one at a time: waiting for {busy[0].name} to be healthy",
            )
        if go and len(todo) > 1:
            rest = ", ".join(c.name for c in todo[1:])
            return model.GateResult(
                model.ONE_AT_A_TIME,
                model.WAITING,
                f"{at}one at a time: {todo[0].name} now, then {rest}",
            )
        return model.GateResult(model.ONE_AT_A_TIME, model.PASSED, f"{at}one at a time")
