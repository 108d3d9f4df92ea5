"""``Parts``: what the reconcile loop needs from the layers below it, as one interface.

``syncer.reconcile.app`` drives an app through source -> images -> release -> render
-> apply -> health -> rollback by calling these methods only; ``syncer.reconcile.live``
implements them with the real packages (``syncer.source``, ``syncer.images``,
``syncer.render``, ``syncer.apply``). Keeping the seam here lets the loop's decisions
(what to roll out, resume, roll back, record) be tested on their own, and keeps the
layers' own types from leaking into state and history.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from syncer import release
from syncer.config import model


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A source at one commit: an immutable directory to render from."""

    source: str
    commit: str
    path: Path
    label: str = ""
    """``branch 'main'`` ... for messages."""


@dataclasses.dataclass(frozen=True)
class Applied:
    """The outcome of applying one app's objects to one cluster."""

    inventory: tuple[str, ...]
    """Keys of every object the app now owns there (the next apply's prune basis)."""
    created: int = 0
    updated: int = 0
    pruned: int = 0
    unchanged: int = 0
    writes: int = 0
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        text = (
            f"{self.created} created, {self.updated} updated, {self.pruned} pruned, "
            f"{self.unchanged} unchanged"
        )
        # Replacing (immutable fields) and adopting (existing objects) are worth naming.
        for word in ("replaced", "adopted"):
            if self.details.get(word):
                text += f"; {word} {', '.join(self.details[word])}"
        return text


@dataclasses.dataclass(frozen=True)
class Health:
    healthy: bool
    message: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    timed_out: bool = False
    """The wait ran out with objects still progressing (none failed)."""


@dataclasses.dataclass(frozen=True)
class Planned:
    """What applying would change on one cluster (nothing written)."""

    summary: dict[str, int]
    diff: str
    objects: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Removed:
    """An app's objects deleted from one cluster after the app left the config."""

    deleted: list[str]
    """``Kind namespace/name`` of each object deleted."""
    skipped: list[str]
    """Objects of the inventory left alone (they now belong to someone else), why."""


@dataclasses.dataclass(frozen=True)
class Drift:
    drifted: list[str]
    """Objects whose managed fields were changed by someone else."""
    healed: bool


@dataclasses.dataclass(frozen=True)
class WriteBack:
    """A write-back done: the branch, the commit pushed ("" when Git already named the
    images), and each change as data (file, object, field, old, new, image, policy)."""

    branch: str
    commit: str
    changes: tuple[dict[str, str], ...] = ()
    attempts: int = 0


class Parts(Protocol):
    """The layers below the reconcile loop. Every method raises ``syncer.errors`` only."""

    def poll_source(self, source: model.Source, *, max_age: float = 0.0) -> Snapshot:
        """The source's newest commit (ls-remote; fetch only when it moved). ``max_age``:
        an ls-remote of the same repository URL at most that old is reused."""
        ...

    def checkout(self, source: model.Source, commit: str) -> Snapshot:
        """A snapshot of a given commit (for rollbacks and resumed rollouts)."""
        ...

    def decide(
        self,
        image: model.AppImage,
        *,
        running: Callable[[], Sequence[release.Image]] | None = None,
        seen: release.Image | None = None,
    ) -> release.Image:
        """Which tag/digest of ``image.repository`` the policy picks now. ``running``: the
        images of that repository running now, asked only when a limit cut the tag list
        (the choice is then never below them). ``seen``: what the policy picked before
        (the state's record): picked again, its tag's digest is known without a request."""
        ...

    def render(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        snapshot: Snapshot,
        images: Sequence[release.Image],
    ) -> list[dict[str, Any]]:
        """The objects for ``app`` on ``cluster`` with ``images`` written in."""
        ...

    def apply(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
    ) -> Applied:
        """Gateway checks, then server-side apply and prune against ``inventory``."""
        ...

    def wait_healthy(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str],
        timeout: float,
        cached: bool = False,
    ) -> Health:
        """Wait until the applied objects (``inventory``, from ``apply``) are healthy, one
        failed for good, or ``timeout`` seconds passed. ``cached``: judge from the watch
        cache where there is one (a look that follows no write of ours)."""
        ...

    def plan(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
    ) -> Planned:
        """Server-side dry run: what ``apply`` would change."""
        ...

    def drift(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
        heal: bool,
    ) -> Drift:
        """Compare live objects with ``objects`` (``inventory``: what the app owns there,
        from the last apply); re-apply the drifted ones when ``heal``."""
        ...

    def watch(
        self,
        notify: Callable[[str, str], None],
        *,
        progressed: Callable[[str, str], None] | None = None,
    ) -> None:
        """Read drift from watches from now on (clusters with ``driftSource: watch``);
        ``notify(app, cluster)`` when a watched object of an app no longer matches it,
        ``progressed(app, cluster)`` when one changed after ``await_change``."""
        ...

    def await_change(self, *, app: model.App, cluster: model.Cluster) -> None:
        """Call ``progressed`` (``watch``) once at the next change of a watched object
        of ``app`` on ``cluster``, status included (a rollout waiting for health); a
        cluster not watched calls nothing (the caller looks again by itself)."""
        ...

    def watch_status(self) -> list[dict[str, Any]]:
        """Per cluster and kind: the watch's state (synced, reconnecting, unavailable,
        poll) and why; empty before ``watch``."""
        ...

    def read_round(self) -> contextlib.AbstractContextManager[None]:
        """A block in which many apps' cluster reads share one LIST per kind and cluster
        (``apply.read_round``); what it reads is a snapshot taken in the block."""
        ...

    def remove(self, *, app_name: str, cluster: model.Cluster, inventory: Sequence[str]) -> Removed:
        """Delete what the app owns there (``inventory``), in reverse order, only objects
        still carrying its ownership label."""
        ...

    def check_cluster(self, cluster: model.Cluster) -> str:
        """Empty when the cluster can be reached; else a sentence saying what is missing."""
        ...

    def write_back(
        self, *, app: model.App, source: model.Source, images: Sequence[release.Image]
    ) -> WriteBack:
        """Make the app's write-back targets in Git name ``images`` (one commit pushed to
        its branch, none when they already do)."""
        ...

    def cleanup(self) -> None:
        """Drop old Git snapshots (the ones sources are at, and a few recent, stay)."""
        ...

    def follow(self, config: model.Config) -> None:
        """Run on for ``config``, which differs from the one these parts were built on
        only in its apps (a tenant's new set): clients, caches and watches are kept."""
        ...

    def close(self) -> None: ...
