"""Lanes run one job per provider at a time, a bounded number at once, and take the
next provider's job as soon as a thread is free."""

from __future__ import annotations

import threading

import pytest

from syncer.notify import lanes
from tests import waiting


def test_one_job_per_provider_and_at_most_size_at_once() -> None:
    pool = lanes.Lanes(size=2, name="test-lanes")
    release = threading.Event()
    running: list[str] = []
    most = [0]
    lock = threading.Lock()

    def job(key: str) -> None:
        with lock:
            running.append(key)
            most[0] = max(most[0], len(running))
        release.wait(10)
        with lock:
            running.remove(key)

    try:
        assert pool.start("a", lambda: job("a"))
        assert not pool.start("a", lambda: job("a")), "a second job in a busy lane"
        assert pool.start("b", lambda: job("b"))
        assert pool.start("c", lambda: job("c"))  # queued: both threads are taken
        assert waiting.eventually(lambda: len(running) == 2, timeout=10)
        assert pool.busy() == {"a", "b", "c"}
        assert not pool.wait(timeout=0.1, keys=["c"])
        release.set()
        assert pool.wait(timeout=10)
        assert most[0] == 2 and pool.busy() == set()
        assert pool.start("a", lambda: job("a")), "a free lane takes a job again"
        assert pool.wait(timeout=10)
    finally:
        release.set()
        pool.close()
    assert not pool.start("d", lambda: None), "closed lanes start nothing"


def test_a_failing_job_frees_its_lane_and_keeps_the_thread() -> None:
    pool = lanes.Lanes(size=1, name="test-lanes")
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    try:
        assert pool.start("a", boom)
        assert pool.wait(timeout=10)
        assert pool.start("a", done.set)
        assert done.wait(10)
    finally:
        pool.close()


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="size must be at least 1"):
        lanes.Lanes(size=0, name="x")
