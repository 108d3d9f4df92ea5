"""Leader election over a Kubernetes Lease, so that two replicas never act at once.

``syncer run --leader-elect`` wraps the controller in a ``LeaderElector``: it starts
the scheduler in ``on_started_leading`` and stops it in ``on_stopped_leading``; the HTTP
server runs on every replica (probes, metrics) and ``describe()`` feeds ``/readyz``.
The Lease is read and written through ``syncer.apply.lease`` (the only place that may
use the ``kubernetes`` client).

The algorithm is client-go's ``leaderelection``:

- a candidate reads the Lease every ``retry_period`` (jittered); it takes the Lease when
  it does not exist, is released (no holder), or has not changed for
  ``leaseDurationSeconds`` as measured on the candidate's own clock since it last saw
  it change (so clock skew between nodes does not matter);
- the leader renews every ``retry_period``; when no renewal has succeeded for
  ``renew_deadline`` it stops leading (before others may take over, as
  ``renew_deadline < lease_duration``);
- every write carries the ``resourceVersion`` that was read, so of two candidates
  racing only one wins; ``leaseTransitions`` counts holder changes;
- ``stop()`` releases a held Lease (holder cleared, duration 1s) so a standby takes
  over at once instead of after the lease expires.

After losing the Lease the elector goes back to standing by: the controller must stop
acting in ``on_stopped_leading`` (it may also exit; Kubernetes restarts it).

Fencing: a callback comes too late for a leader that was frozen (SIGSTOP, a long GC or
VM pause) past its Lease while another replica took over: on waking, its workers may
run before its elector thread has noticed. So ``fence()`` is asked right before every
cluster write and every rollout start; it raises ``syncer.errors.Fenced`` unless this
replica leads *and* its last successful renewal began less than ``renew_deadline`` ago
on its own clock. Standbys wait ``lease_duration`` from when they *saw* that renewal,
which is later, so ``lease_duration - renew_deadline`` is the safety margin (request
latency, clock-rate differences). The clock counts time the machine was suspended too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from syncer import errors, metrics
from syncer.apply import lease
from syncer.config import model

log = logging.getLogger("syncer.leader")

JITTER = 1.2
"""Acquire attempts wait ``retry_period`` times up to this factor (client-go's value)."""
_SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True)
class Settings:
    """How to elect; the defaults are client-go's and controller-runtime's."""

    namespace: str = "default"
    name: str = "syncer-leader"
    """Name of the Lease (one per controller installation)."""
    identity: str = field(default_factory=socket.gethostname)
    """Who this replica is (default the host name, which in a pod is the pod name)."""
    lease_duration: float = 15.0
    """Seconds standbys wait after the last renewal before taking over (default 15)."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew before it gives up leading (default 10)."""
    retry_period: float = 2.0
    """Seconds between attempts to acquire or renew (default 2)."""
    cluster: model.Cluster = field(
        default_factory=lambda: model.Cluster(name="leader-election", in_cluster=True)
    )
    """Where the Lease lives: the pod's own cluster by default."""
    advertise_url: str = ""
    """This replica's HTTP server as others reach it (``http://POD_IP:8080``), written
    into the Lease while leading so that standbys forward webhooks and API calls to it;
    empty: standbys answer those requests themselves (503)."""

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election identity is empty: pass --leader-elect-identity")
        if self.lease_duration < 1:
            raise ValueError("leader election lease duration must be at least 1s")
        if not self.lease_duration > self.renew_deadline:
            raise ValueError(
                f"leader election: lease duration ({self.lease_duration}s) must be greater "
                f"than the renew deadline ({self.renew_deadline}s)"
            )
        if not self.renew_deadline > JITTER * self.retry_period:
            raise ValueError(
                f"leader election: renew deadline ({self.renew_deadline}s) must be greater "
                f"than {JITTER} x the retry period ({self.retry_period}s)"
            )


class LeaseStore(Protocol):
    """What the elector needs of ``syncer.apply.lease.LeaseClient``."""

    def get(self) -> lease.LeaseRecord | None: ...

    def create(self, record: lease.LeaseRecord) -> lease.LeaseRecord: ...

    def replace(self, record: lease.LeaseRecord) -> lease.LeaseRecord: ...

    def close(self) -> None: ...


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _clock() -> float:
    """Seconds on a clock that never goes back and keeps counting while the machine
    is suspended (``CLOCK_BOOTTIME`` where there is one): a lease must not seem fresh
    to a replica that slept."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return time.clock_gettime(boottime)
    return time.monotonic()


class LeaderElector:
    """Runs the election in a background thread and calls back on changes."""

    def __init__(
        self,
        *,
        client: LeaseStore,
        settings: Settings,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        on_new_leader: Callable[[str], None] | None = None,
        clock: Callable[[], float] = _clock,
    ) -> None:
        self.settings = settings
        self._client = client
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._leading = False
        self._leader = ""
        self._observed: lease.LeaseRecord | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        """When the last successful acquire or renewal began (``clock``)."""

    # --- public ------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        with self._lock:
            return self._leading

    @property
    def leader(self) -> str:
        """The identity of the current leader as last seen ("" when unknown)."""
        with self._lock:
            return self._leader

    def leader_url(self) -> str | None:
        """The leader's advertised URL when another replica leads (None when this one
        leads, nobody does, or the leader advertises none): where to forward requests
        that only the leader can act on."""
        if self.is_leader:
            return None
        with self._lock:
            observed = self._observed
            if observed is None or not observed.holder or observed.holder != self._leader:
                return None
            return observed.holder_url or None

    def owner_url(self, app: str) -> str | None:
        """The leader acts on every app."""
        return self.leader_url()

    def peers(self) -> list[str]:
        """Standbys act on nothing: a webhook goes to the leader only."""
        return []

    def fence(self) -> None:
        """Return only while this replica may write: it leads, and its last successful
        renewal began less than ``renew_deadline`` ago by its own clock; otherwise raise
        ``errors.Fenced`` (see the module docstring). Cheap: no request is made."""
        with self._lock:
            leading, renewed_at = self._leading, self._renewed_at
        lease_name = f"{self.settings.namespace}/{self.settings.name}"
        if not leading:
            raise errors.Fenced(f"not the leader (lease {lease_name}): writing nothing")
        age = self._clock() - renewed_at
        if age >= self.settings.renew_deadline:
            raise errors.Fenced(
                f"lease {lease_name} last renewed {age:.1f}s ago (more than the "
                f"{self.settings.renew_deadline:g}s renew deadline): another replica may "
                "lead now; writing nothing"
            )

    def describe(self) -> str:
        """One line for ``/readyz`` and logs."""
        if self.is_leader:
            return f"leading (lease {self.settings.namespace}/{self.settings.name})"
        leader = self.leader
        return f"standing by; leader is {leader}" if leader else "standing by; no leader yet"

    def start(self) -> LeaderElector:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="syncer-leader", daemon=True)
            self._thread.start()
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop electing; a held Lease is released (unless ``release`` is False) and
        ``on_stopped_leading`` is called before this returns."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        if self.is_leader:
            if release:
                self._release()
            self._lose()
        self._client.close()

    # --- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.is_leader:
                if self._renew():
                    self._win()
                    continue
                self._stop.wait(self.settings.retry_period * random.uniform(1.0, JITTER))
                continue
            if self._stop.wait(self.settings.retry_period):
                return
            if self._renew():
                continue
            with self._lock:
                renewed_at = self._renewed_at
            if self._held_by_other() or (
                self._clock() - renewed_at >= self.settings.renew_deadline
            ):
                log.warning(
                    "msg=lost leadership identity=%s lease=%s/%s",
                    self.settings.identity,
                    self.settings.namespace,
                    self.settings.name,
                )
                self._lose()

    def _renew(self) -> bool:
        """Acquire or renew; on success remember when the attempt *began*: the Lease
        says renewed at about that time, so validity is counted from there."""
        began = self._clock()
        if not self._try_acquire_or_renew():
            return False
        with self._lock:
            self._renewed_at = began
        return True

    def _held_by_other(self) -> bool:
        observed = self._observed
        return bool(observed and observed.holder and observed.holder != self.settings.identity)

    def _try_acquire_or_renew(self) -> bool:
        me = self.settings.identity
        now = _utcnow()
        try:
            current = self._client.get()
            if current is None:
                created = self._client.create(
                    lease.LeaseRecord(
                        holder=me,
                        duration=max(1, round(self.settings.lease_duration)),
                        acquire_time=now,
                        renew_time=now,
                        transitions=0,
                        holder_url=self.settings.advertise_url,
                    )
                )
                self._observe(created)
                return True
            self._observe(current)
            if (
                current.holder
                and current.holder != me
                and self._observed_at + current.duration > self._clock()
            ):
                return False  # someone else holds a lease that has not expired
            mine = current.holder == me
            renewed = self._client.replace(
                replace(
                    current,
                    holder=me,
                    duration=max(1, round(self.settings.lease_duration)),
                    acquire_time=current.acquire_time if mine else now,
                    renew_time=now,
                    transitions=current.transitions if mine else current.transitions + 1,
                    holder_url=self.settings.advertise_url,
                )
            )
            self._observe(renewed)
            return True
        except lease.LeaseConflict as err:
            log.debug("msg=lease race lost identity=%s error=%s", me, err)
            return False
        except errors.SyncerError as err:
            log.warning("msg=lease update failed identity=%s error=%s", me, err)
            return False

    def _observe(self, record: lease.LeaseRecord) -> None:
        """Remember when the record last changed, on our own clock."""
        key = (record.holder, record.renew_time, record.resource_version)
        with self._lock:
            previous = self._observed
            if previous is None or key != (
                previous.holder,
                previous.renew_time,
                previous.resource_version,
            ):
                self._observed_at = self._clock()
            self._observed = record
            changed = record.holder != self._leader
            self._leader = record.holder
        if changed and record.holder:
            log.info("msg=new leader leader=%s identity=%s", record.holder, self.settings.identity)
            if self._on_new_leader is not None:
                self._callback(self._on_new_leader, record.holder)

    def _win(self) -> None:
        with self._lock:
            self._leading = True
        metrics.LEADER.set(1)
        log.info(
            "msg=started leading identity=%s lease=%s/%s",
            self.settings.identity,
            self.settings.namespace,
            self.settings.name,
        )
        self._callback(self._on_started)

    def _lose(self) -> None:
        with self._lock:
            if not self._leading:
                return
            self._leading = False
        metrics.LEADER.set(0)
        self._callback(self._on_stopped)

    def _release(self) -> None:
        try:
            current = self._client.get()
            if current is None or current.holder != self.settings.identity:
                return
            now = _utcnow()
            released = self._client.replace(
                replace(
                    current, holder="", duration=1, acquire_time=now, renew_time=now, holder_url=""
                )
            )
            self._observe(released)
            log.info("msg=released leadership identity=%s", self.settings.identity)
        except errors.SyncerError as err:
            log.warning(
                "msg=could not release the lease; others take over when it expires error=%s",
                err,
            )

    def _callback(self, fn: Callable[..., None], *args: str) -> None:
        # A failing callback must not kill the elector: leadership would then never
        # be renewed nor released.
        try:
            fn(*args)
        except Exception:
            log.exception("msg=leader election callback failed callback=%s", fn)


# --- wiring for ``syncer run`` ----------------------------------------------------------


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The ``--leader-elect*`` flags of ``syncer run`` (names as in controller-runtime)."""
    group = parser.add_argument_group("leader election (for more than one replica)")
    group.add_argument(
        "--leader-elect",
        action="store_true",
        help="act only while holding a Kubernetes Lease (run 2 replicas for a standby)",
    )
    group.add_argument(
        "--leader-elect-namespace",
        default="",
        help="namespace of the Lease "
        "(default: $POD_NAMESPACE, else the service account's namespace)",
    )
    group.add_argument("--leader-elect-name", default="syncer-leader", help="Lease name")
    group.add_argument(
        "--leader-elect-identity",
        default="",
        help="this replica's identity (default: $POD_NAME, else the host name)",
    )
    group.add_argument("--leader-elect-lease-duration", type=float, default=15.0, metavar="S")
    group.add_argument("--leader-elect-renew-deadline", type=float, default=10.0, metavar="S")
    group.add_argument("--leader-elect-retry-period", type=float, default=2.0, metavar="S")
    group.add_argument(
        "--leader-elect-kubeconfig",
        default="",
        help="kubeconfig of the cluster holding the Lease (default: in-cluster)",
    )
    group.add_argument("--leader-elect-context", default="", help="context in that kubeconfig")
    group.add_argument(
        "--leader-elect-advertise-url",
        default="",
        help="this replica's HTTP address for the others (e.g. http://$(POD_IP):8080): "
        "standbys forward webhooks and API POSTs to the leader's",
    )


def settings_from_flags(args: argparse.Namespace) -> Settings | None:
    """``Settings`` from the parsed flags, or None without ``--leader-elect``."""
    if not args.leader_elect:
        return None
    namespace = args.leader_elect_namespace or os.environ.get("POD_NAMESPACE", "")
    if not namespace and os.path.exists(_SA_NAMESPACE):
        with open(_SA_NAMESPACE, encoding="utf-8") as f:
            namespace = f.read().strip()
    remote = bool(args.leader_elect_kubeconfig or args.leader_elect_context)
    cluster = model.Cluster(
        name="leader-election",
        kubeconfig=args.leader_elect_kubeconfig,
        context=args.leader_elect_context,
        in_cluster=not remote,
    )
    try:
        return Settings(
            namespace=namespace or "default",
            name=args.leader_elect_name,
            identity=args.leader_elect_identity
            or os.environ.get("POD_NAME", "")
            or socket.gethostname(),
            lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
            cluster=cluster,
            advertise_url=args.leader_elect_advertise_url,
        )
    except ValueError as err:
        raise errors.ConfigError([str(err)]) from err


def elector(
    *,
    settings: Settings,
    on_started_leading: Callable[[], None],
    on_stopped_leading: Callable[[], None],
    base_dir: str = ".",
) -> LeaderElector:
    """A ``LeaderElector`` talking to the Lease ``settings`` names (not started)."""
    client = lease.connect(
        cluster=settings.cluster,
        namespace=settings.namespace,
        name=settings.name,
        base_dir=base_dir,
        timeout=max(1.0, min(10.0, settings.renew_deadline / 2)),
    )
    return LeaderElector(
        client=client,
        settings=settings,
        on_started_leading=on_started_leading,
        on_stopped_leading=on_stopped_leading,
    )
