"""Tenants at load time: what a tenant's app may be, and its effective gateway.

``loader`` calls ``resolve`` after ``crossrefs.check``. For every app that names a
tenant it checks what is known before anything renders (the source repository and
path, the clusters, the namespace, the image repositories) against the tenant's
bounds, checks that the app's own ``gateway`` only tightens the tenant's (``tighten``),
and returns the config with each such app carrying its effective gateway, the tenant
attached (``GatewayPolicy.tenant``), so that ``syncer.apply.gateway`` checks what
renders against the same tenant before any write. Problems go to ``ctx`` like every
other config problem, naming both the app's field and the tenant's.
"""

from __future__ import annotations

import dataclasses
import decimal
import fnmatch
import posixpath
from collections.abc import Iterator

from syncer import quantity
from syncer.config import crossrefs, model, nodes


def resolve(config: model.Config, *, ctx: nodes.Context) -> model.Config:
    """``config`` with tenant apps bound to their tenants; problems reported to ``ctx``."""
    tenants = {tenant.name: tenant for tenant in config.tenants}
    clusters = {cluster.name: cluster for cluster in config.clusters}
    sources = {source.name: source for source in config.sources}
    first: dict[str, str] = {}
    for tenant in config.tenants:
        path = f"{ctx.path_of(tenant)}.name"
        if tenant.name in first:
            ctx.problem(path, path, f"duplicate tenant name {tenant.name!r}; expected it once")
        first.setdefault(tenant.name, path)
        accounts = [("impersonate", tenant.impersonate)] + [
            (f"clusterImpersonate[{i}]", entry)
            for i, entry in enumerate(tenant.cluster_impersonate)
        ]
        for field, account in accounts:
            for i, name in enumerate(account.clusters if account is not None else ()):
                where = f"{ctx.path_of(tenant)}.{field}.clusters[{i}]"
                if name not in clusters:
                    known = ", ".join(clusters) or "no clusters are defined"
                    message = f"unknown cluster {name!r}; expected one of: {known}"
                    ctx.problem(where, where, message)
        if tenant.apps_from is not None:
            for field, message in _apps_from(tenant, sources=sources, tpath=ctx.path_of(tenant)):
                where = f"{ctx.path_of(tenant)}.appsFrom.{field}"
                if not ctx.is_broken(where):
                    ctx.problem(where, where, message)
    apps: list[model.App] = []
    for app in config.apps:
        if not app.tenant:
            apps.append(app)
            continue
        path = ctx.path_of(app)
        found = tenants.get(app.tenant)
        if found is None:
            known = ", ".join(tenants) or "no tenants are defined"
            ctx.problem(
                f"{path}.tenant",
                f"{path}.tenant",
                f"unknown tenant {app.tenant!r}; expected one of: {known}",
            )
            apps.append(app)
            continue
        apps.append(
            _bind(app, tenant=found, path=path, sources=sources, clusters=clusters, ctx=ctx)
        )
    return dataclasses.replace(config, apps=tuple(apps))


def _bind(
    app: model.App,
    *,
    tenant: model.Tenant,
    path: str,
    sources: dict[str, model.Source],
    clusters: dict[str, model.Cluster],
    ctx: nodes.Context,
) -> model.App:
    tpath = ctx.path_of(tenant)
    if f"{path}.namespace" not in ctx.marks and tenant.defaults.namespace:
        app = dataclasses.replace(app, namespace=tenant.defaults.namespace)
    problems = list(_static(app, tenant=tenant, tpath=tpath, sources=sources, clusters=clusters))
    written = {key.rpartition(".")[2] for key in ctx.marks if key.startswith(f"{path}.gateway.")}
    effective, looser = tighten(
        tenant=tenant, tenant_path=tpath, app_policy=app.gateway, written=written
    )
    problems += [(f"gateway.{key}", message) for key, message in looser]
    for field, message in problems:
        where = f"{path}.{field}"
        if not ctx.is_broken(where):
            ctx.problem(where, where, message)
    return dataclasses.replace(app, gateway=dataclasses.replace(effective, tenant=tenant))


def _apps_from(
    tenant: model.Tenant, *, sources: dict[str, model.Source], tpath: str
) -> Iterator[tuple[str, str]]:
    """(field of appsFrom, message) for a place the tenant could not read apps from."""
    place = tenant.apps_from
    assert place is not None
    pure = posixpath.normpath(place.path)
    if place.path.startswith("/") or pure == ".." or pure.startswith("../"):
        yield (
            "path",
            f"{place.path!r} leaves the repository; expected a directory relative to its root",
        )
    source = sources.get(place.source)
    if source is None:
        known = ", ".join(sources) or "no sources are defined"
        yield "source", f"unknown source {place.source!r}; expected one of: {known}"
        return
    if source.git is None:
        yield "source", f"source {place.source} is a Helm chart; expected a Git source"
        return
    if refused := _outside_sources(tenant, source=source, path=pure, tpath=tpath):
        yield "source", refused


def _outside_sources(tenant: model.Tenant, *, source: model.Source, path: str, tpath: str) -> str:
    """Why the tenant's ``sources`` do not allow ``path`` of ``source``; empty if they do."""
    if any(
        matches(source.url, (allowed.repo,)) and matches(path, (allowed.path,))
        for allowed in tenant.sources
    ):
        return ""
    allowed = _list(f"{s.repo} (path {s.path})" for s in tenant.sources)
    return (
        f"tenant {tenant.name} allows sources {allowed}; source {source.name} is"
        f" {source.url}, path {path} ({tpath}.sources)"
    )


def _static(
    app: model.App,
    *,
    tenant: model.Tenant,
    tpath: str,
    sources: dict[str, model.Source],
    clusters: dict[str, model.Cluster],
) -> Iterator[tuple[str, str]]:
    """(field of the app, message) for everything known before rendering."""
    source = sources.get(app.source)
    if source is not None and (
        refused := _outside_sources(tenant, source=source, path=app.path, tpath=tpath)
    ):
        yield "source", refused
    selected = crossrefs.select(app.clusters, clusters=clusters, path="", ctx=None) or []
    for name in selected:
        if not matches(name, tenant.clusters):
            yield (
                "clusters",
                f"tenant {tenant.name} allows clusters {_list(tenant.clusters)}; the app"
                f" deploys to {name} ({tpath}.clusters)",
            )
    for field, namespace in [("namespace", app.namespace)] + [
        (f"gateway.allowedNamespaces[{i}]", ns)
        for i, ns in enumerate(app.gateway.allowed_namespaces)
    ]:
        if not matches(namespace, tenant.namespaces):
            yield (
                field,
                f"tenant {tenant.name} allows namespaces {_list(tenant.namespaces)}; the app"
                f" deploys to {namespace} ({tpath}.namespaces)",
            )
    for i, image in enumerate(app.images):
        if tenant.registries and not in_registries(image.repository, tenant.registries):
            yield (
                f"images[{i}].repository",
                f"tenant {tenant.name} allows images from {_list(tenant.registries)}; the app"
                f" follows {image.repository} ({tpath}.registries)",
            )


def tighten(
    *,
    tenant: model.Tenant,
    tenant_path: str,
    app_policy: model.GatewayPolicy,
    written: set[str],
) -> tuple[model.GatewayPolicy, list[tuple[str, str]]]:
    """The tenant's gateway tightened by the keys the app wrote (``written``, camelCase),
    and (key, message) for each written value looser than the tenant's."""
    base = tenant.gateway
    looser: list[tuple[str, str]] = []
    values: dict[str, object] = {}

    def too_loose(key: str, app_value: str, tenant_value: str, tenant_key: str = "") -> None:
        where = tenant_key or f"gateway.{key}"
        looser.append(
            (
                key,
                f"{app_value} is looser than tenant {tenant.name}'s {tenant_value}"
                f" ({tenant_path}.{where}); expected a value at least as strict, or none to"
                " inherit it",
            )
        )

    for key, attr in (
        ("requireResources", "require_resources"),
        ("requireDigest", "require_digest"),
        ("checkQuota", "check_quota"),
    ):
        if key in written:
            if getattr(base, attr) and not getattr(app_policy, attr):
                too_loose(key, "false", "true")
            values[attr] = getattr(app_policy, attr) or getattr(base, attr)
    for key, attr in (("maxCpu", "max_cpu"), ("maxMemory", "max_memory")):
        if key in written:
            mine, theirs = str(getattr(app_policy, attr)), str(getattr(base, attr))
            if theirs and (not mine or _quantity(mine) > _quantity(theirs)):
                too_loose(key, mine or "no limit", theirs)
            tighter = mine and (not theirs or _quantity(mine) <= _quantity(theirs))
            values[attr] = mine if tighter else theirs
    if "maxReplicas" in written:
        mine_n, theirs_n = app_policy.max_replicas, base.max_replicas
        if theirs_n and (not mine_n or mine_n > theirs_n):
            too_loose("maxReplicas", str(mine_n or "no limit"), str(theirs_n))
        values["max_replicas"] = min((n for n in (mine_n, theirs_n) if n), default=0)
    if "allowedRegistries" in written:
        mine_r, theirs_r = app_policy.allowed_registries, base.allowed_registries
        if theirs_r:
            wider = [r for r in mine_r if not in_registries(r, theirs_r)] if mine_r else ["any"]
            if wider:
                too_loose("allowedRegistries", ", ".join(wider), ", ".join(theirs_r))
        values["allowed_registries"] = mine_r or theirs_r
    if "allowedNamespaces" in written:
        mine_a, theirs_a = app_policy.allowed_namespaces, base.allowed_namespaces
        wider = [n for n in mine_a if theirs_a and n not in theirs_a]
        if wider:
            too_loose("allowedNamespaces", ", ".join(wider), ", ".join(theirs_a))
        values["allowed_namespaces"] = mine_a or theirs_a
    cluster_scoped = tenant.kinds.cluster_scoped
    if "allowClusterScoped" in written:
        if app_policy.allow_cluster_scoped and not cluster_scoped:
            too_loose("allowClusterScoped", "true", "false", "kinds.clusterScoped")
        cluster_scoped = cluster_scoped and app_policy.allow_cluster_scoped
    values["allow_cluster_scoped"] = cluster_scoped
    return dataclasses.replace(base, **values), looser  # type: ignore[arg-type]


def matches(value: str, globs: tuple[str, ...]) -> bool:
    """Whether ``value`` matches one of ``globs`` and none of the ``!glob`` among them
    (as Argo CD's destinations: ``["*", "!kube-*"]``); an empty list allows nothing."""
    denied = any(fnmatch.fnmatchcase(value, g[1:]) for g in globs if g.startswith("!"))
    return not denied and any(fnmatch.fnmatchcase(value, g) for g in globs if not g.startswith("!"))


def in_registries(repository: str, prefixes: tuple[str, ...]) -> bool:
    """Whether an image repository (or registry prefix) lies under one of ``prefixes``:
    the same path, or below it at a ``/`` (``reg.example.com/team-a`` allows
    ``reg.example.com/team-a/web``, not ``reg.example.com/team-ab``)."""
    repository = repository.split("@", 1)[0]
    for prefix in prefixes:
        prefix = prefix.rstrip("/")
        if repository == prefix or repository.startswith(prefix + "/"):
            return True
    return False


def _quantity(text: str) -> decimal.Decimal:
    try:
        return quantity.parse(text)
    except ValueError:
        # ``checks._gateway`` reported it already; an invalid maximum limits nothing.
        return decimal.Decimal("Infinity")


def _list(items: object) -> str:
    listed = list(items)  # type: ignore[call-overload]
    return ", ".join(str(item) for item in listed) if listed else "none"
