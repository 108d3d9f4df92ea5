"""Rules across the config: unique names and references that must resolve.

``loader`` calls ``check`` once the walker has built the whole ``model.Config``.
Problems point at the referring field (``apps[0].source``), using the lines the walker
noted. A list with an element that failed to build (``ctx.incomplete``) and a field
that already has a problem (``ctx.is_broken``) are not judged again, so one mistake
is reported once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from syncer.config import model, nodes


def check(config: model.Config, *, ctx: nodes.Context) -> None:
    _unique(config.sources, key=lambda s: s.name, what="source name", field="name", ctx=ctx)
    _unique(config.clusters, key=lambda c: c.name, what="cluster name", field="name", ctx=ctx)
    _unique(config.apps, key=lambda a: a.name, what="app name", field="name", ctx=ctx)
    _unique(
        config.registries, key=lambda r: r.host.lower(), what="registry host", field="host", ctx=ctx
    )
    _unique(config.pipelines, key=lambda p: p.app, what="pipeline for app", field="app", ctx=ctx)
    _unique(config.server.users, key=lambda u: u.name, what="user name", field="name", ctx=ctx)
    clusters = {cluster.name: cluster for cluster in config.clusters}
    sources = list(dict.fromkeys(source.name for source in config.sources))
    apps = {app.name: app for app in config.apps}
    for app in config.apps:
        path = ctx.path_of(app)
        _exists(app.source, sources, "source", "sources", path=f"{path}.source", ctx=ctx)
        if app.write_back is not None:
            _write_back(app, sources={s.name: s for s in config.sources}, ctx=ctx)
        selected = select(app.clusters, clusters=clusters, path=f"{path}.clusters", ctx=ctx)
        if selected is not None:
            _placeholders(app, selected, clusters=clusters, ctx=ctx)
    if config.settings.secrets_cluster:
        _exists(
            config.settings.secrets_cluster, list(clusters), "cluster", "clusters",
            path="settings.secretsCluster", ctx=ctx,
        )  # fmt: skip
    if config.state.kubernetes is not None:
        _exists(
            config.state.kubernetes.cluster, [model.IN_CLUSTER, *clusters], "cluster",
            "clusters", path="state.kubernetes.cluster", ctx=ctx,
        )  # fmt: skip
    _notifications(config, ctx=ctx)
    for pipeline in config.pipelines:
        app_path = f"{ctx.path_of(pipeline)}.app"
        if _exists(pipeline.app, list(apps), "app", "apps", path=app_path, ctx=ctx):
            app = apps[pipeline.app]
            allowed = None
            if (
                not ctx.is_broken(f"{ctx.path_of(app)}.clusters")
                and "clusters" not in ctx.incomplete
            ):
                allowed = select(app.clusters, clusters=clusters, path="", ctx=None)
            _stages(pipeline, app=app, allowed=allowed, clusters=clusters, ctx=ctx)


def _notifications(config: model.Config, *, ctx: nodes.Context) -> None:
    """Rules name providers, apps, stages and clusters that exist."""
    notes = config.notifications
    _unique(notes.providers, key=lambda p: p.name, what="provider name", field="name", ctx=ctx)
    known = {
        "providers": [p.name for p in notes.providers],
        "apps": [a.name for a in config.apps],
        "stages": list(dict.fromkeys(s.name for p in config.pipelines for s in p.stages)),
        "clusters": [c.name for c in config.clusters],
    }
    for rule in notes.rules:
        path = ctx.path_of(rule)
        for field, names in (
            ("providers", rule.providers), ("apps", rule.apps), ("stages", rule.stages),
            ("clusters", rule.clusters),
        ):  # fmt: skip
            for i, name in enumerate(names):
                _exists(
                    name, known[field], field.rstrip("s"), field, path=f"{path}.{field}[{i}]",
                    ctx=ctx,
                )  # fmt: skip


def select(
    selection: model.ClusterSelection,
    *,
    clusters: dict[str, model.Cluster],
    path: str,
    ctx: nodes.Context | None,
) -> list[str] | None:
    """Names of the selected clusters; ``None`` when they cannot be known (or are wrong).

    With a ``ctx``, names that do not exist and selectors that match nothing are reported.
    """
    if ctx is not None and (ctx.is_broken(path) or "clusters" in ctx.incomplete):
        return None
    if selection.selector:
        chosen = [
            name
            for name, cluster in clusters.items()
            if all(cluster.labels.get(k) == v for k, v in selection.selector.items())
        ]
        if not chosen and ctx is not None:
            have = sorted({f"{k}={v}" for c in clusters.values() for k, v in c.labels.items()})
            wanted = ", ".join(f"{k}={v}" for k, v in selection.selector.items())
            ctx.problem(
                f"{path}.selector",
                f"{path}.selector",
                f"{wanted} matches no cluster; expected labels of at least one cluster"
                f" ({', '.join(have) if have else 'no cluster has labels'})",
            )
        return chosen or None
    ok = True
    for i, name in enumerate(selection.names):
        if ctx is not None:
            found = _exists(
                name, list(clusters), "cluster", "clusters", path=f"{path}[{i}]", ctx=ctx
            )
        else:
            found = name in clusters
        ok = ok and found
    return list(selection.names) if ok and selection.names else None


def _stages(
    pipeline: model.Pipeline,
    *,
    app: model.App,
    allowed: list[str] | None,
    clusters: dict[str, model.Cluster],
    ctx: nodes.Context,
) -> None:
    pipeline_path = ctx.path_of(pipeline)
    _unique(pipeline.stages, key=lambda s: s.name, what="stage name", field="name", ctx=ctx)
    complete = f"{pipeline_path}.stages" not in ctx.incomplete
    earlier: list[str] = []
    owner: dict[str, str] = {}
    for stage in pipeline.stages:
        path = ctx.path_of(stage)
        if stage.after and complete:
            _after(stage, earlier=earlier, path=f"{path}.after", ctx=ctx)
        earlier.append(stage.name)
        if not stage.clusters.names and not stage.clusters.selector:
            where = f"{path}.clusters"
            ctx.problem(where, where, "selects no cluster; give names or a selector")
            continue
        chosen = select(stage.clusters, clusters=clusters, path=f"{path}.clusters", ctx=ctx)
        if chosen is None:
            continue
        for name in chosen:
            where = f"{path}.clusters"
            if stage.clusters.names:
                where = f"{where}[{stage.clusters.names.index(name)}]"
            if allowed is not None and name not in allowed:
                ctx.problem(
                    where,
                    where,
                    f"cluster {name!r} is not among the clusters of app {app.name!r};"
                    f" expected one of: {', '.join(allowed)}",
                )
            elif name in owner:
                ctx.problem(
                    where,
                    where,
                    f"cluster {name!r} is already in stage {owner[name]!r};"
                    " expected each cluster in one stage",
                )
            else:
                owner[name] = stage.name


def _after(stage: model.Stage, *, earlier: list[str], path: str, ctx: nodes.Context) -> None:
    if stage.after == stage.name:
        message = "a stage cannot wait for itself; expected an earlier stage"
    elif not earlier:
        message = f"the first stage cannot wait for {stage.after!r}; expected no after here"
    elif stage.after not in earlier:
        message = f"{stage.after!r} is not an earlier stage; expected one of: {', '.join(earlier)}"
    else:
        return
    ctx.problem(path, path, message)


def _placeholders(
    app: model.App, selected: list[str], *, clusters: dict[str, model.Cluster], ctx: nodes.Context
) -> None:
    """``{cluster}`` and ``{label}`` in an app's path must be known for every cluster."""
    path = f"{ctx.path_of(app)}.path"
    for placeholder in re.findall(r"\{([^{}]*)\}", app.path):
        if placeholder == "cluster":
            continue
        missing = [name for name in selected if placeholder not in clusters[name].labels]
        if missing:
            ctx.problem(
                path,
                path,
                f"{{{placeholder}}} is not a label of cluster {missing[0]!r};"
                " expected {cluster} or a label every selected cluster has",
            )


def _write_back(app: model.App, *, sources: dict[str, model.Source], ctx: nodes.Context) -> None:
    """Write-back needs a branch to write to, one app path, and images it can name."""
    assert app.write_back is not None
    path = f"{ctx.path_of(app)}.writeBack"
    source = sources.get(app.source)
    if source is not None and source.git is None:
        ctx.problem(
            path,
            path,
            f"source {source.name!r} is a chart, not a Git repository; expected a git:"
            " source, since write-back commits to a branch",
        )
    elif source is not None and source.git is not None and not source.git.branch:
        ctx.problem(
            path,
            path,
            f"source {source.name!r} follows no branch; expected sources[].git.branch set,"
            " since write-back commits to a branch",
        )
    if "{" in app.path:
        ctx.problem(
            path,
            path,
            "the app path has placeholders; expected a path without {...}, since write-back"
            " edits one directory",
        )
    if not app.images:
        ctx.problem(path, path, "the app has no images; expected apps[].images to write back")
    repositories = [i.repository for i in app.images]
    for index, target in enumerate(app.write_back.helm_values):
        where = f"{path}.helmValues[{index}].image"
        if target.image and target.image not in repositories:
            ctx.problem(
                where, where,
                f"unknown image {target.image!r}; expected one of: {', '.join(repositories)}",
            )  # fmt: skip
        elif not target.image and len(repositories) > 1:
            ctx.problem(
                where, where,
                f"the app has {len(repositories)} images; expected image: one of"
                f" {', '.join(repositories)}",
            )  # fmt: skip


def _exists(
    name: str, known: Sequence[str], what: str, section: str, *, path: str, ctx: nodes.Context
) -> bool:
    if name in known or ctx.is_broken(path) or section in ctx.incomplete:
        return name in known
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else ""
    listing = f"expected one of: {', '.join(known)}" if known else f"no {section} are defined"
    message = f"unknown {what} {name!r}" + (f" ({hint}); " if hint else "; ") + listing
    ctx.problem(path, path, message)
    return False


def _unique(items: Iterable[Any], *, key: Any, what: str, field: str, ctx: nodes.Context) -> None:
    first: dict[str, str] = {}
    for item in items:
        value = key(item)
        path = f"{ctx.path_of(item)}.{field}"
        if value in first:
            line = ctx.line(first[value])
            ctx.problem(
                path, path, f"duplicate {what} {value!r} (first at line {line}); expected it once"
            )
        else:
            first[value] = path
