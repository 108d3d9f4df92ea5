"""Benchmark: tag-policy evaluation over 10,000 tags, and registry requests per poll.

Run: ``python -m tests.bench.bench_registry [--tags 10000] [--rounds 20]``.

1. Policy evaluation: the first and the median time of ``TagPolicy.select`` over a mix of
   10,000 and then 100,000 tags (versions with pre-releases and ``v`` prefixes,
   ``main-<sha>-<ts>`` build tags, cosign signatures, junk), for each kind of policy.
2. Requests per poll against a real token-auth ``docker-registry`` (first poll, then
   unchanged polls, then a poll after a push), counted by the client and by the
   registry's access log; and against the paginating stub with 10,000 tags
   (1,000 per page), with and without ETag support.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import registry
from registry.policies import semver_range
from tests import binaries
from tests.servers import images, registry_process, registry_stub

POLICIES = [
    ("semver:^1.2", "", ""),
    ("semver:>=1.0 <2.0 || ^3.1.0-rc.0", "", ""),
    ("semver:~2.3", "", ""),
    ("alphabetical:asc", r"^RELEASE\.", ""),
    ("numerical:asc", r"^main-[0-9a-f]{7}-(?P<ts>\d+)$", "$ts"),
    ("numerical:desc", "", ""),
]


def make_tags(count: int, *, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    tags: dict[str, None] = {}  # registries hold each tag once; keep insertion order
    while len(tags) < count:
        roll = rng.random()
        major, minor, patch = rng.randint(0, 4), rng.randint(0, 30), rng.randint(0, 40)
        if roll < 0.45:
            tags.setdefault(f"{major}.{minor}.{patch}")
        elif roll < 0.55:
            tags.setdefault(f"v{major}.{minor}.{patch}-rc.{rng.randint(0, 9)}")
        elif roll < 0.75:
            tags.setdefault(
                f"main-{rng.getrandbits(28):07x}-{1_700_000_000 + rng.randint(0, 10**7)}"
            )
        elif roll < 0.80:
            tags.setdefault(f"sha256-{rng.getrandbits(256):064x}.sig")
        elif roll < 0.88:
            tags.setdefault(f"RELEASE.2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        elif roll < 0.94:
            tags.setdefault(str(rng.randint(1, 99999)))
        else:
            tags.setdefault(rng.choice(["latest", "main", "edge", "stable", "nightly"]))
    return list(tags)


def bench_policies(*, count: int, rounds: int) -> None:
    tags = make_tags(count)
    print(f"policy evaluation over {len(tags)} tags (first run, then median of {rounds}):")
    for spec, pattern, extract in POLICIES:
        policy = registry.parse_policy(spec, pattern=pattern, extract=extract)
        times = []
        selection = None
        semver_range.clear_caches()
        start = time.perf_counter()
        policy.select(tags)
        cold = time.perf_counter() - start
        for _ in range(rounds):
            start = time.perf_counter()
            selection = policy.select(tags)
            times.append(time.perf_counter() - start)
        assert selection is not None
        median = statistics.median(times) * 1000
        print(
            f"  {policy.label:58s} {cold * 1000:6.1f} ms, then {median:5.1f} ms -> {selection.tag}"
        )
    start = time.perf_counter()
    for spec, pattern, extract in POLICIES:
        registry.parse_policy(spec, pattern=pattern, extract=extract)
    print(f"  building all {len(POLICIES)} policies: {(time.perf_counter() - start) * 1000:.2f} ms")


def bench_real_registry(*, polls: int) -> None:
    binary = binaries.find("docker-registry")
    if binary is None or binaries.find("htpasswd") is None:
        print("real registry: docker-registry not installed, skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = registry_process.start_registry(binary=binary, workdir=Path(tmp), mode="token")
        try:
            images.push_image(server, "bench/web", tags=[f"1.{i}.0" for i in range(50)])
            images.push_image(server, "bench/web", tags=["latest"])
            print("real docker-registry 2.8, token auth, 51 tags:")
            for spec in ("semver:^1", "digest:latest"):
                pool = registry.Pool(
                    # A rate high enough that the bench measures requests, not waiting.
                    defaults=lambda host: registry.ClientSettings(host=host, per_second=100),
                    credentials_for=lambda host: registry.Static(server.username, server.password),
                )
                cache = registry.PollCache()
                repo = f"{server.host}/bench/web"
                served0, tokens0 = server.request_count(), server.token_server.count()
                registry.resolve(repo, spec, client=pool, cache=cache)
                first = pool.counters.total()
                served1 = server.request_count()
                start = time.perf_counter()
                for _ in range(polls):
                    registry.resolve(repo, spec, client=pool, cache=cache)
                elapsed = (time.perf_counter() - start) / polls
                steady = (pool.counters.total() - first) / polls
                served2 = server.request_count()
                tokens = server.token_server.count() - tokens0
                print(
                    f"  {spec:14s} first poll: {first} requests (registry saw "
                    f"{served1 - served0}, incl. the 401 challenge, plus 1 token); "
                    f"unchanged poll: {steady:.0f} request (registry saw "
                    f"{(served2 - served1) / polls:.0f}), {elapsed * 1000:.1f} ms; "
                    f"tokens fetched in total: {tokens}"
                )
                if spec.startswith("semver"):
                    images.push_image(server, "bench/web", tags=["1.99.0"])
                    before = pool.counters.total()
                    registry.resolve(repo, spec, client=pool, cache=cache)
                    print(
                        f"  {spec:14s} poll after a push of 1.99.0: "
                        f"{pool.counters.total() - before} requests (tags + HEAD)"
                    )
                pool.close()
        finally:
            server.stop()


def bench_paginating_stub(*, count: int, polls: int) -> None:
    print(f"paginating stub, {count} tags, 1000 per page:")
    for etag in (False, True):
        stub = registry_stub.StubRegistry(
            tags={"big/repo": make_tags(count)}, page_size=1000, etag=etag
        ).start()
        try:
            client = registry.Client(
                registry.ClientSettings(host=stub.host, per_second=1000, burst=1000)
            )
            cache = registry.PollCache()
            repo = f"{stub.host}/big/repo"
            start = time.perf_counter()
            decision = registry.resolve(repo, "semver:^1.2", client=client, cache=cache)
            first_time = time.perf_counter() - start
            first = client.counters.total()
            start = time.perf_counter()
            for _ in range(polls):
                registry.resolve(repo, "semver:^1.2", client=client, cache=cache)
            steady_time = (time.perf_counter() - start) / polls
            steady = (client.counters.total() - first) / polls
            print(
                f"  ETag {'on ' if etag else 'off'}: first poll {first} requests "
                f"({first_time * 1000:.0f} ms) -> {decision.tag}; unchanged poll "
                f"{steady:.0f} requests ({steady_time * 1000:.0f} ms)"
            )
            client.close()
        finally:
            stub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--polls", type=int, default=10)
    args = parser.parse_args()
    bench_policies(count=args.tags, rounds=args.rounds)
    # Ten times as many: the evaluation must stay linear (no cache that thrashes).
    bench_policies(count=args.tags * 10, rounds=3)
    bench_real_registry(polls=args.polls)
    bench_paginating_stub(count=args.tags, polls=args.polls)


if __name__ == "__main__":
    main()
