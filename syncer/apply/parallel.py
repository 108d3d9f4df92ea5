"""Requests of one sync sent side by side: the writes of one apply phase, the dry runs.

``sync`` hands a list of calls that do not depend on each other (objects of one sync
wave and phase, after their Namespaces and CRDs exist) to ``run``; it sends up to
``PARALLELISM`` at once on the cluster's client, whose connection pool, rate limit and
retries they share, and returns each call's outcome in the order given. The requests
the helper threads make are counted as the calling sync's own (``Stats.mine``).

The helper threads are one pool for the whole process (``POOL_THREADS``, a
``threads.KeptPool``). A call that runs ``run`` itself from a helper thread runs its
calls one by one, so a full pool never waits on itself.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from syncer import threads
from syncer.apply import throttle

T = TypeVar("T")

PARALLELISM = 8
"""Requests one sync sends at once to a cluster."""
POOL_THREADS = 32
"""Helper threads of the process: the most requests sent side by side at once, all syncs
and clusters together (``settings.workers`` syncs share them)."""

HELPERS = threads.KeptPool(POOL_THREADS, name="apply")
_helper = threading.local()


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: T | None = None
    error: BaseException | None = None


def run(stats: throttle.Stats, calls: Sequence[Callable[[], T]]) -> list[Outcome[T]]:
    """Each call's value or exception, in order; every call runs to its end."""
    if len(calls) <= 1 or getattr(_helper, "busy", False):
        return [_outcome(call) for call in calls]
    gate = threading.BoundedSemaphore(PARALLELISM)

    def counted(call: Callable[[], T]) -> tuple[Outcome[T], int, int]:
        _helper.busy = True
        try:
            requests0, writes0 = stats.mine()
            outcome = _outcome(call)
            requests1, writes1 = stats.mine()
        finally:
            _helper.busy = False
            gate.release()
        return outcome, requests1 - requests0, writes1 - writes0

    futures = []
    for call in calls:
        gate.acquire()  # at most PARALLELISM of this sync's calls at once
        futures.append(HELPERS.submit(functools.partial(counted, call)))
    outcomes = []
    for future in futures:
        outcome, requests, writes = future.result()
        stats.credit(requests, writes)
        outcomes.append(outcome)
    return outcomes


def _outcome(call: Callable[[], T]) -> Outcome[T]:
    try:
        return Outcome(value=call())
    except Exception as err:  # handed back to the caller, which raises the first one
        return Outcome(error=err)
