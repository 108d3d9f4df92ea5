"""What a reconcile would do, with nothing written: ``syncer plan`` and offline ``sync``.

Called by ``syncer.commands.plan`` for every app, and by ``syncer.commands.sync`` for
clusters it cannot reach. It polls the source and the registries like a reconcile,
but records nothing in ``syncer.state`` and sends nothing but dry runs to clusters.
Whatever is missing (registry unreachable, no kubeconfig, API down) becomes a plain
sentence in the report instead of an error, so a fresh machine still sees exactly what
would be applied.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import Any

from syncer import errors, redact, release, render, rollout
from syncer import images as images_
from syncer.config import model
from syncer.reconcile import app as app_
from syncer.reconcile import decide as decide_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts as parts_
from syncer.state import store as store_
from syncer.writeback import run as writeback


@dataclasses.dataclass
class ClusterPlan:
    cluster: str
    reachable: bool
    missing: str = ""
    """Why nothing can be applied there (no kubeconfig, API unreachable)."""
    summary: dict[str, int] = dataclasses.field(default_factory=dict)
    diff: str = ""
    objects: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    error: str = ""
    gate: str = ""
    """Why a sync would not roll the release out there now (a pipeline gate, a hold,
    a rejected release); empty when it would."""
    rendered: list[dict[str, Any]] = dataclasses.field(default_factory=list, repr=False)
    """The rendered objects (for notes; ``objects`` is what the report shows)."""

    @property
    def changes(self) -> bool:
        """A sync now would change something here."""
        if self.gate or self.error:
            return False
        return any(n for k, n in self.summary.items() if k not in QUIET_ACTIONS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "reachable": self.reachable,
            "missing": self.missing,
            "summary": self.summary,
            "diff": self.diff,
            "objects": [redact.secret_object(o) for o in self.objects],
            "error": self.error,
            "gate": self.gate,
            "changes": self.changes,
        }


QUIET_ACTIONS = frozenset({"unchanged", "orphan"})
"""Plan actions that change nothing in a cluster."""


@dataclasses.dataclass
class AppPlan:
    app: str
    commit: str = ""
    tree: str = ""
    """``local tree PATH`` when a working tree was planned (``--local``) instead of a commit."""
    release: str = ""
    images: list[dict[str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    """Plain sentences about inputs that could not be read (registry unreachable ...)."""
    clusters: list[ClusterPlan] = dataclasses.field(default_factory=list)
    error: str = ""
    write_back: dict[str, Any] = dataclasses.field(default_factory=dict)
    """With ``writeBack``: the branch, and the changes a write-back of these images
    would make to the tracked commit (or why it could not be worked out)."""

    @property
    def ok(self) -> bool:
        return not self.error and all(c.reachable and not c.error for c in self.clusters)

    @property
    def changes(self) -> bool:
        return any(c.changes for c in self.clusters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "commit": self.commit,
            "tree": self.tree,
            "release": self.release,
            "images": self.images,
            "notes": self.notes,
            "clusters": [c.to_dict() for c in self.clusters],
            "error": self.error,
            "ok": self.ok,
            "changes": self.changes,
            **({"writeBack": self.write_back} if self.write_back else {}),
        }


def local_snapshot(*, source: model.Source, path: Path) -> parts_.Snapshot:
    """A working tree to plan from instead of the fetched commit (``plan --local``):
    the same directory layout as the repository, e.g. a pull request's checkout."""
    root = path.expanduser().resolve()
    if not root.is_dir():
        raise errors.ConfigError([f"--local {path}: not a directory"])
    return parts_.Snapshot(source=source.name, commit="", path=root, label=f"local tree {root}")


def plan_app(
    *,
    config: model.Config,
    parts: parts_.Parts,
    store: store_.Store | None,
    name: str,
    only: Collection[str] | None = None,
    local: Path | None = None,
) -> AppPlan:
    """Plan ``name`` on its clusters (or only on ``only``); never writes state.

    The release is decided exactly as a sync decides it (``syncer.reconcile.decide``:
    the same images kept through outages, the same held-back images), and each cluster
    says whether a sync would roll it out there now or why not (pipeline gates, holds,
    a rejected release). ``local``: render this working tree instead of the commit."""
    app = next((a for a in config.apps if a.name == name), None)
    if app is None:
        raise errors.PermanentError(f"no app named {name!r}")
    report = AppPlan(app=name)
    pipeline = next((p for p in config.pipelines if p.app == name), None)
    source = next(s for s in config.sources if s.name == app.source)
    # Nothing recorded (store=None), but the releases are read: what runs bounds a cut list.
    inputs = inputs_.Inputs(config=config, parts=parts, store=None, releases=store)
    try:
        clusters = app_.app_clusters(app=app, config=config, pipeline=pipeline)
    except errors.SyncerError as err:
        report.error = str(err)
        return report
    snapshot = local_snapshot(source=source, path=local) if local is not None else None
    try:
        decision = decide_.decide(
            app=app, source=source, clusters=clusters, inputs=inputs, parts=parts,
            store=store, fresh=True, cache=decide_.RenderCache(), snapshot=snapshot,
        )  # fmt: skip
    except decide_.Failed as err:
        # A credential or policy problem fails the sync of this app: so does the plan.
        report.error = (
            f"source {source.name}: {err.error}" if err.stage == "source" else f"images: {err}"
        )
        return report
    rel = decision.release
    if store is not None:
        rel = decide_.known_release(store=store, rel=rel, write=False)
    report.commit = decision.snapshot.commit
    report.tree = decision.snapshot.label if local is not None else ""
    report.release = rel.id
    # Today's decisions (their reasons), for the release known by the same content.
    report.images = [i.to_dict() for i in decision.release.images]
    report.notes += decision.held
    # A limit cut a tag list and the running tag was kept: as sync warns.
    report.notes += [image.warning for image in decision.release.images if image.warning]
    unreachable: dict[str, str] = {}
    for outage in decision.outages:
        if outage.kept is None:
            unreachable[outage.repository] = str(outage.error)
        else:
            report.notes.append(
                f"{_outage(outage.error)}: {outage.error}; keeping {outage.kept.ref} "
                "(its last release)"
            )
    try:
        gates = _gates(config=config, app=app, pipeline=pipeline, store=store, rel=rel)
    except errors.SyncerError as err:
        report.error = f"pipeline: {err}"
        return report
    for cluster in clusters:
        if only is not None and cluster.name not in only:
            continue
        planned = _plan_cluster(
            app=app, cluster=cluster, parts=parts, decision=decision, store=store
        )
        planned.gate = gates.get(cluster.name, "")
        report.clusters.append(planned)
    for repository, why in unreachable.items():
        from_git = sorted(
            {ref for c in report.clusters for ref in images_in(c.rendered, repository)}
        )
        used = ", ".join(from_git) if from_git else "none found in the manifests"
        report.notes.append(
            f"registry for {repository} unreachable ({why}); "
            f"using the image tags written in Git: {used}"
        )
    if app.write_back is not None:
        report.write_back = _write_back(app=app, source=source, decision=decision)
    rendered = [obj for c in report.clusters for obj in c.rendered]
    if rendered and rel.images:  # a policy that governs no container of the rendered objects
        report.notes += render.images.unmatched(
            objs=rendered, choices=list(rel.images), image_fields=app.image_fields
        )
    return report


def _write_back(
    *, app: model.App, source: model.Source, decision: decide_.Decision
) -> dict[str, Any]:
    """What a write-back of the decided images would change in the planned tree."""
    found: dict[str, Any] = {"branch": writeback.branch_of(app, source), "changes": []}
    try:
        changes = writeback.preview(
            root=decision.snapshot.path, app=app, images=decision.release.images
        )
    except errors.SyncerError as err:
        found["error"] = str(err)
    else:
        found["changes"] = [c.to_dict() for c in changes]
        found["lines"] = [c.line() for c in changes]
    return found


def _gates(
    *,
    config: model.Config,
    app: model.App,
    pipeline: model.Pipeline | None,
    store: store_.Store | None,
    rel: release.Release,
) -> dict[str, str]:
    """Cluster -> why a sync would not roll ``rel`` out there now (missing: it would).

    The reconcile's own rules, read-only: holds (suspended, pinned), a rejected
    release, then the rollout planner's gates on the recorded cluster states."""
    clusters = app_.app_clusters(app=app, config=config, pipeline=pipeline)
    names = [c.name for c in clusters]
    if store is None:
        records, approvals, rejected, holds = {}, set(), {}, []
    else:
        records = app_.cluster_records(store=store, app=app.name, clusters=names)
        approvals = app_.approved(store=store, app=app.name)
        rejected = store.rejected(app.name)
        holds = store.holds(app.name)
    held = app_.Holds.of(
        holds, stages=app_.stage_clusters(app=app, config=config, pipeline=pipeline)
    )
    if held.app:
        return dict.fromkeys(names, held.app_message(app.name, newest=rel))
    if rel.id in rejected:
        return dict.fromkeys(names, f"release {rel.short_id} not rolled out: {rejected[rel.id]}")
    planned = rollout.plan(
        app=app, pipeline=pipeline, clusters=config.clusters, release=rel.id,
        records=records, approvals=approvals, now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    steps = {s.cluster for s in planned.steps}
    found: dict[str, str] = {}
    by_cluster = held.by_cluster()
    for stage in planned.stages:
        prefix = f"stage {stage.name}: " if stage.name else ""
        for c in stage.clusters:
            if c.name in by_cluster:
                found[c.name] = by_cluster[c.name].describe()
            elif c.name in steps or c.current or c.running == rel.id:
                continue
            elif stage.message:
                found[c.name] = stage.message  # names its stage already
            else:
                found[c.name] = f"{prefix}{stage.phase}"
    return found


def _outage(err: Exception) -> str:
    return (
        "registry rate-limited or unavailable"
        if isinstance(err, images_.RegistryUnavailableError)
        else "registry unreachable"
    )


def images_in(objects: list[dict[str, Any]], repository: str) -> list[str]:
    """Image references of ``repository`` as written in ``objects`` (from Git)."""
    found = []
    for obj in objects:
        for item in render.find(obj):
            name = item.image.split("@", 1)[0]
            last = name.rsplit("/", 1)[-1]
            if ":" in last:
                name = name[: name.rindex(":")]
            if inputs_.normalise_repository(name) == repository:
                found.append(item.image)
    return found


def _plan_cluster(
    *,
    app: model.App,
    cluster: model.Cluster,
    parts: parts_.Parts,
    decision: decide_.Decision,
    store: store_.Store | None,
) -> ClusterPlan:
    result = ClusterPlan(cluster=cluster.name, reachable=True)
    objects = decision.objects(cluster.name)
    if objects is None:
        result.error = f"render: {decision.render_errors.get(cluster.name, 'not rendered')}"
        return result
    result.rendered = list(objects)
    result.missing = parts.check_cluster(cluster)
    if result.missing:
        result.reachable = False
        result.objects = list(objects)
        result.summary = {"create": len(objects)}
        return result
    inventory = store.inventory(app.name, cluster.name) if store is not None else None
    try:
        planned = parts.plan(app=app, cluster=cluster, objects=objects, inventory=inventory)
    except errors.SyncerError as err:
        result.error = f"plan: {err}"
        result.objects = list(objects)
        return result
    result.summary = dict(planned.summary)
    result.diff = planned.diff
    result.objects = list(planned.objects)
    return result
