"""``syncer run --leader-elect``: one replica acts, the standby takes over on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.test_cli_live import CONFIGMAP, write_config

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, *, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def greeting(cluster: Any) -> str:
    cm = cluster.get("v1", "ConfigMap", "site", namespace="site")
    return str((cm or {}).get("data", {}).get("GREETING", ""))


def replica(config: Path, *, name: str, kubeconfig: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncer",
            "--log-level",
            "info",
            "run",
            "-c",
            str(config),
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--webhook-listen=127.0.0.1:0",
            "--leader-elect",
            "--leader-elect-kubeconfig",
            kubeconfig,
            "--leader-elect-context",
            "lease",
            "--leader-elect-identity",
            name,
            "--leader-elect-namespace",
            "default",
            "--leader-elect-lease-duration",
            "3",
            "--leader-elect-renew-deadline",
            "2",
            "--leader-elect-retry-period",
            "0.5",
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_standby_takes_over_after_sigterm(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    lease_cluster, a = kube_clusters(2, names=["lease", "a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    path = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    data = yaml.safe_load(path.read_text())
    data["sources"][0]["git"]["interval"] = "1s"
    path.write_text(yaml.safe_dump(data))
    first = replica(path, name="first", kubeconfig=a.kubeconfig)
    second = None
    try:
        wait_until(lambda: greeting(a) == "one", what="first replica leading and applying")
        second = replica(path, name="second", kubeconfig=a.kubeconfig)
        time.sleep(2)
        lease = lease_cluster.get("coordination.k8s.io/v1", "Lease", "syncer-leader", "default")
        assert lease["spec"]["holderIdentity"] == "first"
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        repo.commit({"site/cm.yaml": CONFIGMAP % "two"})
        wait_until(lambda: greeting(a) == "two", what="the standby taking over")
        lease = lease_cluster.get("coordination.k8s.io/v1", "Lease", "syncer-leader", "default")
        assert lease["spec"]["holderIdentity"] == "second"
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
            if proc is not None and proc.stdout is not None:
                print(proc.stdout.read())
