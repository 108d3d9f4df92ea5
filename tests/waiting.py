"""Waiting for eventual consistency in tests: what a real cluster does after answering.

A real apiserver answers before its controllers act (a CRD goes after its custom
resources, a namespace after its contents, a Deployment's status after its pods), so
tests poll for the outcome with a generous limit instead of expecting it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(
    condition: Callable[[], object], *, timeout: float = 60.0, every: float = 0.05
) -> bool:
    """True as soon as condition() is truthy; False when timeout seconds passed first."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
