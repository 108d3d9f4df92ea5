"""Hot reload of the config of ``syncer run``: watch the file, load it, decide, apply.

``syncer.commands.run`` starts a ``Watcher`` on the ``-c`` file next to the controller.
Every few seconds (and at once on SIGHUP, ``Watcher.check``) it stats the *path* again
and hashes what it reads, so a Kubernetes ConfigMap volume, which changes by swapping a
symlink (``..data``) to a new directory, is seen like an edit in place: no inode or file
handle is kept between looks.

A changed file is loaded and checked like ``syncer validate`` does (the ``load`` given,
``loader.load`` plus the pipeline checks). An invalid one changes nothing: the running
config stays, and the problems (``file:line: field ...``) are logged, kept in
``Watcher.status`` (the controller's readiness reason shows them) and counted in
``syncer_config_reloads_total{result="invalid"}``. A valid one goes through ``decide``,
which compares it with the running config: apps added, removed and changed, and the
settings that only a restart can change (``RESTART_ONLY``: listeners, API users, state
backend, workers), which keep their running values and are reported as needing one.
``apply`` (``Controller.reload``) then carries the decision out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable

from syncer import errors, metrics
from syncer.config import model

log = logging.getLogger("syncer.reload")

INTERVAL = 3.0
"""Seconds between looks at the config file."""

RESTART_ONLY = ("server", "state", "settings.workers")
"""Config settings a running process keeps until it restarts: the HTTP listeners and
users are bound at start, the state backend holds the writer lock, the worker pool is
sized at start. (Leader election is set by ``run``'s flags, not by the file.)"""

APPLIED = "applied"
INVALID = "invalid"
FAILED = "failed"
RESULTS = (APPLIED, INVALID, FAILED)
"""Results of a reload (``syncer_config_reloads_total{result}``)."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """What replacing the running config with a new one does."""

    config: model.Config
    """The config to run: the new one, with the restart-only settings kept as they run."""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    """Apps whose own entry changed, or whose source, clusters, tenant or pipeline did."""
    needs_restart: tuple[str, ...] = ()
    """Restart-only settings that differ (``server``, ``state``, ``settings.workers``)."""

    def summary(self) -> str:
        parts = [
            f"{word} {', '.join(names)}"
            for word, names in (
                ("added", self.added), ("removed", self.removed), ("changed", self.changed)
            )
            if names
        ]  # fmt: skip
        if self.needs_restart:
            parts.append(f"needs a restart to change {', '.join(self.needs_restart)}")
        return "; ".join(parts) or "no app changed"


def decide(*, running: model.Config, new: model.Config) -> Decision:
    """The decision for replacing ``running`` with ``new`` (both valid)."""
    restart: list[str] = []
    keep = new
    if new.server != running.server:
        restart.append("server")
        keep = dataclasses.replace(keep, server=running.server)
    if new.state != running.state:
        restart.append("state")
        keep = dataclasses.replace(keep, state=running.state)
    if new.settings.workers != running.settings.workers:
        restart.append("settings.workers")
        keep = dataclasses.replace(
            keep, settings=dataclasses.replace(keep.settings, workers=running.settings.workers)
        )
    old_apps = {a.name: a for a in running.apps}
    new_apps = {a.name: a for a in new.apps}
    changed = sorted(
        name
        for name in old_apps.keys() & new_apps.keys()
        if _inputs(running, old_apps[name]) != _inputs(new, new_apps[name])
    )
    return Decision(
        config=keep,
        added=tuple(sorted(new_apps.keys() - old_apps.keys())),
        removed=tuple(sorted(old_apps.keys() - new_apps.keys())),
        changed=tuple(changed),
        needs_restart=tuple(restart),
    )


def _inputs(config: model.Config, app: model.App) -> tuple[object, ...]:
    """Everything in ``config`` that decides what ``app`` deploys and where."""
    return (
        app,
        next((s for s in config.sources if s.name == app.source), None),
        tuple(config.clusters),
        tuple(config.registries),
        next((t for t in config.tenants if t.name == app.tenant), None),
        next((p for p in config.pipelines if p.app == app.name), None),
    )


@dataclasses.dataclass
class Status:
    """The last reload, for readiness and the API."""

    file: str
    loaded_at: float
    """When the running config was loaded (Unix time)."""
    errors: tuple[str, ...] = ()
    """Why the file as it is now is not running (empty: it is)."""
    needs_restart: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the readiness reason; empty when there is nothing to say."""
        said = []
        if self.errors:
            said.append(
                f"config {self.file} not reloaded, the previous one runs: " + "; ".join(self.errors)
            )
        if self.needs_restart:
            said.append(f"config changes need a restart: {', '.join(self.needs_restart)}")
        return "; ".join(said)


class Watcher:
    """Reloads ``path`` when it changes (polled every ``interval`` s) or when asked."""

    def __init__(
        self,
        path: str,
        *,
        running: model.Config,
        load: Callable[[str], model.Config],
        apply: Callable[[Decision], None],
        interval: float = INTERVAL,
    ) -> None:
        self.path = path
        self.running = running
        self._load = load
        self._apply = apply
        self._interval = interval
        self._seen = self._fingerprint()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._asked = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = Status(file=path, loaded_at=time.time())
        metrics.CONFIG_LAST_RELOAD_SUCCESS.set(self.status.loaded_at)
        metrics.CONFIG_LAST_RELOAD_OK.set(1)
        for result in RESULTS:
            metrics.CONFIG_RELOADS.labels(result=result)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="config-reload", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Reload now even if the file looks unchanged (SIGHUP: safe in a signal handler)."""
        self._asked.set()

    def stop(self) -> None:
        self._stop.set()
        self._asked.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            asked = self._asked.wait(self._interval)
            self._asked.clear()
            if self._stop.is_set():
                return
            try:
                self.check(force=asked)
            except Exception:  # the loop must outlive any one look
                log.exception("config reload failed")

    def _fingerprint(self) -> tuple[str, str]:
        """(mtime and size, content hash) of what ``path`` names now; ("", "") when it
        cannot be read (that is reported when loading it)."""
        try:
            # os.stat and open follow the path afresh: a swapped symlink is seen.
            stat = os.stat(self.path)
            with open(self.path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            return "", ""
        return f"{stat.st_mtime_ns}:{stat.st_size}", digest

    def check(self, *, force: bool = False) -> str:
        """Reload if the file changed (or ``force``: SIGHUP); returns the result, or
        "unchanged"."""
        with self._lock:
            seen = self._fingerprint()
            if not force and seen[1] == self._seen[1]:
                self._seen = seen
                return "unchanged"
            self._seen = seen
            return self._reload()

    def _reload(self) -> str:
        try:
            new = self._load(self.path)
        except errors.ConfigError as err:
            self.status = dataclasses.replace(self.status, errors=tuple(err.problems))
            metrics.CONFIG_RELOADS.labels(result=INVALID).inc()
            metrics.CONFIG_LAST_RELOAD_OK.set(0)
            log.error(
                "config %s invalid, the previous one keeps running: %s",
                self.path, "; ".join(err.problems),
            )  # fmt: skip
            return INVALID
        decision = decide(running=self.running, new=new)
        try:
            self._apply(decision)
        except errors.SyncerError as err:
            self.status = dataclasses.replace(self.status, errors=(str(err),))
            metrics.CONFIG_RELOADS.labels(result=FAILED).inc()
            metrics.CONFIG_LAST_RELOAD_OK.set(0)
            log.error("config %s not applied, the previous one keeps running: %s", self.path, err)
            return FAILED
        self.running = decision.config
        self.status = Status(
            file=self.path, loaded_at=time.time(), needs_restart=decision.needs_restart
        )
        metrics.CONFIG_RELOADS.labels(result=APPLIED).inc()
        metrics.CONFIG_LAST_RELOAD_OK.set(1)
        metrics.CONFIG_LAST_RELOAD_SUCCESS.set(self.status.loaded_at)
        log.info("config %s reloaded: %s", self.path, decision.summary())
        if decision.needs_restart:
            log.warning(
                "config %s: %s changed; the running values stay until syncer restarts",
                self.path, ", ".join(decision.needs_restart),
            )  # fmt: skip
        return APPLIED
