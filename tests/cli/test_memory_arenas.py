"""``syncer run`` keeps glibc to two malloc arenas (``syncer.memory``), however many
threads allocate: counted by glibc itself (``malloc_stats`` lists one "Arena N:" per
arena) in a child process whose threads allocate side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from syncer import memory

CHILD = textwrap.dedent(
    """
    import ctypes, sys, threading
    from syncer import memory
    print(memory.limit_arenas(), flush=True)
    start = threading.Barrier(8)
    def work():
        start.wait()
        keep = [bytearray(4096) for _ in range(2000)]
        del keep
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctypes.CDLL(None).malloc_stats()
    """
)

pytestmark = pytest.mark.skipif(not memory._glibc(), reason="glibc's arenas only")


def arenas(env: dict[str, str]) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    return done.stdout.strip(), done.stderr.count("Arena ")


def test_threads_allocating_side_by_side_share_two_arenas():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert arenas(env) == ("True", 2)


def test_an_arena_limit_chosen_in_the_environment_is_left_to_glibc():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["MALLOC_ARENA_MAX"] = "3"
    assert arenas(env) == ("False", 3)
