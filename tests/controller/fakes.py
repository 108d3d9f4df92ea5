"""A scripted ``Parts`` for unit tests of the reconcile loop (no Git, registry or cluster)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from syncer import errors, release
from syncer.config import model
from syncer.reconcile import app as reconcile_app
from syncer.reconcile import inputs as reconcile_inputs
from syncer.reconcile import parts


def config(*, clusters: Sequence[str] = ("a", "b"), rollback: bool = True) -> model.Config:
    return model.Config(
        sources=(
            model.Source(name="deploy", git=model.GitSource(url="http://git/x.git", branch="main")),
        ),
        clusters=tuple(model.Cluster(name=c) for c in clusters),
        apps=(
            model.App(
                name="web",
                source="deploy",
                clusters=model.ClusterSelection(names=tuple(clusters)),
                images=(
                    model.AppImage(
                        repository="reg.example/team/web",
                        policy=model.ImagePolicy(semver="^1"),
                    ),
                ),
                sync=model.SyncOptions(wait=1, rollback_on_failure=rollback),
            ),
        ),
    )


class FakeParts:
    def __init__(self) -> None:
        self.commit = "1" * 40
        self.tag = "1.0.0"
        self.bad_tags: set[str] = set()
        self.bad_on: set[str] = set()
        """Clusters where ``bad_tags`` turn unhealthy (empty: every cluster)."""
        self.slow_tags: set[str] = set()
        """Tags whose rollout is still progressing at every look (a wait runs out)."""
        self.down: set[str] = set()
        self.blocked: set[str] = set()
        self.missing: dict[str, str] = {}
        self.registry_down = False
        self.git_down = False
        self.drifted: list[str] = []
        self.drift_checks: list[tuple[str, bool]] = []
        self.calls = {"poll_source": 0, "decide": 0}
        self.applies: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.rounds = 0
        self.notify: Callable[[str, str], None] | None = None
        self.progressed: Callable[[str, str], None] | None = None
        self.waits: list[tuple[str, float]] = []
        """(cluster, timeout) of each health wait of a slow tag."""
        self.awaiting: list[tuple[str, str]] = []
        """(app, cluster) of each ``await_change``: rollouts left waiting for health."""
        self.removed: list[tuple[str, str]] = []
        self.followed: model.Config | None = None
        """The config ``follow`` was last given (a reload that changed only apps)."""

    def poll_source(self, source: model.Source, *, max_age: float = 0.0) -> parts.Snapshot:
        self.calls["poll_source"] += 1
        if self.git_down:
            raise errors.TemporaryError("git.example: connection refused")
        return parts.Snapshot(source=source.name, commit=self.commit, path=Path("/nonexistent"))

    def checkout(self, source: model.Source, commit: str) -> parts.Snapshot:
        return parts.Snapshot(source=source.name, commit=commit, path=Path("/nonexistent"))

    def decide(
        self, image: model.AppImage, *, running: Any = None, seen: Any = None
    ) -> release.Image:
        self.calls["decide"] += 1
        if self.registry_down:
            raise errors.TemporaryError("registry reg.example unreachable")
        return release.Image(
            repository=image.repository,
            tag=self.tag,
            digest="sha256:" + self.tag[0] * 64,
            policy="semver:^1",
            reason="highest",
        )

    def render(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        snapshot: parts.Snapshot,
        images: Sequence[release.Image],
    ) -> list[dict[str, Any]]:
        image = images[0].ref if images else "reg.example/team/web:from-git"
        return [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": "web",
                    "namespace": "default",
                    "annotations": {"commit": snapshot.commit},
                },
                "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
            }
        ]

    def apply(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
    ) -> parts.Applied:
        if cluster.name in self.down:
            raise errors.TemporaryError(f"cluster {cluster.name}: connection refused")
        if cluster.name in self.blocked:
            raise errors.PermanentError(f"cluster {cluster.name}: forbidden: deployments")
        image = objects[0]["spec"]["template"]["spec"]["containers"][0]["image"]
        with self.lock:
            self.applies.append((cluster.name, image))
        return parts.Applied(inventory=("apps/v1/Deployment/default/web",), updated=1, writes=1)

    def wait_healthy(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str],
        timeout: float,
        cached: bool = False,
    ) -> parts.Health:
        image = objects[0]["spec"]["template"]["spec"]["containers"][0]["image"]
        bad_here = not self.bad_on or cluster.name in self.bad_on
        if bad_here and any(f":{t}@" in image for t in self.bad_tags):
            return parts.Health(healthy=False, message="Deployment default/web: 0 of 1 available")
        if any(f":{t}@" in image for t in self.slow_tags):
            with self.lock:
                self.waits.append((cluster.name, timeout))
            return parts.Health(
                healthy=False, message="Deployment default/web: 0 of 1 updated", timed_out=True
            )
        return parts.Health(healthy=True, message="1 objects healthy")

    def plan(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
    ) -> parts.Planned:
        return parts.Planned(summary={"update": 1}, diff="-old\n+new\n", objects=list(objects))

    def drift(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        objects: Sequence[dict[str, Any]],
        inventory: Sequence[str] | None,
        heal: bool,
    ) -> parts.Drift:
        self.drift_checks.append((cluster.name, heal))
        return parts.Drift(drifted=list(self.drifted), healed=heal and bool(self.drifted))

    def remove(
        self, *, app_name: str, cluster: model.Cluster, inventory: Sequence[str]
    ) -> parts.Removed:
        if cluster.name in self.down:
            raise errors.TemporaryError(f"cluster {cluster.name}: API unreachable")
        self.removed.append((app_name, cluster.name))
        return parts.Removed(deleted=list(inventory), skipped=[])

    def check_cluster(self, cluster: model.Cluster) -> str:
        return self.missing.get(cluster.name, "")

    def cleanup(self) -> None:
        pass

    def follow(self, config: model.Config) -> None:
        self.followed = config

    def watch(
        self,
        notify: Callable[[str, str], None],
        *,
        progressed: Callable[[str, str], None] | None = None,
    ) -> None:
        self.notify = notify
        self.progressed = progressed

    def await_change(self, *, app: model.App, cluster: model.Cluster) -> None:
        self.awaiting.append((app.name, cluster.name))

    def watch_status(self) -> list[dict[str, Any]]:
        return []

    @contextlib.contextmanager
    def read_round(self) -> Iterator[None]:
        self.rounds += 1
        yield

    def close(self) -> None:
        pass


def reconciler(
    store: Any, parts: FakeParts, cfg: model.Config | None = None
) -> reconcile_app.Reconciler:
    """A reconciler of ``cfg`` (``config()``) on ``parts``; each reconcile stands for a
    separate ``syncer sync``: no poll is shared."""
    cfg = cfg if cfg is not None else config()
    inputs = reconcile_inputs.Inputs(config=cfg, parts=parts, store=store, fresh_window=0)
    return reconcile_app.Reconciler(config=cfg, store=store, parts=parts, inputs=inputs)
