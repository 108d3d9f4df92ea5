"""newest-build against the real registry: images pushed with different build times.

The winner is the most recently *built* image (its config's ``created``), not the last
pushed or the highest named; equal build times go to the alphabetically last tag; build
times are read once per tag; the filter and ignore list narrow what is read.
"""

from __future__ import annotations

import pytest

import registry
from registry.policies import newest_build
from syncer import images as syncer_images
from syncer.config import loader
from tests.servers import images

pytestmark = pytest.mark.integration


def _push_builds(server, repo: str) -> None:
    # Pushed in an order unrelated to their build times or names.
    images.push_image(server, repo, tags=["f33bacd"], created="2024-05-03T10:00:00Z")
    images.push_image(server, repo, tags=["a5fb3d3"], created="2024-05-01T09:00:00.5Z")
    images.push_image(
        server, repo, tags=["0c1d2e3", "dev"], created="2024-05-04T08:30:00.123456789+02:00"
    )
    images.push_image(server, repo, tags=["9e8d7c6"], created="2024-05-02T23:59:59Z")


def test_newest_build_wins_over_names_and_push_order(shared_registry, client_for) -> None:
    server = shared_registry.get("basic")
    repo = "newest/web"
    _push_builds(server, repo)
    client = client_for(server)
    name = f"{server.host}/{repo}"
    # 0c1d2e3 and dev are one image (same build time): the alphabetically last tag wins.
    anything = registry.resolve(name, "newest-build", client=client)
    assert anything.tag == "dev"
    assert anything.reason.startswith("dev: newest build (2024-05-04T08:30:00.123456789+02:00)")
    # With a filter for commit tags, as Argo CD's docs recommend.
    commits = registry.resolve(name, "newest-build", client=client, pattern=r"^[0-9a-f]{7}$")
    assert commits.tag == "0c1d2e3"
    # The ignore list removes the newest; the next newest by build time wins, not by name.
    older = registry.resolve(
        name, "newest-build", client=client, pattern=r"^[0-9a-f]{7}$", ignore_tags=["0c*"]
    )
    assert older.tag == "f33bacd"
    assert "1 tag on the ignore list" in older.reason


def test_build_times_are_read_once_per_tag(shared_registry, client_for) -> None:
    server = shared_registry.get("anonymous")
    repo = "newest/cached"
    _push_builds(server, repo)
    client = client_for(server)
    cache = registry.PollCache()
    name = f"{server.host}/{repo}"
    registry.resolve(name, "newest-build", client=client, cache=cache)
    first = client.counters.snapshot()[server.host]
    assert first["blob"] == 5  # one config per tag, read once
    # A new tag: only its build time is read (manifest + config blob), plus list and HEAD.
    images.push_image(server, repo, tags=["1a2b3c4"], created="2024-06-01T00:00:00Z")
    found = registry.resolve(name, "newest-build", client=client, cache=cache)
    assert found.tag == "1a2b3c4"
    second = client.counters.snapshot()[server.host]
    assert second["blob"] - first["blob"] == 1
    assert second["manifest-get"] - first["manifest-get"] == 1


def test_too_many_candidates_is_a_policy_error(shared_registry, client_for) -> None:
    server = shared_registry.get("anonymous")
    repo = "newest/many"
    tags = [f"build-{i:03d}" for i in range(newest_build.MAX_TAGS + 1)]
    images.push_image(server, repo, tags=tags, created="2024-05-01T00:00:00Z")
    client = client_for(server)
    with pytest.raises(registry.InvalidPolicyError, match="narrow them with a filter"):
        registry.resolve(f"{server.host}/{repo}", "newest-build", client=client)
    # Narrowed, it works.
    found = registry.resolve(
        f"{server.host}/{repo}", "newest-build", client=client, ignore_tags=["build-0*"]
    )
    assert found.tag == "build-100"


def test_config_newest_build_with_filter_and_ignore(shared_registry, tmp_path) -> None:
    server = shared_registry.get("anonymous")
    repo = "newest/config"
    _push_builds(server, repo)
    path = tmp_path / "syncer.yaml"
    path.write_text(
        f"""
sources:
  - name: deploy
    git: {{url: https://git.example.com/deploy.git}}
clusters:
  - name: dev
apps:
  - name: web
    source: deploy
    clusters: [dev]
    images:
      - repository: {server.host}/{repo}
        policy: {{newestBuild: {{}}}}
        filter: {{pattern: '^[0-9a-f]{{7}}$'}}
        ignore: ['0c1d*']
      - repository: {server.host}/{repo}
        policy: {{newestBuild: {{platform: linux/amd64}}}}
"""
    )
    config = loader.load(str(path))
    resolver = syncer_images.Images(config)
    try:
        narrowed, everything = (resolver.decide(image) for image in config.apps[0].images)
    finally:
        resolver.close()
    assert (narrowed.tag, narrowed.policy) == (
        "f33bacd",
        "newest-build filter=^[0-9a-f]{7}$ ignore=0c1d*",
    )
    assert everything.tag == "dev"
    keys = {syncer_images.policy_key(image) for image in config.apps[0].images}
    assert len(keys) == 2  # different filters and ignore lists never share a decision


def test_rfc3339_times_order_by_instant() -> None:
    early = newest_build.instant("2024-05-04T08:30:00.123456789+02:00")
    late = newest_build.instant("2024-05-04T07:00:00Z")
    assert early is not None and late is not None and early < late
    assert newest_build.instant("yesterday") is None
