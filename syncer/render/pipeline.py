"""Rendering one app for one cluster: snapshot directory in, apply-ready objects out.

The second step of the data flow: the reconcile loop and ``syncer render`` call
``render`` with a snapshot from ``syncer.source`` and the image choices of the app's
policies; ``syncer.apply`` takes ``Rendered.objects`` as they are. The app's path is
templated with the cluster's name and labels, confined to the snapshot, and rendered as
a Helm chart (``Chart.yaml``), a kustomization, or a plain YAML/JSON directory. Objects
are then namespaced and labelled (``objects``) and governed images pinned (``images``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncer.config import model
from syncer.render import (
    dependencies,
    errors,
    files,
    generated,
    helm,
    images,
    kustomize,
    limits,
    objects,
    paths,
    plain,
    templating,
    tools,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """What one app should run on one cluster at one commit."""

    app: str
    cluster: str
    """The cluster's name ("" when rendered without one)."""
    commit: str
    path: str
    """The app's path after templating, relative to the repository root."""
    kind: str
    """How it was rendered: ``plain``, ``kustomize`` or ``helm``."""
    objects: list[dict[str, Any]]
    """Apply-ready objects, in a stable order."""
    image_changes: list[images.ImageChange] = field(default_factory=list)
    unmatched_images: list[str] = field(default_factory=list)
    """One sentence per image policy that matched no container image in ``objects``
    (e.g. a registry host:port that differs from the manifests'): its images stay as
    written in Git."""
    generated: list[str] = field(default_factory=list)
    """One sentence per field a Helm chart generates anew at each render, saying which
    value was kept (``syncer.render.generated``)."""


def render(
    *,
    app: model.App,
    snapshot: Path,
    commit: str = "",
    cluster: model.Cluster | None = None,
    choices: Sequence[images.ImageChoice] = (),
    limits: limits.Limits | None = None,
    tool_paths: tools.Tools | None = None,
    capabilities: Callable[[], helm.Capabilities | None] | None = None,
    live: generated.LiveReader | None = None,
    keeper: generated.Keeper | None = None,
    fetch: dependencies.Fetch | None = None,
) -> Rendered:
    """Render ``app`` from ``snapshot`` for ``cluster``; raise ``RenderError`` on bad input.

    ``capabilities`` is asked (only for a Helm chart) for the cluster's version and APIs;
    ``live`` for the cluster's copy of an object with generated fields, whose values are
    kept (else those ``keeper`` holds from an earlier render); ``fetch`` for a chart's
    dependencies that ``charts/`` lacks.

    ``choices`` are the image decisions of the app's policies (``registry.Decision`` or
    ``syncer.release.Image``); images whose repository has one are pinned to it.
    """
    limits = limits or _DEFAULT_LIMITS
    tool_paths = tool_paths or tools.Tools()
    what = f"app {app.name!r}" + (f" on cluster {cluster.name!r}" if cluster else "")
    variables = templating.variables(cluster)
    rel = templating.expand(app.path, values=variables, what=f"{what}: path")
    directory = paths.confine(root=snapshot, rel=rel, what=f"{what}: path")
    if not directory.exists():
        raise errors.RenderError(
            f"{what}: path {rel!r} does not exist in the repository at {commit[:12] or 'HEAD'}"
        )
    budget = files.Budget(limits=limits, app=app.name)
    kind, items = _render_dir(
        app=app, root=snapshot, directory=directory, variables=variables, budget=budget,
        limits=limits, tool_paths=tool_paths, what=what, capabilities=capabilities,
        fetch=fetch,
    )  # fmt: skip
    if len(items) > limits.max_objects:
        raise errors.LimitError(
            f"{what}: {len(items)} objects, over the limit of {limits.max_objects} per app"
        )
    objs = objects.finish(items=items, app=app.name, namespace=app.namespace)
    scope = f"{app.name}/{cluster.name if cluster else ''}"
    kept = generated.stabilize(items=items, scope=scope, live=live, keeper=keeper)
    for note in kept:
        log.info("%s: %s", what, note)
    try:
        changes = images.rewrite(items=items, choices=choices, image_fields=app.image_fields)
    except ValueError as exc:
        raise errors.RenderError(f"{what}: imageFields: {exc}") from exc
    unmatched = images.unmatched(objs=objs, choices=choices, image_fields=app.image_fields)
    return Rendered(
        app=app.name, cluster=cluster.name if cluster else "", commit=commit, path=rel,
        kind=kind, objects=objs, image_changes=changes, unmatched_images=unmatched,
        generated=[str(k) for k in kept],
    )  # fmt: skip


def _render_dir(
    *,
    app: model.App,
    root: Path,
    directory: Path,
    variables: dict[str, str],
    budget: files.Budget,
    limits: limits.Limits,
    tool_paths: tools.Tools,
    what: str,
    capabilities: Callable[[], helm.Capabilities | None] | None,
    fetch: dependencies.Fetch | None,
) -> tuple[str, list[objects.Item]]:
    if directory.is_dir() and (directory / "Chart.yaml").is_file():
        values_files = [
            templating.expand(name, values=variables, what=f"{what}: helm.valuesFiles")
            for name in app.helm.values_files
        ]
        values = templating.expand_values(
            app.helm.values, values=variables, what=f"{what}: helm.values"
        )
        return "helm", helm.render(
            root=root, chart=directory, app=app, values_files=values_files, values=values,
            budget=budget, limits=limits, tool_paths=tool_paths, what=what,
            capabilities=capabilities, fetch=fetch,
        )  # fmt: skip
    if directory.is_dir() and kustomize.kustomization_file(directory):
        return "kustomize", kustomize.render(
            root=root, directory=directory, budget=budget, limits=limits,
            tool_paths=tool_paths, what=what,
        )  # fmt: skip
    return "plain", plain.render(root=root, directory=directory, budget=budget, limits=limits)


_DEFAULT_LIMITS = limits.Limits()
