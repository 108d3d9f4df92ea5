"""Durable state: releases, rollouts, history, inventories, last-seen tags and heads.

``open_for(config)`` gives the config's ``Store``: the SQLite file ``state.path``
(``syncer.state.sqlite``), or Secrets in a namespace of a cluster when the config says
``state: {kubernetes: …}`` (``syncer.state.kube``). See ``syncer.state.store`` for the
interface, ``syncer.state.records`` for what it returns. The controller,
``syncer.reconcile`` and the CLI all go through it; nothing else touches the state.
``writer_lock(config, store)`` is the lock a writing command takes first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from syncer import errors
from syncer.apply import client as kube_client
from syncer.config import model
from syncer.state import kube, kubelock, lock, records, sqlite, store
from syncer.state.store import Store

__all__ = [
    "Store",
    "cache_path",
    "open_for",
    "open_store",
    "records",
    "state_path",
    "store",
    "writer_lock",
]

_POD_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def state_path(*, base_dir: str, path: str) -> Path:
    """The state file of a config: ``state.path`` relative to the config's directory."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def cache_path(*, base_dir: str, path: str) -> Path:
    """Where the controller's caches go (Git, charts, registry challenges):
    ``<state file>-cache`` next to the state file."""
    state_file = state_path(base_dir=base_dir, path=path)
    return state_file.parent / f"{state_file.stem}-cache"


def open_store(path: str | Path) -> Store:
    """Open (creating and migrating as needed) the SQLite store at ``path``."""
    return sqlite.SqliteStore(path)


def lock_for(*, base_dir: str, path: str) -> lock.StateLock:
    """The (not yet taken) writer lock of the state file ``state.path`` of a config."""
    return lock.StateLock(state_path(base_dir=base_dir, path=path))


def in_kubernetes(config: model.Config) -> bool:
    return config.state.kubernetes is not None


def open_for(
    config: model.Config, *, guard: Callable[[], None] | None = None, create: bool = True
) -> Store | None:
    """The config's store; None when it is a SQLite file that does not exist and
    ``create`` is false. ``guard`` (leader election's fence) is asked before every
    write of a Kubernetes store."""
    if config.state.kubernetes is None:
        path = state_path(base_dir=config.base_dir, path=config.state.path)
        return open_store(path) if create or path.exists() else None
    return open_kubernetes(config, guard=guard)


def open_kubernetes(
    config: model.Config, *, guard: Callable[[], None] | None = None
) -> kube.KubeStore:
    cluster, namespace = kubernetes_location(config)
    client = kube_client.connect(cluster, base_dir=config.base_dir)
    try:
        opened = kube.KubeStore(client=client, namespace=namespace)
    except BaseException:
        client.close()
        raise
    if guard is not None:
        # After opening: making the (empty) index Secret the first time is harmless from
        # a standby too; from here on only the leader writes.
        opened.add_guard(guard)
    return opened


def kubernetes_location(config: model.Config) -> tuple[model.Cluster, str]:
    """The cluster and namespace of ``state.kubernetes``."""
    settings = config.state.kubernetes
    if settings is None:
        raise errors.ConfigError(["state.kubernetes: not set"])
    found = [c for c in config.clusters if c.name == settings.cluster]
    if found:
        cluster = found[0]
    elif settings.cluster == model.IN_CLUSTER:
        cluster = model.Cluster(name=model.IN_CLUSTER, in_cluster=True)
    else:
        raise errors.ConfigError([f"state.kubernetes.cluster: no cluster {settings.cluster!r}"])
    namespace = settings.namespace or _pod_namespace()
    return cluster, namespace


def _pod_namespace() -> str:
    try:
        return Path(_POD_NAMESPACE).read_text().strip()
    except OSError:
        raise errors.ConfigError(
            [
                "state.kubernetes.namespace: empty, and syncer is not in a pod (no "
                f"{_POD_NAMESPACE}); name the namespace of the state Secrets"
            ]
        ) from None


def writer_lock(config: model.Config, store: Store) -> lock.StateLock | kubelock.KubeStateLock:
    """The (not yet taken) writer lock of the config's state: a file lock beside the
    SQLite file, or a Lease beside the state Secrets, which also fences the store's
    writes while held (see ``syncer.state.kubelock``)."""
    if config.state.kubernetes is None:
        return lock_for(base_dir=config.base_dir, path=config.state.path)
    cluster, namespace = kubernetes_location(config)
    writer = kubelock.KubeStateLock(cluster=cluster, namespace=namespace, base_dir=config.base_dir)
    if isinstance(store, kube.KubeStore):
        store.add_guard(writer.fence)
    return writer


def serve_reads(store: Store) -> None:
    """A long-running process (``syncer run``) reads every app's state again and again
    (API answers, the UI, metrics scrapes, polls): a Kubernetes state answers those from
    a watch of its Secrets from now on (``KubeStore.watch``); a SQLite file is read as is."""
    if isinstance(store, kube.KubeStore):
        store.watch()
