"""When the reconcile tells Git: once a release runs healthy somewhere, once per choice
of images, never while the app is held or for a release rolled back from; a failure is
recorded once and tried again."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from syncer import errors, release
from syncer.config import model
from syncer.reconcile import parts as parts_
from syncer.reconcile import writeback
from syncer.state import records, sqlite

APP = model.App(
    name="web",
    source="deploy",
    clusters=model.ClusterSelection(names=("dev",)),
    images=(model.AppImage(repository="r.example.com/web", policy=model.ImagePolicy(semver="^1")),),
    write_back=model.WriteBack(manifests=True),
)
SOURCE = model.Source(
    name="deploy", git=model.GitSource(url="https://g.example.com/d.git", branch="main")
)


def make_release(tag: str) -> release.Release:
    image = release.Image(repository="r.example.com/web", tag=tag, digest="sha256:" + tag[0] * 64)
    return release.make(app="web", commit="c" * 40, images=[image], config_digest="x")


class Parts:
    """Only the write-back part of ``Parts``: records calls, fails on demand."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail: errors.SyncerError | None = None
        self.commit = "d" * 40

    def write_back(
        self, *, app: model.App, source: model.Source, images: Sequence[release.Image]
    ) -> parts_.WriteBack:
        self.calls.append([i.ref for i in images])
        if self.fail is not None:
            raise self.fail
        change = {"file": "apps/web/d.yaml", "new": images[0].ref}
        return parts_.WriteBack(branch="main", commit=self.commit, changes=(change,), attempts=1)


@pytest.fixture
def store() -> Iterator[sqlite.SqliteStore]:
    s = sqlite.SqliteStore(":memory:")
    yield s
    s.close()


def healthy(store: sqlite.SqliteStore, rel: release.Release) -> None:
    store.put_release(rel)
    rollout = store.begin_rollout(
        app="web", release_id=rel.id, clusters=["dev"], cause="new-release"
    )
    store.set_target(rollout.targets[0].id, state=records.HEALTHY)


def run(store: Any, parts: Parts, rel: release.Release) -> str:
    return writeback.after_reconcile(store=store, parts=parts, app=APP, source=SOURCE, rel=rel)  # type: ignore[arg-type]


def test_written_once_healthy_and_once_per_choice(store: sqlite.SqliteStore) -> None:
    parts, rel = Parts(), make_release("1.1.0")
    store.put_release(rel)
    assert run(store, parts, rel) == "" and parts.calls == []  # not healthy anywhere yet
    healthy(store, rel)
    assert run(store, parts, rel).startswith("wrote 1 image change(s) to Git: commit dddddddddddd")
    assert run(store, parts, rel) == ""  # the same images again: nothing asked of Git
    assert parts.calls == [rel.image_refs()]
    [entry] = [e for e in store.history("web") if e.kind == "write-back"]
    assert (
        entry.data["commit"] == "d" * 40 and entry.data["changes"][0]["file"] == "apps/web/d.yaml"
    )
    shown = writeback.status(store=store, app=APP, desired=rel.id)
    assert shown is not None and shown["pending"] == [] and shown["commit"] == "d" * 40


def test_nothing_while_held_or_rolled_back_from(store: sqlite.SqliteStore) -> None:
    parts, rel = Parts(), make_release("1.1.0")
    healthy(store, rel)
    store.hold(app="web", stage="", kind=records.SUSPEND, by="alice")
    assert run(store, parts, rel) == ""
    store.release_holds(app="web", stage=None, by="alice")
    store.reject(app="web", release_id=rel.id, reason="unhealthy on dev")
    assert run(store, parts, rel) == "" and parts.calls == []
    shown = writeback.status(store=store, app=APP, desired=rel.id)
    assert shown is not None and shown["pending"] == rel.image_refs()


def test_failure_is_recorded_once_and_tried_again(store: sqlite.SqliteStore) -> None:
    parts, rel = Parts(), make_release("1.1.0")
    healthy(store, rel)
    parts.fail = errors.PermanentError("apps/web/values.yaml has no value at 'image.tag'")
    assert run(store, parts, rel).startswith("write-back failed: apps/web/values.yaml")
    assert run(store, parts, rel).startswith("write-back failed")
    warnings = [e for e in store.history("web") if e.kind == "warning"]
    assert [e.message for e in warnings] == [
        "write-back: apps/web/values.yaml has no value at 'image.tag'"
    ]
    parts.fail = None
    assert run(store, parts, rel).startswith("wrote")
    assert len(parts.calls) == 3


def test_git_already_naming_the_images_is_recorded_without_history(
    store: sqlite.SqliteStore,
) -> None:
    parts, rel = Parts(), make_release("1.0.0")
    parts.commit = ""
    healthy(store, rel)
    assert run(store, parts, rel) == ""
    done = store.write_back("web")
    assert done is not None and done.commit == "" and list(done.images) == rel.image_refs()
    assert not [e for e in store.history("web") if e.kind == "write-back"]
