"""Rollouts are recorded as intended before applying, resumed after a crash, never doubled."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import pytest

from syncer import errors, release, state
from syncer.state import records


def rel(app: str = "web", tag: str = "1.0.0", commit: str = "c" * 40) -> release.Release:
    image = release.Image(repository="reg/web", tag=tag, digest="sha256:" + tag[0] * 64)
    return release.make(app=app, commit=commit, images=[image], config_digest="d")


def test_put_release_is_idempotent_and_found_by_prefix(store: state.Store) -> None:
    r = rel()
    assert store.put_release(r) is True
    assert store.put_release(r) is False
    assert store.get_release("web", r.id[:7]) == r
    assert store.get_release("other", r.id) is None
    assert store.releases("web") == [r]


def test_ambiguous_prefix_is_a_clear_error(store: state.Store) -> None:
    for n in range(40):
        store.put_release(rel(tag=f"1.{n}.0"))
    ids = [r.id for r in store.releases("web", limit=100)]
    first = ids[0][0]
    if sum(1 for i in ids if i[0] == first) > 1:
        with pytest.raises(errors.PermanentError, match="ambiguous"):
            store.get_release("web", first)


def test_begin_rollout_twice_returns_the_same_open_rollout(store: state.Store) -> None:
    r = rel()
    store.put_release(r)
    first = store.begin_rollout(app="web", release_id=r.id, clusters=["a", "b"], cause="new")
    again = store.begin_rollout(app="web", release_id=r.id, clusters=["a", "b"], cause="new")
    assert again.id == first.id
    assert [t.cluster for t in again.targets] == ["a", "b"]
    assert all(t.state == records.PENDING for t in again.targets)
    assert [e.kind for e in store.history("web")] == ["rollout"]


def test_targets_move_to_healthy_and_finish_the_rollout(store: state.Store) -> None:
    r = rel()
    ro = store.begin_rollout(app="web", release_id=r.id, clusters=["a", "b"], cause="new")
    for t in ro.targets:
        store.set_target(t.id, state=records.APPLYING, attempt=True)
        store.set_target(t.id, state=records.APPLIED)
    assert store.open_rollouts() != []
    for t in ro.targets:
        done = store.set_target(t.id, state=records.HEALTHY)
        assert done.attempts == 1 and done.finished_at is not None
    assert store.open_rollouts() == []
    (final,) = store.rollouts("web")
    assert final.finished_at is not None
    deployed = {d.cluster: d for d in store.deployments("web")}
    assert deployed["a"].release_id == r.id and deployed["a"].healthy
    assert store.last_healthy_release("web") == r.id


def test_a_newer_release_supersedes_unfinished_targets(store: state.Store) -> None:
    old, new = rel(tag="1.0.0"), rel(tag="2.0.0")
    ro = store.begin_rollout(app="web", release_id=old.id, clusters=["a"], cause="new")
    store.set_target(ro.targets[0].id, state=records.ERROR, message="cluster down")
    store.begin_rollout(app="web", release_id=new.id, clusters=["a"], cause="new")
    (old_target,) = store.targets_of_release("web", old.id)
    assert old_target.state == records.SUPERSEDED
    assert [r.release_id for r in store.open_rollouts("web")] == [new.id]


def test_error_target_stays_open_and_new_cluster_joins_open_rollout(store: state.Store) -> None:
    r = rel()
    ro = store.begin_rollout(app="web", release_id=r.id, clusters=["a"], cause="new")
    store.set_target(ro.targets[0].id, state=records.ERROR, message="connection refused")
    again = store.begin_rollout(app="web", release_id=r.id, clusters=["a", "b"], cause="new")
    assert again.id == ro.id
    assert {t.cluster: t.state for t in again.targets} == {"a": records.ERROR, "b": "pending"}


def test_last_healthy_skips_unhealthy_and_rejected(store: state.Store) -> None:
    good, bad, later = rel(tag="1.0.0"), rel(tag="2.0.0"), rel(tag="3.0.0")
    for r, end in ((good, records.HEALTHY), (bad, records.ROLLED_BACK), (later, records.HEALTHY)):
        ro = store.begin_rollout(app="web", release_id=r.id, clusters=["a"], cause="new")
        store.set_target(ro.targets[0].id, state=end)
    assert store.last_healthy_release("web") == later.id
    assert store.last_healthy_release("web", exclude=[later.id]) == good.id
    store.reject(app="web", release_id=later.id, reason="rolled back by alice")
    assert store.last_healthy_release("web") == good.id
    assert store.rejected("web") == {later.id: "rolled back by alice"}


def test_kill_9_mid_rollout_leaves_the_intent_to_resume(
    store_code: str, open_store: Callable[[], state.Store]
) -> None:
    """A process records a rollout, starts applying, and is killed: nothing is lost."""
    script = store_code + textwrap.dedent(
        """
        import os, signal
        ro = s.begin_rollout(app="web", release_id="r1", clusters=["a", "b"], cause="new")
        s.set_target(ro.targets[0].id, state="applying", attempt=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    s = open_store()
    (ro,) = s.open_rollouts()
    assert {t.cluster: t.state for t in ro.targets} == {"a": "applying", "b": "pending"}
    # Resuming asks for the same rollout again: no second one appears.
    assert s.begin_rollout(app="web", release_id="r1", clusters=["a", "b"], cause="new").id == ro.id
    assert len(s.rollouts("web")) == 1


def test_concurrent_writers_lose_nothing(store: state.Store) -> None:
    def work(n: int) -> None:
        for i in range(25):
            store.record(app="web", kind="test", message=f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.history("web", limit=1000)) == 100


def test_latest_targets_skip_superseded(store: state.Store) -> None:
    old, new = rel(tag="1.0.0"), rel(tag="2.0.0")
    first = store.begin_rollout(app="web", release_id=old.id, clusters=["a", "b"], cause="new")
    store.set_target(first.targets[0].id, state=records.HEALTHY)
    second = store.begin_rollout(app="web", release_id=new.id, clusters=["b"], cause="new")
    latest = store.latest_targets("web")
    assert latest["a"].release_id == old.id and latest["a"].state == records.HEALTHY
    assert latest["b"].release_id == new.id and latest["b"].state == records.PENDING
    assert store.get_rollout(second.id) == second
    assert store.get_rollout(9999) is None
