"""Shard assignment and the shard Lease loop, against in-memory Leases with
resourceVersion checks and a clock the test moves: quotas, convergence, a dead
replica's shards taken over after the lease duration, a joining replica given a share
only after the in-flight work of what it gets has ended, and the per-shard fence.

The same loop against a real API server, with real processes, is in
``tests/e2e/test_shards_e2e.py``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from syncer import errors, sharding
from syncer.apply import lease
from syncer.config import model
from syncer.server import shards
from syncer.state import kube


class Leases:
    """The Leases of one namespace, with resourceVersion checks like the API's."""

    def __init__(self) -> None:
        self.items: dict[str, lease.LeaseRecord] = {}
        self.version = 0
        self.lock = threading.Lock()
        self.down: set[str] = set()
        """Identities whose requests fail (cut off from the API)."""
        self.unanswered: set[str] = set()
        """Lease names whose next write is stored but answered with a timeout."""
        self.hung: dict[str, threading.Event] = {}
        """Lease names (or "list") whose requests hang until the event is set."""

    def client(self, who: str, name: str = "") -> MemoryClient:
        return MemoryClient(self, who, name)


class MemoryClient:
    def __init__(self, leases: Leases, who: str, name: str) -> None:
        self.leases, self.who, self.name = leases, who, name

    def _check(self, what: str = "") -> None:
        if self.who in self.leases.down:
            raise errors.TemporaryError("unreachable")
        hung = self.leases.hung.get(what or self.name)
        if hung is not None:
            hung.wait()

    def named(self, name: str, *, labels: dict[str, str] | None = None) -> MemoryClient:
        return MemoryClient(self.leases, self.who, name)

    def list(self, *, selector: str) -> list[lease.LeaseRecord]:
        self._check("list")
        with self.leases.lock:
            return list(self.leases.items.values())

    def _store(self, record: lease.LeaseRecord) -> lease.LeaseRecord:
        self.leases.version += 1
        stored = dataclasses.replace(
            record, name=self.name, resource_version=str(self.leases.version)
        )
        self.leases.items[self.name] = stored
        return stored

    def create(self, record: lease.LeaseRecord) -> lease.LeaseRecord:
        self._check()
        with self.leases.lock:
            if self.name in self.leases.items:
                raise lease.LeaseConflict("exists")
            return self._store(record)

    def replace(self, record: lease.LeaseRecord) -> lease.LeaseRecord:
        self._check()
        with self.leases.lock:
            current = self.leases.items.get(self.name)
            if current is None or current.resource_version != record.resource_version:
                raise lease.LeaseConflict("changed")
            stored = self._store(record)
            if self.name in self.leases.unanswered:
                self.leases.unanswered.discard(self.name)
                raise errors.TemporaryError("the API server is unreachable (ReadTimeoutError)")
            return stored

    def get(self) -> lease.LeaseRecord | None:
        self._check()
        with self.leases.lock:
            return self.leases.items.get(self.name)

    def delete(self, record: lease.LeaseRecord) -> bool:
        with self.leases.lock:
            return self.leases.items.pop(self.name, None) is not None

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replica(leases: Leases, clock: Clock, who: str, *, count: int = 16) -> shards.ShardSet:
    settings = shards.Settings(
        shards=count, namespace="syncer", cluster=model.Cluster(name="k", in_cluster=True),
        identity=who, advertise_url=f"http://{who}:8080",
    )  # fmt: skip
    client = leases.client(who, settings.replica_lease(who))
    return shards.ShardSet(client=client, settings=settings, clock=clock)  # type: ignore[arg-type]


def rounds(sets: list[shards.ShardSet], clock: Clock, n: int = 6) -> None:
    for _ in range(n):
        for s in sets:
            s.cycle()
        clock.now += 2.0


def held(sets: list[shards.ShardSet]) -> dict[str, list[int]]:
    return {s.settings.identity: s.held() for s in sets}


def assert_partition(sets: list[shards.ShardSet], count: int = 16) -> None:
    """Every shard held by exactly one replica."""
    owners = Counter(shard for s in sets for shard in s.held())
    assert sorted(owners) == list(range(count)), held(sets)
    assert set(owners.values()) == {1}, held(sets)


def test_shard_of_is_stable_and_spreads_apps() -> None:
    # The same name always lands in the same shard, in any process (not Python's hash).
    assert sharding.shard_of("web", 16) == sharding.shard_of("web", 16)
    assert sharding.shard_of("web", 16) == 9  # pinned: a change would move every app
    spread = Counter(sharding.shard_of(f"app-{i}", 16) for i in range(1600))
    assert len(spread) == 16
    assert min(spread.values()) > 60 and max(spread.values()) < 140


@pytest.mark.parametrize(
    ("members", "quotas"),
    [
        (["a"], [16]),
        (["a", "b"], [8, 8]),
        (["a", "b", "c"], [6, 5, 5]),
        (["a", "b", "c", "d", "e"], [4, 3, 3, 3, 3]),
    ],
)
def test_quotas_add_up_to_every_shard(members: list[str], quotas: list[int]) -> None:
    assert [sharding.quota(me=m, members=members, shards=16) for m in members] == quotas


def test_plan_takes_free_shards_and_gives_back_surplus() -> None:
    holders = {s: "a" for s in range(16)}
    # b appears: a must give back 8, b takes nothing held.
    give = sharding.plan(me="a", members=["a", "b"], shards=16, holders=holders)
    assert len(give.release) == 8 and not give.take
    take = sharding.plan(me="b", members=["a", "b"], shards=16, holders=holders)
    assert take.take == () and take.release == ()
    freed = {s: h for s, h in holders.items() if s not in give.release}
    take = sharding.plan(me="b", members=["a", "b"], shards=16, holders=freed)
    assert sorted(take.take) == sorted(give.release)


def test_three_replicas_split_the_shards_and_a_dead_ones_go_to_the_others() -> None:
    leases, clock = Leases(), Clock()
    sets = [replica(leases, clock, who) for who in ("a", "b", "c")]
    rounds(sets, clock, n=12)
    assert_partition(sets)
    assert sorted(len(s.held()) for s in sets) == [5, 5, 6]
    terms_before = {name: r.transitions for name, r in leases.items.items()}

    # c dies (kill -9): it stops renewing. Within the lease duration the others keep
    # off its shards; after it they take them over, each a fair share.
    dead = sets.pop()
    dead_shards = dead.held()
    rounds(sets, clock, n=3)  # 6 s < 15 s lease duration
    assert not set(dead_shards) & {x for s in sets for x in s.held()}
    rounds(sets, clock, n=10)
    assert_partition(sets)
    assert sorted(len(s.held()) for s in sets) == [8, 8]
    # Each takeover is a new term of the shard's Lease.
    for shard in dead_shards:
        name = f"syncer-shard-{shard}"
        assert leases.items[name].transitions == terms_before[name] + 1


def test_joining_replica_gets_a_share_after_in_flight_work_ends() -> None:
    leases, clock = Leases(), Clock()
    a, b = replica(leases, clock, "a"), replica(leases, clock, "b")
    rounds([a, b], clock, n=8)
    assert_partition([a, b])
    # An app of each of a's shards is being reconciled when c joins.
    apps = {
        shard: next(f"app-{i}" for i in range(1000) if sharding.shard_of(f"app-{i}", 16) == shard)
        for shard in a.held()
    }
    working = [a.working(app) for app in apps.values()]
    assert all(w.__enter__() is True for w in working)
    c = replica(leases, clock, "c")
    rounds([a, b, c], clock, n=8)
    # a keeps every shard with work in flight, but starts nothing new on the apps of
    # those it gives back; c has none of them yet.
    assert a.held() == sorted(apps)
    giving_back = [s for s, app in apps.items() if not a.owns(app)]
    assert len(giving_back) == 8 - 6
    assert not set(c.held()) & set(apps)
    for w in reversed(working):
        w.__exit__(None, None, None)
    rounds([a, b, c], clock, n=8)
    assert_partition([a, b, c])
    assert sorted(len(s.held()) for s in (a, b, c)) == [5, 5, 6]


def test_a_replica_back_from_a_pause_relays_webhooks_to_the_others_it_last_saw() -> None:
    # Frozen for longer than a lease (CPU starved, a stopped VM), a replica has not
    # looked at the Leases since. A webhook it takes before its next look must still
    # reach the replica it last saw alive: that one acts on its own apps.
    leases, clock = Leases(), Clock()
    a, b = replica(leases, clock, "a"), replica(leases, clock, "b")
    rounds([a, b], clock, n=8)
    clock.now += 30.0  # a paused; b renews meanwhile, unseen by a
    b.cycle()
    assert a.peers() == ["http://b:8080"]
    # Its next look tells: b renewed, so it is alive; once b stops, it is gone.
    a.coordinate()
    assert a.peers() == ["http://b:8080"]
    clock.now += 30.0
    a.coordinate()
    assert a.peers() == []


def test_fence_refuses_writes_for_apps_of_shards_not_held_or_not_renewed() -> None:
    leases, clock = Leases(), Clock()
    a, b = replica(leases, clock, "a"), replica(leases, clock, "b")
    rounds([a, b], clock, n=8)
    mine = next(f"app-{i}" for i in range(100) if a.owns(f"app-{i}"))
    theirs = next(f"app-{i}" for i in range(100) if b.owns(f"app-{i}"))
    with sharding.working_on(mine):
        a.fence()
    with sharding.working_on(theirs), pytest.raises(errors.Fenced, match="is not held here"):
        a.fence()
    assert a.stamp(mine)["holder"] == "a"
    assert a.owner(theirs) == ("b", "http://b:8080")
    assert a.owner_url(theirs) == "http://b:8080" and a.owner_url(mine) is None
    assert a.peers() == ["http://b:8080"]
    # Cut off from the API: after the renew deadline (before the lease duration, when
    # b could take over) a writes nothing more.
    leases.down.add("a")
    clock.now += 7.0  # renewed at the last round, 2 s before: 9 s ago now
    a.cycle()
    with sharding.working_on(mine):
        a.fence()
    clock.now += 1.5
    with sharding.working_on(mine), pytest.raises(errors.Fenced, match="renew deadline"):
        a.fence()
    with pytest.raises(errors.Fenced):
        a.stamp(mine)


def test_replicas_with_another_shard_count_act_on_nothing() -> None:
    leases, clock = Leases(), Clock()
    a = replica(leases, clock, "a", count=16)
    rounds([a], clock, n=2)
    other = replica(leases, clock, "z", count=8)
    rounds([a, other], clock, n=4)
    assert other.held() == []
    assert "with 16 shards hold shard leases in syncer (this one has 8)" in other.refusal
    with pytest.raises(errors.Fenced, match="same --shards"):
        other.fence()


def test_app_state_written_under_an_older_term_is_refused() -> None:
    doc = kube.new_app("web", number=1)
    stamp_b = {"shard": 3, "shards": 16, "lease": "syncer/syncer-shard-3", "holder": "b", "term": 4}
    kube.record_writer(doc, stamp_b, now=10.0, where="web")
    kube.record_writer(doc, stamp_b, now=11.0, where="web")
    assert doc["writers"] == [{**stamp_b, "first": 10.0, "last": 11.0, "writes": 2}]
    stale_a = {**stamp_b, "holder": "a", "term": 3}
    with pytest.raises(errors.Fenced, match="after this replica's term 3"):
        kube.record_writer(doc, stale_a, now=12.0, where="web")
    later_a = {**stamp_b, "holder": "a", "term": 5}
    kube.record_writer(doc, later_a, now=13.0, where="web")
    assert [w["holder"] for w in doc["writers"]] == ["b", "a"]
    # The Lease deleted by hand and made again: its terms start at 0, after all others.
    remade = {**stamp_b, "holder": "c", "term": 0, "leaseCreated": "2026-12-03T20:30:00Z"}
    kube.record_writer(doc, remade, now=14.0, where="web")
    with pytest.raises(errors.Fenced, match="after this replica's term 5"):
        kube.record_writer(doc, later_a, now=15.0, where="web")
    assert [w["holder"] for w in doc["writers"]] == ["b", "a", "c"]


def test_a_late_renewal_delays_work_on_a_shard_it_does_not_drop_it() -> None:
    leases, clock = Leases(), Clock()
    a = replica(leases, clock, "a")
    rounds([a], clock, n=2)
    app = "app-1"
    # Renewals late (a busy replica): past the renew deadline, the shard still held.
    clock.now += 11.0
    with a.working(app) as mine:
        # Still this replica's work (nobody else may take the shard yet) ...
        assert mine is True
        # ... but nothing is written until a renewal succeeds again.
        with pytest.raises(errors.Fenced, match="renew deadline"):
            a.fence()
    a.cycle()
    with a.working(app) as mine:
        assert mine is True
        a.fence()


def test_renewals_go_on_side_by_side_while_other_requests_hang() -> None:
    """A busy API server answering some requests late: one shard's renewal hanging, and
    the LIST that looks for free shards hanging, hold up no other renewal."""
    leases = Leases()
    settings = shards.Settings(
        shards=4, namespace="syncer", cluster=model.Cluster(name="k", in_cluster=True),
        identity="a", lease_duration=3.0, renew_deadline=1.0, retry_period=0.05,
    )  # fmt: skip
    client = leases.client("a", settings.replica_lease("a"))
    a = shards.ShardSet(client=client, settings=settings)  # type: ignore[arg-type]

    def wait_for(predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while not predicate():
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    def renewed() -> dict[str, object]:
        with leases.lock:
            return {name: r.renew_time for name, r in leases.items.items()}

    a.start()
    try:
        wait_for(
            lambda: a.held() == [0, 1, 2, 3] and "syncer-replica-a" in renewed(),
            "a holds every shard and has its heartbeat",
        )
        apps = {
            shard: next(f"app-{i}" for i in range(100) if sharding.shard_of(f"app-{i}", 4) == shard)
            for shard in range(4)
        }
        leases.hung = {"syncer-shard-0": threading.Event(), "list": threading.Event()}
        before = renewed()
        others = ["syncer-shard-1", "syncer-shard-2", "syncer-shard-3", "syncer-replica-a"]
        for _ in range(3):
            now = renewed()
            wait_for(
                lambda now=now: all(renewed()[n] != now[n] for n in others),  # type: ignore[misc]
                "the other shards and the heartbeat renewed",
            )
        with sharding.working_on(apps[1]):
            a.fence()
        a.fence()

        # The hung shard passes its renew deadline: its apps are fenced, it is not lost.
        def fenced() -> bool:
            try:
                with sharding.working_on(apps[0]):
                    a.fence()
            except errors.Fenced:
                return True
            return False

        wait_for(fenced, "shard 0 fenced after its renew deadline")
        assert renewed()["syncer-shard-0"] == before["syncer-shard-0"]
        with sharding.working_on(apps[2]):
            a.fence()
    finally:
        for event in leases.hung.values():
            event.set()
        a.stop()


def test_a_renewal_written_but_unanswered_keeps_the_shard_in_its_term() -> None:
    """A busy API server stores a renewal but its answer times out: the next renewal
    meets a newer resourceVersion of this replica's own Lease, which is not a takeover."""
    leases, clock = Leases(), Clock()
    a = replica(leases, clock, "a")
    rounds([a], clock, n=2)
    terms = {name: r.transitions for name, r in leases.items.items()}
    leases.unanswered.add("syncer-shard-0")
    rounds([a], clock, n=3)
    assert a.held() == list(range(16))
    assert {name: r.transitions for name, r in leases.items.items()} == terms
    app = next(f"app-{i}" for i in range(100) if sharding.shard_of(f"app-{i}", 16) == 0)
    with sharding.working_on(app):
        a.fence()
    # Another holder (a takeover while this replica was cut off) is still a loss.
    with leases.lock:
        taken = leases.items["syncer-shard-0"]
        leases.items["syncer-shard-0"] = dataclasses.replace(
            taken, holder="b", transitions=taken.transitions + 1, resource_version="x"
        )
    a.renew()
    assert 0 not in a.held()
