"""Leader election logic against an in-memory Lease with optimistic concurrency.

The same electors against the Kubernetes API test server are in
``test_leader_election_kubeapi.py``; here the Lease store is a fake so that races,
failures and releases can be staged exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from syncer import errors, metrics
from syncer.apply import lease
from syncer.server import leader

FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


class MemoryLease:
    """One Lease with resourceVersion checks, like the API server's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.record: lease.LeaseRecord | None = None
        self.version = 0
        self.down = False
        self.writes = 0
        self.answering = threading.Event()
        """Cleared: reads hang (an API that does not answer, or a frozen process)."""
        self.answering.set()

    def _check(self) -> None:
        if self.down:
            raise errors.TemporaryError("lease default/syncer-leader: unreachable")

    def get(self) -> lease.LeaseRecord | None:
        self.answering.wait()
        with self.lock:
            self._check()
            return self.record

    def create(self, record: lease.LeaseRecord) -> lease.LeaseRecord:
        with self.lock:
            self._check()
            if self.record is not None:
                raise lease.LeaseConflict("exists")
            return self._store(record)

    def replace(self, record: lease.LeaseRecord) -> lease.LeaseRecord:
        with self.lock:
            self._check()
            if self.record is None or record.resource_version != self.record.resource_version:
                raise lease.LeaseConflict("changed")
            return self._store(record)

    def _store(self, record: lease.LeaseRecord) -> lease.LeaseRecord:
        self.version += 1
        self.writes += 1
        self.record = replace(record, resource_version=str(self.version))
        return self.record

    def close(self) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def started(self) -> None:
        self.events.append("started")

    def stopped(self) -> None:
        self.events.append("stopped")


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def store() -> MemoryLease:
    return MemoryLease()


@pytest.fixture
def make_elector(
    store: MemoryLease,
) -> Iterator[Callable[[str], tuple[leader.LeaderElector, Recorder]]]:
    made: list[leader.LeaderElector] = []

    def make(identity: str) -> tuple[leader.LeaderElector, Recorder]:
        recorder = Recorder()
        elector = leader.LeaderElector(
            client=store,
            settings=leader.Settings(identity=identity, **FAST),
            on_started_leading=recorder.started,
            on_stopped_leading=recorder.stopped,
        )
        made.append(elector)
        return elector, recorder

    yield make
    for elector in made:
        elector.stop()


def test_one_of_two_leads_and_the_other_takes_over_after_expiry(
    store: MemoryLease, make_elector: Callable[[str], tuple[leader.LeaderElector, Recorder]]
) -> None:
    a, a_events = make_elector("a")
    b, b_events = make_elector("b")
    a.start()
    wait_for(lambda: a.is_leader)
    assert metrics.value("syncer_leader") == 1
    b.start()
    wait_for(lambda: b.leader == "a")
    time.sleep(0.5)  # several retry periods: b must keep standing by
    assert not b.is_leader and b.describe() == "standing by; leader is a"
    assert store.record is not None and store.record.transitions == 0
    a.stop(release=False)  # a crashed: its lease is not released
    assert a_events.events == ["started", "stopped"]
    assert metrics.value("syncer_leader") == 0
    wait_for(lambda: b.is_leader)
    assert b_events.events == ["started"]
    assert store.record.holder == "b"
    assert store.record.transitions == 1
    assert store.record.duration == 1


def test_release_on_stop_lets_the_standby_take_over_at_once(
    store: MemoryLease, make_elector: Callable[[str], tuple[leader.LeaderElector, Recorder]]
) -> None:
    a, _ = make_elector("a")
    b, _ = make_elector("b")
    a.start()
    wait_for(lambda: a.is_leader)
    b.start()
    wait_for(lambda: b.leader == "a")
    a.stop()
    assert store.record is not None and store.record.holder == ""
    # Released: b takes over within a retry period or two, without the 1s expiry.
    wait_for(lambda: b.is_leader, timeout=0.8)
    assert store.record.transitions == 1  # a released (kept 0), then b took it


def test_leader_that_cannot_renew_stops_leading_before_the_lease_expires(
    store: MemoryLease, make_elector: Callable[[str], tuple[leader.LeaderElector, Recorder]]
) -> None:
    a, events = make_elector("a")
    a.start()
    wait_for(lambda: a.is_leader)
    store.down = True
    lost_at_most = time.monotonic() + 5
    wait_for(lambda: not a.is_leader)
    assert time.monotonic() < lost_at_most
    assert events.events == ["started", "stopped"]
    store.down = False
    wait_for(lambda: a.is_leader)  # back to candidate, and its own lease is still there
    assert events.events == ["started", "stopped", "started"]


def fenced(elector: leader.LeaderElector) -> str:
    """The refusal of ``elector.fence()``, or "" when it lets a write through."""
    try:
        elector.fence()
    except errors.Fenced as err:
        return str(err)
    return ""


def test_fence_lets_writes_through_only_within_the_renew_deadline_of_the_last_renewal(
    store: MemoryLease,
) -> None:
    now = [100.0]
    events = Recorder()
    elector = leader.LeaderElector(
        client=store,
        settings=leader.Settings(identity="a", **FAST),
        on_started_leading=events.started,
        on_stopped_leading=events.stopped,
        clock=lambda: now[0],
    )
    assert "not the leader" in fenced(elector)
    elector.start()
    try:
        wait_for(lambda: elector.is_leader)
        assert fenced(elector) == ""
        # Renewals stop getting through (the API hangs; or the whole process was
        # frozen, which looks the same to it): the elector has not noticed anything...
        store.answering.clear()
        time.sleep(0.3)
        now[0] += 0.5
        assert fenced(elector) == ""  # 0.5s < the 0.6s renew deadline
        now[0] += 0.2
        assert elector.is_leader and events.events == ["started"]
        # ...but the fence, by its own clock, no longer trusts the lease.
        assert "last renewed 0.7s ago (more than the 0.6s renew deadline)" in fenced(elector)
        store.answering.set()
        # A renewal that began after the stall makes it valid again.
        wait_for(lambda: fenced(elector) == "")
        assert elector.is_leader
    finally:
        store.answering.set()
        elector.stop()
    assert "not the leader" in fenced(elector)


def test_leader_whose_lease_was_taken_stops_leading(
    store: MemoryLease, make_elector: Callable[[str], tuple[leader.LeaderElector, Recorder]]
) -> None:
    a, events = make_elector("a")
    a.start()
    wait_for(lambda: a.is_leader)
    with store.lock:
        assert store.record is not None
        store._store(replace(store.record, holder="intruder", duration=30))
    wait_for(lambda: not a.is_leader)
    assert a.leader == "intruder"
    assert events.events == ["started", "stopped"]


def test_racing_candidates_never_both_lead(store: MemoryLease) -> None:
    leading: list[str] = []
    lock = threading.Lock()
    both = []

    def callbacks(name: str) -> tuple[Callable[[], None], Callable[[], None]]:
        def started() -> None:
            with lock:
                leading.append(name)
                if len(leading) > 1:
                    both.append(list(leading))

        def stopped() -> None:
            with lock:
                leading.remove(name)

        return started, stopped

    electors = []
    for name in ("a", "b", "c", "d"):
        started, stopped = callbacks(name)
        electors.append(
            leader.LeaderElector(
                client=store,
                settings=leader.Settings(identity=name, **FAST),
                on_started_leading=started,
                on_stopped_leading=stopped,
            ).start()
        )
    try:
        wait_for(lambda: len(leading) == 1)
        time.sleep(0.5)
        assert len(leading) == 1 and both == []
    finally:
        for elector in electors:
            elector.stop()


def test_failing_callback_does_not_stop_renewals(store: MemoryLease) -> None:
    def boom() -> None:
        raise RuntimeError("controller failed to start")

    elector = leader.LeaderElector(
        client=store,
        settings=leader.Settings(identity="a", **FAST),
        on_started_leading=boom,
        on_stopped_leading=lambda: None,
    ).start()
    try:
        wait_for(lambda: store.writes >= 4)  # created, then renewed
        assert elector.is_leader
    finally:
        elector.stop()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "must be greater than the renew"),
        ({"renew_deadline": 2, "retry_period": 2}, "greater than 1.2 x the retry period"),
        ({"identity": ""}, "identity is empty"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        leader.Settings(**kwargs)  # type: ignore[arg-type]
