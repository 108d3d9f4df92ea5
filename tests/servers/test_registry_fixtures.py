"""The registry fixtures work: push then HEAD a manifest in every auth mode and over TLS."""

from __future__ import annotations

import pytest
import requests

from tests.servers import images, registry_process

pytestmark = pytest.mark.integration


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.mark.parametrize(
    ("mode", "tls"),
    [
        ("anonymous", False),
        ("basic", False),
        ("token", False),
        ("anonymous", True),
        ("token", True),
    ],
)
def test_push_then_head(registry_server, mode: str, tls: bool) -> None:
    server = registry_server.start(mode, tls=tls)
    pushed = images.push_image(server, "team/web", tags=["1.0.0", "latest"])
    assert pushed.digest.startswith("sha256:")
    assert images.head_digest(server, "team/web", "1.0.0") == pushed.digest
    assert images.head_digest(server, "team/web", "latest") == pushed.digest
    assert images.head_digest(server, "team/web", "missing") is None


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_auth_modes_refuse_anonymous_clients(registry_server, mode: str) -> None:
    server = registry_server.start(mode)
    answer = _session().get(f"{server.url}/v2/", timeout=5)
    assert answer.status_code == 401
    scheme = "Bearer" if mode == "token" else "Basic"
    assert answer.headers["WWW-Authenticate"].startswith(scheme)


def test_token_server_counts_rejects_and_expires(registry_server) -> None:
    server = registry_server.start("token")
    token = server.token_server
    assert token is not None
    images.push_image(server, "app", tags=["v1"])
    assert token.count(user=server.username) == 1
    old = server.password
    server.set_password("rotated")
    refused = _session().get(
        token.realm,
        params={"service": token.service, "scope": "repository:app:pull"},
        auth=(server.username, old),
        timeout=5,
    )
    assert refused.status_code == 401
    assert token.count() == 2
    images.push_image(server, "app", tags=["v2"])  # the rotated password works
    # an already-expired token is refused by the registry itself
    token.issue_expired = 1
    expired = token.issue(subject="syncer", scopes=("repository:app:pull",), granted=("pull",))
    answer = _session().head(
        f"{server.url}/v2/app/manifests/v1",
        headers={"Authorization": f"Bearer {expired}", "Accept": images.ACCEPT},
        timeout=5,
    )
    assert answer.status_code == 401


def test_basic_password_rotation(registry_server) -> None:
    server = registry_server.start("basic")
    images.push_image(server, "app", tags=["v1"])
    old = server.password
    server.set_password("new-password")
    answer = _session().head(
        f"{server.url}/v2/app/manifests/v1",
        auth=(server.username, old),
        headers={"Accept": images.ACCEPT},
        timeout=5,
    )
    assert answer.status_code == 401
    assert images.head_digest(server, "app", "v1")


def test_repush_changes_digest_and_delete(registry_server) -> None:
    server = registry_server.start()
    first = images.push_image(server, "app", tags=["latest"], media="docker")
    second = images.push_image(server, "app", tags=["latest"], media="docker")
    assert first.digest != second.digest
    assert images.head_digest(server, "app", "latest") == second.digest
    images.delete(server, "app", second.digest)
    assert images.head_digest(server, "app", "latest") is None
    assert images.head_digest(server, "app", first.digest) == first.digest


def test_index_and_retag(registry_server) -> None:
    server = registry_server.start()
    index = images.push_index(server, "multi", tags=["1.0"], media="docker")
    assert set(index.manifests) == {"linux/amd64", "linux/arm64"}
    assert images.head_digest(server, "multi", "1.0") == index.digest
    assert images.tag(server, "multi", "1.0", "stable") == index.digest
    assert images.head_digest(server, "multi", "stable") == index.digest


def test_several_registries_and_request_log(registry_server) -> None:
    one, two = registry_server.start(), registry_server.start("basic")
    assert one.port != two.port
    images.push_image(one, "a", tags=["x"])
    before = one.request_count()
    images.head_digest(one, "a", "x")
    served = one.served()
    assert len(served) == before + 1
    assert served[-1] == registry_process.ServedRequest("HEAD", "/v2/a/manifests/x", 200)
