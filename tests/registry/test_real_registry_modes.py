"""The client against the real registry in every auth mode and over TLS: listing,
digests, indexes, re-pushed tags, missing repositories and tags."""

from __future__ import annotations

import pytest

import registry
from tests.servers import images

pytestmark = pytest.mark.integration

MODES = [("anonymous", False), ("basic", False), ("token", False), ("basic", True), ("token", True)]


@pytest.fixture(params=MODES, ids=lambda p: f"{p[0]}{'-tls' if p[1] else ''}")
def server(request, shared_registry):
    mode, tls = request.param
    return shared_registry.get(mode, tls)


def test_lists_tags_and_resolves_digests(server, client_for, request) -> None:
    repo = f"team/list-{request.node.callspec.id}"
    first = images.push_image(server, repo, tags=["1.0.0", "1.2.0"])
    second = images.push_image(server, repo, tags=["1.3.0-rc.1", "latest"], media="docker")
    client = client_for(server)
    client.ping()
    listing = client.list_tags(f"{server.host}/{repo}")
    assert sorted(listing.tags) == ["1.0.0", "1.2.0", "1.3.0-rc.1", "latest"]
    assert client.head_digest(f"{server.host}/{repo}", "1.2.0") == first.digest
    assert client.head_digest(f"{server.host}/{repo}", "latest") == second.digest
    decision = registry.resolve(f"{server.host}/{repo}", "semver:^1.0", client=client)
    assert (decision.tag, decision.digest) == ("1.2.0", first.digest)
    assert decision.ref == f"{server.host}/{repo}:1.2.0@{first.digest}"
    assert decision.reason.startswith("1.2.0: highest of 2 tags in ^1.0")
    assert "1 pre-release skipped" in decision.reason


def test_repushed_tag_changes_digest_policy_answer(server, client_for, request) -> None:
    repo = f"team/repush-{request.node.callspec.id}"
    old = images.push_image(server, repo, tags=["main"])
    client = client_for(server)
    cache = registry.PollCache()
    first = registry.resolve(f"{server.host}/{repo}", "digest:main", client=client, cache=cache)
    assert first.digest == old.digest and first.ref.endswith(f":main@{old.digest}")
    new = images.push_image(server, repo, tags=["main"])
    second = registry.resolve(f"{server.host}/{repo}", "digest:main", client=client, cache=cache)
    assert second.digest == new.digest != old.digest
    assert f"(was {old.digest})" in second.reason


def test_multi_arch_index(server, client_for, request) -> None:
    repo = f"team/multi-{request.node.callspec.id}"
    index = images.push_index(server, repo, tags=["2.0.0"])
    client = client_for(server)
    decision = registry.resolve(f"{server.host}/{repo}", "semver:2.x", client=client)
    assert decision.digest == index.digest
    manifest = client.get_manifest(f"{server.host}/{repo}", "2.0.0")
    assert manifest.is_index and manifest.digest == index.digest
    arm = client.platform_manifest(f"{server.host}/{repo}", "2.0.0", platform="linux/arm64")
    assert arm.digest == index.manifests["linux/arm64"].digest
    created = client.image_created(f"{server.host}/{repo}", "2.0.0", platform="linux/amd64")
    assert created == index.manifests["linux/amd64"].created
    with pytest.raises(registry.NotFoundError, match=r"no image for windows/amd64.*linux/amd64"):
        client.platform_manifest(f"{server.host}/{repo}", "2.0.0", platform="windows/amd64")


def test_missing_repository_and_tag(server, client_for, request) -> None:
    repo = f"team/missing-{request.node.callspec.id}"
    client = client_for(server)
    with pytest.raises(registry.NotFoundError, match="not found") as missing_repo:
        client.list_tags(f"{server.host}/{repo}")
    assert missing_repo.value.code == "NAME_UNKNOWN"
    images.push_image(server, repo, tags=["1.0.0"])
    with pytest.raises(registry.NotFoundError, match=r":nope not found"):
        client.head_digest(f"{server.host}/{repo}", "nope")
    with pytest.raises(registry.NoCandidateError, match=r"no tag of 1 qualifies: none in \^2"):
        registry.resolve(f"{server.host}/{repo}", "semver:^2", client=client)
    with pytest.raises(registry.NoCandidateError, match="tag 'main' does not exist"):
        registry.resolve(f"{server.host}/{repo}", "digest:main", client=client)


def test_wrong_password_is_an_auth_error_without_the_secret(shared_registry, client_for) -> None:
    for mode in ("basic", "token"):
        server = shared_registry.get(mode)
        images.push_image(server, "team/private", tags=["1.0.0"])
        client = client_for(server, password="wrong-password-123")
        with pytest.raises(registry.AuthError) as caught:
            client.list_tags(f"{server.host}/team/private")
        message = str(caught.value)
        assert "wrong-password-123" not in message and server.password not in message
        assert server.host in message and "syncer" in message


def test_no_credentials_is_a_clear_auth_error(shared_registry, client_for) -> None:
    server = shared_registry.get("basic")
    client = client_for(server, anonymous=True)
    with pytest.raises(registry.AuthError, match="needs credentials"):
        client.list_tags(f"{server.host}/team/private")


def test_tls_without_ca_file_fails_clearly(shared_registry) -> None:
    server = shared_registry.get("anonymous", tls=True)
    client = registry.Client(registry.ClientSettings(host=server.host, retries=0))
    # Loopback without a CA file means plain HTTP: the TLS server refuses it.
    with pytest.raises(registry.RegistryError):
        client.ping()
    https = registry.Client(
        registry.ClientSettings(
            host=server.host.replace("127.0.0.1", "localhost"),
            retries=0,
            ca_file="/etc/ssl/certs/ca-certificates.crt",
        )
    )
    with pytest.raises(registry.UnreachableError, match="TLS handshake"):
        https.ping()
