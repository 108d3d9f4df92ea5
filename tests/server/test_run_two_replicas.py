"""Two ``syncer run --leader-elect`` processes against the Kubernetes API test server:
one leads and is ready, the other stands by and forwards; SIGTERM on the leader hands
the Lease over at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time

import pytest
import requests

from tests.server.replicas import Replicas, wait_for

pytestmark = pytest.mark.integration


def test_one_replica_leads_and_sigterm_hands_over(start_replica: Replicas) -> None:
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
        f"{b.webhook_url}/webhooks/generic", data=body, headers={"X-Signature-256": signature},
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
