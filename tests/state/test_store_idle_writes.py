"""A steady state writes nothing, on both backends: telling a store what it already
holds (a reconcile that found nothing new, a poll of an unchanged image or commit, an
inventory applied again, an error that is not there) must not write the state, and a
reconcile's time still reads back from the store that was told."""

from __future__ import annotations

import time
from collections.abc import Callable

from syncer import release, state
from syncer.state import records


def settled(store: state.Store) -> None:
    """An app rolled out and healthy, its polls and inventory recorded."""
    store.put_release(release.make(app="web", commit="c" * 40, images=[], config_digest="d"))
    ro = store.begin_rollout(app="web", release_id="r1", clusters=["a"], cause="new")
    store.set_target(ro.targets[0].id, state=records.HEALTHY)
    store.set_inventory(app="web", cluster="a", objects=["v1/ConfigMap/apps/web"])
    store.set_seen_image(repository="reg/web", policy="semver:^1", tag="1.2.0", digest="sha256:1")
    store.set_git_head(source="deploy", ref="refs/heads/main", commit="abc")
    store.set_write_back(app="web", images=["reg/web:1.2.0"], branch="main", commit="c1")
    store.set_run(app="web", result="ok", message="", desired_release="r1")


def again(store: state.Store) -> None:
    """What a drift check and a poll that find nothing new tell the store."""
    (known,) = store.releases("web")
    assert not store.put_release(known)
    store.set_run(app="web", result="ok", message="", desired_release="r1")
    store.trim_history("web", keep=1000)
    store.clear_error(app="web")
    store.clear_error(app="web", cluster="a")
    store.set_inventory(app="web", cluster="a", objects=["v1/ConfigMap/apps/web"])
    store.set_seen_image(repository="reg/web", policy="semver:^1", tag="1.2.0", digest="sha256:1")
    store.set_git_head(source="deploy", ref="refs/heads/main", commit="abc")
    store.set_write_back(app="web", images=["reg/web:1.2.0"], branch="main", commit="c1")


def test_nothing_new_writes_nothing(
    store: state.Store, state_version: Callable[[], object]
) -> None:
    settled(store)
    first = store.run("web")
    assert first is not None
    before = state_version()
    time.sleep(0.01)  # a later reconcile has a later time
    again(store)
    assert state_version() == before, "telling the store what it holds wrote the state"
    # The store that was told still says when the app was last reconciled.
    latest = store.run("web")
    assert latest is not None and latest.result == "ok"
    assert latest.last_attempt_at > first.last_attempt_at
    assert latest.last_success_at is not None and latest.last_success_at > first.last_attempt_at


def test_a_new_outcome_is_written_and_read_by_another_process(
    store: state.Store, open_store: Callable[[], state.Store], state_version: Callable[[], object]
) -> None:
    settled(store)
    store.set_run(app="web", result="ok", message="", desired_release="r1")
    before = state_version()
    store.set_run(app="web", result="failed", message="apply: refused", desired_release="r2")
    assert state_version() != before
    other = open_store().run("web")
    assert other is not None
    assert (other.result, other.message, other.desired_release) == ("failed", "apply: refused",
                                                                     "r2")  # fmt: skip
    assert other.last_success_at is not None  # kept from the success before
    # Success again after a failure is news: written, and seen elsewhere.
    store.set_run(app="web", result="ok", message="", desired_release="r2")
    back = open_store().run("web")
    assert back is not None and (back.result, back.desired_release) == ("ok", "r2")
    assert back.last_success_at is not None and back.last_success_at > other.last_attempt_at
    # Changed values are written: a new image, a new commit, a different inventory.
    before = state_version()
    store.set_seen_image(repository="reg/web", policy="semver:^1", tag="1.3.0", digest="sha256:2")
    store.set_git_head(source="deploy", ref="refs/heads/main", commit="def")
    store.set_inventory(app="web", cluster="a", objects=[])
    assert state_version() != before
    reread = open_store()
    seen = reread.seen_image("reg/web", "semver:^1")
    assert seen is not None and seen.tag == "1.3.0"
    assert reread.git_head("deploy", "refs/heads/main") == "def"
    assert reread.inventory("web", "a") == []
