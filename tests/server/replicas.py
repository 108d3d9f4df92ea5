"""Real ``syncer run --leader-elect`` replicas for the tests of ``tests/server``: each
in its own work directory with its own state file, all on one test cluster (the
``start_replica`` fixture of ``conftest.py``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from syncer.apply import client as kube_client
from syncer.config import model
from syncer.state import kubeobjects
from tests import waiting
from tests.servers import lifecycle

NAMESPACE_YAML = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: syncer\n"


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    assert waiting.eventually(condition, timeout=timeout, every=0.1), "condition not reached"


class Replica:
    def __init__(self, proc: subprocess.Popen[str], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.url = ""
        self.webhook_url = ""

    def wait_url(self) -> str:
        def found() -> bool:
            match = re.search(
                r"HTTP on (http://[^\s,]+), webhooks on (http://[^\s,]+)", self.log.read_text()
            )
            if match:
                self.url, self.webhook_url = match.groups()
            assert self.proc.poll() is None, self.log.read_text()
            return bool(match)

        wait_for(found)
        return self.url

    def readyz(self) -> tuple[int, str]:
        response = requests.get(f"{self.url}/readyz", timeout=5)
        return response.status_code, response.text.strip()


class Replicas:
    """Starts ``syncer run --leader-elect`` replicas on one test cluster (``cluster``),
    each with its own work directory and state file; ``extra`` is appended to the
    config (sources, apps)."""

    def __init__(self, cluster: Any, tmp_path: Path) -> None:
        self.cluster = cluster
        self.tmp_path = tmp_path
        self.started: list[Replica] = []

    def __call__(self, identity: str, extra: str = "") -> Replica:
        cluster = self.cluster
        work = self.tmp_path / identity
        work.mkdir()
        port = lifecycle.free_port()
        config = work / "syncer.yaml"
        config.write_text(
            "clusters:\n"
            f"  - {{name: k, kubeconfig: {cluster.kubeconfig}, context: {cluster.context}}}\n"
            "server:\n"
            f"  listen: 127.0.0.1:{port}\n"
            "  webhookListen: 127.0.0.1:0\n"
            "  apiToken: env:SYNCER_TEST_API\n"
            "  webhooks: {generic: env:SYNCER_TEST_HOOK}\n"
            "state: {path: state.db}\n" + extra
        )
        log = work / "stderr.log"
        election = [
            "--leader-elect", "--leader-elect-namespace=syncer",
            "--leader-elect-name=syncer-leader", f"--leader-elect-identity={identity}",
            f"--leader-elect-kubeconfig={cluster.kubeconfig}",
            f"--leader-elect-context={cluster.context}",
            "--leader-elect-lease-duration=3", "--leader-elect-renew-deadline=2",
            "--leader-elect-retry-period=0.5",
            f"--leader-elect-advertise-url=http://127.0.0.1:{port}",
        ]  # fmt: skip
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncer",
                "--log-level=info",
                "run",
                "-c",
                str(config),
                "--grace=5",
                *election,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            text=True,
            env={**os.environ, "SYNCER_TEST_API": "t0ken", "SYNCER_TEST_HOOK": "h00k"},
        )
        replica = Replica(proc, log)
        self.started.append(replica)
        return replica


class ShardReplica:
    """A ``python -m syncer run --shards`` process on 127.0.0.1 (its log is
    ``work/<identity>.log``), for the shard tests and ``tests/bench/bench_shards.py``."""

    def __init__(
        self,
        identity: str,
        *,
        config: Path,
        work: Path,
        shards: int,
        env: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.identity = identity
        self.port = lifecycle.free_port()
        self.log = work / f"{identity}.log"
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "syncer", "--log-level=info", "run", "-c", str(config),
                f"--listen=127.0.0.1:{self.port}", "--webhook-listen=127.0.0.1:0", "--grace=5",
                f"--shards={shards}", f"--shard-identity={identity}",
                f"--shard-advertise-url=http://127.0.0.1:{self.port}", *extra,
            ],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"), text=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def webhook_url(self) -> str:
        found = re.search(r"webhooks on (http://[^\s,]+)", self.log.read_text())
        assert found, self.log.read_text()[-2000:]
        return found.group(1)

    def git_webhook(self, url: str, *, secret: str) -> requests.Response:
        """A signed generic webhook saying that the Git repository ``url`` moved."""
        return git_webhook(self.webhook_url(), url, secret=secret)

    def stop(self, *, timeout: float = 60.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def git_webhook(webhook_url: str, url: str, *, secret: str) -> requests.Response:
    """A signed generic webhook to ``webhook_url`` saying that Git repository ``url`` moved."""
    body = json.dumps({"url": url}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return requests.post(
        f"{webhook_url}/webhooks/generic", data=body,
        headers={"X-Signature-256": signature}, timeout=60,
    )  # fmt: skip


def kube_state_config(
    cluster: Any,
    *,
    repo_url: str,
    apps: list[str],
    sync: str,
    interval: str,
    workers: int,
    namespace: str = "syncer",
) -> str:
    """A config of ``apps`` (each ``apps/<name>`` of one repository, deployed to namespace
    ``apps`` of cluster ``k``) with its state in ``namespace`` of that cluster, an API
    token and a generic webhook secret from ``SYNCER_TEST_API``/``SYNCER_TEST_HOOK``."""
    entries = "".join(
        f"  - {{name: {name}, source: deploy, path: apps/{name}, namespace: apps, "
        f"clusters: [k], sync: {sync}}}\n"
        for name in apps
    )
    return (
        f"sources:\n  - {{name: deploy, git: {{url: {repo_url}, branch: main, "
        f"interval: {interval}}}}}\n"
        f"clusters:\n  - {{name: k, kubeconfig: {cluster.kubeconfig}, context: "
        f"{cluster.context}}}\n"
        f"apps:\n{entries}"
        f"state: {{kubernetes: {{cluster: k, namespace: {namespace}}}}}\n"
        f"settings: {{workers: {workers}}}\n"
        "server: {apiToken: env:SYNCER_TEST_API, webhooks: {generic: env:SYNCER_TEST_HOOK}}\n"
    )


def app_docs(cluster: Any, *, namespace: str = "syncer") -> dict[str, dict[str, Any]]:
    """Every app's state document in ``namespace`` of ``cluster`` (one LIST), by app."""
    objects = kubeobjects.Objects(
        client=kube_client.connect(
            model.Cluster(name="k", kubeconfig=str(cluster.kubeconfig), context=cluster.context)
        ),
        namespace=namespace,
    )
    try:
        return {d.data["app"]: d.data for d in objects.list(kind="app")}
    finally:
        objects.client.close()


def finished(doc: dict[str, Any]) -> bool:
    """The app's rollouts are done, and one made it healthy somewhere."""
    states = {t["state"] for ro in doc["rollouts"] for t in ro["targets"]}
    return "healthy" in states and not states & {"pending", "applying", "applied"}
