"""Apps that left the config but still own objects in a cluster: garbage-collect them.

``syncer.controller`` calls ``collect`` when it starts (and again periodically, for
clusters that were down) and ``syncer sync`` at the end of a full pass. An app counts
as removed when ``syncer.state`` holds a non-empty inventory for it and the config no
longer names it. As Flux does when a Kustomization with ``prune`` is deleted, its
objects are deleted from each cluster (``Parts.remove``: reverse order, only objects
still carrying its ownership label) when the app's last recorded sync had ``prune``
on; otherwise they are left in place and reported as orphans. Either way the outcome
is recorded in the app's history and its inventory is emptied, so it happens once; a
cluster that cannot be reached keeps the inventory and is tried again next time.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from syncer import errors
from syncer.config import model
from syncer.reconcile import parts as parts_
from syncer.state import store as store_

log = logging.getLogger("syncer.reconcile")

HISTORY_SCAN = 1000
"""History entries looked through for the app's last recorded sync options."""


@dataclasses.dataclass
class Removal:
    """What became of one removed app's objects on one cluster."""

    app: str
    cluster: str
    pruned: bool
    """Its last sync had prune on, so its objects were (to be) deleted."""
    deleted: list[str] = dataclasses.field(default_factory=list)
    orphans: list[str] = dataclasses.field(default_factory=list)
    """Objects left in place (prune off, or no longer ours)."""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def message(self) -> str:
        if self.error:
            return f"app left the config; not deleted yet: {self.error}"
        if self.pruned:
            text = f"app left the config: deleted {len(self.deleted)} object(s)"
            return text + (f", left {len(self.orphans)} not its own" if self.orphans else "")
        return f"app left the config: {len(self.orphans)} orphan(s) left in place (prune off)"

    def to_dict(self) -> dict[str, Any]:
        """An entry of ``syncer sync``'s results."""
        return {
            "app": self.app,
            "ok": self.ok,
            "removed": True,
            "release": "",
            "message": f"{self.cluster}: {self.message}",
            "clusters": {},
            "deleted": list(self.deleted),
            "orphans": list(self.orphans),
        }


def describe(key: str) -> str:
    """An inventory key (``ObjectRef`` JSON) as ``Kind namespace/name``."""
    try:
        ref = json.loads(key)
        where = f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") else ref["name"]
        return f"{ref['kind']} {where}"
    except (ValueError, KeyError, TypeError):
        return key


def removed_apps(*, config: model.Config, store: store_.Store) -> dict[str, dict[str, list[str]]]:
    """Apps not in ``config`` that own objects: app -> cluster -> inventory keys."""
    configured = {a.name for a in config.apps}
    return {app: inv for app, inv in store.inventories().items() if app not in configured}


def last_applied(*, store: store_.Store, app: str) -> dict[str, Any]:
    """What the app's last recorded apply says of its options (``prune``, and for a
    tenant's own app ``tenant`` and ``origin``); empty when none was recorded."""
    for event in store.history(app, limit=HISTORY_SCAN):
        if event.kind == "applied" and "prune" in event.data:
            return dict(event.data)
    return {}


def collect(
    *,
    config: model.Config,
    store: store_.Store,
    parts: parts_.Parts,
    unknown_tenants: frozenset[str] = frozenset(),
    only: Callable[[str], bool] = lambda _app: True,
) -> list[Removal]:
    """Delete (or report) the objects of every removed app, on every cluster. Apps last
    applied from the files of one of ``unknown_tenants`` (whose appsFrom has not been
    read successfully yet) are left alone: they are not known to be removed. Only
    the apps ``only`` accepts (with shards, the apps of this replica's shards)."""
    clusters = {c.name: c for c in config.clusters}
    outcomes: list[Removal] = []
    for app, inventories in sorted(removed_apps(config=config, store=store).items()):
        if not only(app):
            continue
        applied = last_applied(store=store, app=app)
        if applied.get("origin") and applied.get("tenant") in unknown_tenants:
            log.info(
                "app=%s not collected: tenant %s's apps could not be read yet",
                app, applied["tenant"],
            )  # fmt: skip
            continue
        prune = applied.get("prune") is True
        for cluster_name, keys in sorted(inventories.items()):
            outcome = _one(
                app=app, cluster=clusters.get(cluster_name), cluster_name=cluster_name,
                keys=keys, prune=prune, store=store, parts=parts,
            )  # fmt: skip
            outcomes.append(outcome)
    return outcomes


def _one(
    *,
    app: str,
    cluster: model.Cluster | None,
    cluster_name: str,
    keys: list[str],
    prune: bool,
    store: store_.Store,
    parts: parts_.Parts,
) -> Removal:
    outcome = Removal(app=app, cluster=cluster_name, pruned=prune)
    if not prune or cluster is None:
        outcome.orphans = [describe(k) for k in keys]
        why = (
            "its last sync had prune off"
            if not prune
            else f"cluster {cluster_name} left the config too"
        )
        store.record(
            app=app, kind="removed", cluster=cluster_name,
            message=f"app {app} left the config; {len(keys)} object(s) left in place on "
            f"{cluster_name} ({why}): {', '.join(outcome.orphans)}",
            data={"orphans": outcome.orphans, "prune": prune},
        )  # fmt: skip
        store.set_inventory(app=app, cluster=cluster_name, objects=[])
        log.info(
            "app=%s cluster=%s removed from config: %d orphan(s)", app, cluster_name, len(keys)
        )
        return outcome
    try:
        result = parts.remove(app_name=app, cluster=cluster, inventory=keys)
    except errors.SyncerError as err:
        outcome.error = str(err)
        known = [e for e in store.errors(app) if e.cluster == cluster_name]
        if not known or known[0].message != outcome.error:
            store.record(
                app=app, kind="error", cluster=cluster_name,
                message=f"removing app {app} from {cluster_name}: {err} (tried again later)",
                once=True,
            )  # fmt: skip
        store.set_error(app=app, cluster=cluster_name, stage="remove", message=outcome.error)
        log.warning("app=%s cluster=%s removal failed: %s", app, cluster_name, err)
        return outcome
    outcome.deleted = list(result.deleted)
    outcome.orphans = list(result.skipped)
    text = (
        f"app {app} left the config; deleted {len(outcome.deleted)} object(s) from {cluster_name}"
    )
    if outcome.orphans:
        text += f"; left {len(outcome.orphans)} that are no longer its own"
    store.record(
        app=app, kind="removed", cluster=cluster_name, message=text,
        data={"deleted": outcome.deleted, "skipped": outcome.orphans, "prune": True},
    )  # fmt: skip
    store.set_inventory(app=app, cluster=cluster_name, objects=[])
    store.clear_error(app=app, cluster=cluster_name)
    log.info("app=%s cluster=%s removed from config: %s", app, cluster_name, text)
    return outcome
