"""A crash after every state write of a rollout and of a rollback: the command run again
finishes the work exactly once (one rollout record, one history entry per step and
cluster, each object written to each cluster once) and loses nothing.

Each state write is a crash point (tests/crashpoints.py); for each, the scenario starts
from the same state file and the same empty clusters, the command dies right after that
write, and runs again to the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from syncer import state
from tests.binaries import REPO_ROOT
from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CRASHED = 137


def _syncer(*args: str, crash_after: int | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "syncer", *args]
    if crash_after is not None:
        command = [sys.executable, "-m", "tests.crashpoints", str(crash_after), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)


def _writes(*args: str) -> int:
    done = _syncer(*args, crash_after=0)
    assert done.returncode == 0, done.stdout + done.stderr
    return int(done.stderr.rsplit("state writes: ", 1)[1].split()[0])


STATE_FILES = ("syncer.db", "syncer.db-wal", "syncer.db-shm")


def _state(config: str) -> state.Store:
    return state.open_store(str(Path(config).parent / "state" / "syncer.db"))


def _copy_state(config: str, to: Path) -> None:
    """The state file and its WAL (none yet: an empty state)."""
    src = Path(config).parent / "state"
    to.mkdir(exist_ok=True)
    for name in STATE_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, to / name)


def _restore_state(config: str, saved: Path) -> None:
    dst = Path(config).parent / "state"
    dst.mkdir(exist_ok=True)
    for name in STATE_FILES:
        (dst / name).unlink(missing_ok=True)
        if (saved / name).exists():
            shutil.copy2(saved / name, dst / name)


def _marks(config: str, app: str = "site") -> tuple[int, int]:
    """The newest rollout id and history id: what came before the scenario."""
    store = _state(config)
    try:
        rollouts = store.rollouts(app)
        history = store.history(app, limit=1)
    finally:
        store.close()
    return max((r.id for r in rollouts), default=0), max((e.id for e in history), default=0)


def _check_once(
    config: str,
    clusters: list[Any],
    *,
    after: int,
    since: tuple[int, int] = (0, 0),
    app: str = "site",
) -> None:
    """The scenario's rollouts, history steps and cluster writes happened once each."""
    store = _state(config)
    try:
        rollouts = [r for r in store.rollouts(app) if r.id > since[0]]
        history = [e.to_dict() for e in store.history(app, limit=500) if e.id > since[1]]
    finally:
        store.close()
    per_release = Counter(r.release_id for r in rollouts)
    assert all(n == 1 for n in per_release.values()), (after, rollouts)
    steps = Counter(
        (e["kind"], e.get("cluster", ""), e.get("release", ""))
        for e in history
        if e["kind"] in ("applied", "healthy", "rollback")
    )
    assert all(n == 1 for n in steps.values()), f"crash after write {after}:\n" + "\n".join(
        f"{e['kind']} {e.get('cluster')}: {e['message']}" for e in reversed(history)
    )
    for c in clusters:
        # Each object reached each cluster once: a restart finds it applied, writes nothing.
        patches = Counter(
            r.path for r in c.request_log if r.method == "PATCH" and "dryRun" not in r.query
        )
        assert all(n == 1 for n in patches.values()), (after, patches)


# One `syncer` process per state write, and each history entry is also an outbox write.
@pytest.mark.timeout(600)
def test_a_crash_after_any_state_write_of_a_rollout_is_finished_once(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    a, b = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a", "b"]))
    empty = tmp_path / "empty-state"
    _copy_state(config, empty)
    points = _writes("sync", "-c", config)
    print(f"rollout: {points} crash points")
    assert points >= 5, points
    for after in range(1, points + 1):
        for c in (a, b):
            c.reset(name=c.name, workload_delay=0.02)
        _restore_state(config, empty)
        crashed = _syncer("sync", "-c", config, crash_after=after)
        assert crashed.returncode == CRASHED, (after, crashed.stdout, crashed.stderr)
        again = _syncer("sync", "-c", config)
        assert again.returncode == 0, (after, again.stdout, again.stderr)
        for c in (a, b):
            live = c.get("apps/v1", "Deployment", "site", "site")
            assert live is not None and live["status"].get("availableReplicas") == 1, after
        _check_once(config, [a, b], after=after)


# One `syncer` process per state write, and each history entry is also an outbox write.
@pytest.mark.timeout(600)
def test_a_crash_after_any_state_write_of_a_rollback_is_finished_once(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"]))
    first = json.loads(_syncer("sync", "-c", config, "-o", "json").stdout)[0]["release"]
    repo.commit({"site/deploy.yaml": DEPLOYMENT % "web:2"})
    assert _syncer("sync", "-c", config).returncode == 0
    before = tmp_path / "before-rollback"
    _copy_state(config, before)
    since = _marks(config)
    rollback = ("rollback", "-c", config, "site", "--to", first)
    points = _writes(*rollback)
    print(f"rollback: {points} crash points")
    assert points >= 3, points
    for after in range(1, points + 1):
        _restore_state(config, before)
        healed = _syncer("sync", "-c", config)  # drift back to web:2, as before the rollback
        assert healed.returncode == 0 and _image(a) == "web:2", (after, healed.stdout)
        a.request_log.clear()
        crashed = _syncer(*rollback, crash_after=after)
        assert crashed.returncode == CRASHED, (after, crashed.stdout, crashed.stderr)
        if _holds(config) == [first]:
            # The rollback was recorded: the next sync carries it out.
            finished = _syncer("sync", "-c", config)
        else:
            # Nothing of it was recorded, and nothing was applied: asking again does it.
            assert _image(a) == "web:2", after
            finished = _syncer(*rollback)
        assert finished.returncode == 0, (after, finished.stdout, finished.stderr)
        assert _image(a) == "web:1" and _holds(config) == [first], after
        _check_once(config, [a], after=after, since=since)


def _image(cluster: Any) -> str:
    live = cluster.get("apps/v1", "Deployment", "site", "site")
    return str(live["spec"]["template"]["spec"]["containers"][0]["image"])


def _holds(config: str) -> list[str]:
    store = _state(config)
    try:
        return [h.release_id for h in store.holds("site")]
    finally:
        store.close()
