"""The running controller: config + state + parts, wired to scheduling and the server.

``syncer run`` builds a ``Controller`` and hands it to ``syncer.server.http`` as its
``ControllerPort``; ``syncer sync`` uses the same object without starting the jobs.
It owns:

- one poll job per Git repository URL and per image repository (deduplicated across
  apps, jittered) and one drift job per app, on ``syncer.scheduling.Jobs``; a poll that
  sees a change queues the apps concerned;
- the ``syncer.scheduling.AppQueue`` that runs ``syncer.reconcile`` one app at a time,
  with bounded workers, coalescing and backoff;
- the answers to the HTTP API (status, releases, history) read from ``syncer.state``.

Webhooks only move poll jobs to now (``trigger_git``/``trigger_image``); sync and
rollback requests are queued like any other reconcile, never run on the request thread.
On start every app is queued once, which resumes rollouts a previous process left open;
the first app on a repository polls it, and its poll job then runs one interval later
(``_polled``), not during the start-up pass.

With leader election, ``fence`` (``LeaderElector.fence``) is asked before each queued
reconcile starts, before a rollout is begun and (through the cluster clients) before
every cluster write; ``errors.Fenced`` drops the work unrecorded.

``reload`` swaps in a new config: new parts, inputs and reconciler built on it, jobs
rebuilt, added and changed apps queued. It is reached from ``reload_config`` (called by
``syncer.reload.Watcher`` in ``syncer run``) and from ``load_tenant_apps`` (a poll of a
repository holding a tenant's ``appsFrom`` saw a new commit): both compose the config
file's apps with each tenant's last good set (``syncer.reconcile.tenantapps``).

With shards (``syncer run --shards``, ``shard``), the controller works only on the apps
of the shards its ``syncer.server.shards.ShardSet`` holds: poll jobs only for the Git
and image repositories those apps use, drift jobs only for them, each reconcile inside
``ShardSet.working`` (dropped unless the shard is still held; a shard being given back
waits for it), and ``shards_changed`` rebuilds the jobs and queues the apps of shards
gained (which resumes the rollouts their previous holder left open).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from syncer import errors, metrics, repos, rollout
from syncer import reload as reload_
from syncer.config import model, secrets
from syncer.notify import service as notify_service
from syncer.notify import worker as notify_worker
from syncer.reconcile import app as app_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts as parts_
from syncer.reconcile import plan as plan_
from syncer.reconcile import removed as removed_
from syncer.reconcile import target as target_
from syncer.reconcile import tenantapps as tenantapps_
from syncer.reconcile import writeback as reconcile_writeback
from syncer.server import shards as shards_
from syncer.state import records
from syncer.state import store as store_

log = logging.getLogger("syncer.controller")

LAST_GOOD = "appsFrom:"
"""Prefix of the state's Git head that remembers a tenant's last good appsFrom commit
(``appsFrom:TENANT``, ref: its path)."""

RETIRE_WAIT = 600.0
"""Seconds a reload waits for reconciles begun on the previous config before closing
its clients anyway."""

REMOVED_INTERVAL = 300.0
"""Seconds between looks for apps that left the config but still own objects."""

WEBHOOK_REPOLLS = (0.5, 1.0, 2.0, 4.0)
"""Seconds after a registry webhook (then after each look) to poll the repository again
while no poll has picked the digest the webhook named."""

FRESH_REASONS = frozenset({"api", "manual"})
"""Reasons that poll Git and registries again instead of using the last poll."""

ROLLOUT_RESULTS = (
    records.HEALTHY, records.UNHEALTHY, records.ROLLED_BACK, records.FAILED, records.ERROR,
)  # fmt: skip
"""Where carrying a release out on a cluster ends (the ``result`` of syncer_rollouts_total)."""


repo_key = repos.repo_key
"""Kept here for callers that knew it here (``syncer.repos.repo_key``)."""


STOP_HEALTH_THREADS = 128
"""Threads that see rollouts still waiting for health to their end when syncer stops."""


class Controller:
    """Implements ``syncer.server.port.ControllerPort``."""

    def __init__(
        self,
        *,
        config: model.Config,
        store: store_.Store,
        parts: parts_.Parts,
        progress: Callable[[str], None] | None = None,
        backoff_base: float | None = None,
        fence: Callable[[], None] | None = None,
        notifier: notify_worker.Worker | None = None,
        rebuild: Callable[[model.Config], Rebuilt] | None = None,
    ) -> None:
        """``rebuild``: the parts and notifier for a reloaded config (``reload``); without
        it, a reload is refused."""
        self.config = config
        self.platform = config
        """The config file's own config: ``config`` without the tenants' apps."""
        self.tenant_apps = tenantapps_.Book(
            owners=tenantapps_.Owners(get=store.git_head, put=self._record_owner)
        )
        self._config_lock = threading.RLock()
        """Held while the running config is recomposed (a config file reload, a tenant's
        new commit): one replaces it at a time."""
        self._rebuild = rebuild
        self.reload_status: Callable[[], str] = lambda: ""
        self.notifier = notifier
        self.store = store
        self.parts = parts
        self.inputs = inputs_.Inputs(config=config, parts=parts, store=store, polled=self._polled)
        self.fence = fence or (lambda: None)
        self.reconciler = app_.Reconciler(
            config=config, store=store, parts=parts, inputs=self.inputs, progress=progress,
            fence=fence,
        )  # fmt: skip
        self.health_waits = target_.HealthWaits()
        """Rollouts waiting for health across passes, once ``start`` ran."""
        self._backoff_base = backoff_base
        self._apps = {a.name: a for a in config.apps}
        self._probes: dict[str, str] = {}
        self._noted: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._queue: Any = None
        self._jobs: Any = None
        self._started = False
        self._acting = False
        """From ``start`` on: may write to the state (a standby does not)."""
        self._stopping = False
        self.shards: shards_.ShardSet | None = None

    # --- shards -------------------------------------------------------------------------
    def shard(self, shards: shards_.ShardSet) -> None:
        """Work only on the apps of the shards ``shards`` holds (before ``start``)."""
        self.shards = shards

    def mine(self, name: str) -> bool:
        """Whether this replica works on ``name`` (always, without shards)."""
        return self.shards is None or self.shards.owns(name)

    def _my_apps(self) -> tuple[model.App, ...]:
        if self.shards is None:
            return self.config.apps
        held = set(self.shards.held())
        return tuple(a for a in self.config.apps if self.shards.shard_of(a.name) in held)

    def shards_changed(self, gained: frozenset[int], lost: frozenset[int]) -> None:
        """Shards came or went (``ShardSet``'s callback): jobs follow the apps held now,
        and the apps of gained shards are queued (resuming open rollouts)."""
        shards = self.shards
        if shards is None or not self._started or self._stopping:
            return
        with self._lock:
            old_jobs = set(self._jobs.ids())
            kept = set(self._add_config_jobs()) | {"removed-apps"}
            for job_id in sorted(old_jobs - kept):
                self._jobs.remove(job_id)
            apps = self.config.apps
        counts = {s: 0 for s in range(shards.settings.shards)}
        for app in apps:
            counts[shards.shard_of(app.name)] += 1
        shards.count_apps(lambda s: counts.get(s, 0))
        gained_apps = [a for a in apps if shards.shard_of(a.name) in gained]
        self._declare(tuple(gained_apps))
        for app in gained_apps:
            self._queue.request(app.name, "startup")
        log.info(
            "shards changed gained=%s lost=%s apps_gained=%d held=%s",
            ",".join(map(str, sorted(gained))) or "-", ",".join(map(str, sorted(lost))) or "-",
            len(gained_apps), ",".join(map(str, shards.held())) or "-",
        )  # fmt: skip

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Register poll and drift jobs, queue every app once, start everything."""
        from syncer import scheduling

        # Tenants' own apps are read before anything is queued, so they start like the
        # platform's (a tenant whose repository cannot be read starts with none).
        self._acting = True
        if not self.tenant_apps.status:
            self.load_tenant_apps(force=True)
        settings = self.config.settings
        # From here on a rollout's worker goes on to other apps while its Deployments
        # come up; the app is brought back when they change (``target_.HealthWaits``).
        self.reconciler.health_waits = self.health_waits
        kwargs = {} if self._backoff_base is None else {"backoff_base": self._backoff_base}
        self._queue = scheduling.AppQueue(workers=settings.workers, run=self._run_app, **kwargs)
        self.health_waits.crowded = self._queue.crowded
        self._jobs = scheduling.Jobs(threads=max(2, settings.workers))
        self._add_config_jobs()
        # Apps that left the config: their objects are collected soon after start, and
        # again later for clusters that were down (a cheap query when there are none).
        self._jobs.add(
            "removed-apps", every=REMOVED_INTERVAL, first_in=0.5, func=self._collect_removed_job
        )
        # Drift from watches (clusters with driftSource: watch): a changed object queues
        # its app's drift check at once; the drift jobs above stay as a safety net.
        self.parts.watch(self._watched_change, progressed=self._progressed)
        self._jobs.start()
        if self.notifier is not None:
            self.notifier.start()
        self._started = True
        # Only the controller that acts reports its apps (a standby does not start one).
        metrics.APPS.watch(self.app_facts)
        metrics.WATCHES.watch(self.watch_status)
        self._declare(self._my_apps())
        for app in self._my_apps():
            self._queue.request(app.name, "startup")
        log.info(
            "controller started apps=%d git_jobs=%d image_jobs=%d workers=%d",
            len(self.config.apps), len(self._git_jobs()), len(self._image_jobs()),
            settings.workers,
        )  # fmt: skip

    def _add_config_jobs(self) -> list[str]:
        """Poll and drift jobs of the config (``start``, and again on ``reload``)."""
        settings = self.config.settings
        added = []
        for url, every in self._git_jobs().items():
            self._jobs.add(
                f"git:{url}", every=every, jitter=settings.jitter,
                func=lambda url=url: self._poll_git(url),
            )  # fmt: skip
            added.append(f"git:{url}")
        for repo, every in self._image_jobs().items():
            self._jobs.add(
                f"image:{repo}", every=every, jitter=settings.jitter,
                func=lambda repo=repo: self._poll_image(repo),
            )  # fmt: skip
            added.append(f"image:{repo}")
        for app in self._my_apps():
            self._jobs.add(
                f"drift:{app.name}", every=app.sync.drift_interval, jitter=settings.jitter,
                spread=True, func=lambda name=app.name: self._queue.request(name, "drift"),
            )  # fmt: skip
            added.append(f"drift:{app.name}")
        return added

    def _declare(self, apps: tuple[model.App, ...]) -> None:
        for app in apps:
            try:
                stages = self.reconciler.cluster_stages(app.name)
            except errors.SyncerError:
                continue  # its reconcile reports the problem
            metrics.declare_app(app=app.name, stages=stages, results=ROLLOUT_RESULTS)

    def reload_config(self, decision: reload_.Decision) -> None:
        """Run a reloaded config file (``syncer.reload.Watcher``): every tenant's apps
        are read again against its rules (a set they no longer pass keeps running as it
        was, and says why), composed with the file's apps, and ``reload`` carries out
        what differs from the running config."""
        with self._config_lock:
            self.platform = decision.config
            if self._started:
                # A standby writes nothing: it reads the tenants' files once it starts.
                self._read_tenants(url=None, force=True)
            config = self.tenant_apps.compose(self.platform)
            composed = reload_.decide(running=self.config, new=config)
            self.reload(dataclasses.replace(composed, needs_restart=decision.needs_restart))

    def load_tenant_apps(self, *, url: str | None = None, force: bool = False) -> None:
        """Read the appsFrom of tenants on repository ``url`` (all when None) at their
        source's current snapshot; when a tenant's set of apps changed, the running
        config is recomposed and reloaded (added apps deploy, removed ones are
        collected, changed ones are queued). ``force`` reads commits read before."""
        if not any(t.apps_from is not None for t in self.platform.tenants):
            return
        with self._config_lock:
            if not self._read_tenants(url=url, force=force):
                return
            config = self.tenant_apps.compose(self.platform)
            decision = reload_.decide(running=self.config, new=config)
            if decision.added or decision.removed or decision.changed:
                log.info("tenant apps reloaded: %s", decision.summary())
                self.reload(decision, cause="tenant apps reloaded")

    def _record_owner(self, **head: str) -> bool:
        if not self._acting:  # a standby writes nothing; it records once it starts
            return False
        self.store.set_git_head(**head)
        return True

    def _read_tenants(self, *, url: str | None, force: bool) -> bool:
        """Read the tenants' directories; whether any set of apps was replaced."""
        sources = {s.name: s for s in self.platform.sources}
        replaced = False
        for tenant in self.platform.tenants:
            place = tenant.apps_from
            if place is None or (url is not None and sources[place.source].url != url):
                continue
            result = self.tenant_apps.read(
                platform=self.platform, tenant=tenant, snapshot=self.inputs.snapshot,
                force=force,
            )  # fmt: skip
            status = self.tenant_apps.status[tenant.name]
            # The last good commit is kept in state (as a Git head of its own), so that
            # after a restart a broken newest commit still runs the apps that ran.
            key = f"{LAST_GOOD}{tenant.name}"
            if result == tenantapps_.APPLIED:
                self.store.set_git_head(source=key, ref=place.path, commit=status.loaded_commit)
                replaced = True
            elif result != "unchanged" and not status.loaded_commit:
                last = self.store.git_head(key, place.path)
                if last:
                    replaced = self._restore(tenant, sources[place.source], last) or replaced
        return replaced or force

    def _restore(self, tenant: model.Tenant, source: model.Source, commit: str) -> bool:
        try:
            snap = self.parts.checkout(source, commit)
        except errors.SyncerError as err:
            log.warning("tenant=%s last good commit %s unavailable: %s", tenant.name, commit, err)
            return False
        return self.tenant_apps.restore(
            platform=self.platform, tenant=tenant, root=snap.path, commit=commit
        )

    def tenants(self) -> list[dict[str, Any]]:
        """Each tenant with an appsFrom: where, the commit read, its apps, why not."""
        with self._config_lock:
            return [
                self.tenant_apps.status[t.name].to_dict()
                for t in self.platform.tenants
                if t.name in self.tenant_apps.status
            ]

    def reload(self, decision: reload_.Decision, *, cause: str = "config reloaded") -> None:
        """Run ``decision.config`` from now on (``syncer.reload``): new parts, inputs and
        reconciler on it; poll and drift jobs rebuilt to match; added and changed apps
        queued; apps that left collected as ``collect_removed`` does. A reconcile under
        way finishes on the parts it started with, which are closed once the queue is
        idle. Before ``start`` (a standby), only the config is replaced."""
        if self._rebuild is None:
            raise errors.PermanentError("this controller cannot reload its config")
        config = decision.config
        # A tenant's new set of apps changes nothing the parts are built on: they run on,
        # keeping cluster clients, watches and the last ls-remote of each repository.
        same = self._started and _apart_from_apps(self.config) == _apart_from_apps(config)
        if same:
            self.parts.follow(config)
            rebuilt = Rebuilt(parts=self.parts, notifier=self.notifier)
        else:
            rebuilt = self._rebuild(config)
        inputs = inputs_.Inputs(
            config=config, parts=rebuilt.parts, store=self.store, polled=self._polled
        )
        reconciler = app_.Reconciler(
            config=config, store=self.store, parts=rebuilt.parts, inputs=inputs,
            progress=self.reconciler.progress, fence=self.fence,
            health_waits=self.reconciler.health_waits,
        )  # fmt: skip
        with self._lock:
            old_parts, old_notifier = self.parts, self.notifier
            self.config, self.parts, self.inputs = config, rebuilt.parts, inputs
            self.reconciler, self.notifier = reconciler, rebuilt.notifier
            self._apps = {a.name: a for a in config.apps}
            self._probes.clear()
            self._noted.clear()
        if not self._started or self._stopping:
            old_parts.close()
            return
        old_jobs = set(self._jobs.ids())
        kept = set(self._add_config_jobs()) | {"removed-apps"}
        for job_id in sorted(old_jobs - kept):
            self._jobs.remove(job_id)
        if not same:
            self.parts.watch(self._watched_change, progressed=self._progressed)
            # One worker sends at a time; what the old one had not sent yet is in state,
            # and the new one sends it.
            if old_notifier is not None:
                old_notifier.stop()
            if self.notifier is not None:
                self.notifier.start()
        added = [a for a in config.apps if a.name in decision.added]
        self._declare(tuple(added))
        for name, why in [
            *((n, "app added") for n in decision.added),
            *((n, "app changed") for n in decision.changed),
        ]:
            if not self.mine(name):
                continue  # its shard's holder records and queues it
            origin = self._apps[name].origin
            where = f" (tenant {self._apps[name].tenant}: {origin})" if origin else ""
            self.store.record(app=name, kind="config", message=f"{cause}: {why}{where}")
            self._queue.request(name, "config")
        if decision.removed:
            self._jobs.trigger(["removed-apps"])
        if not same:
            threading.Thread(
                target=self._retire, args=(old_parts,), name="config-retire", daemon=True
            ).start()

    def _retire(self, parts: parts_.Parts) -> None:
        """Close what the previous config ran on, once reconciles that began on it end."""
        if self._queue is not None:
            self._queue.wait_idle(RETIRE_WAIT)
        parts.close()

    def stop(self, *, timeout: float | None = None) -> None:
        """Stop polling, let in-flight reconciles finish, close clients and state."""
        self._stopping = True
        metrics.APPS.unwatch(self.app_facts)
        metrics.WATCHES.unwatch(self.watch_status)
        if self._jobs is not None:
            self._jobs.stop()
        started = time.monotonic()
        if self._queue is not None:
            self._queue.stop(timeout=timeout)
            left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            self._finish_health_waits(timeout=left)
        if self.notifier is not None:
            self.notifier.stop()  # after the reconciles: their last events still go out
        self.parts.close()
        log.info("controller stopped")

    def _finish_health_waits(self, *, timeout: float | None) -> None:
        """Rollouts still waiting for health are waited for to the end (within
        ``timeout``), so a stop during a rollout leaves it finished, not abandoned; one
        not done by then is resumed by the next start (it is recorded as applied)."""
        apps = self.health_waits.waiting_apps()
        if not apps:
            return
        self.health_waits.finish()  # the rest of each wait in one go
        log.info("waiting for the health of %d app(s) before stopping", len(apps))
        todo = list(apps)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    name = todo.pop()
                try:
                    self._run_app(name, frozenset({"health"}))
                except Exception:
                    log.exception("app=%s health wait while stopping crashed", name)

        # Daemon threads: when ``timeout`` runs out the process may exit under them.
        # More than the workers: a wait mostly sleeps (it reads the watch cache).
        threads = [
            threading.Thread(target=work, name=f"stop-health-{n}", daemon=True)
            for n in range(min(len(apps), STOP_HEALTH_THREADS))
        ]
        for thread in threads:
            thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running and no rollout waits for health;
        False on timeout."""
        if self._queue is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._queue.wait_idle(left):
                return False
            if not self.health_waits.waiting_apps():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # a look again is due: the queue takes it up shortly

    def _git_jobs(self) -> dict[str, float]:
        jobs: dict[str, float] = {}
        used = {a.source for a in self._my_apps()}
        # Every replica reads the teams' app files, so that all compose the same config.
        used |= {t.apps_from.source for t in self.config.tenants if t.apps_from is not None}
        for source in self.config.sources:
            if self.shards is not None and source.name not in used:
                continue  # no app of this replica's shards reads it
            url = source.url
            jobs[url] = min(jobs.get(url, source.interval), source.interval)
        return jobs

    def _image_jobs(self) -> dict[str, float]:
        jobs: dict[str, float] = {}
        for app in self._my_apps():
            for image in app.images:
                repo = inputs_.normalise_repository(image.repository)
                jobs[repo] = min(jobs.get(repo, image.interval), image.interval)
        return jobs

    # --- work ---------------------------------------------------------------------------
    def _run_app(self, name: str, reasons: frozenset[str]) -> bool:
        if name not in self._apps:
            # It left the config by a reload after this was queued: nothing to do (its
            # objects are the removed-apps job's).
            return True
        try:
            if self.shards is None:
                self.fence()  # no work starts without a valid lease
                return self._run_app_fenced(name, reasons)
            with self.shards.working(name) as mine:
                if not mine:
                    # Not (or no longer) this replica's: its holder does it, health
                    # waits included.
                    self.health_waits.forget(name, keep=())
                    return True
                try:
                    self.fence()
                    return self._run_app_fenced(name, reasons)
                except errors.Fenced as err:
                    # The shard's renewal is late (a busy replica) or it was lost: not
                    # the app's failure, so no backoff; asked again after a lease round,
                    # it runs if the shard is still held, else its new holder runs it.
                    log.warning("app=%s work dropped: %s", name, err)
                    self._again(name, after=self.shards.settings.retry_period)
                    return True
        except errors.Fenced as err:
            # Not the app's failure: nothing is recorded. The elector notices too and
            # ends leading; if it renews instead, the queue's retry does the work.
            log.warning("app=%s work dropped: %s", name, err)
            return False

    def _again(self, name: str, *, after: float) -> None:
        if self._jobs is not None and not self._stopping:
            self._jobs.once(
                f"fenced:{name}", at=time.time() + after,
                func=lambda: self._queue.request(name, "retry"),
            )  # fmt: skip

    def _run_app_fenced(self, name: str, reasons: frozenset[str]) -> bool:
        outcome = self.reconciler.reconcile(
            name, reasons=reasons, fresh=bool(reasons & FRESH_REASONS)
        )
        if outcome.next_check is not None and self._jobs is not None and not self._stopping:
            self._jobs.once(
                f"gate:{name}", at=outcome.next_check + 0.5,
                func=lambda: self._queue.request(name, "gate"),
            )  # fmt: skip
        if self._jobs is not None and not self._stopping:
            if outcome.look_again is not None:
                self._jobs.once(
                    f"health:{name}", at=outcome.look_again,
                    func=lambda: self._queue.request(name, "health"),
                )  # fmt: skip
            elif self.health_waits.had_looks(name):
                self._jobs.remove(f"health:{name}")  # its wait ended sooner
        return outcome.ok

    def _progressed(self, app: str, cluster: str) -> None:
        """A watched object of ``app`` changed while its rollout waits for health."""
        del cluster
        if app in self._apps and self._queue is not None and not self._stopping:
            self._queue.request(app, "health")

    def _watched_change(self, app: str, cluster: str) -> None:
        """A watch saw an object of ``app`` on ``cluster`` stop matching its release."""
        if app in self._apps and self._queue is not None and not self._stopping:
            self._queue.request(app, "drift")

    def watch_status(self) -> list[dict[str, Any]]:
        """Per cluster and kind, whether drift is read from a synced watch and why not."""
        return self.parts.watch_status()

    def _poll_git(self, url: str) -> None:
        changed = sorted(self.inputs.poll_repository(url))
        for name in changed:
            if self.mine(name):
                self._queue.request(name, f"git:{url}")
        # The same poll (one ls-remote per repository) tells whether a tenant's app
        # files moved: a new commit is read, and a valid set of apps replaces the last.
        read = {s.commit for s in self.tenant_apps.status.values()}
        self.load_tenant_apps(url=url)
        moved = bool(changed) or {s.commit for s in self.tenant_apps.status.values()} != read
        # A failing source shows in its apps' status (Degraded) and history, and clears
        # when a poll succeeds again; what the apps run is left as it is.
        for source in self.config.sources:
            if source.url != url:
                continue
            error = self.inputs.source_error(source.name)
            for name in self.inputs.apps_of(source.name):
                if self.mine(name):
                    self.reconciler.note_source_poll(name, source=source.name, error=error)
        if moved:
            # A source moved: snapshots of commits nothing is at any more can go.
            self.parts.cleanup()

    def _polled(self, kind: str, key: str, at: float) -> None:
        """A reconcile polled a repository itself (the start-up pass does, once per
        repository): its poll job runs next one interval after that, not during the pass,
        so that each repository is polled once per interval whatever the apps."""
        if self._jobs is not None and not self._stopping:
            self._jobs.postpone(f"{kind}:{key}", done_at=at)

    def _poll_image(self, repository: str) -> None:
        for name in sorted(self.inputs.poll_images(repository)):
            if self.mine(name):
                self._queue.request(name, f"image:{repository}")
        # A failing poll shows in the apps' status (Degraded) and history, and clears
        # when the registry answers again; what the apps run is left as it is.
        failing = self.inputs.image_poll_errors(repository)
        for name in [n for n in self.inputs.apps_on(repository) if self.mine(n)]:
            self.reconciler.note_image_poll(name, repository=repository, error=failing.get(name))

    def sync_all(
        self, *, apps: list[str] | None = None, only: frozenset[str] | None = None
    ) -> list[app_.Outcome]:
        """One pass now on the calling thread: fresh inputs.

        Without ``apps`` it is a full pass: one read round (the apps' ownership reads on
        each cluster share one LIST per kind, ``apply.read_round``), and then apps that
        left the config are collected. Callers running several passes at once (``syncer
        sync`` does, per app) hold one ``parts.read_round()`` around them all instead.
        """
        if apps is not None:
            return [self._sync_one(name, only=only) for name in apps]
        with self.parts.read_round():
            outcomes = [self._sync_one(a.name, only=only) for a in self.config.apps]
        self.collect_removed()
        return outcomes

    def _sync_one(self, name: str, *, only: frozenset[str] | None) -> app_.Outcome:
        outcome = self.reconciler.reconcile(
            name, reasons=frozenset({"manual"}), fresh=True, only=only
        )
        if only is not None:
            # Clusters left out could not be reached: that shows in status and history.
            for cluster in self.reconciler.clusters_of(name):
                with self._lock:
                    noted = (name, cluster.name) in self._noted
                if cluster.name not in only and not noted:
                    problem = self._probe(cluster)
                    if problem:
                        self.reconciler.note_unreachable(
                            name, cluster=cluster.name, problem=problem
                        )
        return outcome

    def note_unreachable(self, name: str, *, clusters: dict[str, str]) -> None:
        """Record clusters of ``name`` that a pass left out (cluster -> why, as
        ``Parts.check_cluster`` says, empty when reachable); ``syncer sync`` gives what
        it probed, so clusters are not probed twice."""
        for cluster, problem in sorted(clusters.items()):
            with self._lock:
                self._probes.setdefault(cluster, problem)
                self._noted.add((name, cluster))
            if problem:
                self.reconciler.note_unreachable(name, cluster=cluster, problem=problem)

    def _probe(self, cluster: model.Cluster) -> str:
        """``Parts.check_cluster``, once per cluster for this controller's life."""
        with self._lock:
            if cluster.name in self._probes:
                return self._probes[cluster.name]
        problem = self.parts.check_cluster(cluster)
        with self._lock:
            return self._probes.setdefault(cluster.name, problem)

    def _collect_removed_job(self) -> None:
        try:
            self.collect_removed()
        except errors.Fenced as err:
            log.warning("removed apps not collected: %s", err)

    def collect_removed(self) -> list[removed_.Removal]:
        """Delete (prune was on) or report (off) the objects of apps no longer in the
        config; recorded in their history (``syncer.reconcile.removed``)."""
        with self._config_lock:
            unknown = frozenset(
                name for name, s in self.tenant_apps.status.items() if not s.loaded_commit
            )
        outcomes = removed_.collect(
            config=self.config,
            store=self.store,
            parts=self.parts,
            unknown_tenants=unknown,
            only=self.mine,
        )
        for r in outcomes:
            self.reconciler.progress(f"{r.app} (removed) -> {r.cluster}: {r.message}")
        return outcomes

    # --- ControllerPort: triggers -------------------------------------------------------
    def trigger_git(self, url: str, ref: str | None) -> list[str]:
        key = repo_key(url)
        names: list[str] = []
        job_urls: set[str] = set()
        for source in self.config.sources:
            if source.git is None or repo_key(source.git.url) != key:
                continue
            branch = source.git.branch
            if ref and branch and ref.startswith("refs/heads/") and ref != f"refs/heads/{branch}":
                continue  # a push to another branch changes nothing we follow
            names.append(source.name)
            job_urls.add(source.git.url)
        if self._jobs is not None:
            self._jobs.trigger([f"git:{u}" for u in sorted(job_urls)])
        log.info("webhook git url=%s ref=%s sources=%s", url, ref, ",".join(names) or "-")
        return names

    def trigger_image(self, repository: str, tag: str | None, digest: str | None) -> list[str]:
        repo = inputs_.normalise_repository(repository)
        apps = self.inputs.apps_on(repo)
        if apps and self._jobs is not None:
            self._jobs.trigger([f"image:{repo}"])
            if digest:
                self._expect(repo, digest, attempt=0)
        log.info("webhook image repository=%s tag=%s apps=%s", repo, tag, ",".join(apps) or "-")
        return apps

    def _expect(self, repository: str, digest: str, *, attempt: int) -> None:
        """Look again shortly whether a poll has seen the digest a webhook named."""
        if attempt >= len(WEBHOOK_REPOLLS) or self._jobs is None or self._stopping:
            return
        self._jobs.once(
            f"repoll:{repository}", at=time.time() + WEBHOOK_REPOLLS[attempt],
            func=lambda: self._repoll(repository, digest, attempt=attempt),
        )  # fmt: skip

    def _repoll(self, repository: str, digest: str, *, attempt: int) -> None:
        """A registry may send its event before the tag points at the new manifest
        (distribution does): while no poll has picked the named digest, poll again a
        few times, soon, rather than a whole interval later. A digest no policy picks
        (a tag out of range) costs these few polls and no more."""
        if self.inputs.knows_digest(repository, digest):
            return
        log.info(
            "webhook image repository=%s digest=%s not seen yet: polling again (%d)",
            repository, digest[:19], attempt + 1,
        )  # fmt: skip
        self._poll_image(repository)
        if not self.inputs.knows_digest(repository, digest):
            self._expect(repository, digest, attempt=attempt + 1)

    # --- ControllerPort: reading --------------------------------------------------------
    def apps_status(self) -> list[dict[str, Any]]:
        found = []
        for app in self.config.apps:
            with self.store.reading(app.name):
                found.append(self._summary(app.name))
        return found

    def app_facts(self) -> list[metrics.AppFacts]:
        """Each app's status, sync status and pending approvals, for a metrics scrape."""
        return [self._facts(app.name) for app in self._my_apps()]

    def _facts(self, name: str) -> metrics.AppFacts:
        # One read round: a store kept in a cluster answers the app's questions with one
        # request instead of one each (a scrape asks them of every app).
        with self.store.reading(name):
            summary = self._summary(name)
            run = self.store.run(name)
            desired = run.desired_release if run else ""
            rejected = self.store.rejected(name)
            pending = {
                a.stage: a.requested_at
                for a in self.store.approvals(name)
                if a.approved_at is None and a.release_id == desired and desired not in rejected
            }
        sync = summary["sync"]
        return metrics.AppFacts(
            app=name,
            health_status=summary["status"],
            sync_status=sync,
            pending_approvals=pending,
        )

    def _summary(self, name: str) -> dict[str, Any]:
        run = self.store.run(name)
        deployments = self.store.deployments(name)
        errs = self.store.errors(name)
        current = {d.release_id for d in deployments}
        by_cluster = {e.cluster: e for e in errs if e.cluster}
        latest = self.store.latest_targets(name)
        clusters = [
            self._cluster_entry(
                self._what_runs(name, d.to_dict(), latest.get(d.cluster)),
                by_cluster.get(d.cluster),
            )
            for d in deployments
        ]
        # Clusters that never got a release but have an error (unreachable, bad
        # kubeconfig context): listed with it, and the app is not healthy.
        deployed = {d.cluster for d in deployments}
        for cluster in sorted(set(by_cluster) - deployed):
            entry = {
                "cluster": cluster, "release": "", "healthy": False, "lastHealthyRelease": "",
                "health": UNKNOWN if by_cluster[cluster].stage == "cluster" else "Missing",
                "commit": "", "images": [], "lastAppliedAt": None,
            }  # fmt: skip
            clusters.append(self._cluster_entry(entry, by_cluster[cluster]))
        healthy = bool(clusters) and all(c["healthy"] for c in clusters)
        if errs:
            # A cluster whose API does not answer may still serve: unknown is not failing.
            serving = any(c["healthy"] or c.get("health") == UNKNOWN for c in clusters)
            status = "Degraded" if healthy or (serving and not self._failing(errs)) else "Failing"
        elif not deployments:
            status = "Pending"
        elif any(t.open for r in self.store.open_rollouts(name) for t in r.targets):
            status = "Progressing"
        else:
            status = "Healthy" if healthy else "Unhealthy"
        desired = run.desired_release if run else ""
        stages, waits = self._stages(name, desired)
        if status == "Healthy" and any(s["phase"] in _UNDER_WAY for s in stages):
            # What runs is healthy, but the desired release is still on its way through
            # the pipeline (a gate: approval, soak, window): not done yet.
            status = "Progressing"
        if not desired:
            sync = "Unknown"
        elif status == "Progressing" or sorted(current) != [desired]:
            # Somewhere it does not run the release it should (yet), or a rollout or a
            # gate still has it on its way.
            sync = "OutOfSync"
        else:
            sync = "Synced"
        return {
            "name": name,
            "status": status,
            "sync": sync,
            "release": sorted(current)[0] if len(current) == 1 else "",
            "releases": sorted(current),
            "healthy": healthy,
            "clusters": clusters,
            "lastAttemptAt": run.last_attempt_at if run else None,
            "lastSuccessAt": run.last_success_at if run else None,
            "message": run.message if run else "",
            "errors": [e.to_dict() for e in errs],
            "waiting": waits,
            "stages": stages,
            "warnings": self._warnings(name, desired),
            "holds": [h.to_dict() for h in self.store.holds(name)],
            **self._owner(name),
            **self._write_back(name, desired),
            **self._origin(name),
        }

    def _origin(self, name: str) -> dict[str, str]:
        """The app's tenant, and the tenant's file that defines it (appsFrom)."""
        app = self._apps.get(name)
        if app is None or not app.tenant:
            return {}
        return {"tenant": app.tenant, **({"origin": app.origin} if app.origin else {})}

    def _owner(self, name: str) -> dict[str, Any]:
        """With shards: ``owner``, the replica holding the app's shard now (as this
        replica last saw the Leases; from the state's last write when not running)."""
        if self.shards is not None:
            holder, _url = self.shards.owner(name)
            return {"owner": holder, "shard": self.shards.shard_of(name)}
        found = self.store.writer(name)
        if found is None:
            return {}
        return {"owner": str(found["holder"]), "shard": int(found["shard"])}

    def _write_back(self, name: str, desired: str) -> dict[str, Any]:
        found = reconcile_writeback.status(store=self.store, app=self._apps[name], desired=desired)
        return {"writeBack": found} if found is not None else {}

    def _what_runs(
        self, name: str, entry: dict[str, Any], target: records.Target | None
    ) -> dict[str, Any]:
        """A deployed cluster in status: the commit and images of its release, its
        health in a word, when it was last applied and its last error."""
        rel = self.store.get_release(name, entry["release"]) if entry["release"] else None
        entry["commit"] = rel.commit if rel is not None else ""
        entry["images"] = [i.ref for i in rel.images] if rel is not None else []
        if target is not None and target.open:
            entry["health"] = "Progressing"
        else:
            entry["health"] = "Healthy" if entry["healthy"] else "Unhealthy"
        entry["error"] = ""
        return entry

    def _warnings(self, name: str, release_id: str) -> list[str]:
        """Warnings recorded once for the desired release (an image policy that matches
        no container, ...)."""
        if not release_id:
            return []
        return [
            e.message
            for e in self.store.history(name, limit=50)
            if e.kind == "warning" and e.release_id == release_id
        ][::-1]

    @staticmethod
    def _cluster_entry(entry: dict[str, Any], err: Any) -> dict[str, Any]:
        """A cluster in status: a later health check that found it unhealthy wins over
        what its rollout recorded; its current error is shown with it."""
        if err is None:
            return entry
        entry["error"] = f"{err.stage}: {err.message}"
        entry["errorSince"] = err.since
        if err.stage == "health" and err.message.startswith(target_.NOT_HEALTHY_ANY_MORE):
            entry["healthy"] = False
            entry["health"] = "Unhealthy"
        if err.stage == "cluster":
            # Its API stopped answering: what runs there is not known to be healthy.
            entry["healthy"] = False
            entry["health"] = UNKNOWN
        return entry

    @staticmethod
    def _failing(errs: list[Any]) -> bool:
        """The app's own pass fails (source, images, ...) or a cluster is unhealthy."""
        return any(not e.cluster or e.stage == "health" for e in errs)

    def _stages(self, name: str, release_id: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Where the desired release stands per stage, and why it waits (pipelines)."""
        if not release_id:
            return [], []
        rejected = self.store.rejected(name)
        app = self._apps[name]
        pipeline = next((p for p in self.config.pipelines if p.app == name), None)
        try:
            clusters = [c.name for c in self.reconciler.clusters_of(name)]
            plan = rollout.plan(
                app=app,
                pipeline=pipeline,
                clusters=self.config.clusters,
                release=release_id,
                records=app_.cluster_records(store=self.store, app=name, clusters=clusters),
                approvals=app_.approved(store=self.store, app=name),
                now=dt.datetime.now(dt.UTC),
            )
        except errors.SyncerError as err:
            return [], [str(err)]
        if release_id in rejected:
            # Still shown (the pipelines view keeps the app), but it waits for nothing.
            stages = [
                _rejected(s, release=release_id, reason=rejected[release_id]) for s in plan.stages
            ]
            return [s.to_dict() for s in stages], []
        found = self._refusals(name, release_id)
        after = {s.name: s.after for s in pipeline.stages} if pipeline else {}
        by_stage = {
            s.name: next((found[c.name] for c in s.clusters if c.name in found), "")
            for s in plan.stages
        }
        stages = [
            _with_reasons(
                s, refusals=found, after=after.get(s.name) or "",
                upstream=by_stage.get(after.get(s.name) or "", ""),
            )
            for s in plan.stages
        ]  # fmt: skip
        return [s.to_dict() for s in stages], [s.message for s in stages if s.message]

    def _refusals(self, name: str, release_id: str) -> dict[str, str]:
        """Why the release was refused (gateway, conflict, ...) per cluster, one line."""
        return {
            t.cluster: " ".join(t.message.split())
            for t in self.store.latest_targets(name).values()
            if t.release_id == release_id and t.state == rollout.FAILED and t.message
        }

    def app_status(self, name: str) -> dict[str, Any] | None:
        if name not in self._apps:
            return None
        with self.store.reading(name):
            status = self._summary(name)
            run = self.store.run(name)
            rollouts = self.store.rollouts(name, limit=5)
            rejected = self.store.rejected(name)
            approvals = self.store.approvals(name)
        status["desiredRelease"] = run.desired_release if run else ""
        status["rollouts"] = [r.to_dict() for r in rollouts]
        status["approvals"] = [a.to_dict(rejected=a.release_id in rejected) for a in approvals]
        status["rejected"] = rejected
        pipeline = next((p for p in self.config.pipelines if p.app == name), None)
        status["pipelineStages"] = [s.name for s in pipeline.stages] if pipeline else []
        status["queue"] = {"failures": self._queue.failures(name) if self._queue else 0}
        return status

    def history(self, app: str, limit: int) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.store.history(app, limit=limit)]

    def releases(self, app: str) -> list[dict[str, Any]]:
        out = []
        for rel in self.store.releases(app):
            item = rel.to_dict()
            item["targets"] = [t.to_dict() for t in self.store.targets_of_release(app, rel.id)]
            out.append(item)
        return out

    def plan(self, app: str) -> dict[str, Any]:
        report = plan_.plan_app(config=self.config, parts=self.parts, store=self.store, name=app)
        return report.to_dict()

    # --- ControllerPort: actions --------------------------------------------------------
    def sync_now(self, app: str, *, by: str = "api") -> dict[str, Any]:
        if self._queue is None:
            raise errors.TemporaryError("controller is not running yet", retry_after=1)
        self.store.record(app=app, kind="sync", message=f"sync requested by {by}")
        self._queue.request(app, "api", now=True)
        return {"app": app, "scheduled": True}

    def rollback(
        self, app: str, to: str | None, stage: str | None = None, *, by: str = "api"
    ) -> dict[str, Any]:
        if self._queue is None:
            raise errors.TemporaryError("controller is not running yet", retry_after=1)
        # Recorded in state before the answer (the pin and an open rollout of the target):
        # a crash right after it loses nothing, the next reconcile carries it out.
        target = self.reconciler.request_rollback(app, to=to, by=by, stage=stage).id
        self._queue.request(app, "rollback", now=True)
        return {"app": app, "to": target, "stage": stage or "", "scheduled": True}

    def suspend(self, app: str, stage: str | None, *, by: str = "api") -> dict[str, Any]:
        held = self.store.hold(app=app, stage=stage or "", kind=records.SUSPEND, by=by)
        return {"app": app, **held.to_dict()}

    def resume(self, app: str, stage: str | None, *, by: str = "api") -> dict[str, Any]:
        lifted = self.store.release_holds(app=app, stage=stage, by=by)
        if lifted and self._queue is not None:
            # Follow the newest release now, not at the next poll.
            self._queue.request(app, "api", now=True)
        return {"app": app, "stage": stage or "", "resumed": [h.to_dict() for h in lifted]}

    def approve(self, app: str, stage: str, *, by: str = "api") -> dict[str, Any]:
        self._awaiting_approval(app, stage)
        approval = self.store.approve(app=app, stage=stage, by=by)
        if self._queue is not None:
            self._queue.request(app, "approval", now=True)
        return {"app": app, **approval.to_dict()}

    def reject(self, app: str, stage: str, *, by: str = "api") -> dict[str, Any]:
        release = self._awaiting_approval(app, stage)
        refused = self.store.reject_promotion(app=app, stage=stage, release_id=release, by=by)
        if self._queue is not None:
            # Status and the next plan say at once that the release goes no further.
            self._queue.request(app, "approval", now=True)
        return {
            "app": app, "stage": stage, "release": refused.release_id,
            "requestedAt": refused.requested_at, "rejectedBy": by,
        }  # fmt: skip

    def _awaiting_approval(self, app: str, stage: str) -> str:
        """The release whose promotion into ``stage`` waits for approval now;
        PermanentError saying why when none does."""
        # Only what the plan awaits now: not a release rejected or blocked upstream since.
        release = run.desired_release if (run := self.store.run(app)) else ""
        stages, _waits = self._stages(app, release)
        found = next((s for s in stages if s["name"] == stage), None)
        if found is None or not any(
            g["gate"] == "approval" and g["state"] == "waiting" for g in found["gates"]
        ):
            rejected = self.store.rejected(app)
            if release in rejected:
                why = f"release {release[:12]} was rejected: {rejected[release]}"
            else:
                why = (found or {}).get("message") or "its newest release does not wait for one"
            raise errors.PermanentError(
                f"app {app!r} has no promotion waiting for approval into stage {stage!r}: {why}"
            )
        return release

    def ready(self) -> tuple[bool, str]:
        if self._stopping:
            return False, "stopping"
        if not self._started:
            return False, "starting"
        try:
            self.store.run(self.config.apps[0].name) if self.config.apps else None
        except errors.SyncerError as err:
            return False, f"state unavailable: {err}"
        reason = f"running: {len(self.config.apps)} apps"
        if self.shards is not None:
            reason += f"; {self.shards.describe()}"
        polled = sorted(
            f"{w['cluster']}/{w['kind']}{' in ' + w['namespace'] if w['namespace'] else ''}"
            f" ({w['state']})"
            for w in self.watch_status()
            if w["state"] in ("reconnecting", "unavailable")
        )
        if polled:
            # Not a reason to be unready: drift is still checked, by listing.
            reason += f"; drift listed, not watched: {', '.join(polled)}"
        # Still ready: a failing source is the apps' problem (status says Degraded), and
        # the replica must keep receiving webhooks, which is how a fixed source is seen.
        for name, error in sorted(self.inputs.failing_sources().items()):
            reason += f"; git source {name} failing: {error}"
        # Still ready: the previous config runs; the reason says why the file does not.
        if said := self.reload_status():
            reason += f"; {said}"
        # Still ready: a tenant's last good apps run; the reason says why its newest do not.
        with self._config_lock:
            if said := self.tenant_apps.describe():
                reason += f"; {said}"
        return True, reason


def _apart_from_apps(config: model.Config) -> model.Config:
    """``config`` without its apps: what the parts and the notifier are built on."""
    return dataclasses.replace(config, apps=())


def with_recorded_tenant_apps(
    config: model.Config,
    *,
    store: store_.Store,
    checkout: Callable[[model.Source, str], parts_.Snapshot],
) -> model.Config:
    """``config`` with each tenant's apps as a running syncer last ran them: read at the
    last good appsFrom commit the state records (``LAST_GOOD``), with no poll (commands
    that read the state, like ``syncer status``)."""
    book = tenantapps_.Book(owners=tenantapps_.Owners(get=store.git_head, put=lambda **_: False))
    for tenant in config.tenants:
        place = tenant.apps_from
        commit = store.git_head(f"{LAST_GOOD}{tenant.name}", place.path) if place else None
        if place is not None and commit:
            book.read(
                platform=config, tenant=tenant, force=True,
                snapshot=functools.partial(_at, checkout=checkout, commit=commit),
            )  # fmt: skip
    return book.compose(config)


def _at(
    source: model.Source,
    *,
    checkout: Callable[[model.Source, str], parts_.Snapshot],
    commit: str,
) -> parts_.Snapshot:
    return checkout(source, commit)


@dataclasses.dataclass(frozen=True)
class Rebuilt:
    """What a config runs on, built afresh for a reloaded one."""

    parts: parts_.Parts
    notifier: notify_worker.Worker | None


@dataclasses.dataclass
class Session:
    """What a command needs: the config, its state file, the live parts, a controller."""

    config: model.Config
    store: store_.Store
    parts: parts_.Parts
    controller: Controller
    read_secret: secrets.SecretReader | None = None
    """Reads ``secret:`` references (give it to the HTTP server for webhook tokens)."""

    def include_tenant_apps(self) -> None:
        """Add the apps the tenants keep in their own repositories (``appsFrom``), read
        now. Call it holding the state's writer lock (reading records Git heads); the
        parts may be rebuilt, so ``config`` and ``parts`` are the controller's after."""
        self.controller.load_tenant_apps(force=True)
        self.config, self.parts = self.controller.config, self.controller.parts

    def close(self) -> None:
        self.parts.close()
        self.store.close()


def _rejected(stage: rollout.StageStatus, *, release: str, reason: str) -> rollout.StageStatus:
    """``stage`` for a rejected release: where done, as it is; otherwise blocked by the
    rejection, which only a newer release gets past."""
    if stage.phase == rollout.DONE:
        return stage
    gate = rollout.GateResult(
        gate=rollout.APPROVAL,
        state=rollout.BLOCKED,
        message=(
            f"stage {stage.name}: release {release[:12]} was rejected ({reason}); "
            "only a newer release moves on"
        ),
    )
    return dataclasses.replace(stage, phase=rollout.BLOCKED_PHASE, gates=(gate,))


def _with_reasons(
    stage: rollout.StageStatus, *, refusals: dict[str, str], after: str, upstream: str
) -> rollout.StageStatus:
    """``stage`` with the reason of a refusal after "failed" in its messages: a failed
    cluster's own, and ``upstream`` (its ``after`` stage's) where that blocks it."""
    gates = []
    for gate in stage.gates:
        reason = ""
        if gate.gate == "health" and " failed in cluster " in gate.message:
            cluster = gate.message.split(" failed in cluster ", 1)[1].split(";")[0]
            reason = refusals.get(cluster, "")
        elif gate.gate == "after" and after and gate.message.endswith(f"stage {after} failed"):
            reason = upstream
        if reason:
            head, sep, tail = gate.message.partition("; ")
            gate = dataclasses.replace(gate, message=f"{head}: {reason}{sep}{tail}")
        gates.append(gate)
    return dataclasses.replace(stage, gates=tuple(gates))


_UNDER_WAY = frozenset({"progressing", "waiting"})

UNKNOWN = "Unknown"
"""A cluster's health while its API does not answer."""
"""Stage phases of a release that is still on its way through a pipeline."""


def open_session(
    config_path: str,
    *,
    progress: Callable[[str], None] | None = None,
    fence: Callable[[], None] | None = None,
) -> Session:
    """Load ``config_path``, open its state file and build the controller on live parts;
    ``fence`` (leader election's) guards every rollout start and cluster write."""
    from syncer import state
    from syncer.config import loader
    from syncer.reconcile import live

    config = loader.load(config_path)
    store = state.open_for(config, guard=fence)
    assert store is not None  # created when missing
    try:
        parts = live.LiveParts(config, fence=fence)
    except BaseException:
        store.close()
        raise

    def rebuild(new: model.Config) -> Rebuilt:
        parts = live.LiveParts(new, fence=fence)
        notifier = notify_service.worker_for(
            config=new, store=store, read_secret=parts.read_secret, client=parts.client
        )
        return Rebuilt(parts=parts, notifier=notifier)

    notifier = notify_service.worker_for(
        config=config, store=store, read_secret=parts.read_secret, client=parts.client
    )
    controller = Controller(
        config=config, store=store, parts=parts, progress=progress, fence=fence,
        notifier=notifier, rebuild=rebuild,
    )  # fmt: skip
    return Session(
        config=config, store=store, parts=parts, controller=controller,
        read_secret=parts.read_secret,
    )  # fmt: skip
