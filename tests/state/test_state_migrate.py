"""``syncer state migrate``: a SQLite state into the Kubernetes API and back, losing
nothing; and the Kubernetes state then goes on where the file left off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from syncer import release
from syncer.state import records, sqlite, transfer
from tests.state.conftest import NAMESPACE, kube_store

SYNCER = [sys.executable, "-m", "syncer"]


def _config(tmp_path: Path, cluster: Any) -> Path:
    path = tmp_path / "syncer.yaml"
    path.write_text(
        "sources:\n  - {name: deploy, git: {url: 'https://git.invalid/d.git', branch: main}}\n"
        f"clusters:\n  - {{name: home, kubeconfig: {cluster.kubeconfig}, "
        f"context: {cluster.context}}}\n"
        "apps:\n  - {name: web, source: deploy, path: web, namespace: web, clusters: [home]}\n"
        f"state: {{path: state/syncer.db, kubernetes: {{cluster: home, namespace: {NAMESPACE}}}}}\n"
    )
    return path


def _fill(s: sqlite.SqliteStore) -> None:
    """Something of everything the Store holds."""
    image = release.Image(repository="reg/web", tag="1.0.0", digest="sha256:" + "a" * 64)
    r1 = release.make(app="web", commit="c" * 40, images=[image], config_digest="d")
    s.put_release(r1, event=records.NewEvent(app="web", kind="release", message="new"))
    ro = s.begin_rollout(app="web", release_id=r1.id, clusters=["a", "b"], cause="new-release")
    s.set_target(ro.targets[0].id, state=records.HEALTHY, attempt=True)
    s.set_target(ro.targets[1].id, state=records.APPLYING, attempt=True)
    s.set_inventory(app="web", cluster="a", objects=["apps/v1/Deployment/web/web"])
    s.set_seen_image(repository="reg/web", policy="semver:^1", tag="1.0.0", digest="sha256:1")
    s.set_git_head(source="deploy", ref="refs/heads/main", commit="c" * 40)
    s.set_error(app="api", cluster="b", stage="apply", message="refused")
    s.set_run(app="web", result="ok", message="", desired_release=r1.id)
    s.request_approval(app="web", stage="prod", release_id=r1.id)
    s.approve(app="web", stage="prod", by="alice")
    s.hold(app="api", stage="", kind=records.SUSPEND, by="bob", reason="freeze")
    s.reject(app="web", release_id="f" * 64, reason="broken")
    s.set_write_back(app="web", images=["reg/web:1.0.0"], branch="main", commit="e" * 40)
    s.record(app="web", kind="note", message="keyed", key="unreachable\0web\0apply\0001.0")
    s.route_events(
        route=lambda e: [records.NewDelivery(id=f"d{e.id}", provider="hook")] if e.id < 3 else [],
        limit=3, max_pending=100,
    )  # fmt: skip
    (first, *_rest) = s.due_deliveries(now=1e12, limit=10)
    s.finish_delivery(first.id, state=records.DELIVERED)


def test_round_trip_through_kubernetes_loses_nothing(state_cluster: Any, tmp_path: Path) -> None:
    config = _config(tmp_path, state_cluster)
    source, back = tmp_path / "before.db", tmp_path / "after.db"
    s = sqlite.SqliteStore(source)
    _fill(s)
    before = transfer.export_sqlite(s)
    s.close()
    assert before["apps"]["web"]["outbox"] and before["deliveries"]  # both kinds present

    into = subprocess.run([*SYNCER, "state", "migrate", "-c", str(config), "--from", str(source)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert into.returncode == 0, into.stderr
    assert "migrated 2 apps, 1 releases, 1 rollouts" in into.stdout
    k = kube_store(state_cluster)
    assert transfer.export_kube(k) == before
    out = subprocess.run([*SYNCER, "state", "migrate", "-c", str(config), "--to", str(back)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    s = sqlite.SqliteStore(back)
    assert transfer.export_sqlite(s) == before
    s.close()

    # The Kubernetes state goes on from there: the open rollout resumes under its old
    # ids, new ids come after them, history keeps its order.
    (ro,) = k.open_rollouts("web")
    assert ro.id == before["apps"]["web"]["rollouts"][0]["id"]
    pending = next(t for t in ro.targets if t.open)
    assert k.set_target(pending.id, state=records.HEALTHY).state == records.HEALTHY
    k.record(app="web", kind="note", message="after the move")
    newest, *older = k.history("web", limit=100)
    assert newest.message == "after the move" and newest.id > max(e.id for e in older)
    assert not k.record(app="web", kind="note", message="x", key="unreachable\0web\0apply\0001.0")
    k.close()


def test_migrating_twice_or_over_a_file_is_refused(state_cluster: Any, tmp_path: Path) -> None:
    config = _config(tmp_path, state_cluster)
    source = tmp_path / "before.db"
    s = sqlite.SqliteStore(source)
    s.record(app="web", kind="note", message="one")
    s.close()
    args = [*SYNCER, "state", "migrate", "-c", str(config)]
    assert subprocess.run([*args, "--from", str(source)], check=False).returncode == 0
    again = subprocess.run([*args, "--from", str(source)], capture_output=True, text=True,
                           check=False)  # fmt: skip
    assert again.returncode != 0
    (line,) = again.stderr.strip().splitlines()
    assert f"the Kubernetes state in cluster home namespace {NAMESPACE} is not empty" in line
    over = subprocess.run([*args, "--to", str(source)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert over.returncode == 2 and "exists; name a new file" in over.stderr
    k = kube_store(state_cluster)
    assert [e.message for e in k.history("web")] == ["one"]  # the refusals changed nothing
    k.close()
