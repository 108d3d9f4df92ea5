"""Two ``syncer run --leader-elect`` processes against the Kubernetes API test server:
one leads and is ready, the other stands by and forwards; SIGTERM on the leader hands
the Lease over at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.servers import lifecycle

pytestmark = pytest.mark.integration

NAMESPACE_YAML = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: syncer\n"


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


class Replica:
    def __init__(self, proc: subprocess.Popen[str], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.url = ""

    def wait_url(self) -> str:
        def found() -> bool:
            match = re.search(r"HTTP on (http://[^\s,]+)", self.log.read_text())
            if match:
                self.url = match.group(1)
            assert self.proc.poll() is None, self.log.read_text()
            return bool(match)

        wait_for(found)
        return self.url

    def readyz(self) -> tuple[int, str]:
        response = requests.get(f"{self.url}/readyz", timeout=5)
        return response.status_code, response.text.strip()


@pytest.fixture
def start_replica(
    kube_clusters: Callable[..., list[Any]], tmp_path: Path
) -> Iterator[Callable[[str], Replica]]:
    (cluster,) = kube_clusters(1)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=NAMESPACE_YAML, check=True)
    started: list[Replica] = []

    def start(identity: str) -> Replica:
        work = tmp_path / identity
        work.mkdir()
        port = lifecycle.free_port()
        config = work / "syncer.yaml"
        config.write_text(
            "clusters:\n"
            f"  - {{name: k, kubeconfig: {cluster.kubeconfig}, context: {cluster.context}}}\n"
            "server:\n"
            f"  listen: 127.0.0.1:{port}\n"
            "  apiToken: env:SYNCER_TEST_API\n"
            "  webhooks: {generic: env:SYNCER_TEST_HOOK}\n"
            "state: {path: state.db}\n"
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
        started.append(replica)
        return replica

    yield start
    for replica in started:
        if replica.proc.poll() is None:
            replica.proc.kill()
            replica.proc.wait(timeout=10)


def test_one_replica_leads_and_sigterm_hands_over(
    start_replica: Callable[[str], Replica],
) -> None:
    a = start_replica("replica-a")
    a.wait_url()
    wait_for(lambda: a.readyz()[0] == 200)
    b = start_replica("replica-b")
    b.wait_url()
    # b stands by, knows where a answers, and is ready to forward to it.
    wait_for(lambda: b.readyz() == (200, "standing by; leader is replica-a"))
    assert "started leading identity=replica-a" in a.log.read_text()
    assert "started leading" not in b.log.read_text()
    # A webhook sent to the standby is handled by the leader.
    body = json.dumps({"url": "https://git.example.com/team/deploy.git"}).encode()
    signature = "sha256=" + hmac.new(b"h00k", body, hashlib.sha256).hexdigest()
    response = requests.post(
        f"{b.url}/webhooks/generic", data=body, headers={"X-Signature-256": signature},
        timeout=10,
    )  # fmt: skip
    # The leader answers: no source of its config follows that repository.
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ignored": "no source follows https://git.example.com/team/deploy.git"
    }
    assert "forwarded to leader path=/webhooks/generic" in b.log.read_text()
    wait_for(lambda: "msg=webhook ignored kind=generic" in a.log.read_text())
    assert "msg=webhook ignored kind=generic" not in b.log.read_text()

    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(timeout=30) == 0, a.log.read_text()
    assert "released leadership identity=replica-a" in a.log.read_text()
    # Released, so b takes over well before the 3s lease would have expired.
    released_at = time.monotonic()
    wait_for(lambda: "started leading identity=replica-b" in b.log.read_text(), timeout=10)
    assert time.monotonic() - released_at < 3
    wait_for(lambda: b.readyz()[0] == 200)
