"""Requests of one sync sent side by side: the writes of one apply phase, the dry runs.

``sync`` hands a list of calls that do not depend on each other (objects of one sync
wave and phase, after their Namespaces and CRDs exist) to ``run``; it sends up to
``PARALLELISM`` at once on the cluster's client, whose connection pool, rate limit and
retries they share, and returns each call's outcome in the order given. The requests
the helper threads make are counted as the calling sync's own (``Stats.mine``).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from syncer.apply import throttle

T = TypeVar("T")

PARALLELISM = 8
"""Requests one sync sends at once to a cluster (the client's connection pool size)."""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: T | None = None
    error: BaseException | None = None


def run(stats: throttle.Stats, calls: Sequence[Callable[[], T]]) -> list[Outcome[T]]:
    """Each call's value or exception, in order; every call runs to its end."""
    if len(calls) <= 1:
        return [_outcome(call) for call in calls]

    def counted(call: Callable[[], T]) -> tuple[Outcome[T], int, int]:
        requests0, writes0 = stats.mine()
        outcome = _outcome(call)
        requests1, writes1 = stats.mine()
        return outcome, requests1 - requests0, writes1 - writes0

    workers = min(PARALLELISM, len(calls))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="apply") as pool:
        # Copies of this thread's context: the shard fence knows whose write it is.
        futures = [pool.submit(contextvars.copy_context().run, counted, c) for c in calls]
        done = [f.result() for f in futures]
    outcomes = []
    for outcome, requests, writes in done:
        stats.credit(requests, writes)
        outcomes.append(outcome)
    return outcomes


def _outcome(call: Callable[[], T]) -> Outcome[T]:
    try:
        return Outcome(value=call())
    except Exception as err:  # handed back to the caller, which raises the first one
        return Outcome(error=err)
