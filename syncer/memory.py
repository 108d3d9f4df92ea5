"""How ``syncer run`` asks the C allocator to hold memory: two malloc arenas, not 16.

``syncer.commands.run`` calls ``limit_arenas()`` before it starts any thread. glibc
gives threads that allocate at the same time arenas of their own, up to eight per core,
and memory freed in one arena is reused only by allocations from that arena: with 32
reconcile workers, 32 apply threads and a watch per kind, the first rollout leaves
every arena holding its share of freed memory, and the resident size never comes back
down as far. Two arenas (what ``MALLOC_ARENA_MAX=2`` gives) cost no measurable time in
``tests/bench/bench_scale --profile``, where 3,000 apps came out about 12 MiB smaller
with them. A ``MALLOC_ARENA_MAX`` set in the environment is left to glibc; other C
libraries (musl, macOS) are left alone.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the number of arenas (malloc.h)."""


def limit_arenas(*, arenas: int = ARENAS) -> bool:
    """Limit glibc to ``arenas`` malloc arenas; False where that is not done (not glibc,
    or ``MALLOC_ARENA_MAX`` already chosen in the environment)."""
    if "MALLOC_ARENA_MAX" in os.environ or not _glibc():
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):
        return False
