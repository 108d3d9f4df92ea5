"""pytest fixtures for real Kubernetes clusters: ``kube_clusters(n=1, names=None)``.

Listed in tests/conftest.py's ``pytest_plugins``. Each call hands the test n real
clusters (cluster.py) sharing one kubeconfig with a context per cluster. Booting a
control plane takes seconds, so each pytest process keeps the clusters it booted and
``reset()``s them between tests (every object a test made is deleted from etcd). With
``SYNCER_TEST_KUBECONFIG`` set, the contexts of that kubeconfig (outside clusters: kind,
k3d) are returned instead; test-only controls (faults, stop/start) then skip the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubecluster import cluster, kubeconfig, outside

ENV = outside.ENV
DEFAULT_WORKLOAD_DELAY = 0.2

_idle: list[cluster.RealCluster] = []


def _take(name: str, workload_delay: float) -> cluster.RealCluster:
    while _idle:
        found = _idle.pop()
        if found.alive():
            return found.reset(name=name, workload_delay=workload_delay)
        found.close()
    try:
        return cluster.RealCluster(name, workload_delay=workload_delay).start()
    except cluster.BuildMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def kube_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., list[Any]]]:
    """Factory: kube_clusters(n=1, names=None, workload_delay=0.2) -> clusters."""
    taken: list[cluster.RealCluster] = []

    def make(
        n: int = 1, names: list[str] | None = None, workload_delay: float = DEFAULT_WORKLOAD_DELAY
    ) -> list[Any]:
        if names is not None:
            n = len(names)
        if os.environ.get(ENV):
            return outside.contexts(n, names)
        names = names or [f"kube-{len(taken) + i}" for i in range(n)]
        clusters = [_take(name, workload_delay) for name in names]
        taken.extend(clusters)
        path = Path(tmp_path_factory.mktemp("kubeconfig")) / "config"
        kubeconfig.write(path, [kubeconfig.Entry(c.name, c.url, c.token) for c in clusters])
        for c in clusters:
            c.kubeconfig = str(path)
        return clusters

    yield make
    for c in taken:
        try:
            # Clean now, so what the test left running stops costing CPU.
            _idle.append(c.reset(name=c.name, workload_delay=DEFAULT_WORKLOAD_DELAY))
        except Exception:
            c.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    del session
    while _idle:
        _idle.pop().close()
