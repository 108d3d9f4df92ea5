"""With two replicas, the standby hands authenticated webhooks and API POSTs to the
leader (whose address leader election publishes), so nothing is lost to the standby."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import requests

from syncer.server import http
from tests.server.conftest import ALL_SECRETS, FakePort
from tests.server.test_webhook_receivers import GITHUB_PUSH, sign


class Standby:
    """A LeaderView: another replica leads at ``url``."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.is_leader = False

    def leader_url(self) -> str | None:
        return None if self.is_leader else self.url

    def owner_url(self, app: str) -> str | None:
        return self.leader_url()

    def peers(self) -> list[str]:
        return []

    def describe(self) -> str:
        return "leading" if self.is_leader else f"standing by; leader is {self.url}"


def github(session: requests.Session, url: str, secret: str = "gh-secret") -> requests.Response:
    body = json.dumps(GITHUB_PUSH).encode()
    return session.post(
        f"{url}/webhooks/github",
        data=body,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, body)},
        timeout=10,
    )


def test_standby_forwards_webhooks_and_posts_to_the_leader(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
    tmp_path: object,
) -> None:
    leader_port = FakePort()
    leader = http.HttpServer(settings=ALL_SECRETS, port=leader_port).start()
    try:
        standby = start_server(leader=Standby(leader.url))
        response = github(session, standby.webhook_url)
        assert response.status_code == 202
        assert response.json() == {"triggered": ["deploy"]}
        assert fake_port.triggers() == []  # the standby acted on nothing
        assert len(leader_port.triggers()) == 3
        # API POSTs too, with the caller's token; reads stay local.
        sync = session.post(
            f"{standby.url}/api/v1/apps/web/rollback",
            json={"to": "r3"},
            headers={"Authorization": "Bearer api-token"},
        )
        assert sync.status_code == 202
        assert sync.json() == {"app": "web", "to": "r3"}
        assert ("rollback", "web", "r3") in leader_port.calls
        assert fake_port.calls == []
        session.get(
            f"{standby.url}/api/v1/apps/web/history",
            params={"limit": "2"},
            headers={"Authorization": "Bearer api-token"},
        )
        assert ("history", "web", 2) in fake_port.calls
    finally:
        leader.stop()


def test_standby_authenticates_before_forwarding(
    start_server: Callable[..., http.HttpServer],
    session: requests.Session,
) -> None:
    leader_port = FakePort()
    leader = http.HttpServer(settings=ALL_SECRETS, port=leader_port).start()
    try:
        standby = start_server(leader=Standby(leader.url))
        assert github(session, standby.webhook_url, secret="wrong").status_code == 401
        unauthorized = session.post(f"{standby.url}/api/v1/apps/web/sync")
        assert unauthorized.status_code == 401
        assert leader_port.calls == []
    finally:
        leader.stop()


def test_unreachable_leader_answers_503_with_retry_after(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed once the block ends
    standby = start_server(leader=Standby(dead))
    response = github(session, standby.webhook_url)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "stands by" in response.json()["error"]
    assert fake_port.triggers() == []


def test_forwarded_requests_are_never_forwarded_again(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    # Both replicas briefly believe the other leads: the hop ends at the second one.
    standby = Standby(None)
    server = start_server(leader=standby)
    standby.url = server.url
    response = github(session, server.webhook_url)
    assert response.status_code == 202
    assert len(fake_port.triggers()) == 3


def test_leader_or_no_known_leader_handles_requests_itself(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    standby = Standby(None)
    server = start_server(ALL_SECRETS, leader=standby)
    assert github(session, server.webhook_url).status_code == 202
    assert len(fake_port.triggers()) == 3
    standby.url = "http://127.0.0.1:9"
    standby.is_leader = True
    assert github(session, server.webhook_url).status_code == 202
    assert len(fake_port.triggers()) == 6


def test_readiness_of_leader_and_standby(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    view = Standby(None)
    server = start_server(leader=view)
    fake_port.is_ready = (False, "starting")
    # A standby that does not know the leader yet cannot forward: not ready.
    response = session.get(f"{server.url}/readyz")
    assert (response.status_code, response.text) == (503, "standing by; leader is None\n")
    view.url = "http://10.0.0.7:8080"
    response = session.get(f"{server.url}/readyz")
    assert response.status_code == 200
    assert response.text == "standing by; leader is http://10.0.0.7:8080\n"
    # The leader reports the controller's own readiness.
    view.is_leader = True
    response = session.get(f"{server.url}/readyz")
    assert (response.status_code, response.text) == (503, "starting\n")
