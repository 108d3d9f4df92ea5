"""Reading and writing coordination.k8s.io/v1 Leases, for leader election and shards.

``syncer.server.leader`` decides who leads and ``syncer.server.shards`` which replica
holds which shard; this module is their only way to the API:
``LeaseClient.get/create/replace`` with optimistic concurrency (``resourceVersion``),
and for shards ``list`` (by label), ``named`` (a sibling Lease on the same connection)
and ``delete``.
It uses the ``kubernetes`` client (which may only be imported under ``syncer/apply/``)
and turns its exceptions into ``syncer.errors``: a lost race is ``LeaseConflict``,
missing permissions are ``PermanentError``, an unreachable API is ``TemporaryError``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import urllib3

from syncer import errors
from syncer.config import model

if TYPE_CHECKING:
    from kubernetes import client as k8s_client

# ``kubernetes`` is imported where it is used: it is the slowest import of all, and
# commands that never elect a leader should not pay for it at start-up.


class LeaseConflict(errors.TemporaryError):
    """Someone else created or changed the Lease first: re-read it and try again."""


@dataclass(frozen=True)
class LeaseRecord:
    """The leader-election fields of a Lease's spec, plus its ``resourceVersion``."""

    holder: str
    """``holderIdentity``: who leads; empty when released."""
    duration: int
    """``leaseDurationSeconds``: how long others wait after the last renewal."""
    acquire_time: dt.datetime | None = None
    renew_time: dt.datetime | None = None
    transitions: int = 0
    """``leaseTransitions``: how many times the holder changed."""
    resource_version: str = ""
    holder_url: str = ""
    """Where the holder's HTTP server answers (the ``LEADER_URL_ANNOTATION``), so that
    standbys can forward webhooks and API calls to it; empty when unknown."""
    name: str = ""
    """The Lease's name (filled when read; ``LeaseClient`` writes its own name)."""
    annotations: tuple[tuple[str, str], ...] = ()
    """Other ``syncer.dev/`` annotations kept with the record (shard count, role)."""
    created: str = ""
    """``metadata.creationTimestamp`` (filled when read): a Lease deleted and made again
    starts its ``leaseTransitions`` at 0, so terms compare within one creation only."""


LEADER_URL_ANNOTATION = "syncer.dev/leader-url"
SHARDS_LABEL = "syncer.dev/shards-of"
"""On every shard and replica-heartbeat Lease of ``syncer run --shards`` (the value: the
Lease names' prefix), so that one LIST finds them all."""


def _micro_time(value: dt.datetime | None) -> str | None:
    """RFC 3339 with microseconds in UTC, as the API's MicroTime is written."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _record(obj: dict[str, Any]) -> LeaseRecord:
    spec = obj.get("spec") or {}
    metadata = obj.get("metadata") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        duration=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(metadata.get("resourceVersion") or ""),
        holder_url=str((metadata.get("annotations") or {}).get(LEADER_URL_ANNOTATION) or ""),
        name=str(metadata.get("name") or ""),
        created=str(metadata.get("creationTimestamp") or ""),
        annotations=tuple(
            sorted(
                (str(k), str(v))
                for k, v in (metadata.get("annotations") or {}).items()
                if k != LEADER_URL_ANNOTATION and str(k).startswith("syncer.dev/")
            )
        ),
    )


class LeaseClient:
    """One Lease ``namespace/name`` in one cluster."""

    def __init__(
        self,
        *,
        api_client: k8s_client.ApiClient,
        namespace: str,
        name: str,
        timeout: float,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.labels = dict(labels or {})
        """Labels written on every create and replace (how ``list`` finds the Lease)."""
        from kubernetes import client as k8s_client

        self._api_client = api_client
        # Typed as Any: responses are read raw (``_preload_content=False``) and bodies
        # sent as dicts, so that MicroTime values keep their exact wire form.
        self._api: Any = k8s_client.CoordinationV1Api(api_client)
        self._timeout = timeout

    @property
    def where(self) -> str:
        return f"lease {self.namespace}/{self.name}"

    def close(self) -> None:
        self._api_client.close()

    def named(self, name: str, *, labels: dict[str, str] | None = None) -> LeaseClient:
        """Another Lease of the same namespace on this client's connection (closing
        either closes both)."""
        return LeaseClient(
            api_client=self._api_client, namespace=self.namespace, name=name,
            timeout=self._timeout, labels=self.labels if labels is None else labels,
        )  # fmt: skip

    def list(self, *, selector: str) -> list[LeaseRecord]:
        """Every Lease of the namespace with these labels (one request)."""
        from kubernetes import client as k8s_client

        try:
            response = self._api.list_namespaced_lease(
                self.namespace, label_selector=selector, _preload_content=False,
                _request_timeout=self._timeout,
            )  # fmt: skip
        except k8s_client.ApiException as err:
            raise self._error(err, verb="list", what=f"leases in {self.namespace}") from err
        except urllib3.exceptions.HTTPError as err:
            raise self._unreachable(err) from err
        return [_record(item) for item in json.loads(response.data).get("items") or []]

    def delete(self, record: LeaseRecord) -> bool:
        """Delete this Lease if it is still at ``record.resource_version``; False when
        it changed or went meanwhile."""
        from kubernetes import client as k8s_client

        try:
            self._api.delete_namespaced_lease(
                self.name, self.namespace, _request_timeout=self._timeout,
                body={"preconditions": {"resourceVersion": record.resource_version}},
                _preload_content=False,
            )  # fmt: skip
        except k8s_client.ApiException as err:
            if err.status in (404, 409):
                return False
            raise self._error(err, verb="delete") from err
        except urllib3.exceptions.HTTPError as err:
            raise self._unreachable(err) from err
        return True

    def get(self) -> LeaseRecord | None:
        """The Lease, or None when it does not exist yet."""
        from kubernetes import client as k8s_client

        try:
            response = self._api.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=self._timeout
            )
        except k8s_client.ApiException as err:
            if err.status == 404:
                return None
            raise self._error(err, verb="get") from err
        except urllib3.exceptions.HTTPError as err:
            raise self._unreachable(err) from err
        return _record(json.loads(response.data))

    def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease; ``LeaseConflict`` when it exists already."""
        from kubernetes import client as k8s_client

        body = self._body(record, resource_version="")
        try:
            response = self._api.create_namespaced_lease(
                self.namespace, body, _preload_content=False, _request_timeout=self._timeout
            )
        except k8s_client.ApiException as err:
            raise self._error(err, verb="create") from err
        except urllib3.exceptions.HTTPError as err:
            raise self._unreachable(err) from err
        return _record(json.loads(response.data))

    def replace(self, record: LeaseRecord) -> LeaseRecord:
        """Replace the Lease if it is still at ``record.resource_version``."""
        from kubernetes import client as k8s_client

        body = self._body(record, resource_version=record.resource_version)
        try:
            response = self._api.replace_namespaced_lease(
                self.name,
                self.namespace,
                body,
                _preload_content=False,
                _request_timeout=self._timeout,
            )
        except k8s_client.ApiException as err:
            raise self._error(err, verb="update") from err
        except urllib3.exceptions.HTTPError as err:
            raise self._unreachable(err) from err
        return _record(json.loads(response.data))

    def _body(self, record: LeaseRecord, *, resource_version: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        annotations = dict(record.annotations)
        if record.holder_url:
            annotations[LEADER_URL_ANNOTATION] = record.holder_url
        if annotations:
            metadata["annotations"] = annotations
        if self.labels:
            metadata["labels"] = dict(self.labels)
        spec = {
            "holderIdentity": record.holder,
            "leaseDurationSeconds": record.duration,
            "acquireTime": _micro_time(record.acquire_time),
            "renewTime": _micro_time(record.renew_time),
            "leaseTransitions": record.transitions,
        }
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {k: v for k, v in spec.items() if v is not None},
        }

    def _error(
        self, err: k8s_client.ApiException, *, verb: str, what: str = ""
    ) -> errors.SyncerError:
        message = _status_message(err)
        where = what or self.where
        if err.status == 409:
            return LeaseConflict(f"{where}: changed by someone else ({message})")
        if err.status in (401, 403):
            verbs = (
                "get, list, create, update and delete" if self.labels else "get, create and update"
            )
            return errors.PermanentError(
                f"{where}: {verb} refused ({err.status} {message}); grant the service "
                f"account {verbs} on leases in namespace {self.namespace}"
            )
        if err.status == 404:
            return errors.PermanentError(f"{where}: {message} (does the namespace exist?)")
        if err.status in (429, 500, 502, 503, 504):
            return errors.TemporaryError(f"{where}: {verb} failed ({err.status} {message})")
        return errors.SyncerError(f"{where}: {verb} failed ({err.status} {message})")

    def _unreachable(self, err: Exception) -> errors.TemporaryError:
        return errors.TemporaryError(
            f"{self.where}: the API server is unreachable ({type(err).__name__})"
        )


def _status_message(err: k8s_client.ApiException) -> str:
    try:
        return str(json.loads(err.body or "{}").get("message") or err.reason)
    except (ValueError, AttributeError):
        return str(err.reason)


def connect(
    *,
    cluster: model.Cluster,
    namespace: str,
    name: str,
    base_dir: str = ".",
    timeout: float = 10.0,
    labels: dict[str, str] | None = None,
) -> LeaseClient:
    """A ``LeaseClient`` for ``namespace/name`` in ``cluster`` (kubeconfig or in-cluster).

    ``timeout`` bounds each request (default 10s: under a typical renew deadline, so a
    hung request cannot outlive the leadership it is renewing).
    """
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    try:
        if cluster.in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            path = os.path.expanduser(cluster.kubeconfig) if cluster.kubeconfig else None
            if path and not os.path.isabs(path):
                path = os.path.join(base_dir, path)
            k8s_config.load_kube_config(
                config_file=path,
                context=cluster.context or None,
                client_configuration=configuration,
            )
    except (k8s_config.ConfigException, OSError) as err:
        raise errors.PermanentError(
            f"cluster {cluster.name}: cannot load credentials for leader election: {err}"
        ) from err
    # The elector retries on its own schedule; a blind library retry would only delay it.
    configuration.retries = False
    # Shard renewals go side by side: keep a connection for each (the default scales
    # with the cores, 5 on one, and a connection beyond the pool is a new TLS handshake).
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, 12)
    return LeaseClient(
        api_client=k8s_client.ApiClient(configuration),
        namespace=namespace,
        name=name,
        timeout=timeout,
        labels=labels,
    )
