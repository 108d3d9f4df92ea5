"""``syncer run``: SIGTERM during a rollout lets it finish, then exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from syncer import state
from syncer.state import records
from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config

pytestmark = pytest.mark.integration


def test_sigterm_finishes_the_rollout_in_flight(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=2.0)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    config.write_text(config.read_text().replace("wait: 3s", "wait: 30s"))
    db = tmp_path / "state" / "syncer.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncer",
            "run",
            "-c",
            str(config),
            "--listen",
            "127.0.0.1:0",
            "--webhook-listen",
            "127.0.0.1:0",
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def applied() -> bool:
            if not db.exists():
                return False
            store = state.open_store(db)
            try:
                return any(
                    t.state == records.APPLIED for t in store.latest_targets("site").values()
                )
            finally:
                store.close()

        deadline = time.monotonic() + 30
        while not applied():
            assert time.monotonic() < deadline, "the rollout never reached 'applied'"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # health is still ~2s away
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.stdout.read() if proc.stdout else ""
        print(output)
    assert "syncer: stopped" in output
    store = state.open_store(db)
    try:
        (target,) = store.latest_targets("site").values()
        assert target.state == records.HEALTHY  # finished, not abandoned
        assert store.open_rollouts() == []
    finally:
        store.close()
