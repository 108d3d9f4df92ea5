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
from collections.abc import Collection
from typing import Any

from syncer import errors, release, render
from syncer import images as images_
from syncer.config import model
from syncer.reconcile import app as app_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts as parts_
from syncer.state import store as store_


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
    rendered: list[dict[str, Any]] = dataclasses.field(default_factory=list, repr=False)
    """The rendered objects (for notes; ``objects`` is what the report shows)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "reachable": self.reachable,
            "missing": self.missing,
            "summary": self.summary,
            "diff": self.diff,
            "objects": self.objects,
            "error": self.error,
        }


@dataclasses.dataclass
class AppPlan:
    app: str
    commit: str = ""
    release: str = ""
    images: list[dict[str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    """Plain sentences about inputs that could not be read (registry unreachable ...)."""
    clusters: list[ClusterPlan] = dataclasses.field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(c.reachable and not c.error for c in self.clusters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "commit": self.commit,
            "release": self.release,
            "images": self.images,
            "notes": self.notes,
            "clusters": [c.to_dict() for c in self.clusters],
            "error": self.error,
            "ok": self.ok,
        }


def plan_app(
    *,
    config: model.Config,
    parts: parts_.Parts,
    store: store_.Store | None,
    name: str,
    only: Collection[str] | None = None,
) -> AppPlan:
    """Plan ``name`` on its clusters (or only on ``only``); never writes state."""
    app = next((a for a in config.apps if a.name == name), None)
    if app is None:
        raise errors.PermanentError(f"no app named {name!r}")
    report = AppPlan(app=name)
    pipeline = next((p for p in config.pipelines if p.app == name), None)
    source = next(s for s in config.sources if s.name == app.source)
    # Nothing recorded (store=None), but the releases are read: what runs bounds a cut list.
    inputs = inputs_.Inputs(config=config, parts=parts, store=None, releases=store)
    try:
        snap = inputs.snapshot(source, fresh=True)
    except errors.SyncerError as err:
        report.error = f"source {source.name}: {err}"
        return report
    report.commit = snap.commit
    images: list[release.Image] = []
    unreachable: dict[str, str] = {}
    for image in app.images:
        try:
            decision = inputs.image(image, fresh=True)
        except app_.REGISTRY_OUTAGES as err:
            # As sync does: an outage keeps the image the app last ran, never a downgrade
            # to the tag written in Git (that only when the app never had one).
            kept = inputs_.last_image(store, app=name, image=image)
            if kept is None:
                unreachable[inputs_.normalise_repository(image.repository)] = str(err)
                continue
            report.notes.append(f"{_outage(err)}: {err}; keeping {kept.ref} (its last release)")
            decision = kept
        except errors.SyncerError as err:
            # A credential or policy problem fails the sync of this app: so does the plan.
            report.error = f"images: {err}"
            return report
        if decision.warning:
            report.notes.append(decision.warning)
        images.append(decision)
        report.images.append(decision.to_dict())
    report.release = release.make(
        app=name,
        commit=snap.commit,
        images=images,
        config_digest=release.config_digest(app),
    ).id
    try:
        clusters = app_.app_clusters(app=app, config=config, pipeline=pipeline)
    except errors.SyncerError as err:
        report.error = str(err)
        return report
    for cluster in clusters:
        if only is not None and cluster.name not in only:
            continue
        report.clusters.append(
            _plan_cluster(
                app=app, cluster=cluster, parts=parts, snap=snap, images=images, store=store
            )
        )
    for repository, why in unreachable.items():
        from_git = sorted(
            {ref for c in report.clusters for ref in images_in(c.rendered, repository)}
        )
        used = ", ".join(from_git) if from_git else "none found in the manifests"
        report.notes.append(
            f"registry for {repository} unreachable ({why}); "
            f"using the image tags written in Git: {used}"
        )
    rendered = [obj for c in report.clusters for obj in c.rendered]
    if rendered:  # a policy that governs no container of the rendered objects
        report.notes += render.images.unmatched(
            objs=rendered, choices=images, image_fields=app.image_fields
        )
    return report


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
    snap: parts_.Snapshot,
    images: list[release.Image],
    store: store_.Store | None,
) -> ClusterPlan:
    result = ClusterPlan(cluster=cluster.name, reachable=True)
    try:
        objects = parts.render(app=app, cluster=cluster, snapshot=snap, images=images)
    except errors.SyncerError as err:
        result.error = f"render: {err}"
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
