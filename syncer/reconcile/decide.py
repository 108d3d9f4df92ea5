"""What an app should run now: the one decision path of sync, the controller and plan.

``syncer.reconcile.app`` (every reconcile: ``syncer run``, ``syncer sync``, the API) and
``syncer.reconcile.plan`` (``syncer plan``) both call ``decide``; it reads the newest
commit and image decisions (``syncer.reconcile.inputs``), keeps the last image through
a registry outage, replaces an image a rollback found bad by the last good one, renders
the app for each of its clusters and makes the content-addressed release
(``syncer.release``). Since plan and sync take the same path, ``plan`` shows exactly what
the next ``sync`` would roll out. Nothing is written here.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from syncer import errors, images, release
from syncer.config import model
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts as parts_
from syncer.state import store as store_

REGISTRY_OUTAGES = (images.RegistryUnreachableError, images.RegistryUnavailableError)
"""Registry errors that keep the last image instead of failing the app."""

HELD_BACK = "held back image"
"""How the app's warning about an image a rollback found bad starts."""

RENDER_CACHE_SIZE = 2000
"""Renders whose objects are kept per process (app, commit, images, cluster)."""
DIGEST_CACHE_SIZE = 100_000
"""Renders whose digest alone is kept: a reconcile of an unchanged app, which
needs only its release's digests, renders nothing again far beyond the objects kept."""


class Failed(errors.SyncerError):
    """The inputs could not be read: ``stage`` is ``source`` or ``images``."""

    def __init__(self, stage: str, error: errors.SyncerError) -> None:
        super().__init__(str(error))
        self.stage = stage
        self.error = error


@dataclasses.dataclass(frozen=True)
class Outage:
    """A registry that could not be asked; ``kept`` is the image kept instead (None:
    the tag written in Git stays)."""

    repository: str
    error: Exception
    kept: release.Image | None

    def warning(self) -> str:
        return f"{self.error}; keeping {self.kept.ref if self.kept else 'the tag in Git'}"


@dataclasses.dataclass
class Decision:
    """The release an app should run now and how it was arrived at."""

    snapshot: parts_.Snapshot
    release: release.Release
    source_failing: str = ""
    """The source's poll job sees it failing (branch deleted, server down): the snapshot
    is its last good commit, and this says so."""
    outages: list[Outage] = dataclasses.field(default_factory=list)
    failing_polls: list[str] = dataclasses.field(default_factory=list)
    """Images decided from memory while their poll job sees the registry failing."""
    held: list[str] = dataclasses.field(default_factory=list)
    """One sentence per image held back (a rollback found it bad)."""
    rendered: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    """Cluster -> rendered objects, where they were rendered (or kept) for this decision;
    ``objects`` renders the others when asked."""
    render_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    """Cluster -> why rendering failed (the rollout fails there with it)."""
    render_later: dict[str, Callable[[], Rendered]] = dataclasses.field(default_factory=dict)
    """Cluster -> how to render its objects, where only their digest was at hand."""

    def objects(self, cluster: str) -> list[dict[str, Any]] | None:
        """The rendered objects for ``cluster``; None where rendering failed."""
        if cluster not in self.rendered and cluster in self.render_later:
            done = self.render_later.pop(cluster)()
            if done.objects is None:
                self.render_errors[cluster] = done.problem
            else:
                self.rendered[cluster] = done.objects
        return self.rendered.get(cluster)

    def warnings(self) -> list[str]:
        return [*self.held, *self.outage_warnings(), *self.failing_polls]

    def outage_warnings(self) -> list[str]:
        """Inputs that could not be read now (the source, registries), with what was kept."""
        source = [self.source_failing] if self.source_failing else []
        return [*source, *(o.warning() for o in self.outages)]


def source_warning(error: str, *, commit: str) -> str:
    """How a failing Git source reads in status and history: the error, and the commit
    kept (its last good one) when there is one."""
    return f"{error}; keeping commit {commit[:12]}" if commit else error


@dataclasses.dataclass(frozen=True)
class Rendered:
    """One render: the digest of its objects (``release.objects_digest``) and the objects
    themselves where kept, or why it failed."""

    digest: str = ""
    objects: list[dict[str, Any]] | None = None
    problem: str = ""


class RenderCache:
    """Renders by (app, config, commit, images, cluster), bounded: the objects of the
    last ``RENDER_CACHE_SIZE``, the digests of the last ``DIGEST_CACHE_SIZE``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._digests: dict[tuple[Any, ...], Rendered] = {}

    def render(
        self,
        *,
        parts: parts_.Parts,
        app: model.App,
        cluster: model.Cluster,
        snapshot: parts_.Snapshot,
        chosen: Sequence[release.Image],
        objects: bool = True,
    ) -> Rendered:
        """The render; without ``objects``, its digest alone will do (``objects`` is then
        None unless they were kept), which renders again only past the digests kept."""
        key = (
            app.name, release.config_digest(app), snapshot.commit, str(snapshot.path),
            tuple(i.ref for i in chosen), cluster.name, tuple(sorted(cluster.labels.items())),
        )  # fmt: skip
        with self._lock:
            found = self._digests.get(key)
            kept = self._objects.get(key)
        if found is not None and (kept is not None or not objects):
            return dataclasses.replace(found, objects=kept)
        try:
            rendered = parts.render(app=app, cluster=cluster, snapshot=snapshot, images=chosen)
        except errors.SyncerError as err:
            # Not kept: a chart server back up, or credentials rotated, renders next time.
            return Rendered(problem=str(err))
        done = Rendered(digest=release.objects_digest(rendered), objects=rendered)
        with self._lock:
            if len(self._digests) >= DIGEST_CACHE_SIZE:
                self._digests.clear()
            self._digests[key] = dataclasses.replace(done, objects=None)
            if len(self._objects) >= RENDER_CACHE_SIZE:
                self._objects.clear()
            self._objects[key] = rendered
        return done


def decide(
    *,
    app: model.App,
    source: model.Source,
    clusters: Sequence[model.Cluster],
    inputs: inputs_.Inputs,
    parts: parts_.Parts,
    store: store_.Store | None,
    fresh: bool,
    cache: RenderCache,
    snapshot: parts_.Snapshot | None = None,
) -> Decision:
    """The release ``app`` should run now; raises ``Failed`` when Git or a registry
    answer with something retrying will not make better (or Git cannot be reached).
    ``snapshot`` replaces the polled commit (``plan --local``)."""
    source_failing = ""
    if snapshot is None:
        try:
            snapshot = inputs.snapshot(source, fresh=fresh)
        except errors.SyncerError as err:
            raise Failed("source", err) from err
        poll_error = inputs.source_error(source.name)
        if poll_error is not None and not fresh:
            # A snapshot from memory while the poll job sees the source failing: what
            # runs stays, and the app says why nothing new comes.
            source_failing = source_warning(poll_error, commit=snapshot.commit)
    chosen: list[release.Image] = []
    outages: list[Outage] = []
    failing: list[str] = []
    for image in app.images:
        repository = inputs_.normalise_repository(image.repository)
        try:
            chosen.append(inputs.image(image, fresh=fresh))
        except REGISTRY_OUTAGES as err:
            # An outage of the registry must not hold back what Git says: keep the
            # image the app last ran (or the tag written in Git) and carry on.
            kept = inputs_.last_image(store, app=app.name, image=image)
            if kept is not None:
                chosen.append(kept)
            outages.append(Outage(repository=repository, error=err, kept=kept))
        except errors.SyncerError as err:
            raise Failed("images", err) from err
        else:
            poll_error = inputs.image_poll_errors(image.repository).get(app.name)
            if chosen[-1].warning:
                # A limit cut the tag list and the running tag was kept: say so.
                failing.append(chosen[-1].warning)
            elif poll_error is not None and not fresh:
                # A decision from memory while the poll job sees the registry failing.
                failing.append(f"{poll_error}; keeping {chosen[-1].ref}")
    chosen, held = hold_back(store=store, app=app.name, chosen=chosen)
    rendered: dict[str, list[dict[str, Any]]] = {}
    render_errors: dict[str, str] = {}
    render_later: dict[str, Callable[[], Rendered]] = {}
    digests: dict[str, str] = {}
    for cluster in clusters:
        render = functools.partial(
            cache.render, parts=parts, app=app, cluster=cluster, snapshot=snapshot,
            chosen=chosen,
        )  # fmt: skip
        done = render(objects=False)
        if done.problem:
            render_errors[cluster.name] = done.problem
            digests[cluster.name] = f"unrendered:{snapshot.commit}"
            continue
        digests[cluster.name] = done.digest
        if done.objects is None:
            render_later[cluster.name] = render
        else:
            rendered[cluster.name] = done.objects
    rel = release.make(
        app=app.name,
        commit=snapshot.commit,
        images=chosen,
        config_digest=release.config_digest(app),
        rendered=digests,
        source=source.name,
    )
    return Decision(
        snapshot=snapshot, release=rel, source_failing=source_failing, outages=outages,
        failing_polls=failing, held=held,
        rendered=rendered, render_errors=render_errors, render_later=render_later,
    )  # fmt: skip


def known_release(
    *, store: store_.Store, rel: release.Release, write: bool = True
) -> release.Release:
    """The stored release deploying the same content as ``rel``, else ``rel`` itself.

    A release recorded before content identity (no content yet) counts when it has the
    same commit, images and config: its content is filled in (unless ``write`` is off:
    ``plan`` writes nothing), so an upgraded controller does not mistake what already
    runs for a new release."""
    found = store.get_release(rel.app, rel.id) or store.release_by_content(rel.app, rel.content)
    if found is not None:
        return found
    for old in store.releases(rel.app, limit=20):
        if (
            not old.content
            and old.commit == rel.commit
            and old.image_refs() == rel.image_refs()
            and old.config_digest == rel.config_digest
        ):
            if write:
                store.set_release_content(app=rel.app, release_id=old.id, content=rel.content)
            return dataclasses.replace(old, content=rel.content)
    return rel


def hold_back(
    *, store: store_.Store | None, app: str, chosen: list[release.Image]
) -> tuple[list[release.Image], list[str]]:
    """Replace images a rollback found bad (``inputs.held_back``) by the last good
    image of their repository; a different image picked by the policy goes out."""
    bad = inputs_.held_back(store=store, app=app) if store is not None else {}
    if not bad or store is None:
        return chosen, []
    result: list[release.Image] = []
    notes: list[str] = []
    for image in chosen:
        why = bad.get((image.repository, image.digest))
        good = inputs_.last_good(store=store, app=app, repository=image.repository) if why else None
        if why is None or good is None or good.digest == image.digest:
            result.append(image)
            continue
        result.append(good)
        notes.append(
            f"{HELD_BACK} {image.ref}: {why}; using {good.ref} until the policy picks another image"
        )
    return result, notes
