"""Checks of a pipeline against its app and the configured clusters.

The config loader calls ``problems`` so that a bad pipeline is rejected when the config
is read, naming the pipeline, stage and field; ``syncer.rollout.plan`` calls it again
and raises ``ConfigError`` rather than guess. A pipeline with problems never rolls out.
"""

from __future__ import annotations

from collections.abc import Sequence

from syncer.config import cron, model
from syncer.rollout import selection


def problems(
    *, app: model.App, pipeline: model.Pipeline, clusters: Sequence[model.Cluster]
) -> list[str]:
    """Every problem found, one sentence each; empty when the pipeline is sound."""
    where = f"pipeline {pipeline.app}"
    found: list[str] = []
    if pipeline.app != app.name:
        found.append(f"{where}: belongs to app {pipeline.app!r}, not {app.name!r}")
    if not pipeline.stages:
        found.append(f"{where}: stages: give at least one stage")
    found += _app_selection(app=app, clusters=clusters)
    seen: list[str] = []
    owner: dict[str, str] = {}
    for stage in pipeline.stages:
        at = f"{where}: stage {stage.name}"
        if stage.name in seen:
            found.append(f"{at}: name: used twice; stage names must be unique")
        found += _after(at=at, stage=stage, earlier=seen)
        found += _timing(at=at, stage=stage)
        found += _stage_clusters(at=at, stage=stage, app=app, clusters=clusters, owner=owner)
        seen.append(stage.name)
    if not selection.is_empty(app.clusters) and not selection.unknown_names(
        app.clusters, clusters=clusters
    ):
        in_app = selection.resolve(app.clusters, clusters=clusters, what=f"app {app.name}")
        for cluster in in_app:
            if cluster.name not in owner:
                found.append(
                    f"{where}: cluster {cluster.name} of app {app.name} is in no stage; "
                    "add it to a stage or remove it from the app's clusters"
                )
    return found


def _app_selection(*, app: model.App, clusters: Sequence[model.Cluster]) -> list[str]:
    missing = selection.unknown_names(app.clusters, clusters=clusters)
    if missing:
        return [f"app {app.name}: clusters: unknown cluster {', '.join(missing)}"]
    return []


def _after(*, at: str, stage: model.Stage, earlier: list[str]) -> list[str]:
    if not stage.after or stage.after in earlier:
        return []
    allowed = ", ".join(earlier) or "none: it is the first stage"
    return [f"{at}: after: {stage.after!r} is not an earlier stage (earlier: {allowed})"]


def _timing(*, at: str, stage: model.Stage) -> list[str]:
    found = []
    if stage.soak < 0:
        found.append(f"{at}: soak: must not be negative")
    if stage.soak > 0 and not stage.after:
        found.append(f"{at}: soak: counts time healthy in the 'after' stage; set after too")
    if stage.window is not None:
        try:
            cron.parse(stage.window.cron)
        except ValueError as err:
            found.append(f"{at}: window.cron: {err}")
        if stage.window.duration <= 0:
            found.append(f"{at}: window.duration: must be longer than 0s, e.g. 1h")
    return found


def _stage_clusters(
    *,
    at: str,
    stage: model.Stage,
    app: model.App,
    clusters: Sequence[model.Cluster],
    owner: dict[str, str],
) -> list[str]:
    """Unknown names, clusters outside the app, clusters in two stages."""
    if selection.is_empty(stage.clusters):
        return [f"{at}: clusters: give names or a selector"]
    missing = selection.unknown_names(stage.clusters, clusters=clusters)
    if missing:
        return [f"{at}: clusters: unknown cluster {', '.join(missing)}"]
    found = []
    app_names = None
    if not selection.is_empty(app.clusters) and not selection.unknown_names(
        app.clusters, clusters=clusters
    ):
        app_names = {c.name for c in selection.resolve(app.clusters, clusters=clusters, what="app")}
    for cluster in selection.resolve(stage.clusters, clusters=clusters, what=at):
        if app_names is not None and cluster.name not in app_names:
            found.append(f"{at}: clusters: {cluster.name} is not one of app {app.name}'s clusters")
        elif cluster.name in owner:
            found.append(
                f"{at}: clusters: {cluster.name} is already in stage {owner[cluster.name]}; "
                "a cluster belongs to one stage"
            )
        else:
            owner[cluster.name] = stage.name
    return found
