"""A flood of unauthenticated requests does not take a real ``syncer run`` anywhere
near the chart's 512 MiB memory limit, and signed webhooks still get through.

160 connections at once (on the webhook listener) each send a 4 MiB body but its last
byte, wait 2 s, send the last byte, twice over: most with no signature or token at
all, some with a well-formed but wrong signature (their bodies must be read to be
checked: the shared body budget bounds them), some with 5 MiB of headers. The
process's peak resident memory (``VmHWM`` in /proc) must stay under half the limit,
and a correctly signed webhook sent during the flood, and one after it, must trigger
the poll they name. Loopback only; the flood stops by itself after ``FLOOD_SECONDS``
or ``ROUNDS``. (Before bodies waited for authentication, the peak was 740 MiB.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.server.replicas import wait_for
from tests.servers import git_http as git_http_mod

pytestmark = pytest.mark.integration

SECRET = "flood-secret"
CONNECTIONS = 160
ROUNDS = 2
FLOOD_SECONDS = 8.0
HOLD = 2.0
"""Seconds each sender waits before the last byte of its body."""
BODY = 4 * 1024 * 1024
LIMIT_MIB = 512
"""The chart's memory limit (helm/syncer/values.yaml)."""


def status_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match, text
    return int(match.group(1))


class Flood:
    """``CONNECTIONS`` threads sending unauthenticated 4 MiB requests to ``port``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.body = memoryview(b"{" + b" " * (BODY - 2) + b"}")
        self.outcomes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._sender, args=(i,), daemon=True)
            for i in range(CONNECTIONS)
        ]

    def __enter__(self) -> Flood:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _head(self, i: int) -> bytes:
        lines = [f"POST /webhooks/{'github' if i % 4 == 1 else 'generic'} HTTP/1.1"]
        lines += ["Host: 127.0.0.1", f"Content-Length: {BODY}"]
        if i % 8 == 2:
            lines.append("X-Signature-256: sha256=" + "0" * 64)  # well-formed, wrong
        if i % 8 == 3:
            lines.append("X-Gitlab-Token: wrong")
        if i % 16 == 5:
            lines += [f"X-Padding-{n}: {'p' * 60_000}" for n in range(90)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _sender(self, i: int) -> None:
        deadline = time.monotonic() + FLOOD_SECONDS
        for _ in range(ROUNDS):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            self._note(self._one(i))

    def _one(self, i: int) -> str:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
                try:
                    sock.sendall(self._head(i))
                    # All but the last byte, then a pause: a server that buffers
                    # bodies holds nearly 4 MiB for each connection at once.
                    for start in range(0, BODY - 1, 256 * 1024):
                        sock.sendall(self.body[start : min(start + 256 * 1024, BODY - 1)])
                    self._stop.wait(HOLD)
                    sock.sendall(self.body[BODY - 1 :])
                except OSError:
                    pass  # refused unread: the server answered and closed
                try:
                    answer = sock.recv(64)
                except OSError:
                    return "reset"
                return answer.split(b" ")[1].decode() if answer.count(b" ") else "closed"
        except OSError as err:
            return type(err).__name__

    def _note(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@pytest.fixture
def syncer_run(
    tmp_path: Path, git_http: git_http_mod.GitHTTPServer
) -> Iterator[tuple[str, int, str]]:
    """A real ``syncer run`` following one real Git repository: (url, pid, repo url)."""
    repo = git_http.create_repo("deploy", {"web/cm.yaml": "kind: ConfigMap\n"})
    config = tmp_path / "syncer.yaml"
    config.write_text(
        "sources:\n"
        f"  - {{name: deploy, git: {{url: {repo.url}, branch: main, interval: 1h}}}}\n"
        "server:\n"
        "  listen: 127.0.0.1:0\n"
        "  webhookListen: 127.0.0.1:0\n"
        "  webhooks: {generic: env:SYNCER_TEST_HOOK, github: env:SYNCER_TEST_HOOK,\n"
        "             gitlab: env:SYNCER_TEST_HOOK}\n"
        "state: {path: state.db}\n"
    )
    log = tmp_path / "stderr.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "--log-level=info", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        env={**os.environ, "SYNCER_TEST_HOOK": SECRET},
    )
    try:
        found: list[str] = []

        def listening() -> bool:
            assert proc.poll() is None, log.read_text()
            found[:] = re.findall(r"webhooks on (http://[^\s,]+)", log.read_text())
            return bool(found)

        wait_for(listening)
        yield found[0], proc.pid, repo.url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def signed_webhook(url: str, repo_url: str) -> requests.Response:
    """A correctly signed generic webhook, retried as a sender would on 503."""
    body = json.dumps({"url": repo_url, "ref": "refs/heads/main"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    for _ in range(30):
        try:
            response = requests.post(
                f"{url}/webhooks/generic",
                data=body,
                headers={"X-Signature-256": signature, "Content-Type": "application/json"},
                timeout=20,
            )
        except requests.ConnectionError:
            time.sleep(0.5)
            continue
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    raise AssertionError("the signed webhook never got through")


def test_unauthenticated_flood_stays_far_under_the_memory_limit(
    syncer_run: tuple[str, int, str],
) -> None:
    url, pid, repo_url = syncer_run
    baseline = status_kib(pid, "VmRSS")
    samples: list[int] = []
    with Flood(int(url.rsplit(":", 1)[1])) as flood:
        time.sleep(1.0)
        during = signed_webhook(url, repo_url)
        deadline = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < deadline and any(t.is_alive() for t in flood._threads):
            samples.append(status_kib(pid, "VmRSS"))
            time.sleep(0.05)
    after = signed_webhook(url, repo_url)
    peak = status_kib(pid, "VmHWM")
    print(
        f"RSS baseline {baseline // 1024} MiB, sampled max {max(samples) // 1024} MiB, "
        f"peak (VmHWM) {peak // 1024} MiB; outcomes {flood.outcomes}"
    )
    assert peak < LIMIT_MIB * 1024 // 2, f"peak RSS {peak // 1024} MiB"
    assert sum(flood.outcomes.values()) >= CONNECTIONS
    for response in (during, after):
        assert response.status_code == 202, response.text
        assert response.json() == {"triggered": ["deploy"]}
