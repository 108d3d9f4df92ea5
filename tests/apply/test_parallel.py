"""Writes of one apply phase go side by side, and are counted as the sync's own."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from syncer.apply import parallel, throttle
from syncer.config import model
from tests.apply.conftest import config_map, reset_log, run_sync, settled


def test_calls_run_at_once_and_come_back_in_order() -> None:
    # Eight calls meet at a barrier: they can only all return if they run at once.
    barrier = threading.Barrier(parallel.PARALLELISM, timeout=10)
    stats = throttle.Stats()

    def call(n: int) -> Any:
        def run() -> int:
            stats.count(verb="PATCH", write=True)
            barrier.wait()
            if n == 3:
                raise ValueError("refused")
            return n

        return run

    outcomes = parallel.run(stats, [call(n) for n in range(parallel.PARALLELISM)])
    assert [o.value for o in outcomes] == [0, 1, 2, None, 4, 5, 6, 7]
    assert isinstance(outcomes[3].error, ValueError)
    # The helper threads' requests count as the calling thread's own.
    assert stats.mine() == (parallel.PARALLELISM, parallel.PARALLELISM)


@pytest.mark.integration
def test_a_sync_reports_exactly_the_requests_the_server_answered(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    objects = [config_map(f"cm-{i}") for i in range(20)]
    run_sync(client, [config_map("first")], options=options)  # the namespace exists
    reset_log(cluster)
    result = run_sync(client, objects, options=options)
    # Cluster-wide watches and lists (of Namespaces, ResourceQuotas) are never a sync's
    # own without watches: they come from caches other tests' controllers left on this
    # shared server, re-listing after its reset.
    log = [
        r
        for r in settled(cluster)
        if "watch=true" not in r.query
        and not (r.method == "GET" and r.path in ("/api/v1/namespaces", "/api/v1/resourcequotas"))
    ]
    writes = [r for r in log if r.method != "GET" and "dryRun=All" not in r.query]
    assert len(result.created) == 20 and result.pruned  # "first" left the set
    assert result.writes == len(writes) == 21
    assert result.requests == len(log), log
