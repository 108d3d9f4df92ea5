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
