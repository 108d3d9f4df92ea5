"""Reading and writing one coordination.k8s.io/v1 Lease, for leader election.

``syncer.server.leader`` decides who leads; this module is its only way to the API:
``LeaseClient.get/create/replace`` with optimistic concurrency (``resourceVersion``).
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


LEADER_URL_ANNOTATION = "syncer.dev/leader-url"


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
    )


class LeaseClient:
    """One Lease ``namespace/name`` in one cluster."""

    def __init__(
        self, *, api_client: k8s_client.ApiClient, namespace: str, name: str, timeout: float
    ) -> None:
        self.namespace = namespace
        self.name = name
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
        if record.holder_url:
            metadata["annotations"] = {LEADER_URL_ANNOTATION: record.holder_url}
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

    def _error(self, err: k8s_client.ApiException, *, verb: str) -> errors.SyncerError:
        message = _status_message(err)
        if err.status == 409:
            return LeaseConflict(f"{self.where}: changed by someone else ({message})")
        if err.status in (401, 403):
            return errors.PermanentError(
                f"{self.where}: {verb} refused ({err.status} {message}); grant the service "
                "account get, create and update on leases in that namespace"
            )
        if err.status == 404:
            return errors.PermanentError(f"{self.where}: {message} (does the namespace exist?)")
        if err.status in (429, 500, 502, 503, 504):
            return errors.TemporaryError(f"{self.where}: {verb} failed ({err.status} {message})")
        return errors.SyncerError(f"{self.where}: {verb} failed ({err.status} {message})")

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
    return LeaseClient(
        api_client=k8s_client.ApiClient(configuration),
        namespace=namespace,
        name=name,
        timeout=timeout,
    )
