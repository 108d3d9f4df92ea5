"""Apps from the teams: a tenant's ``appsFrom`` directory read into apps, and the config
that runs, composed of the platform's apps and each tenant's last good set.

``syncer.controller.Controller`` keeps a ``Book`` and calls ``Book.read`` with the
snapshot of the source the directory is in when a poll of that repository saw a new
commit (and for every tenant at start and when the config file is reloaded); the
``Book`` keeps each tenant's last good set and its ``Status``. ``syncer plan`` calls
``include`` once.
``read`` confines the directory and every file to the snapshot (``syncer.render.paths``,
as manifests are), bounds the number and size of the files, and loads each one with
``syncer.config.loader.loads_apps``: the same walker, cross-checks and tenant rules as
the platform's own apps naming the tenant. ``compose`` adds each tenant's apps to the
platform's config and refuses names that are taken (platform first, then the tenant
that ran the app first, as ``Owners`` records in the state, then the order of
``tenants:``). ``Status`` is what ``GET /api/v1/tenants`` shows of each.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from syncer import errors, metrics
from syncer.config import loader, model
from syncer.reconcile import parts as parts_
from syncer.render import errors as render_errors
from syncer.render import paths

log = logging.getLogger("syncer.tenants")

MAX_FILES = 100
"""App files one tenant's directory may hold: a team's apps fit in far fewer, and a
repository with thousands of matching files is refused before any is parsed."""

MAX_FILE_BYTES = 256 * 1024
"""Bytes one app file may have (an app entry is a few hundred bytes)."""

MAX_TOTAL_BYTES = 2 * 1024 * 1024
"""Bytes all of a tenant's app files may have together."""

APPLIED = "applied"
INVALID = "invalid"
FAILED = "failed"
RESULTS = (APPLIED, INVALID, FAILED)
"""Results of reading a tenant's apps (``syncer_tenant_apps_loads_total{result}``)."""


@dataclasses.dataclass
class Status:
    """One tenant's appsFrom as the running controller last read it."""

    tenant: str
    source: str
    path: str
    commit: str = ""
    """The commit last read (the apps running came from ``loaded_commit``)."""
    loaded_commit: str = ""
    """The commit of the apps running; empty while none was ever valid."""
    apps: tuple[tuple[str, str], ...] = ()
    """(app name, origin) of the apps running from it."""
    errors: tuple[str, ...] = ()
    """Why the commit last read does not run (``file:line: field: ...``)."""
    refused: tuple[str, ...] = ()
    """Its apps left out because their name is taken by the platform or another tenant."""
    checked_at: float = 0.0
    loaded_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.tenant,
            "appsFrom": {"source": self.source, "path": self.path},
            "commit": self.commit,
            "loadedCommit": self.loaded_commit,
            "apps": [{"name": name, "origin": origin} for name, origin in self.apps],
            "ok": not self.errors and not self.refused,
            "errors": list(self.errors),
            "refused": list(self.refused),
            "checkedAt": self.checked_at or None,
            "loadedAt": self.loaded_at or None,
        }


def read(*, platform: model.Config, tenant: model.Tenant, root: Path) -> tuple[model.App, ...]:
    """``tenant``'s apps as the snapshot at ``root`` defines them; ``errors.ConfigError``
    listing every problem when any file is unsafe, too large or invalid (then none)."""
    place = tenant.apps_from
    assert place is not None
    found = _files(tenant=tenant, place=place, root=root)
    problems: list[str] = []
    apps: list[model.App] = []
    first: dict[str, str] = {}
    for path in found:
        shown = paths.relative(root=root.resolve(), path=path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            problems.append(f"{shown}: not UTF-8 text ({err.reason}); expected YAML")
            continue
        except OSError as err:
            problems.append(f"{shown}: cannot read: {err.strerror}")
            continue
        try:
            loaded = loader.loads_apps(
                text, filename=shown, origin=f"{place.source}:{shown}", platform=platform,
                tenant=tenant,
            )  # fmt: skip
        except errors.ConfigError as err:
            problems.extend(err.problems)
            continue
        for i, (app, line) in enumerate(loaded):
            if app.name in first:
                problems.append(
                    f"{shown}:{line}: apps[{i}].name: duplicate app name {app.name!r} (first at"
                    f" {first[app.name]}); expected each app once in tenant {tenant.name}'s files"
                )
                continue
            first[app.name] = f"{shown}:{line}"
            apps.append(app)
    if problems:
        raise errors.ConfigError(problems)
    return tuple(apps)


def _files(*, tenant: model.Tenant, place: model.TenantAppsFrom, root: Path) -> list[Path]:
    """The app files under the directory, sorted, within the limits."""
    what = f"tenant {tenant.name} appsFrom"
    try:
        directory = paths.confine(root=root, rel=place.path, what=what)
        if not directory.is_dir():
            raise errors.ConfigError(
                [
                    f"{place.path}: no such directory in source {place.source}; expected the"
                    f" directory of tenant {tenant.name}'s app files (keep it, with a file such"
                    " as .keep, when it holds no app)"
                ]
            )
        found = []
        for path in paths.walk(root=root, start=directory, what=what):
            if any(fnmatch.fnmatchcase(path.name, glob) for glob in place.files):
                found.append(path)
                if len(found) > MAX_FILES:
                    raise errors.ConfigError(
                        [
                            f"{place.path}: more than {MAX_FILES} app files; expected fewer"
                            " (several apps fit in one file), nothing was applied"
                        ]
                    )
    except render_errors.UnsafePathError as err:
        raise errors.ConfigError([str(err)]) from None
    total = 0
    for path in found:
        size = path.stat().st_size
        total += size
        if size > MAX_FILE_BYTES:
            shown = paths.relative(root=root.resolve(), path=path)
            raise errors.ConfigError(
                [
                    f"{shown}: {size:,} bytes, more than the {MAX_FILE_BYTES:,} an app file may"
                    " have; expected a smaller file, nothing was applied"
                ]
            )
    if total > MAX_TOTAL_BYTES:
        raise errors.ConfigError(
            [
                f"{place.path}: the app files hold {total:,} bytes, more than"
                f" {MAX_TOTAL_BYTES:,}; expected smaller files, nothing was applied"
            ]
        )
    return found


def compose(
    *,
    platform: model.Config,
    sets: Mapping[str, tuple[model.App, ...]],
    owners: Mapping[str, str] | None = None,
) -> tuple[model.Config, dict[str, tuple[str, ...]]]:
    """The config that runs: ``platform`` with each tenant's apps added, and per tenant
    the apps refused because their name is taken. The platform's apps come first. A
    name two tenants claim stays with the tenant ``owners`` names (the one that ran it
    before), so that no team can take over another team's running app, and its objects,
    by naming an app the same; an unowned name goes to the first tenant in the order of
    ``tenants:`` (the same answer on every replica and after every restart)."""
    owners = owners or {}
    claims: dict[str, list[str]] = {}
    for tenant in platform.tenants:
        for app in sets.get(tenant.name, ()):
            claims.setdefault(app.name, []).append(tenant.name)
    winners = {
        name: owners[name] if owners.get(name) in found else found[0]
        for name, found in claims.items()
    }
    taken = {app.name: "the platform's config" for app in platform.apps}
    for tenant in platform.tenants:
        for app in sets.get(tenant.name, ()):
            if winners[app.name] == tenant.name:
                taken.setdefault(app.name, f"tenant {tenant.name} ({app.origin})")
    apps = list(platform.apps)
    refused: dict[str, list[str]] = {}
    for tenant in platform.tenants:
        for app in sets.get(tenant.name, ()):
            owner = taken[app.name]
            if owner != f"tenant {tenant.name} ({app.origin})":
                refused.setdefault(tenant.name, []).append(
                    f"{app.origin}: app {app.name} is refused: the name is taken by {owner}"
                    " (the platform's apps come first, then the tenant that ran the app"
                    " first); expected another name"
                )
                continue
            apps.append(app)
    composed = dataclasses.replace(platform, apps=tuple(apps))
    return composed, {name: tuple(found) for name, found in refused.items()}


class Owners:
    """Which tenant runs each team app name, kept in the state (as a Git head of its
    own, like the last good commit) so that it holds across restarts and replicas."""

    PREFIX = "appsFrom-owner:"

    def __init__(self, *, get: Callable[[str, str], str | None], put: Callable[..., bool]):
        """``put(source=, ref=, commit=)`` records an owner; False when it wrote nothing
        (a standby)."""
        self._get, self._put = get, put
        self._known: dict[str, str] = {}

    def of(self, names: set[str]) -> dict[str, str]:
        """The recorded owner of each of ``names`` that has one."""
        for name in names - set(self._known):
            owner = self._get(f"{self.PREFIX}{name}", "")
            if owner:
                self._known[name] = owner
        return {name: self._known[name] for name in names if name in self._known}

    def record(self, running: Mapping[str, str], *, known: Mapping[str, str]) -> None:
        """Record the owner of each running team app, writing only what changed."""
        for name, tenant in running.items():
            if known.get(name) != tenant and self._put(
                source=f"{self.PREFIX}{name}", ref="", commit=tenant
            ):
                self._known[name] = tenant


class Book:
    """Each tenant's last good apps and its status, kept across reads (one per
    controller, or one ``syncer plan``)."""

    def __init__(self, *, owners: Owners | None = None) -> None:
        self.sets: dict[str, tuple[model.App, ...]] = {}
        self.status: dict[str, Status] = {}
        self.owners = owners

    def read(
        self,
        *,
        platform: model.Config,
        tenant: model.Tenant,
        snapshot: Callable[[model.Source], parts_.Snapshot],
        force: bool = False,
    ) -> str:
        """Read ``tenant``'s directory at its source's current snapshot; a valid set
        replaces its last good one. The result (``RESULTS``), or "unchanged" when the
        commit was read already (and not ``force``: the config file changed)."""
        place = tenant.apps_from
        assert place is not None
        source = next(s for s in platform.sources if s.name == place.source)
        status = self.status.setdefault(
            tenant.name, Status(tenant=tenant.name, source=place.source, path=place.path)
        )
        status.source, status.path = place.source, place.path
        status.checked_at = time.time()
        try:
            snap = snapshot(source)
        except errors.SyncerError as err:
            # The commit is not known: the next poll reads again, whatever it finds.
            status.commit, status.errors = "", (f"source {source.name}: {err}",)
            return self._count(tenant.name, FAILED, status)
        if snap.commit == status.commit and not force:
            return "unchanged"
        status.commit = snap.commit
        try:
            apps = read(platform=platform, tenant=tenant, root=snap.path)
        except errors.ConfigError as err:
            status.errors = tuple(err.problems)
            return self._count(tenant.name, INVALID, status)
        self.sets[tenant.name] = apps
        status.errors, status.loaded_commit, status.loaded_at = (), snap.commit, time.time()
        return self._count(tenant.name, APPLIED, status, read=len(apps))

    def restore(
        self, *, platform: model.Config, tenant: model.Tenant, root: Path, commit: str
    ) -> bool:
        """Run the apps of ``commit`` (checked out at ``root``), the last good one of a
        previous process, while the newest does not run and none was read here: what
        ran before a restart keeps running. Whether they passed the rules (of now)."""
        try:
            apps = read(platform=platform, tenant=tenant, root=root)
        except errors.ConfigError:
            return False
        status = self.status[tenant.name]
        self.sets[tenant.name] = apps
        status.loaded_commit, status.loaded_at = commit, time.time()
        log.warning(
            "tenant=%s commit=%s its last good apps run until a newer commit is valid",
            tenant.name, commit[:12],
        )  # fmt: skip
        return True

    @staticmethod
    def _count(tenant: str, result: str, status: Status, *, read: int = 0) -> str:
        metrics.TENANT_APPS_LOADS.labels(tenant=tenant, result=result).inc()
        if result == APPLIED:
            log.info(
                "tenant=%s source=%s path=%s commit=%s apps read: %d",
                tenant, status.source, status.path, status.commit[:12], read,
            )  # fmt: skip
        else:
            log.error(
                "tenant=%s source=%s path=%s commit=%s apps not read, %s: %s",
                tenant, status.source, status.path, status.commit[:12] or "-",
                "its last good apps keep running" if status.loaded_commit else "it has no apps",
                "; ".join(status.errors),
            )  # fmt: skip
        return result

    def compose(self, platform: model.Config) -> model.Config:
        """``platform`` with every tenant's last good apps (``compose``); tenants that
        left the config, or whose appsFrom did, are forgotten."""
        kept = {t.name for t in platform.tenants if t.apps_from is not None}
        for name in set(self.status) - kept:
            self.status.pop(name)
            self.sets.pop(name, None)
            metrics.TENANT_APPS.remove(name)
        claimed = {app.name for apps in self.sets.values() for app in apps}
        owners = self.owners.of(claimed) if self.owners is not None else {}
        config, refused = compose(platform=platform, sets=self.sets, owners=owners)
        if self.owners is not None:
            self.owners.record(
                {a.name: a.tenant for a in config.apps if a.tenant and a.origin}, known=owners
            )
        for name, status in self.status.items():
            status.refused = refused.get(name, ())
            status.apps = tuple(
                (a.name, a.origin) for a in config.apps if a.tenant == name and a.origin
            )
            metrics.TENANT_APPS.labels(tenant=name).set(len(status.apps))
        for problem in (p for found in refused.values() for p in found):
            log.error("tenant app refused: %s", problem)
        return config

    def describe(self) -> str:
        """One line for the readiness reason: tenants whose apps do not run as their
        repository says; empty when there is nothing to say."""
        said = [
            f"tenant {name} apps at {status.commit[:12] or 'an unknown commit'} not loaded,"
            f" {'its last good apps run' if status.loaded_commit else 'it has none'}: "
            + "; ".join(status.errors)
            for name, status in sorted(self.status.items())
            if status.errors
        ]
        said += [p for _, status in sorted(self.status.items()) for p in status.refused]
        return "; ".join(said)


def include(
    config: model.Config, *, snapshot: Callable[[model.Source], parts_.Snapshot]
) -> tuple[model.Config, Book]:
    """``config`` with every tenant's apps read now (``syncer plan``); a tenant whose
    apps cannot be read adds none, and its status says why."""
    book = Book()
    for tenant in config.tenants:
        if tenant.apps_from is not None:
            book.read(platform=config, tenant=tenant, snapshot=snapshot, force=True)
    return book.compose(config), book
