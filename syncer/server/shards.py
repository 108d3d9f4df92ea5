"""Apps split over replicas: shard Leases, taken and given back by each ``syncer run``.

``syncer run --shards N`` builds a ``ShardSet`` instead of a ``LeaderElector``: every
replica acts, each on the apps of the shards it holds (``syncer.sharding.shard_of``).
All Leases live in the state namespace, read and written through ``syncer.apply.lease``
(the only module using the ``kubernetes`` client), labelled
``syncer.dev/shards-of=<prefix>`` so that one LIST returns them all:

- ``<prefix>-shard-<i>`` for each shard ``i`` (annotated with the shard count: replicas
  started with another count refuse to act while one of these is held);
- ``<prefix>-replica-<identity>``: each replica's heartbeat, so every replica knows how
  many are alive, and where each answers HTTP (``holder_url``).

Two threads keep them. The renewer, every ``retry_period`` (jittered), renews the
shard Leases held and the heartbeat, side by side: a round costs one request's time
however many shards are held, and nothing else in the loop (a slow LIST, takes and
releases under a busy API server) can delay it past the renew deadline. The other,
on the same period, LISTs the Leases and follows ``syncer.sharding.plan``: it takes free
shards (no holder, released, or not renewed for ``leaseDurationSeconds`` as seen on its
own clock, client-go's rule) up to its quota, and marks shards beyond its quota as
draining: no new work starts on their apps, and the Lease is released (holder cleared)
only once the reconciles in flight on them have ended (``working``). A replica that
dies stops renewing; the others take its shards ``lease_duration`` after they last saw
a renewal. Every write carries the ``resourceVersion`` read, so of two replicas reaching
for one shard only one wins, and ``leaseTransitions`` counts holder changes (the
*term* of a holding).

Fencing, as ``syncer.server.leader``: ``fence()`` is asked right before every cluster
write and rollout start (and every state write): it raises ``errors.Fenced`` unless the
shard of the app being worked on (``syncer.sharding.current_app``) is held and its last
successful renewal began less than ``renew_deadline`` ago on this replica's clock;
outside an app's work (polls, the notification queue) the heartbeat must be that fresh.
``stamp(app)`` is what an app's state write carries (shard, holder, term): the state
store refuses a write whose term is older than the one that last wrote the app, so a
replica that lost a shard cannot write over its successor, whatever the timing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import random
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from syncer import errors, metrics, sharding
from syncer.apply import lease
from syncer.config import model
from syncer.server import leader

log = logging.getLogger("syncer.shards")

GROUP_LABEL = lease.SHARDS_LABEL
ROLE_LABEL = "syncer.dev/lease"
SHARDS_ANNOTATION = "syncer.dev/shards"
REPLICA_ANNOTATION = "syncer.dev/replica"
MAX_SHARDS = 1024
FORGET_AFTER = 10
"""Heartbeat Leases of replicas gone for this many lease durations are deleted (pods
get new names on every rollout; their Leases would pile up)."""
RENEWERS = 8
"""Lease writes sent side by side by one replica's renewal round."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to shard; the Lease timings are client-go's defaults, as for the leader."""

    shards: int
    namespace: str
    cluster: model.Cluster
    identity: str
    prefix: str = "syncer"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    advertise_url: str = ""
    """This replica's HTTP server as the others reach it: where webhooks and API calls
    for its apps are forwarded. Empty: others answer those requests 503."""

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"--shards must be between 1 and {MAX_SHARDS}, got {self.shards}")
        if not self.identity:
            raise ValueError("shard identity is empty: pass --shard-identity")
        if not self.lease_duration > self.renew_deadline:
            raise ValueError(
                f"shards: lease duration ({self.lease_duration}s) must be greater than the "
                f"renew deadline ({self.renew_deadline}s)"
            )
        if not self.renew_deadline > leader.JITTER * self.retry_period:
            raise ValueError(
                f"shards: renew deadline ({self.renew_deadline}s) must be greater than "
                f"{leader.JITTER} x the retry period ({self.retry_period}s)"
            )

    def shard_lease(self, shard: int) -> str:
        return f"{self.prefix}-shard-{shard}"

    def replica_lease(self, identity: str) -> str:
        slug = re.sub(r"[^a-z0-9-]+", "-", identity.lower()).strip("-")[:200] or "replica"
        return f"{self.prefix}-replica-{slug}"


@dataclasses.dataclass
class _Held:
    record: lease.LeaseRecord
    renewed_at: float
    """``leader._clock()`` when the last successful acquire or renewal began."""
    draining: bool = False


@dataclasses.dataclass
class _Seen:
    record: lease.LeaseRecord
    at: float
    """When this record last changed, on our clock (client-go's observedTime)."""


class ShardSet:
    """The shard Leases of one replica, kept by a background thread."""

    def __init__(
        self,
        *,
        client: lease.LeaseClient,
        settings: Settings,
        on_change: Callable[[frozenset[int], frozenset[int]], None] = lambda _g, _l: None,
        clock: Callable[[], float] = leader._clock,
    ) -> None:
        """``on_change(gained, lost)`` is called from the loop when shards come or go."""
        self.settings = settings
        self._client = client
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Condition()
        self._held: dict[int, _Held] = {}
        self._inflight: dict[int, int] = {}
        self._seen: dict[str, _Seen] = {}
        self._observed_at: float | None = None  # our clock at the last list of the Leases
        self._member: lease.LeaseRecord | None = None
        self._member_renewed = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._writing: dict[int, threading.Lock] = {}
        """One lock per shard Lease: a renewal and a release of the same Lease never
        cross, so neither writes over the other's resourceVersion (the heartbeat has
        one writer, the renewer thread, and needs none)."""
        self._renewers: concurrent.futures.ThreadPoolExecutor | None = None
        self._renewing: set[int | None] = set()
        """Leases whose renewal is in flight (None: the heartbeat); a round skips them."""
        self._lost: set[int] = set()
        self._calling = threading.Lock()
        """Shards lost by renewals that ended after their round."""
        self.refusal = ""
        """Why this replica may not act (replicas with another shard count hold
        Leases); empty while all is well."""
        self._apps_in: Callable[[int], int] = lambda _s: 0

    # --- what others ask -------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """Every replica acts on its own shards (``forward.LeaderView``)."""
        return True

    def leader_url(self) -> str | None:
        return None

    def shard_of(self, app: str) -> int:
        return sharding.shard_of(app, self.settings.shards)

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

    def owns(self, app: str) -> bool:
        """Whether work on ``app`` is this replica's: its shard is held and not being
        given back. (Whether the holding is fresh enough to write is ``fence``'s
        question: a late renewal delays work, it does not hand it to anyone else.)"""
        shard = self.shard_of(app)
        with self._lock:
            held = self._held.get(shard)
            return held is not None and not held.draining

    @contextlib.contextmanager
    def working(self, app: str) -> Iterator[bool]:
        """Around one reconcile of ``app``: yields False (do nothing) unless this
        replica owns it; while inside, its shard is not released (a draining shard
        waits for the work in flight to end)."""
        shard = self.shard_of(app)
        with self._lock:
            mine = self.owns(app)
            if mine:
                self._inflight[shard] = self._inflight.get(shard, 0) + 1
        if not mine:
            yield False
            return
        metrics.SHARD_RECONCILES.labels(shard=str(shard)).inc()
        try:
            with sharding.working_on(app):
                yield True
        finally:
            with self._lock:
                self._inflight[shard] -= 1
                self._lock.notify_all()

    def fence(self) -> None:
        """Return only while this replica may write for the app being worked on (or, out
        of an app's work, while its heartbeat is fresh); else raise ``errors.Fenced``."""
        app = sharding.current_app()
        if app is not None:
            self._fence_shard(app)
            return
        with self._lock:
            renewed = self._member_renewed if self._member is not None else None
            refusal = self.refusal
        if refusal:
            raise errors.Fenced(f"{refusal}: writing nothing")
        name = self.settings.replica_lease(self.settings.identity)
        if renewed is None:
            raise errors.Fenced(f"lease {self.settings.namespace}/{name} not held yet")
        age = self._clock() - renewed
        if age >= self.settings.renew_deadline:
            raise errors.Fenced(
                f"lease {self.settings.namespace}/{name} last renewed {age:.1f}s ago: "
                "writing nothing"
            )

    def _fence_shard(self, app: str) -> dict[str, Any]:
        shard = self.shard_of(app)
        name = f"{self.settings.namespace}/{self.settings.shard_lease(shard)}"
        with self._lock:
            held = self._held.get(shard)
            if held is None:
                raise errors.Fenced(f"app {app}: shard lease {name} is not held here")
            age = self._clock() - held.renewed_at
            if age >= self.settings.renew_deadline:
                raise errors.Fenced(
                    f"app {app}: shard lease {name} last renewed {age:.1f}s ago (more than "
                    f"the {self.settings.renew_deadline:g}s renew deadline): another replica "
                    "may hold it now; writing nothing"
                )
            return {
                "shard": shard, "shards": self.settings.shards, "lease": name,
                "holder": self.settings.identity, "term": held.record.transitions,
                "leaseCreated": held.record.created,
            }  # fmt: skip

    def stamp(self, app: str) -> dict[str, Any]:
        """What a write of ``app``'s state carries (shard, Lease, holder, term); raises
        ``errors.Fenced`` unless its shard is held and fresh here."""
        return self._fence_shard(app)

    def owner(self, app: str) -> tuple[str, str]:
        """(identity, URL) of the replica holding ``app``'s shard as last seen; empty
        strings when nobody does."""
        shard = self.shard_of(app)
        with self._lock:
            if shard in self._held:
                return self.settings.identity, self.settings.advertise_url
            seen = self._seen.get(self.settings.shard_lease(shard))
            if seen is None or not self._alive(seen):
                return "", ""
            return seen.record.holder, seen.record.holder_url

    def owner_url(self, app: str) -> str | None:
        """Where to forward a request about ``app``: None when this replica owns it or
        the owner advertises no URL (then it is answered here)."""
        holder, url = self.owner(app)
        if holder == self.settings.identity:
            return None
        return url or None

    def peers(self) -> list[str]:
        """The URLs of the other live replicas (where a webhook is relayed too)."""
        with self._lock:
            return sorted(
                {
                    s.record.holder_url
                    for s in self._seen.values()
                    if _role(s.record) == "replica" and s.record.holder
                    and s.record.holder != self.settings.identity
                    and s.record.holder_url and self._alive(s)
                }
            )  # fmt: skip

    def members(self) -> list[str]:
        with self._lock:
            return self._members()

    def describe(self) -> str:
        with self._lock:
            if self.refusal:
                return self.refusal
            mine = sorted(self._held)
            members = self._members()
        return (
            f"holding {len(mine)} of {self.settings.shards} shards "
            f"({', '.join(map(str, mine)) or 'none'}) with {len(members)} replica(s) alive"
        )

    def count_apps(self, apps_in: Callable[[int], int]) -> None:
        """How many apps of the config are in a shard (for ``syncer_shard_apps``)."""
        self._apps_in = apps_in
        for shard in self.held():
            metrics.SHARD_APPS.labels(shard=str(shard)).set(apps_in(shard))

    # --- running ---------------------------------------------------------------------

    def start(self) -> ShardSet:
        if not self._threads:
            self._stop.clear()
            self._threads = [
                threading.Thread(target=self._every_period, args=(step,), name=name, daemon=True)
                for step, name in (
                    (self.renew, "syncer-shards-renew"),
                    (self.coordinate, "syncer-shards"),
                )
            ]
            for thread in self._threads:
                thread.start()
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop; held shards and the heartbeat are released (unless ``release`` is
        False), so the others take over at once instead of after the lease duration."""
        self._stop.set()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()
        renewers, self._renewers = self._renewers, None
        if renewers is not None:
            renewers.shutdown(wait=True)
        with self._lock:
            held = dict(self._held)
            self._held.clear()
            member, self._member = self._member, None
        for shard, h in sorted(held.items()):
            if release:
                self._let_go(shard, h.record)
            self._count_loss(shard, "released")
        if member is not None and release:
            self._let_go(None, member)
        if held:
            self._callback(frozenset(), frozenset(held))
        self._client.close()

    def _every_period(self, step: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                step()
            except Exception:
                log.exception("msg=shard round failed identity=%s", self.settings.identity)
            self._stop.wait(self.settings.retry_period * random.uniform(1.0, leader.JITTER))

    def cycle(self) -> None:
        """One round of both threads: renew, then look, give back, take (for tests)."""
        self.renew()
        self.coordinate()

    def renew(self) -> None:
        """The renewer's round: every held shard Lease and the heartbeat, side by side.
        It waits at most a retry period: a renewal still in flight (a slow API server)
        goes on alone, and the next round renews the others without it."""
        with self._lock:
            due: list[int | None] = [s for s in sorted(self._held) if s not in self._renewing]
            due += [None] if None not in self._renewing else []
            self._renewing.update(due)
            if self._renewers is None:
                self._renewers = concurrent.futures.ThreadPoolExecutor(
                    RENEWERS, thread_name_prefix="syncer-shards-renew"
                )
            renewers = self._renewers
        renewals = [renewers.submit(self._renew_one, lease_of) for lease_of in due]
        concurrent.futures.wait(renewals, timeout=self.settings.retry_period)
        with self._lock:
            lost, self._lost = self._lost, set()
        if lost:
            self._callback(frozenset(), frozenset(lost))

    def _renew_one(self, shard: int | None) -> None:
        try:
            if shard is None:
                self._heartbeat()
            elif self._renew(shard) is not None:
                with self._lock:
                    self._lost.add(shard)
        finally:
            with self._lock:
                self._renewing.discard(shard)

    def coordinate(self) -> None:
        """The other round: look, give back, take."""
        try:
            records = self._client.list(selector=f"{GROUP_LABEL}={self.settings.prefix}")
        except errors.SyncerError as err:
            log.warning("msg=shard leases unreadable error=%s", err)
            self._expire_own()
            return
        self._observe(records)
        if self._check_counts():
            return
        gained, lost = self._rebalance()
        self._forget_gone()
        if gained or lost:
            self._callback(frozenset(gained), frozenset(lost))

    # --- the steps ------------------------------------------------------------------

    def _observe(self, records: list[lease.LeaseRecord]) -> None:
        now = self._clock()
        with self._lock:
            names = set()
            for record in records:
                names.add(record.name)
                key = (record.holder, record.renew_time, record.resource_version)
                was = self._seen.get(record.name)
                if was is None or key != (
                    was.record.holder, was.record.renew_time, was.record.resource_version
                ):  # fmt: skip
                    self._seen[record.name] = _Seen(record=record, at=now)
                else:
                    was.record = record
            for name in set(self._seen) - names:
                del self._seen[name]
            self._observed_at = now

    def _alive(self, seen: _Seen) -> bool:
        """Held, and renewed within its duration as of our last look at the Leases. Not
        as of now: after a pause of this process (CPU starved, frozen) every record is
        old until the next look, and the others would seem gone: a webhook taken in that
        moment would not be relayed to them, and their apps would wait for their polls."""
        record = seen.record
        looked = self._observed_at if self._observed_at is not None else self._clock()
        return bool(record.holder) and looked - seen.at <= max(1, record.duration)

    def _members(self) -> list[str]:
        found = {
            s.record.holder
            for s in self._seen.values()
            if _role(s.record) == "replica" and self._alive(s)
        }
        return sorted(found | {self.settings.identity})

    def _heartbeat(self) -> None:
        name = self.settings.replica_lease(self.settings.identity)
        client = self._client.named(name, labels=self._labels("replica"))
        began = self._clock()
        with self._lock:
            current = self._member or (self._seen[name].record if name in self._seen else None)
        mine = lease.LeaseRecord(
            holder=self.settings.identity, duration=self._duration(),
            acquire_time=current.acquire_time if current else leader._utcnow(),
            renew_time=leader._utcnow(), transitions=current.transitions if current else 0,
            resource_version=current.resource_version if current else "",
            holder_url=self.settings.advertise_url,
            annotations=((REPLICA_ANNOTATION, self.settings.identity),),
        )  # fmt: skip
        try:
            done = client.replace(mine) if current is not None else client.create(mine)
        except lease.LeaseConflict:
            with self._lock:
                self._member = None  # re-read next round
            return
        except errors.SyncerError as err:
            log.warning("msg=heartbeat not renewed lease=%s error=%s", name, err)
            return
        with self._lock:
            self._member, self._member_renewed = done, began

    def _check_counts(self) -> bool:
        """True (and act on nothing) while a live shard Lease says another count."""
        with self._lock:
            other = sorted(
                {
                    dict(s.record.annotations).get(SHARDS_ANNOTATION, "")
                    for s in self._seen.values()
                    if _role(s.record) == "shard" and self._alive(s)
                    and dict(s.record.annotations).get(SHARDS_ANNOTATION)
                    != str(self.settings.shards)
                }
            )  # fmt: skip
            refusal = (
                f"replicas running with {', '.join(other)} shards hold shard leases in "
                f"{self.settings.namespace} (this one has {self.settings.shards}): "
                "waiting for them to stop; run every replica with the same --shards"
                if other
                else ""
            )
            changed = refusal != self.refusal
            self.refusal = refusal
        if refusal and changed:
            log.error("msg=%s", refusal)
        return bool(refusal)

    def _renew(self, shard: int) -> int | None:
        """Renew one held shard Lease; the shard when it is lost (taken over, or not
        renewed within the renew deadline), else None."""
        with self._write_lock(shard):
            with self._lock:
                h = self._held.get(shard)
            if h is None:
                return None  # given back meanwhile
            began = self._clock()
            client = self._client.named(self.settings.shard_lease(shard), labels=self._labels())
            try:
                record = self._renewed(client, h.record)
            except lease.LeaseConflict:
                log.error("msg=shard lease taken over shard=%d", shard)
                return self._drop(shard, h)
            except errors.SyncerError as err:
                log.warning("msg=shard lease not renewed shard=%d error=%s", shard, err)
                if self._clock() - h.renewed_at >= self.settings.renew_deadline:
                    return self._drop(shard, h)
                return None
            with self._lock:
                if self._held.get(shard) is h:
                    h.record, h.renewed_at = record, began
        return None

    def _renewed(self, client: lease.LeaseClient, mine: lease.LeaseRecord) -> lease.LeaseRecord:
        """``mine`` renewed. On a conflict the Lease is read again (as client-go does): a
        renewal whose answer was lost (a request timed out under a busy API server) may
        have been written after all, and then the Lease still names this replica in the
        same term at a newer resourceVersion; that is renewed, not lost. A conflict
        with another holder or term raises ``LeaseConflict``."""
        try:
            return client.replace(self._mine(mine, renew=True))
        except lease.LeaseConflict:
            current = client.get()
            same = (self.settings.identity, mine.transitions, mine.created)
            if current is None or (current.holder, current.transitions, current.created) != same:
                raise
            return client.replace(self._mine(current, renew=True))

    def _drop(self, shard: int, held: _Held) -> int | None:
        """Forget a lost shard (once: unless it changed hands meanwhile)."""
        with self._lock:
            if self._held.get(shard) is not held:
                return None
            del self._held[shard]
        self._count_loss(shard, "lost")
        return shard

    def _write_lock(self, shard: int) -> threading.Lock:
        with self._lock:
            return self._writing.setdefault(shard, threading.Lock())

    def _expire_own(self) -> None:
        """The API did not answer: drop shards not renewed within the deadline."""
        now = self._clock()
        with self._lock:
            lost = [
                s
                for s, h in self._held.items()
                if now - h.renewed_at >= self.settings.renew_deadline
            ]
            for shard in lost:
                del self._held[shard]
        for shard in lost:
            self._count_loss(shard, "lost")
        if lost:
            self._callback(frozenset(), frozenset(lost))

    def _rebalance(self) -> tuple[set[int], set[int]]:
        with self._lock:
            holders: dict[int, str] = {}
            for shard in range(self.settings.shards):
                seen = self._seen.get(self.settings.shard_lease(shard))
                if seen is not None and self._alive(seen):
                    holders[shard] = seen.record.holder
            for shard in self._held:
                holders[shard] = self.settings.identity
            for shard, holder in list(holders.items()):
                if holder == self.settings.identity and shard not in self._held:
                    del holders[shard]  # ours from before a restart: take it again
            members = self._members()
        decided = sharding.plan(
            me=self.settings.identity, members=members, shards=self.settings.shards,
            holders=holders,
        )  # fmt: skip
        lost: set[int] = set()
        with self._lock:
            for shard in decided.release:
                if not self._held[shard].draining:
                    log.info("msg=giving back shard shard=%d quota=%d", shard, decided.quota)
                    self._held[shard].draining = True
            done = [
                s for s, h in self._held.items()
                if h.draining and not self._inflight.get(s)
            ]  # fmt: skip
        for shard in done:
            with self._write_lock(shard):
                with self._lock:
                    h = self._held.get(shard)
                    if h is None or not h.draining or self._inflight.get(shard):
                        continue
                    del self._held[shard]
                self._let_go(shard, h.record)
            self._count_loss(shard, "released")
            lost.add(shard)
        with self._lock:
            draining = any(h.draining for h in self._held.values())
        gained: set[int] = set()
        if draining or lost:
            return gained, lost
        for shard in decided.take:
            if self._take(shard):
                gained.add(shard)
        return gained, lost

    def _take(self, shard: int) -> bool:
        name = self.settings.shard_lease(shard)
        client = self._client.named(name, labels=self._labels())
        with self._lock:
            seen = self._seen.get(name)
        began = self._clock()
        now = leader._utcnow()
        try:
            if seen is None:
                record = client.create(
                    lease.LeaseRecord(
                        holder=self.settings.identity, duration=self._duration(),
                        acquire_time=now, renew_time=now, transitions=0,
                        holder_url=self.settings.advertise_url, annotations=self._notes(shard),
                    )
                )  # fmt: skip
            else:
                current = seen.record
                record = client.replace(
                    dataclasses.replace(
                        current, holder=self.settings.identity, duration=self._duration(),
                        acquire_time=now, renew_time=now, transitions=current.transitions + 1,
                        holder_url=self.settings.advertise_url, annotations=self._notes(shard),
                    )
                )  # fmt: skip
        except lease.LeaseConflict:
            return False  # another replica was quicker
        except errors.SyncerError as err:
            log.warning("msg=shard lease not taken shard=%d error=%s", shard, err)
            return False
        with self._lock:
            self._held[shard] = _Held(record=record, renewed_at=began)
        metrics.SHARD_HELD.labels(shard=str(shard)).set(1)
        metrics.SHARD_APPS.labels(shard=str(shard)).set(self._apps_in(shard))
        metrics.SHARD_TRANSITIONS.labels(shard=str(shard), result="acquired").inc()
        log.info(
            "msg=took shard shard=%d term=%d identity=%s",
            shard, record.transitions, self.settings.identity,
        )  # fmt: skip
        return True

    def _let_go(self, shard: int | None, record: lease.LeaseRecord) -> None:
        name = (
            self.settings.shard_lease(shard)
            if shard is not None
            else self.settings.replica_lease(self.settings.identity)
        )
        labels = self._labels() if shard is not None else self._labels("replica")
        try:
            self._client.named(name, labels=labels).replace(
                dataclasses.replace(
                    record, holder="", duration=1, renew_time=leader._utcnow(), holder_url=""
                )
            )
            log.info("msg=released lease lease=%s identity=%s", name, self.settings.identity)
        except errors.SyncerError as err:
            log.warning("msg=lease not released; it lapses lease=%s error=%s", name, err)

    def _forget_gone(self) -> None:
        """Delete heartbeat Leases of replicas gone for ``FORGET_AFTER`` durations."""
        now = self._clock()
        with self._lock:
            gone = [
                s.record for s in self._seen.values()
                if _role(s.record) == "replica"
                and now - s.at > FORGET_AFTER * max(1, s.record.duration, self._duration())
                and s.record.holder != self.settings.identity
            ]  # fmt: skip
        for record in gone:
            try:
                self._client.named(record.name).delete(record)
            except errors.SyncerError as err:
                log.debug("msg=old heartbeat kept lease=%s error=%s", record.name, err)

    # --- helpers ---------------------------------------------------------------------

    def _mine(self, record: lease.LeaseRecord, *, renew: bool) -> lease.LeaseRecord:
        return dataclasses.replace(
            record, holder=self.settings.identity, duration=self._duration(),
            renew_time=leader._utcnow() if renew else record.renew_time,
            holder_url=self.settings.advertise_url,
        )  # fmt: skip

    def _duration(self) -> int:
        return max(1, round(self.settings.lease_duration))

    def _labels(self, role: str = "shard") -> dict[str, str]:
        return {GROUP_LABEL: self.settings.prefix, ROLE_LABEL: role}

    def _notes(self, shard: int) -> tuple[tuple[str, str], ...]:
        return ((SHARDS_ANNOTATION, str(self.settings.shards)), ("syncer.dev/shard", str(shard)))

    def _count_loss(self, shard: int, result: str) -> None:
        metrics.SHARD_HELD.labels(shard=str(shard)).set(0)
        metrics.SHARD_APPS.labels(shard=str(shard)).set(0)
        metrics.SHARD_TRANSITIONS.labels(shard=str(shard), result=result).inc()
        log.info(
            "msg=%s shard shard=%d identity=%s",
            "gave back" if result == "released" else "lost", shard, self.settings.identity,
        )  # fmt: skip

    def _callback(self, gained: frozenset[int], lost: frozenset[int]) -> None:
        try:
            with self._calling:  # the renewer and the other round call it: one at a time
                self._on_change(gained, lost)
        except Exception:
            log.exception("msg=shard change callback failed")


def _role(record: lease.LeaseRecord) -> str:
    notes = dict(record.annotations)
    if REPLICA_ANNOTATION in notes:
        return "replica"
    return "shard" if SHARDS_ANNOTATION in notes else ""


def connect(*, settings: Settings, base_dir: str = ".") -> lease.LeaseClient:
    """The Lease client of the shard set (its first Lease is this replica's heartbeat)."""
    return lease.connect(
        cluster=settings.cluster, namespace=settings.namespace,
        name=settings.replica_lease(settings.identity), base_dir=base_dir,
        timeout=max(1.0, min(10.0, settings.renew_deadline / 2)),
        labels={GROUP_LABEL: settings.prefix, ROLE_LABEL: "replica"},
    )  # fmt: skip
