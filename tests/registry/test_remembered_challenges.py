"""A registry's auth challenge kept across processes (``registry.challenges``), against
the real registry and the tests' token server: a second process sends its first
request authorized (no 401), keeps nothing secret, and a stale or unreadable book costs
one 401, as if there were none, and is put right."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import registry
from tests.servers import images, lifecycle, registry_process

pytestmark = pytest.mark.integration


def pool(server: registry_process.RegistryServer, book: Path) -> registry.Pool:
    """A new process's registry clients: nothing learnt but what ``book`` holds."""
    return registry.Pool(
        registries={server.host: registry.ClientSettings(host=server.host, retries=0)},
        credentials_for=lambda host: registry.Static(server.username, server.password),
        challenges_file=book,
    )


def refusals(server: registry_process.RegistryServer, since: int) -> int:
    return sum(1 for r in server.served()[since:] if r.status == 401)


def list_both(found: registry.Pool, server: registry_process.RegistryServer) -> None:
    for repo in ("team/a", "team/b"):
        assert found.client_for(server.host).list_tags(f"{server.host}/{repo}").tags == ("1",)


@pytest.fixture
def server(registry_server):
    started = registry_server.start("token")
    for repo in ("team/a", "team/b"):
        images.push_image(started, repo, tags=["1"])
    return started


def test_a_new_process_sends_its_first_request_authorized(server, tmp_path: Path) -> None:
    book = tmp_path / "cache" / "registry-challenges.json"
    first = pool(server, book)
    since = len(server.served())
    list_both(first, server)
    first.close()
    assert refusals(server, since) == 1  # the first process learns the challenge
    kept = book.read_text()
    assert json.loads(kept)["registries"][server.host] == {
        "scheme": "bearer", "realm": server.token_server.realm, "service": "test-registry",
    }  # fmt: skip
    assert server.password not in kept and "token" not in json.loads(kept)["registries"]

    since, tokens = len(server.served()), server.token_server.count()
    second = pool(server, book)
    list_both(second, server)
    second.close()
    assert refusals(server, since) == 0
    assert len(server.served()) - since == 2  # one request per repository
    assert server.token_server.count() - tokens == 2  # one token per repository scope


def test_a_stale_realm_is_forgotten_and_learnt_again(server, tmp_path: Path) -> None:
    book = tmp_path / "registry-challenges.json"
    gone = f"http://127.0.0.1:{lifecycle.free_port()}/token"  # nothing listens there
    book.write_text(
        json.dumps({"version": 1, "registries": {server.host: {"scheme": "bearer", "realm": gone}}})
    )
    since = len(server.served())
    found = pool(server, book)
    list_both(found, server)
    found.close()
    assert refusals(server, since) == 1
    assert json.loads(book.read_text())["registries"][server.host]["realm"] == (
        server.token_server.realm
    )


def test_an_unreadable_book_is_set_aside_with_a_warning(
    server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    book = tmp_path / "registry-challenges.json"
    book.write_text("{not json")
    since = len(server.served())
    with caplog.at_level(logging.WARNING, logger="registry.challenges"):
        found = pool(server, book)
    assert "registry challenges not read" in caplog.text and str(book) in caplog.text
    list_both(found, server)
    found.close()
    assert refusals(server, since) == 1
    assert json.loads(book.read_text())["registries"][server.host]["scheme"] == "bearer"


def test_basic_auth_is_sent_from_the_first_request(registry_server, tmp_path: Path) -> None:
    server = registry_server.start("basic")
    images.push_image(server, "team/a", tags=["1"])
    images.push_image(server, "team/b", tags=["1"])
    book = tmp_path / "registry-challenges.json"
    list_both(pool(server, book), server)
    since = len(server.served())
    list_both(pool(server, book), server)
    assert refusals(server, since) == 0 and len(server.served()) - since == 2
