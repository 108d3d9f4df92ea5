"""Fixtures for the state tests: a fresh store of each backend.

``store`` (and ``open_store``, which opens another handle on the same state, as a
second process would) is parametrized over both backends, so every test taking it is
part of the Store contract both must keep: ``sqlite`` (a file in a temporary
directory) and ``kubernetes`` (Secrets in a namespace of a real test apiserver).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer import state
from syncer.apply import client as kube_client
from syncer.config import model
from syncer.state import kube

NAMESPACE = "syncer-state"

BACKENDS = ("sqlite", "kubernetes")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syncer-state.db"


def kube_store(cluster: Any, *, namespace: str = NAMESPACE, **options: Any) -> kube.KubeStore:
    """A store in ``namespace`` of a test cluster, through the project's client."""
    where = model.Cluster(name=cluster.name, kubeconfig=cluster.kubeconfig, context=cluster.context)
    return kube.KubeStore(client=kube_client.connect(where), namespace=namespace, **options)


def make_namespace(cluster: Any, name: str = NAMESPACE) -> None:
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state_cluster(kube_clusters: Callable[..., list[Any]]) -> Any:
    """A test cluster with the state namespace made."""
    (cluster,) = kube_clusters(1)
    make_namespace(cluster)
    return cluster


@pytest.fixture
def open_store(
    backend: str, request: pytest.FixtureRequest, store_path: Path
) -> Iterator[Callable[[], state.Store]]:
    """Opens a store on one state (each call a new handle, as another process)."""
    opened: list[state.Store] = []
    if backend == "sqlite":

        def make() -> state.Store:
            opened.append(state.open_store(store_path))
            return opened[-1]

    else:
        cluster = request.getfixturevalue("state_cluster")

        def make() -> state.Store:
            opened.append(kube_store(cluster))
            return opened[-1]

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store_code(backend: str, request: pytest.FixtureRequest, store_path: Path) -> str:
    """Python that opens the same state as ``open_store`` as ``s``, in another process."""
    if backend == "sqlite":
        return f"from syncer import state\ns = state.open_store({str(store_path)!r})\n"
    cluster = request.getfixturevalue("state_cluster")
    return (
        "from syncer.apply import client\nfrom syncer.config import model\n"
        "from syncer.state import kube\n"
        f"where = model.Cluster(name={cluster.name!r}, kubeconfig={cluster.kubeconfig!r}, "
        f"context={cluster.context!r})\n"
        f"s = kube.KubeStore(client=client.connect(where), namespace={NAMESPACE!r})\n"
    )


@pytest.fixture
def store(open_store: Callable[[], state.Store]) -> state.Store:
    return open_store()


@pytest.fixture
def state_version(
    backend: str, request: pytest.FixtureRequest, store_path: Path
) -> Iterator[Callable[[], object]]:
    """What changes whenever anything writes the state (read as another process would):
    a SQLite file's ``data_version`` seen from a connection of its own, or every state
    Secret's ``resourceVersion``."""
    if backend == "sqlite":
        watcher: list[sqlite3.Connection] = []

        def version() -> object:
            if not watcher:
                watcher.append(sqlite3.connect(store_path))
            return watcher[0].execute("PRAGMA data_version").fetchone()[0]

        yield version
        for db in watcher:
            db.close()
        return
    cluster = request.getfixturevalue("state_cluster")

    def versions() -> object:
        found = cluster.list_objects("v1", "Secret", namespace=NAMESPACE)
        return sorted((o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in found)

    yield versions
