"""Limits against the real registry: a tag list cut by the scan budget never chooses
below the running tag, and a body above the size cap is refused."""

from __future__ import annotations

import pytest
import requests

import registry
from tests.servers import images

pytestmark = pytest.mark.integration


def test_a_cut_listing_keeps_the_running_tag(shared_registry, client_for) -> None:
    server = shared_registry.get("anonymous")
    repo = "limits/floor"
    images.push_image(server, repo, tags=[f"2.0.{i}" for i in range(10)])
    patch = 10
    newest = images.push_image(server, repo, tags=[f"2.0.{patch}"])

    def order() -> list[str]:
        answer = requests.get(f"{server.url}/v2/{repo}/tags/list", timeout=10)
        return list(answer.json()["tags"])

    while order().index(f"2.0.{patch}") == 0:
        patch += 1
        newest = images.push_image(server, repo, tags=[f"2.0.{patch}"])
    budget = order().index(f"2.0.{patch}")
    running = f"2.0.{patch}"
    client = client_for(server, scan_budget=budget)
    name = f"{server.host}/{repo}"

    # Without the running tags, the best of the tags read wins (and says the list was cut).
    blind = registry.resolve(name, "semver:^2", client=client)
    assert blind.tag != running and f"scan budget of {budget} tags" in blind.reason
    # With them, the running tag is kept: no HEAD needed, its digest is known.
    heads = client.counters.total(kind="manifest-head")
    kept = registry.resolve(
        name, "semver:^2", client=client, running=lambda: [(running, newest.digest)]
    )
    assert (kept.tag, kept.digest) == (running, newest.digest)
    assert client.counters.total(kind="manifest-head") == heads
    assert f"below the running {running}, so {running} is kept" in kept.warning
    assert f"scanBudget of registry {server.host}" in kept.warning
    # A running tag the policy ranks lower changes nothing.
    low = registry.resolve(name, "semver:^2", client=client, running=lambda: [("1.0.0", "")])
    assert low.tag == blind.tag and not low.warning
    # A complete listing is the truth, whatever runs.
    full = client_for(server)
    assert registry.resolve(name, "semver:^2", client=full, running=lambda: [("9.9.9", "")]).tag
    assert registry.resolve(name, "semver:^2", client=full).tag == running


def test_a_body_above_the_cap_is_refused(shared_registry, client_for) -> None:
    server = shared_registry.get("anonymous")
    repo = "limits/cap"
    images.push_image(server, repo, tags=[f"1.0.{i}" for i in range(40)])
    size = len(requests.get(f"{server.url}/v2/{repo}/tags/list", timeout=10).content)
    client = client_for(server, max_body=256)
    with pytest.raises(registry.ResponseError) as caught:
        client.list_tags(f"{server.host}/{repo}")
    assert str(caught.value) == (
        f"registry {server.host} sent {size} bytes for tags, above the limit of 256 bytes "
        "(maxBodySize); refusing it"
    )
