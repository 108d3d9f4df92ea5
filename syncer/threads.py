"""How ``syncer run`` has its threads take turns at the interpreter, and the helper
threads it keeps (``KeptPool``).

``syncer.commands.run`` calls ``shorten_switches()`` before it starts any thread. A
thread coming back from a request, or from a statement of the state file, waits for the
interpreter's lock until the thread running Python gives it up, which CPython asks of
it only every switch interval (5 ms by default). ``syncer run`` has 32 reconcile workers,
their apply threads and a watch per kind: a worker that holds the state file's write
lock waits that long after each statement, and every worker needing the lock waits
behind it. At 1 ms, ``tests/bench/bench_rollout --apps 300`` applied its first rollout
on 3 clusters in about a quarter less time (README, "Applying to clusters"); the cost
is more frequent switches of threads that compute, which nothing measured showed.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

SWITCH_INTERVAL = 0.001
"""Seconds a thread runs Python before it must let a waiting thread have a turn."""


def shorten_switches(*, interval: float = SWITCH_INTERVAL) -> None:
    """Set the interpreter's switch interval for this process (all threads)."""
    sys.setswitchinterval(interval)


class KeptPool:
    """Helper threads for the whole process, started when first needed and kept between
    calls: starting a thread per call cost more than the call's own work in Python."""

    def __init__(self, threads: int, *, name: str) -> None:
        self._threads = threads
        self._name = name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], T]) -> concurrent.futures.Future[T]:
        """``call`` on a helper thread, in a copy of this thread's context: the shard
        fence asked before a cluster write knows whose work it is (``syncer.sharding``)."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self._threads, thread_name_prefix=self._name
                )
            pool = self._pool
        return pool.submit(contextvars.copy_context().run, call)
