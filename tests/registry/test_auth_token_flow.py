"""The Bearer challenge flow against the real registry and the tests' token server:
tokens cached per scope and reused, refreshed on 401 (expired tokens), renewed before
expiry, credentials re-read after rotation, anonymous tokens."""

from __future__ import annotations

import pytest

import registry
from tests.servers import images

pytestmark = pytest.mark.integration


def test_token_is_fetched_once_and_reused(registry_server, client_for) -> None:
    server = registry_server.start("token")
    images.push_image(server, "team/web", tags=["1.0.0"])
    before = server.token_server.count()
    client = client_for(server)
    for _ in range(3):
        client.list_tags(f"{server.host}/team/web")
        client.head_digest(f"{server.host}/team/web", "1.0.0")
    assert server.token_server.count() - before == 1
    assert client.counters.total(kind="token") == 1
    # 401 once to learn the challenge, then 6 authorized requests.
    assert client.counters.total(host=server.host) == 1 + 1 + 6


def test_each_repository_scope_gets_its_own_token(registry_server, client_for) -> None:
    server = registry_server.start("token")
    images.push_image(server, "a", tags=["1"])
    images.push_image(server, "b", tags=["1"])
    before = server.token_server.count()
    client = client_for(server)
    client.list_tags(f"{server.host}/a")
    client.list_tags(f"{server.host}/b")
    client.list_tags(f"{server.host}/a")
    scopes = [r.scopes for r in server.token_server.requests[before:]]
    assert scopes == [("repository:a:pull",), ("repository:b:pull",)]


def test_expired_token_is_refreshed_on_401(registry_server, client_for) -> None:
    server = registry_server.start("token")
    images.push_image(server, "team/web", tags=["1.0.0"])
    server.token_server.issue_expired = 1  # the registry will refuse the first token
    client = client_for(server)
    assert client.list_tags(f"{server.host}/team/web").tags == ("1.0.0",)
    assert client.counters.total(kind="token") == 2


def test_token_renewed_before_it_expires(registry_server) -> None:
    server = registry_server.start("token")
    images.push_image(server, "team/web", tags=["1.0.0"])
    server.token_server.expires_in = 30
    now = [1000.0]
    client = registry.Client(
        registry.ClientSettings(host=server.host),
        credentials_source=registry.Static(server.username, server.password),
        clock=lambda: now[0],
    )
    client.list_tags(f"{server.host}/team/web")
    now[0] += 20  # still valid (30 s minus the 5 s margin)
    client.list_tags(f"{server.host}/team/web")
    assert client.counters.total(kind="token") == 1
    now[0] += 10  # past expiry: a new token is fetched before the request, no 401
    client.list_tags(f"{server.host}/team/web")
    assert client.counters.total(kind="token") == 2
    assert client.counters.total(kind="tags") == 4  # 1 challenge + 3 authorized


def test_rotated_credentials_are_read_again(registry_server, tmp_path) -> None:
    server = registry_server.start("token")
    images.push_image(server, "team/web", tags=["1.0.0"])
    server.token_server.expires_in = 6  # tokens live 1 s after the margin
    secret = tmp_path / "password"
    secret.write_text(server.password)
    now = [0.0]
    client = registry.Client(
        registry.ClientSettings(host=server.host),
        credentials_source=registry.Dynamic(lambda: (server.username, secret.read_text())),
        clock=lambda: now[0],
    )
    client.list_tags(f"{server.host}/team/web")
    server.set_password("rotated-password")
    secret.write_text("rotated-password")
    now[0] += 10
    # The cached credentials are refused by the token server; they are re-read and work.
    assert client.list_tags(f"{server.host}/team/web").tags == ("1.0.0",)
    statuses = [r.status for r in server.token_server.requests[-2:]]
    assert statuses == [401, 200]
    server.set_password("revoked")
    now[0] += 10
    with pytest.raises(registry.AuthError, match="rejected user 'syncer'") as caught:
        client.list_tags(f"{server.host}/team/web")
    assert "rotated-password" not in str(caught.value)


def test_anonymous_tokens_like_docker_hub(registry_server, client_for) -> None:
    server = registry_server.start("token", anonymous_pull=True)
    images.push_image(server, "library/nginx", tags=["1.25.3"])
    client = client_for(server, anonymous=True)
    assert client.list_tags(f"{server.host}/library/nginx").tags == ("1.25.3",)
    assert server.token_server.requests[-1].user == ""


def test_anonymous_token_without_access_is_refused(registry_server, client_for) -> None:
    server = registry_server.start("token")
    images.push_image(server, "private/app", tags=["1"])
    client = client_for(server, anonymous=True)
    with pytest.raises(registry.AuthError, match=r"refused access.*\(anonymous\)"):
        client.list_tags(f"{server.host}/private/app")


def test_token_server_down_is_reported(registry_server, client_for) -> None:
    server = registry_server.start("token")
    server.token_server.fail_with = 503
    client = client_for(server, retries=1, backoff=0)
    with pytest.raises(registry.UnreachableError, match="HTTP 503 on token"):
        client.list_tags(f"{server.host}/x")


def test_identity_token_uses_the_oauth2_refresh_grant(registry_server) -> None:
    server = registry_server.start("token")
    images.push_image(server, "team/web", tags=["1.0.0"])
    server.token_server.refresh_tokens["refresh-abc"] = server.username
    config = {"auths": {server.host: {"identitytoken": "refresh-abc"}}}
    client = registry.Client(
        registry.ClientSettings(host=server.host),
        credentials_source=registry.DockerConfigJSON(config),
    )
    assert client.list_tags(f"{server.host}/team/web").tags == ("1.0.0",)
    assert server.token_server.requests[-1].user == server.username
    server.token_server.refresh_tokens.clear()  # revoked
    fresh = registry.Client(
        registry.ClientSettings(host=server.host),
        credentials_source=registry.DockerConfigJSON(config),
    )
    with pytest.raises(registry.AuthError, match=r"rejected the identity \(refresh\) token"):
        fresh.list_tags(f"{server.host}/team/web")


@pytest.mark.parametrize("mode", ["token", "anonymous"])
def test_many_repositories_read_at_once_by_a_new_client_meet_one_401(
    registry_server, client_for, mode: str
) -> None:
    """A restart reads every repository at once: one request learns the challenge while
    the others wait for it, instead of each being refused once (and a registry that
    needs no credentials makes nobody wait after its first answer)."""
    import concurrent.futures

    server = registry_server.start(mode)
    names = [f"team/app{n}" for n in range(8)]
    for name in names:
        images.push_image(server, name, tags=["1.0.0"])
    client = client_for(server)
    served = len(server.served())
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        listed = list(pool.map(lambda name: client.list_tags(f"{server.host}/{name}"), names))
    assert all(tags.tags == ("1.0.0",) for tags in listed)
    answers = [r.status for r in server.served()[served:]]
    assert answers.count(401) == (1 if mode == "token" else 0), answers
    assert answers.count(200) == len(names), answers
