"""What a health wait right after our own write reads, unit-level (a watch cache that
trails the write by a moment, as a real one does): the cache is looked at again until it
has caught up, instead of a LIST around it; only the wait's last look lists."""

from __future__ import annotations

from typing import Any

from syncer.apply import refs, results, wait

CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cfg", "namespace": "web"},
}
REF = refs.ObjectRef.of(CONFIG_MAP)


def at(version: str) -> dict[str, Any]:
    return {**CONFIG_MAP, "metadata": {**CONFIG_MAP["metadata"], "resourceVersion": version}}


class Cache:
    """A synced watch cache that shows our write (version 8) from the ``shows``-th look on."""

    def __init__(self, shows: int) -> None:
        self.shows = shows
        self.looks = 0

    def owned(self, **_where: Any) -> list[dict[str, Any]]:
        self.looks += 1
        return [at("8" if self.looks >= self.shows else "7")]


class Client:
    name = "one"

    def __init__(self, cache: Cache) -> None:
        self.watches = cache
        self.applied = {REF.identity: ("digest", "8")}  # our write produced version 8
        self.lists = 0

    def list_objects(self, **_where: Any) -> list[dict[str, Any]]:
        self.lists += 1
        return [at("8")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def wait_with(cache: Cache) -> tuple[Client, results.HealthReport, Clock]:
    """A 1.5 s health wait of the ConfigMap on a client whose watch cache is ``cache``."""
    clock = Clock()
    client = Client(cache)
    report = wait.wait_healthy(
        client, app_name="web", inventory=[REF], timeout=1.5,  # type: ignore[arg-type]
        sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    return client, report, clock


def test_a_cache_that_trails_our_write_is_looked_at_again_not_listed_around() -> None:
    client, report, clock = wait_with(Cache(shows=3))
    assert report.healthy and not report.timed_out
    assert client.lists == 0
    assert client.watches.looks == 3
    assert clock.now < 0.5  # a moment, not the whole wait


def test_a_cache_still_behind_at_the_end_of_the_wait_is_listed_once_for_the_verdict() -> None:
    client, report, _clock = wait_with(Cache(shows=1000))
    assert client.lists == 1
    assert report.healthy  # judged from the LIST, which shows our write
