"""``syncer run`` with one worker: while the first app's Deployment comes up, the worker
applies the second app instead of waiting (real Git, a real cluster whose pods become
Ready seconds after they are bound); both end healthy, each applied once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer.state import records
from tests.controller.test_cli_live import DEPLOYMENT
from tests.servers import syncer_run
from tests.waiting import eventually

pytestmark = pytest.mark.integration

APPS = ("first", "second")


def app(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "source": "deploy",
        "path": name,
        "namespace": name,
        "clusters": ["a"],
        "sync": {"wait": "2m", "createNamespace": True},
    }


def test_one_worker_applies_the_next_app_while_a_rollout_waits_for_health(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=4.0)
    repo = git_http.create_repo(
        "deploy", {f"{name}/deploy.yaml": DEPLOYMENT % "web:1" for name in APPS}
    )
    data = {
        "sources": [{"name": "deploy", "git": {"url": repo.url, "branch": "main"}}],
        "clusters": [{"name": "a", "kubeconfig": a.kubeconfig, "context": "a"}],
        "apps": [app(name) for name in APPS],
        "settings": {"workers": 1},
        "server": {"listen": "127.0.0.1:0", "webhookListen": "127.0.0.1:0"},
        "state": {"path": str(tmp_path / "state.db")},
    }
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    with syncer_run.serve(path) as ctl:

        def healthy() -> bool:
            return all(
                [t.state for t in ctl.store.latest_targets(name).values()] == [records.HEALTHY]
                for name in APPS
            )

        assert eventually(healthy, timeout=90), {
            name: [(t.state, t.message) for t in ctl.store.latest_targets(name).values()]
            for name in APPS
        }
        events = {(e.app, e.kind): e for name in APPS for e in ctl.store.history(name, limit=50)}
    # The single worker did not sit out the first app's wait: the other app was applied
    # before the first one was found healthy (whichever the queue took first).
    for waited, other in (APPS, APPS[::-1]):
        if events[(waited, "applied")].at < events[(other, "applied")].at:
            assert events[(other, "applied")].at < events[(waited, "healthy")].at
    assert sum(1 for (_, kind) in events if kind == "applied") == 2
    for name in APPS:
        deployment = a.get("apps/v1", "Deployment", "site", namespace=name)
        assert deployment["status"].get("availableReplicas") == 1
