"""``Inputs``: the newest Git commits and image decisions, shared by polls and reconciles.

The controller's poll jobs call ``poll_repository`` (one per Git repository URL) and
``poll_images`` (one per image repository); each returns the apps whose input changed,
which the controller queues. A reconcile then reads ``snapshot``/``image`` and gets the
polled value without another network call; only an input never polled (the first
reconcile, ``syncer sync``) is fetched on the spot, once per repository however many apps
ask at the same time, and ``polled`` tells the controller, which moves that repository's
poll job to one interval later. What a poll saw is written to ``syncer.state`` (Git
heads, last-seen tags and digests), so a restart compares against it and does not
mistake old news for a change.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable

from registry import errors as registry_errors
from registry import reference
from syncer import errors, images, release
from syncer.config import model
from syncer.reconcile import parts as parts_
from syncer.state import records
from syncer.state import store as store_

log = logging.getLogger("syncer.reconcile")


def policy_key(image: model.AppImage) -> str:
    """A stable name of an image's policy, filter and ignore list, e.g. ``semver:^1.2``."""
    return images.policy_key(image)


@functools.lru_cache(maxsize=65536)
def normalise_repository(repository: str) -> str:
    """``nginx`` -> ``docker.io/library/nginx``, the way docker names repositories.
    Cached: the same few names are asked for on every poll, webhook and plan."""
    try:
        return reference.parse_repository(repository.strip()).repository
    except registry_errors.RegistryError:
        # The loader rejects invalid repositories; keep the text as the key otherwise.
        return repository.strip()


FRESH_WINDOW = 2.0
"""Seconds a poll counts as fresh: apps reconciled together with fresh inputs (``syncer
sync``, a sync asked through the API) share one Git and one registry poll per repository
instead of one per app."""

GIT = "git"
IMAGE = "image"
"""Kinds of repository that ``Polled`` names."""

Polled = Callable[[str, str, float], None]
"""``polled(kind, key, at)``: a reconcile polled a repository itself, not its poll job
(``GIT`` with the repository URL, or ``IMAGE`` with the normalised image repository),
at Unix time ``at``."""


class Inputs:
    """Polled Git snapshots and image decisions, by source name and image key."""

    def __init__(
        self,
        *,
        config: model.Config,
        parts: parts_.Parts,
        store: store_.Store | None,
        fresh_window: float = FRESH_WINDOW,
        releases: store_.Store | None = None,
        polled: Polled | None = None,
    ) -> None:
        """``store`` records what polls saw; ``releases`` (default: ``store``) is only
        read, for the images apps run (``syncer plan`` reads without writing);
        ``polled`` is told of each poll a reconcile made (not ``poll_repository`` nor
        ``poll_images``)."""
        self._config = config
        self._polled = polled
        self._uses: dict[str, list[tuple[str, model.AppImage]]] = {}
        """Normalised repository -> (app, image) using it: a poll of one repository
        looks at the apps on it, not at every app."""
        self._on_source: dict[str, list[str]] = {}
        """Source name -> the apps on it: a Git poll looks at those, not at every app."""
        for app in config.apps:
            self._on_source.setdefault(app.source, []).append(app.name)
            for image in app.images:
                repo = normalise_repository(image.repository)
                self._uses.setdefault(repo, []).append((app.name, image))
        self._releases = releases if releases is not None else store
        self._fresh_window = fresh_window
        self._parts = parts
        self._store = store
        self._lock = threading.Lock()
        self._snapshots: dict[str, parts_.Snapshot] = {}
        self._images: dict[tuple[str, str], release.Image] = {}
        self._polled_at: dict[object, float] = {}
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._poll_errors: dict[tuple[str, str], str] = {}
        self._source_errors: dict[str, str] = {}
        """Source name -> error of its latest poll, while it fails."""

    # --- Git ----------------------------------------------------------------------------
    def snapshot(self, source: model.Source, *, fresh: bool = False) -> parts_.Snapshot:
        """The newest polled snapshot of ``source`` (polling now when never polled).

        A poll made here reuses the repository's latest ls-remote when recent enough
        (``fresh``: within the fresh window; else within the source's poll interval,
        which is as current as its poll job keeps it), so apps reconciled together
        cost one ls-remote per repository URL, whatever the number of sources on it.
        """
        with self._lock:
            known = self._snapshots.get(source.name)
            age = time.monotonic() - self._polled_at.get(("git", source.name), -1e9)
        if known is not None and (not fresh or age < self._fresh_window):
            return known
        max_age = self._fresh_window if fresh else source.interval
        began = time.time()
        snap = self._poll_source(source, max_age=max_age)[0]
        if self._polled is not None:
            self._polled(GIT, source.url, began)
        return snap

    def _poll_source(
        self, source: model.Source, *, max_age: float = 0.0
    ) -> tuple[parts_.Snapshot, bool]:
        try:
            snap = self._parts.poll_source(source, max_age=max_age)
        except errors.SyncerError as err:
            with self._lock:
                self._source_errors[source.name] = str(err)
            raise
        ref = source.ref
        with self._lock:
            self._source_errors.pop(source.name, None)
            before = self._snapshots.get(source.name)
            self._snapshots[source.name] = snap
            self._polled_at[("git", source.name)] = time.monotonic()
        previous = before.commit if before else None
        if previous is None and self._store is not None:
            previous = self._store.git_head(source.name, ref)
        changed = previous != snap.commit
        if changed and self._store is not None:
            self._store.set_git_head(source=source.name, ref=ref, commit=snap.commit)
        return snap, changed

    def poll_repository(self, url: str) -> set[str]:
        """Poll every source on ``url`` (one ls-remote: the first source asks the remote,
        the others reuse its answer); the names of apps whose source moved."""
        changed_sources: set[str] = set()
        started = time.monotonic()
        for source in self._config.sources:
            if source.url != url:
                continue
            try:
                _snap, changed = self._poll_source(source, max_age=time.monotonic() - started)
            except errors.SyncerError as err:
                log.warning("source=%s poll failed: %s", source.name, err)
                continue
            if changed:
                changed_sources.add(source.name)
        return {app for source in changed_sources for app in self.apps_of(source)}

    def apps_of(self, source: str) -> list[str]:
        """The apps on source ``source``, in config order."""
        return list(self._on_source.get(source, ()))

    def source_error(self, name: str) -> str | None:
        """The error of source ``name``'s latest poll while it fails, else None."""
        with self._lock:
            return self._source_errors.get(name)

    def failing_sources(self) -> dict[str, str]:
        """Every source whose latest poll failed, with the error."""
        with self._lock:
            return dict(self._source_errors)

    def known_commit(self, name: str) -> str:
        """The commit of source ``name``'s last good poll ("" when none), remembered in
        the state file across restarts (so an error names it the same way after one)."""
        with self._lock:
            snap = self._snapshots.get(name)
        if snap is not None:
            return snap.commit
        source = next((s for s in self._config.sources if s.name == name), None)
        if source is None or self._store is None:
            return ""
        return self._store.git_head(name, source.ref) or ""

    # --- images -------------------------------------------------------------------------
    def image(self, image: model.AppImage, *, fresh: bool = False) -> release.Image:
        """The decision for ``image`` (deciding now when never polled, or ``fresh``).

        Apps that ask together share one decision: never polled, the first asks the
        registry and those that waited for it take its answer (a start-up pass of 1,000
        apps on one repository costs one request); ``fresh``, a decision younger than the
        fresh window is taken.
        """
        key = (normalise_repository(image.repository), policy_key(image))
        with self._lock:
            known = self._images.get(key)
        if known is not None and not fresh:
            return known
        reuse = self._fresh_window if fresh else math.inf
        decision, _changed, asked = self._decide(image, key, reuse=reuse)
        if asked is not None and self._polled is not None:
            self._polled(IMAGE, key[0], asked)
        return decision

    def _decide(
        self, image: model.AppImage, key: tuple[str, str], *, reuse: float = 0.0
    ) -> tuple[release.Image, bool, float | None]:
        """The decision for ``key``, whether it changed, and the Unix time the registry
        was asked (None: a decision ``reuse`` seconds old at most was taken instead)."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        # One request per repository and policy at a time, whatever the number of apps;
        # those waiting behind it take its answer when ``reuse`` allows.
        with lock:
            with self._lock:
                known = self._images.get(key)
                age = time.monotonic() - self._polled_at.get(key, -1e9)
            if known is not None and age < reuse:
                return known, False, None
            # The first decision of this process compares with (and may take the digest
            # from) what the last one recorded.
            seen = (
                self._store.seen_image(key[0], key[1])
                if known is None and self._store is not None
                else None
            )
            recorded = (
                release.Image(repository=key[0], tag=seen.tag, digest=seen.digest)
                if seen is not None
                else None
            )
            asked = time.time()
            decision = self._parts.decide(image, running=lambda: self._running(key), seen=recorded)
            with self._lock:
                before = self._images.get(key)
                self._images[key] = decision
                self._polled_at[key] = time.monotonic()
        if before is not None:
            changed = (before.tag, before.digest) != (decision.tag, decision.digest)
        elif self._store is not None:
            changed = seen is None or (seen.tag, seen.digest) != (decision.tag, decision.digest)
        else:
            changed = True
        if changed and self._store is not None:
            self._store.set_seen_image(
                repository=key[0], policy=key[1], tag=decision.tag, digest=decision.digest
            )
        return decision, changed, asked

    def _running(self, key: tuple[str, str]) -> list[release.Image]:
        """What runs now for ``key``: the last decision (in memory, else as recorded) and
        each app's newest release. A listing cut by a limit never chooses below these."""
        found: list[release.Image] = []
        with self._lock:
            known = self._images.get(key)
        if known is not None:
            found.append(known)
        if self._store is not None:
            seen = self._store.seen_image(key[0], key[1])
            if seen is not None:
                found.append(release.Image(repository=key[0], tag=seen.tag, digest=seen.digest))
        if self._releases is not None:
            for app, image in self._uses.get(key[0], ()):
                if policy_key(image) != key[1]:
                    continue
                last = last_image(self._releases, app=app, image=image)
                if last is not None:
                    found.append(last)
        return found

    def poll_images(self, repository: str) -> set[str]:
        """Decide every policy on ``repository`` once; the apps whose choice changed."""
        repo = normalise_repository(repository)
        by_key: dict[tuple[str, str], tuple[model.AppImage, list[str]]] = {}
        for app, image in self._uses.get(repo, ()):
            key = (repo, policy_key(image))
            by_key.setdefault(key, (image, []))[1].append(app)
        changed_apps: set[str] = set()
        for key, (image, apps) in by_key.items():
            try:
                decision, changed, _asked = self._decide(image, key)
            except errors.SyncerError as err:
                log.warning("image=%s policy=%s poll failed: %s", repo, key[1], err)
                with self._lock:
                    self._poll_errors[key] = str(err)
                continue
            with self._lock:
                if decision.warning:
                    # A cut tag list kept the running tag: shown like a failing poll.
                    self._poll_errors[key] = decision.warning
                else:
                    self._poll_errors.pop(key, None)
            if changed:
                changed_apps.update(apps)
        return changed_apps

    def knows_digest(self, repository: str, digest: str) -> bool:
        """Whether the last poll of ``repository`` picked ``digest`` for any policy."""
        repo = normalise_repository(repository)
        with self._lock:
            return any(k[0] == repo and i.digest == digest for k, i in self._images.items())

    def image_poll_errors(self, repository: str) -> dict[str, str]:
        """Apps on ``repository`` whose last image poll failed, with the error; an app
        missing here polled fine (or was never polled)."""
        repo = normalise_repository(repository)
        failing: dict[str, str] = {}
        with self._lock:
            errors_now = dict(self._poll_errors)
        for app, image in self._uses.get(repo, ()):
            key = (repo, policy_key(image))
            if key in errors_now:
                failing.setdefault(app, errors_now[key])
        return failing

    def repositories(self) -> list[str]:
        """Every image repository of every app, normalised and deduplicated."""
        return sorted(self._uses)

    def apps_on(self, repository: str) -> list[str]:
        return list(
            dict.fromkeys(app for app, _ in self._uses.get(normalise_repository(repository), ()))
        )

    def forget(self, names: Iterable[str]) -> None:
        """Drop cached snapshots of these sources (a webhook said they moved)."""
        with self._lock:
            for name in names:
                self._snapshots.pop(name, None)


def held_back(*, store: store_.Store, app: str) -> dict[tuple[str, str], str]:
    """Images (repository, digest) the app must not roll out again, and why.

    An image is held back when a release carrying it was rolled back for being unhealthy
    and no release with that image was ever healthy: the image, not the commit, broke
    it (like a failed freight in Kargo). A commit that broke health with a proven image
    holds back nothing; its release alone stays rejected.
    """
    suspects: dict[tuple[str, str], str] = {}
    for release_id, reason in store.rejected(app).items():
        if not records.rejected_automatically(reason):
            continue
        rel = store.get_release(app, release_id)
        for image in rel.images if rel is not None else ():
            if image.digest:
                suspects.setdefault(
                    (image.repository, image.digest),
                    f"release {rel.short_id if rel else release_id[:12]} with it was rolled "
                    f"back ({reason})",
                )
    if not suspects:
        return {}
    for rel in store.releases(app, limit=100):
        proven = [
            (i.repository, i.digest) for i in rel.images if (i.repository, i.digest) in suspects
        ]
        if proven and any(
            t.state == records.HEALTHY for t in store.targets_of_release(app, rel.id)
        ):
            for key in proven:
                suspects.pop(key, None)
    return suspects


def last_image(
    store: store_.Store | None, *, app: str, image: model.AppImage
) -> release.Image | None:
    """The decision for ``image`` in the app's newest release not rolled back from: what
    a registry outage keeps (sync and plan alike); None without one."""
    if store is None:
        return None
    repository = normalise_repository(image.repository)
    rejected = store.rejected(app)
    for rel in store.releases(app, limit=20):
        if rel.id in rejected:
            continue
        for known in rel.images:
            if known.repository == repository:
                return known
    return None


def last_good(*, store: store_.Store, app: str, repository: str) -> release.Image | None:
    """The image of ``repository`` in the app's newest release that was healthy."""
    found = store.last_healthy_release(app)
    rel = store.get_release(app, found) if found else None
    for image in rel.images if rel is not None else ():
        if image.repository == repository:
            return image
    return None
