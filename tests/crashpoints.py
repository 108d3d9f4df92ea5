"""Run the syncer CLI and die like ``kill -9`` right after its Nth state write.

``python -m tests.crashpoints N ARGS...`` runs ``syncer ARGS...``; after the Nth write
transaction of the state store commits, the process exits at once (``os._exit(137)``:
no cleanup, no flush, nothing after it runs). N=0 runs to the end and prints
``state writes: K`` on stderr, the number of crash points there are. The crash-point
tests (tests/e2e/test_crash_points.py) run a scenario once per N and check that the
restarted command finishes it exactly once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from syncer import cli
from syncer.state import sqlite

CRASH_EXIT = 137


def main(argv: list[str]) -> int:
    after = int(argv[0])
    writes = 0
    original = sqlite.SqliteStore._tx

    @contextlib.contextmanager
    def counted(self: sqlite.SqliteStore) -> Iterator[object]:
        nonlocal writes
        with original(self) as db:
            yield db
        writes += 1
        if writes == after:
            os._exit(CRASH_EXIT)

    sqlite.SqliteStore._tx = counted  # type: ignore[assignment,method-assign]
    try:
        return cli.main(argv[1:])
    finally:
        if after == 0:
            print(f"state writes: {writes}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
