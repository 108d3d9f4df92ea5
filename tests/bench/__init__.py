"""Benchmarks: run on demand (python -m tests.bench.NAME); not collected by pytest."""

from __future__ import annotations

import signal
import sys


def stop_on_sigterm() -> None:
    """Let SIGTERM (``kill``, ``pkill``) end a benchmark as Ctrl-C does: by an exception
    in the main thread, so its ``finally`` blocks and ``atexit`` hooks stop the clusters,
    registries and Git servers it started. Python's default for SIGTERM ends the process
    at once and leaves them running, orphaned."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def qps_text(qps: float) -> str:
    """A cluster's ``qps`` as the figures print it."""
    return f"{qps:g}" if qps > 0 else "automatic (none where the API server has APF)"
