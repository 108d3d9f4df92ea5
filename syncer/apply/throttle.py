"""Request budget of one cluster client: retry policy, QPS token bucket, counters.

``client.ClusterClient`` takes a token before every request, counts it in ``Stats``
(requests, writes, per verb: what tests and benchmarks read), and retries by the
``RetryPolicy``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request tries before its error is returned."""

    attempts: int = 6
    """Tries per request (default 6: about 6s of backoff, longer with Retry-After)."""
    base_delay: float = 0.2
    """First backoff in seconds, doubled each try (with jitter)."""
    max_delay: float = 5.0
    """Longest single backoff, and the cap on a server's Retry-After (default 5s), so a
    misbehaving server cannot stall a sync for minutes."""
    connect_attempts: int = 2
    """Tries when the connection itself fails (default 2: a down cluster fails fast)."""


class Stats:
    """Request counters of one client (thread-safe).

    ``snapshot`` gives the client's totals; ``mine`` the calling thread's own, so a
    sync running next to others on a shared client reports only its own requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.requests = 0
        self.writes = 0
        self.by_verb: dict[str, int] = {}

    def count(self, *, verb: str, write: bool) -> None:
        with self._lock:
            self.requests += 1
            self.writes += int(write)
            self.by_verb[verb] = self.by_verb.get(verb, 0) + 1
        local = self._local
        local.requests = getattr(local, "requests", 0) + 1
        local.writes = getattr(local, "writes", 0) + int(write)

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.requests, self.writes

    def mine(self) -> tuple[int, int]:
        return getattr(self._local, "requests", 0), getattr(self._local, "writes", 0)

    def credit(self, requests: int, writes: int) -> None:
        """Count in the calling thread's own figures what helper threads did for it."""
        local = self._local
        local.requests = getattr(local, "requests", 0) + requests
        local.writes = getattr(local, "writes", 0) + writes


class Bucket:
    """Token bucket: ``qps`` sustained, ``burst`` at once; 0 qps means unlimited."""

    def __init__(
        self, *, qps: float, burst: int, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self._qps, self._burst = qps, max(1, burst)
        self._tokens = float(self._burst)
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        if self._qps <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self._qps if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
