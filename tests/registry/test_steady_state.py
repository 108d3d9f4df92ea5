"""A poll where nothing changed costs exactly one request, with the token reused."""

from __future__ import annotations

import pytest

import registry
from tests.servers import images

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("policy", ["semver:^1.0", "numerical:asc", "digest:latest"])
def test_unchanged_poll_costs_one_request(registry_server, policy: str) -> None:
    server = registry_server.start("token")
    repo = f"{server.host}/team/web"
    images.push_image(server, "team/web", tags=["1.0.0", "1.1.0", "7", "latest"])
    pool = registry.Pool(
        credentials_for=lambda host: registry.Static(server.username, server.password)
    )
    cache = registry.PollCache()
    first = registry.resolve(repo, policy, client=pool, cache=cache)
    tokens = server.token_server.count()
    served = server.request_count()
    sent = pool.counters.total()
    for _ in range(3):
        assert registry.resolve(repo, policy, client=pool, cache=cache) == first
    # Client side: 3 polls, 3 requests; registry side: the same 3, all answered 200.
    assert pool.counters.total() - sent == 3
    kind = "manifest-head" if policy.startswith("digest") else "tags"
    assert pool.counters.snapshot()[server.host][kind] >= 3
    assert server.request_count() - served == 3
    assert all(r.status == 200 for r in server.served()[-3:])
    assert server.token_server.count() == tokens  # the token was reused


def test_changed_tags_cost_a_listing_and_one_head(registry_server) -> None:
    server = registry_server.start("basic")
    repo = f"{server.host}/team/web"
    images.push_image(server, "team/web", tags=["1.0.0"])
    pool = registry.Pool(
        credentials_for=lambda host: registry.Static(server.username, server.password)
    )
    cache = registry.PollCache()
    assert registry.resolve(repo, "semver:^1", client=pool, cache=cache).tag == "1.0.0"
    newer = images.push_image(server, "team/web", tags=["1.2.0"])
    sent = pool.counters.total()
    decision = registry.resolve(repo, "semver:^1", client=pool, cache=cache)
    assert (decision.tag, decision.digest) == ("1.2.0", newer.digest)
    assert pool.counters.total() - sent == 2  # tags + HEAD of the new winner


def test_a_new_process_knowing_the_last_pick_lists_tags_and_heads_only_a_new_winner(
    registry_server,
) -> None:
    server = registry_server.start("anonymous")
    repo = f"{server.host}/team/web"
    old = images.push_image(server, "team/web", tags=["1.0.0"])
    pool = registry.Pool()
    # A restart: an empty cache, and the (tag, digest) the state recorded.
    served = len(server.served())
    decision = registry.resolve(
        repo, "semver:^1", client=pool, cache=registry.PollCache(), seen=("1.0.0", old.digest)
    )
    assert (decision.tag, decision.digest) == ("1.0.0", old.digest)
    assert [r.path.split("?")[0] for r in server.served()[served:]] == ["/v2/team/web/tags/list"]
    # A tag pushed while it was down is looked up (its digest is not known yet).
    newer = images.push_image(server, "team/web", tags=["1.1.0"], content=b"1.1.0")
    served = len(server.served())
    decision = registry.resolve(
        repo, "semver:^1", client=pool, cache=registry.PollCache(), seen=("1.0.0", old.digest)
    )
    assert (decision.tag, decision.digest) == ("1.1.0", newer.digest)
    assert [(r.method, r.path.split("?")[0]) for r in server.served()[served:]] == [
        ("GET", "/v2/team/web/tags/list"),
        ("HEAD", "/v2/team/web/manifests/1.1.0"),
    ]
