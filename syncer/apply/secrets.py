"""Reading Kubernetes Secrets for ``secret:NAMESPACE/NAME#KEY`` references and pullSecrets.

``syncer.reconcile.live.LiveParts`` builds one ``SecretReader`` per process and hands it
(as ``syncer.config.secrets.SecretReader``) to everything that resolves credentials:
Git sources, registry logins and pull Secrets (``syncer.images``), and the HTTP
server's webhook and API tokens. It reads from the cluster syncer runs in: the pod's
service account when in a pod, else the current kubeconfig context; or the cluster
``settings.secretsCluster`` names. Requests go through ``syncer.apply.client`` like
every other cluster read.

Values are cached for ``ttl`` seconds (default 30), so many apps sharing a credential
cost one read and a rotated Secret is picked up within the TTL. Errors name the
reference, never its value: a missing Secret or key and a refused read are
``PermanentError``; an unreachable API is a ``TemporaryError``.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from syncer import errors as syncer_errors
from syncer.apply import client as client_mod
from syncer.apply import errors, throttle
from syncer.config import model

TTL = 30.0
"""Seconds a Secret read is reused (rotation is seen within this)."""

IN_POD = "in-cluster"
CURRENT = "current-context"


class SecretReadError(syncer_errors.PermanentError):
    """A Secret or one of its keys is missing, or we may not read it."""


def secrets_cluster(config: model.Config) -> model.Cluster:
    """The cluster Secrets are read from (see the module docstring)."""
    name = config.settings.secrets_cluster
    if name:
        for cluster in config.clusters:
            if cluster.name == name:
                return cluster
        raise SecretReadError(
            f"settings.secretsCluster: no cluster named {name!r} "
            f"(configured: {', '.join(c.name for c in config.clusters) or 'none'})"
        )
    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    return model.Cluster(name=IN_POD if in_pod else CURRENT, in_cluster=in_pod, timeout=10.0)


class SecretReader:
    """``reader(namespace, name, key) -> value``; thread-safe; ``close()`` when done."""

    def __init__(
        self,
        *,
        cluster: model.Cluster,
        base_dir: str = ".",
        ttl: float = TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.base_dir = base_dir
        self.ttl = ttl
        self._clock = clock
        self._client: client_mod.ClusterClient | None = None
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = {}
        self._flights: dict[tuple[str, str], threading.Lock] = {}
        self.reads = 0
        """Secrets read from the API so far (cache misses)."""

    def __call__(self, namespace: str, name: str, key: str) -> str:
        ref = f"secret:{namespace}/{name}#{key}"
        data = self._data(namespace, name, ref=ref)
        if data is None:
            raise SecretReadError(
                f"{ref}: no Secret {name!r} in namespace {namespace!r} on {self._where()}; "
                "create it or fix the reference"
            )
        if key not in data:
            keys = ", ".join(sorted(data)) or "none"
            raise SecretReadError(
                f"{ref}: the Secret {namespace}/{name} has no key {key!r} (keys: {keys})"
            )
        return data[key]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # --- reading ------------------------------------------------------------------------
    def _data(self, namespace: str, name: str, *, ref: str) -> dict[str, str] | None:
        slot = (namespace, name)
        with self._lock:
            flight = self._flights.setdefault(slot, threading.Lock())
        with flight:  # one read per Secret at a time; the others take its answer
            with self._lock:
                found = self._cache.get(slot)
            if found is not None and self._clock() - found[0] < self.ttl:
                return found[1]
            data = self._read(namespace, name, ref=ref)
            with self._lock:
                self._cache[slot] = (self._clock(), data)
            return data

    def _read(self, namespace: str, name: str, *, ref: str) -> dict[str, str] | None:
        client = self._connect(ref=ref)
        path = f"/api/v1/namespaces/{namespace}/secrets/{name}"
        self.reads += 1
        try:
            obj = client.request("GET", path, what=f"Secret {namespace}/{name}")
        except errors.NotFound:
            return None
        except errors.Unauthorized as err:
            raise SecretReadError(
                f"{ref}: {self._where()} refused to let syncer read the Secret "
                f"(grant get on secrets in namespace {namespace!r}): {err}"
            ) from err
        except syncer_errors.TemporaryError as err:
            raise syncer_errors.TemporaryError(
                f"{ref}: cannot read the Secret now: {err}", retry_after=err.retry_after
            ) from err
        return _decode(obj.get("data") or {})

    def _connect(self, *, ref: str) -> client_mod.ClusterClient:
        with self._lock:
            if self._client is None:
                try:
                    client = client_mod.connect(self.cluster, base_dir=self.base_dir)
                except syncer_errors.SyncerError as err:
                    raise SecretReadError(
                        f"{ref}: Kubernetes Secrets cannot be read: {err}"
                    ) from err
                # Reads of credentials must not stall a reconcile for long.
                client.retry = throttle.RetryPolicy(attempts=3, connect_attempts=2)
                self._client = client
            return self._client

    def _where(self) -> str:
        if self.cluster.name == IN_POD and not self.cluster.kubeconfig:
            return "the cluster syncer runs in"
        if self.cluster.name == CURRENT and not self.cluster.kubeconfig:
            return "the current kubeconfig context"
        return f"cluster {self.cluster.name}"


def _decode(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            # Binary data (a keystore...) is no credential we can use; say so if asked.
            out[key] = ""
    return out


def reader(config: model.Config) -> SecretReader:
    """The process's reader for ``config``; connects on first use, so a config that
    references no Secret never needs cluster access."""
    return SecretReader(cluster=secrets_cluster(config), base_dir=config.base_dir)
