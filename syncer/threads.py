"""How ``syncer run`` has its threads take turns at the interpreter.

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

import sys

SWITCH_INTERVAL = 0.001
"""Seconds a thread runs Python before it must let a waiting thread have a turn."""


def shorten_switches(*, interval: float = SWITCH_INTERVAL) -> None:
    """Set the interpreter's switch interval for this process (all threads)."""
    sys.setswitchinterval(interval)
