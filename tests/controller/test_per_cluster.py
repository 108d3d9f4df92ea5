"""The clusters of one app are worked on side by side on threads kept for the process:
at most ``MAX_PARALLEL_CLUSTERS`` at once, each in the context of the pass that asked
(the shard fence reads it), and no pass ends while one of its clusters still runs."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable

import pytest

from syncer.reconcile import app as reconcile_app

WORKING_FOR: contextvars.ContextVar[str] = contextvars.ContextVar("working_for", default="")


def test_a_lone_cluster_is_worked_on_in_the_passes_own_thread() -> None:
    here = threading.current_thread()
    assert list(reconcile_app.per_cluster([threading.current_thread])) == [(0, here)]


def test_clusters_run_side_by_side_in_the_passes_context_on_threads_kept_between_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconcile_app, "MAX_PARALLEL_CLUSTERS", 3)
    lock = threading.Lock()
    running, most = 0, 0

    def work(n: int) -> Callable[[], tuple[int, str, int]]:
        def call() -> tuple[int, str, int]:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with lock:
                running -= 1
            return n, WORKING_FOR.get(), threading.get_ident()

        return call

    used: list[set[int]] = []
    for app in ("web", "api"):
        WORKING_FOR.set(app)
        done = dict(reconcile_app.per_cluster([work(n) for n in range(7)]))
        assert sorted(done) == list(range(7))
        assert all(n == i and whose == app for i, (n, whose, _) in done.items())
        used.append({ident for _, _, ident in done.values()})
        if app == "web":
            time.sleep(0.1)  # every thread of the first pass back to idle
            kept = {t.ident for t in threading.enumerate() if t.name.startswith("cluster")}
    assert most == 3
    assert used[0] <= kept and used[1] <= kept  # the second pass started no thread


def test_a_failing_cluster_is_raised_once_the_others_have_ended() -> None:
    ended = threading.Event()

    def fails() -> str:
        raise RuntimeError("boom")

    def slow() -> str:
        time.sleep(0.2)
        ended.set()
        return "healthy"

    seen = []
    with pytest.raises(RuntimeError, match="boom"):
        for index, state in reconcile_app.per_cluster([fails, slow]):
            seen.append((index, state))
    assert ended.is_set() and seen == [(1, "healthy")]
