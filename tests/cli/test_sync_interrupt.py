"""Ctrl-C during ``syncer sync``: the first says it finishes the rollout in flight, the
second exits 130 at once; the next ``sync`` completes the rollout that was left open."""

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


def _applied(db: Path) -> bool:
    if not db.exists():
        return False
    store = state.open_store(db)
    try:
        return any(t.state == records.APPLIED for t in store.latest_targets("site").values())
    finally:
        store.close()


def test_two_ctrl_c_stop_waiting_and_a_later_sync_completes(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=5.0)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    config.write_text(config.read_text().replace("wait: 3s", "wait: 60s"))
    db = tmp_path / "state" / "syncer.db"
    sync = [sys.executable, "-m", "syncer", "sync", "-c", str(config)]
    proc = subprocess.Popen(
        sync, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 30
        while not _applied(db):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the rollout never reached 'applied'"
            time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting for health
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 130
        assert time.monotonic() - started < 4  # did not wait for the 5 s health
        _, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "interrupt: finishing the rollout in flight; press Ctrl-C again to stop waiting" in err
    assert "stopped waiting" in err and "Traceback" not in err

    done = subprocess.run(sync, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    store = state.open_store(db)
    try:
        (target,) = store.latest_targets("site").values()
        assert target.state == records.HEALTHY
        assert store.open_rollouts() == []
    finally:
        store.close()


def test_one_ctrl_c_finishes_the_rollout_and_exits_130(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=1.5)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    config.write_text(config.read_text().replace("wait: 3s", "wait: 30s"))
    db = tmp_path / "state" / "syncer.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "sync", "-c", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _applied(db):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the rollout never reached 'applied'"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "press Ctrl-C again" in err
    assert "cluster a: healthy" in out  # the rollout in flight was finished
