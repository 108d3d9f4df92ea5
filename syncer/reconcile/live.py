"""``LiveParts``: the ``Parts`` the controller runs with, on the real packages.

``syncer.controller.open_session`` builds one per process. It keeps what must be shared
to be cheap: one ``source.GitSources`` (one cache per repository URL), one image
resolver (``syncer.images``: one registry client per host, tokens and tag listings
reused), one ``apply.ClusterClient`` per cluster (discovery cache, connection pool).
Everything below raises ``syncer.errors`` only; apply's object references are turned
into strings here (``ref_key``) so that state stays independent of apply's types.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from syncer import apply, errors, images, release, render, source, state
from syncer.apply import informer
from syncer.apply import secrets as apply_secrets
from syncer.config import model
from syncer.reconcile import parts as parts_
from syncer.render import generated as render_generated
from syncer.writeback import run as writeback

log = logging.getLogger("syncer.reconcile")

Capabilities = render.Capabilities
CAPABILITIES_TTL = 300.0
"""Seconds a cluster's version and API list are reused for Helm renders (a CRD installed
since shows up within this, once the app renders again)."""
CHECK_TIMEOUT = 5.0
"""Seconds ``check_cluster`` waits for a cluster's API (a fresh machine must not hang)."""


def ref_key(ref: apply.ObjectRef) -> str:
    """An inventory entry as stored in state: the object's ref as compact JSON."""
    return json.dumps(ref.to_json(), sort_keys=True, separators=(",", ":"))


def ref_of(key: str) -> apply.ObjectRef:
    return apply.ObjectRef.from_json(json.loads(key))


def kubeconfig_problem(cluster: model.Cluster, *, base_dir: str) -> str:
    """Why ``cluster`` has no usable credentials file, in words; empty when it has one."""
    if cluster.in_cluster:
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return "inCluster is set but this process does not run in a Kubernetes pod"
        return ""
    if cluster.kubeconfig:
        path = Path(base_dir, os.path.expanduser(cluster.kubeconfig))
        return "" if path.is_file() else f"no kubeconfig ({path} missing)"
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if env:
        path = Path(base_dir, os.path.expanduser(env))
        return "" if path.is_file() else f"no kubeconfig ($KUBECONFIG={env} missing)"
    home = Path(os.path.expanduser("~/.kube/config"))
    if home.is_file():
        return ""
    return "no kubeconfig ($KUBECONFIG unset, ~/.kube/config missing)"


class LiveParts:
    """Source, images, render and apply for one config."""

    def __init__(self, config: model.Config, *, fence: Callable[[], None] | None = None) -> None:
        """``fence`` (leader election's) guards every cluster write of the clients."""
        self.config = config
        self._fence = fence
        self._cache_dir = state.cache_path(base_dir=config.base_dir, path=config.state.path)
        self.read_secret = apply_secrets.reader(config)
        """Reads ``secret:`` references and pull Secrets (one cache for the process)."""
        self.sources = source.GitSources(
            source.Settings(cache_dir=self._cache_dir, base_dir=Path(config.base_dir)),
            read_secret=self.read_secret,
        )
        self.charts = source.ChartSources(
            source.ChartSettings(cache_dir=self._cache_dir, base_dir=Path(config.base_dir)),
            sources=config.sources,
            registry_clients=lambda host: self._resolver().pool.client_for(
                images.canonical_host(host)
            ),
            read_secret=self.read_secret,
        )
        self._images: Any = None
        self._clients: dict[tuple[str, apply.Identity | None], apply.ClusterClient] = {}
        """(cluster name, whom it acts as: a tenant's account or None) -> its client."""
        self._capabilities: dict[str, tuple[float, Capabilities | None]] = {}
        self._generated = render_generated.Keeper()
        """Values Helm charts generated for objects not in a cluster yet."""
        self._notify: Callable[[str, str], None] | None = None
        """Set by ``watch``: clusters with ``driftSource: watch`` get watches."""
        self._progressed: Callable[[str, str], None] | None = None
        self._lock = threading.Lock()

    # --- Git ----------------------------------------------------------------------------
    def poll_source(self, src: model.Source, *, max_age: float = 0.0) -> parts_.Snapshot:
        if src.helm is not None:
            rev = self.charts.poll(src, max_age=max_age)
        else:
            rev = self.sources.poll(src, max_age=max_age)
        return parts_.Snapshot(source=src.name, commit=rev.commit, path=rev.path, label=rev.label)

    def checkout(self, src: model.Source, commit: str) -> parts_.Snapshot:
        if src.helm is not None:
            rev = self.charts.checkout(src, commit)
        else:
            rev = self.sources.checkout(src, commit)
        return parts_.Snapshot(source=src.name, commit=rev.commit, path=rev.path, label=rev.label)

    def write_back(
        self, *, app: model.App, source: model.Source, images: Sequence[release.Image]
    ) -> parts_.WriteBack:
        done = writeback.write(pusher=self.sources, source=source, app=app, images=images)
        return parts_.WriteBack(
            branch=done.branch, commit=done.commit, attempts=done.attempts,
            changes=tuple(c.to_dict() for c in done.changes),
        )  # fmt: skip

    # --- images -------------------------------------------------------------------------
    def _resolver(self) -> Any:
        """``syncer.images.Images``, built on first use: no registry clients (nor their
        credentials) are set up for a config whose apps track no image."""
        with self._lock:
            if self._images is None:
                self._images = images.Images(
                    self.config, read_secret=self.read_secret,
                    challenges_file=self._cache_dir / "registry-challenges.json",
                )  # fmt: skip
            return self._images

    def decide(
        self,
        image: model.AppImage,
        *,
        running: Callable[[], Sequence[release.Image]] | None = None,
        seen: release.Image | None = None,
    ) -> release.Image:
        pairs = (lambda: [(i.tag, i.digest) for i in running()]) if running else None
        known = (seen.tag, seen.digest) if seen is not None else None
        return release.Image.from_decision(
            self._resolver().decide(image, running=pairs, seen=known)
        )

    # --- render -------------------------------------------------------------------------
    def render(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        snapshot: parts_.Snapshot,
        images: Sequence[release.Image],
    ) -> list[dict[str, Any]]:
        rendered = render.render(
            app=app, snapshot=snapshot.path, commit=snapshot.commit, cluster=cluster,
            choices=list(images), capabilities=lambda: self.capabilities(cluster),
            live=lambda obj: self.live_object(cluster, obj, app=app), keeper=self._generated,
            fetch=self.charts.fetch,
        )  # fmt: skip
        return list(rendered.objects)

    def live_object(
        self, cluster: model.Cluster, obj: dict[str, Any], *, app: model.App | None = None
    ) -> dict[str, Any] | None:
        """The cluster's copy of ``obj`` (for values a chart generates at each render);
        None when it does not exist or the cluster cannot say (then the render goes on
        with what the chart generated). Read as ``app``'s tenant, so a tenant's chart
        sees only what its account may read."""
        if kubeconfig_problem(cluster, base_dir=self.config.base_dir):
            return None
        meta = obj.get("metadata") or {}
        ref = apply.ObjectRef(
            api_version=str(obj.get("apiVersion", "")), kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
        )  # fmt: skip
        try:
            return self.client(cluster, app=app).get(ref)
        except errors.SyncerError as err:
            log.info("cluster=%s cannot read %s for generated values: %s", cluster.name, ref, err)
            return None

    def capabilities(self, cluster: model.Cluster) -> Capabilities | None:
        """The cluster's version and served APIs for Helm charts, asked at most every
        CAPABILITIES_TTL seconds; None (helm's defaults) when the cluster cannot say."""
        now = time.monotonic()
        with self._lock:
            cached = self._capabilities.get(cluster.name)
        if cached is not None and now - cached[0] < CAPABILITIES_TTL:
            return cached[1]
        found: Capabilities | None = None
        if not kubeconfig_problem(cluster, base_dir=self.config.base_dir):
            try:
                version, served = self.client(cluster).served_apis()
                found = render.Capabilities(kube_version=version, api_versions=tuple(served))
            except errors.SyncerError as err:
                log.warning("cluster=%s no discovery for Helm .Capabilities: %s", cluster.name, err)
        with self._lock:
            self._capabilities[cluster.name] = (now, found)
        return found

    # --- clusters -----------------------------------------------------------------------
    def client(
        self, cluster: model.Cluster, *, app: model.App | None = None
    ) -> apply.ClusterClient:
        """The client of ``cluster``; for an app of a tenant that impersonates, one that
        acts as the tenant's account in every request (reads and writes)."""
        identity = impersonation(app, cluster)
        with self._lock:
            found = self._clients.get((cluster.name, identity))
            if found is None:
                found = apply.connect(
                    cluster, base_dir=self.config.base_dir, guard=self._fence, impersonate=identity
                )
                self._clients[(cluster.name, identity)] = found
                if identity is None:
                    # Watches feed syncer's own view only: a tenant's reads stay its own
                    # (listed with its account), never answered from the wider cache.
                    self._install_watches(cluster, found)
            return found

    def watch(
        self,
        notify: Callable[[str, str], None],
        *,
        progressed: Callable[[str, str], None] | None = None,
    ) -> None:
        """From now on, read drift from watches on every cluster whose ``driftSource``
        is ``watch`` (``apply.informer``), and call ``notify(app, cluster)`` when a
        watched object of an app changed away from what the app wants there, and
        ``progressed(app, cluster)`` when one changed after ``await_change``."""
        with self._lock:
            self._notify = notify
            self._progressed = progressed
            for cluster in self.config.clusters:
                found = self._clients.get((cluster.name, None))
                if found is not None:
                    self._install_watches(cluster, found)

    def _install_watches(self, cluster: model.Cluster, client: apply.ClusterClient) -> None:
        """Give ``client`` its watches (caller holds the lock); informers start per kind
        on the first read of that kind."""
        notify = self._notify
        if notify is None or cluster.drift_source != "watch" or client.watches is not None:
            return
        name = cluster.name

        progressed = self._progressed

        def changed(app: str) -> None:
            notify(app, name)

        def moved(app: str) -> None:
            if progressed is not None:
                progressed(app, name)

        client.watches = informer.Watches(client, notify=changed, progressed=moved)

    def await_change(self, *, app: model.App, cluster: model.Cluster) -> None:
        watches = self.client(cluster, app=app).watches
        if watches is not None:
            watches.await_change(app.name)

    def watch_status(self) -> list[dict[str, Any]]:
        """Per cluster and kind: whether drift is read from a synced watch, and if not why
        (see ``informer.Watches.status``); a cluster polled by config says so."""
        with self._lock:
            watching = self._notify is not None
            clients = dict(self._clients)
        found: list[dict[str, Any]] = []
        for cluster in self.config.clusters:
            client = clients.get((cluster.name, None))
            if client is not None and client.watches is not None:
                found += client.watches.status()
            elif watching and cluster.drift_source != "watch":
                found.append({
                    "cluster": cluster.name, "apiVersion": "", "kind": "", "namespace": "",
                    "state": "poll",
                    "reason": "driftSource: poll", "objects": 0, "events": 0, "lists": 0,
                    "restarts": 0,
                })  # fmt: skip
        return found

    def check_cluster(self, cluster: model.Cluster) -> str:
        problem = kubeconfig_problem(cluster, base_dir=self.config.base_dir)
        if problem:
            return problem
        try:
            probe = apply.connect(cluster, base_dir=self.config.base_dir)
        except errors.SyncerError as err:
            return str(err)
        probe.retry = apply.RetryPolicy(attempts=1, connect_attempts=1)
        probe.timeout = min(probe.timeout, CHECK_TIMEOUT)
        try:
            probe.request("GET", "/version", what="version")
        except errors.SyncerError as err:
            return f"API unreachable ({err})"
        finally:
            probe.close()
        return ""

    def apply(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
    ) -> parts_.Applied:
        client = self.client(cluster, app=app)
        try:
            result = apply.sync(
                client,
                app_name=app.name,
                objects=objects,
                options=app.sync,
                gateway_policy=app.gateway,
                namespace=app.namespace,
                previous_inventory=[ref_of(k) for k in inventory or ()],
            )
        except errors.SyncerError as err:
            partial = getattr(err, "partial", None)
            if partial is not None:
                # What was applied before the error still belongs to the app: keep it in
                # the inventory so the next attempt can prune it if it leaves Git.
                err.partial_inventory = tuple(ref_key(r) for r in partial.inventory)  # type: ignore[attr-defined]
            raise
        created = {r.identity for r in result.created}
        return parts_.Applied(
            inventory=tuple(ref_key(r) for r in result.inventory),
            created=len(result.created),
            updated=sum(1 for r in result.applied if r.identity not in created),
            pruned=len(result.pruned),
            unchanged=len(result.unchanged),
            writes=result.writes,
            details={
                "applied": [str(r) for r in result.applied],
                "pruned": [str(r) for r in result.pruned],
                "orphans": [str(r) for r in result.orphans],
                "replaced": [str(r) for r in result.replaced],
                "adopted": list(result.adopted),
            },
        )

    def wait_healthy(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str],
        timeout: float,
        cached: bool = False,
    ) -> parts_.Health:
        report = apply.wait_healthy(
            self.client(cluster, app=app),
            app_name=app.name,
            inventory=[ref_of(k) for k in inventory],
            timeout=timeout,
            cached=cached,
        )
        return parts_.Health(
            healthy=report.healthy, message=report.summary, details=report.to_json(),
            timed_out=report.timed_out,
        )  # fmt: skip

    def plan(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
    ) -> parts_.Planned:
        result = apply.plan(
            self.client(cluster, app=app),
            app_name=app.name,
            objects=objects,
            options=app.sync,
            gateway_policy=app.gateway,
            namespace=app.namespace,
            previous_inventory=[ref_of(k) for k in inventory or ()],
        )
        return parts_.Planned(
            summary=result.summary,
            diff=result.diff,
            objects=[o.to_json() for o in result.objects],
        )

    def drift(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
        heal: bool,
    ) -> parts_.Drift:
        options = dataclasses.replace(app.sync, self_heal=heal)
        report = apply.drift(
            self.client(cluster, app=app),
            app_name=app.name,
            objects=objects,
            options=options,
            gateway_policy=app.gateway,
            namespace=app.namespace,
            previous_inventory=[ref_of(k) for k in inventory or ()],
        )
        return parts_.Drift(
            drifted=[item.message for item in report.drifted],
            healed=report.healed is not None,
        )

    def remove(
        self, *, app_name: str, cluster: model.Cluster, inventory: Sequence[str]
    ) -> parts_.Removed:
        # An app still configured is removed as its tenant's account; one that left
        # the config has no tenant any more, and is removed with syncer's own.
        app = next((a for a in self.config.apps if a.name == app_name), None)
        result = apply.remove(
            self.client(cluster, app=app),
            app_name=app_name,
            inventory=[ref_of(k) for k in inventory],
        )
        return parts_.Removed(deleted=[str(r) for r in result.pruned], skipped=list(result.skipped))

    @contextlib.contextmanager
    def read_round(self) -> Iterator[None]:
        """Every configured cluster's ownership reads from one LIST per kind until the
        block ends (``apply.read_round``); clients connect lazily, so a cluster that is
        down costs nothing here."""
        with contextlib.ExitStack() as stack:
            for cluster in self.config.clusters:
                try:
                    client = self.client(cluster)
                except errors.SyncerError:
                    continue  # its apps fail on their own with this error
                stack.enter_context(apply.read_round(client))
            yield

    # --- cost and cleanup ---------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        """Requests so far: Git operations, registry requests, cluster reads and writes."""
        requests = writes = 0
        with self._lock:
            for client in self._clients.values():
                r, w = client.stats.snapshot()
                requests += r
                writes += w
        return {
            "git": self.sources.counts(),
            "registry": self._images.counts() if self._images is not None else {},
            "cluster": {"requests": requests, "writes": writes},
        }

    def follow(self, config: model.Config) -> None:
        # Only ``remove`` reads the apps (whom a configured app acts as); clients,
        # registries and sources depend on the rest, which did not change.
        self.config = config

    def cleanup(self) -> None:
        removed = self.sources.cleanup()
        if removed:
            log.info("git snapshots removed=%d", len(removed))
        charts = self.charts.cleanup()
        if charts:
            log.info("cached charts removed=%d", len(charts))

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            if client.watches is not None:
                client.watches.stop()
            client.close()
        if self._images is not None:
            self._images.close()
        self.read_secret.close()


def impersonation(app: model.App | None, cluster: model.Cluster) -> apply.Identity | None:
    """Whom requests for ``app`` in ``cluster`` act as: the first of its tenant's
    ``clusterImpersonate`` naming the cluster, else its ``impersonate`` where that applies
    to the cluster, else None (syncer's own credentials)."""
    tenant = app.gateway.tenant if app is not None else None
    if tenant is None:
        return None
    for entry in tenant.cluster_impersonate:
        if cluster.name in entry.clusters:
            return apply.Identity.of(entry)
    chosen = tenant.impersonate
    if chosen is None or (chosen.clusters and cluster.name not in chosen.clusters):
        return None
    return apply.Identity.of(chosen)
