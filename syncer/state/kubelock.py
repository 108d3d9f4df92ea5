"""The writer lock of a Kubernetes state: a Lease beside the state Secrets.

What ``syncer.state.lock`` is for a state file, this is for ``state: {kubernetes: …}``:
``syncer run``, ``sync`` and ``rollback`` take it before they write, and a second one
refuses to start, naming the holder. It is the Lease ``syncer-state-writer`` in the
state namespace (read and written through ``syncer.apply.lease``, with
``resourceVersion`` preconditions, so of two processes taking it at once one wins).

The holder renews it every ``duration / 3`` seconds from a thread; nobody else takes it
before ``duration`` seconds without a renewal. A process that dies stops renewing, so
its lock lapses instead of staying stale. While held, every write of the state store
first asks ``fence``: unless the last renewal began less than ``2/3 duration`` ago
(the holder was frozen, or the API unreachable, for longer), the write is refused with
``syncer.errors.Fenced`` — before another process may take the lock over.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from syncer import errors
from syncer.apply import lease
from syncer.config import model
from syncer.state import lock

log = logging.getLogger("syncer.state")

LEASE_NAME = "syncer-state-writer"
DURATION = 15
"""Seconds without renewal after which another writer may take the lock (default 15)."""


class KubeStateLock:
    """``acquire`` then ``release``, like ``lock.StateLock``; ``fence`` guards writes."""

    def __init__(
        self,
        *,
        cluster: model.Cluster,
        namespace: str,
        base_dir: str = ".",
        duration: int = DURATION,
        connect: Callable[..., lease.LeaseClient] = lease.connect,
    ) -> None:
        self.where = f"lease {namespace}/{LEASE_NAME} on cluster {cluster.name}"
        self.identity = f"{socket.gethostname()}/{os.getpid()}"
        self.duration = duration
        self._connect = lambda: connect(
            cluster=cluster, namespace=namespace, name=LEASE_NAME, base_dir=base_dir
        )
        self._client: lease.LeaseClient | None = None
        self._record: lease.LeaseRecord | None = None
        self._renewed = 0.0
        """``time.monotonic()`` when the last successful renewal began."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._record is not None

    def acquire(self, *, wait: float = 0.0) -> None:
        """Take the lock, waiting up to ``wait`` seconds; ``StateLockedError`` if held."""
        if self._record is not None:
            return
        client = self._client = self._client or self._connect()
        deadline = time.monotonic() + wait
        while True:
            started = time.monotonic()
            current = client.get()
            try:
                if current is None:
                    self._record = client.create(self._mine(transitions=0, acquired=None))
                elif current.holder in ("", self.identity) or _expired(current):
                    self._record = client.replace(
                        self._mine(
                            transitions=current.transitions + (current.holder != self.identity),
                            acquired=None, resource_version=current.resource_version,
                        )
                    )  # fmt: skip
            except lease.LeaseConflict:
                pass  # another process was quicker: look again
            if self._record is not None:
                self._renewed = started
                self._refuse_if_sharded(client)
                break
            if time.monotonic() >= deadline:
                holder = f" ({current.holder})" if current is not None else ""
                raise lock.StateLockedError(
                    f"another syncer{holder} is writing this Kubernetes state ({self.where}); "
                    "stop it first, or give each controller its own state namespace "
                    "(replicas: use --leader-elect)"
                )
            time.sleep(min(1.0, max(0.1, deadline - time.monotonic())))
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="state-lock", daemon=True)
        self._thread.start()

    def holder(self) -> str:
        """Who holds the lock now ("" when nobody does, or it lapsed)."""
        client = self._client = self._client or self._connect()
        current = client.get()
        if current is None or not current.holder or _expired(current):
            return ""
        return current.holder

    def _refuse_if_sharded(self, client: lease.LeaseClient) -> None:
        """Replicas running with ``--shards`` write without this Lease (each under its
        shard Leases): while any of theirs is held, give this one back and refuse."""
        try:
            found = client.list(selector=lease.SHARDS_LABEL)
        except errors.PermanentError as err:
            log.warning("shard leases not looked at (%s): %s", self.where, err)
            return
        live = sorted({r.holder for r in found if r.holder and not _expired(r)})
        if not live:
            return
        self.release()
        raise lock.StateLockedError(
            f"syncer replicas with shards ({', '.join(live)}) are writing this Kubernetes "
            f"state ({self.where}); ask them instead (--server), or stop them first"
        )

    def _mine(
        self,
        *,
        transitions: int,
        acquired: dt.datetime | None,
        resource_version: str = "",
    ) -> lease.LeaseRecord:
        now = dt.datetime.now(dt.UTC)
        return lease.LeaseRecord(
            holder=self.identity, duration=self.duration, acquire_time=acquired or now,
            renew_time=now, transitions=transitions, resource_version=resource_version,
        )  # fmt: skip

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.duration / 3):
            record, client = self._record, self._client
            if record is None or client is None:
                return
            started = time.monotonic()
            try:
                self._record = client.replace(
                    self._mine(transitions=record.transitions, acquired=record.acquire_time,
                               resource_version=record.resource_version)
                )  # fmt: skip
                self._renewed = started
            except lease.LeaseConflict:
                log.error("state lock lost: %s was taken over; writing nothing more", self.where)
                self._record = None
                return
            except errors.SyncerError as err:
                log.warning("state lock renewal failed (%s): %s", self.where, err)

    def fence(self) -> None:
        """Raise ``Fenced`` unless this process holds the lock and renewed it recently."""
        if self._record is None:
            raise errors.Fenced(f"{self.where} is not held by this process: writing nothing")
        if time.monotonic() - self._renewed > self.duration * 2 / 3:
            raise errors.Fenced(
                f"{self.where} not renewed for {time.monotonic() - self._renewed:.0f}s: "
                "writing nothing until it is"
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.duration)
            self._thread = None
        record, client = self._record, self._client
        self._record = None
        if record is not None and client is not None:
            try:
                # Released, with a 1s duration: the next writer need not wait.
                client.replace(
                    lease.LeaseRecord(
                        holder="", duration=1, acquire_time=record.acquire_time,
                        renew_time=dt.datetime.now(dt.UTC), transitions=record.transitions,
                        resource_version=record.resource_version,
                    )
                )  # fmt: skip
            except errors.SyncerError as err:
                log.warning("state lock not released (%s): %s; it lapses", self.where, err)
        if client is not None:
            client.close()
            self._client = None

    def __enter__(self) -> KubeStateLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _expired(record: lease.LeaseRecord) -> bool:
    """No renewal for its duration (by the API's times against ours: nodes keep time)."""
    if record.renew_time is None:
        return True
    age = (dt.datetime.now(dt.UTC) - record.renew_time).total_seconds()
    return age > max(1, record.duration)
