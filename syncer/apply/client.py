"""The one module that talks to Kubernetes: a ``ClusterClient`` per cluster.

Everything in ``syncer.apply`` reaches a cluster through it. It loads credentials
(kubeconfig + context, or the pod's service account), spaces requests to the
cluster's QPS, applies the per-cluster timeout, retries 429/5xx and dropped
connections with backoff (honouring ``Retry-After``), counts requests and writes, and
turns every ``kubernetes``/``urllib3`` exception and API ``Status`` into
``syncer.apply.errors``. One client failing (its cluster down) affects nobody else.

With leader election every write (apply, create, delete: any request but a GET or a
dry run) first calls the client's ``guard`` — the elector's ``fence`` — right before it
is sent, retries included; a replica that no longer holds a valid lease gets
``syncer.errors.Fenced`` and sends nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import urllib3

from syncer import errors as syncer_errors
from syncer.apply import claims, discovery, errors, ownership, refs, throttle
from syncer.config import model

if TYPE_CHECKING:
    from kubernetes import client as k8s_client

# ``kubernetes`` itself is imported where a client is built or a request made: it is
# the slowest import of all, and commands that touch no cluster (``syncer validate``,
# ``syncer image tags``, ``--version``) should not pay for it at start-up.

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES = 256 << 20
"""The largest answer read: far above a page of 500 objects, far below the memory limit."""
POOL_CONNECTIONS = 96
"""Connections kept open to one cluster: at least as many as requests in flight at once
(``parallel.POOL_THREADS`` helpers, each of ``settings.workers`` syncs' own reads, one per
watch). urllib3 opens more when needed but closes what does not fit, and a new
TLS connection per request costs the API server more than the request itself."""
AUTOMATIC_QPS = 200.0
"""Requests per second to a cluster whose ``qps`` is left automatic (0) while its API
server does not say that API Priority and Fairness shields it."""
FLOW_SCHEMA_HEADER = "x-kubernetes-pf-flowschema-uid"
"""Sent with every answer of an API server with API Priority and Fairness (the flow
schema that classified the request): that server queues and sheds load itself."""
APPLY_PATCH = "application/apply-patch+yaml"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


class ClusterClient:
    """A connection to one cluster's API. Create it with ``connect``; share it."""

    def __init__(
        self,
        *,
        name: str,
        api: k8s_client.ApiClient,
        timeout: float = 30.0,
        qps: float = 0.0,
        retry: throttle.RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        reload: Callable[[], k8s_client.ApiClient] | None = None,
        guard: Callable[[], None] | None = None,
        impersonate: Identity | None = None,
    ) -> None:
        self.name = name
        self.impersonate = impersonate
        """Whom every request acts as (a tenant's account), or None for our own."""
        self.guard = guard
        """Called right before every write is sent; raises ``errors.Fenced`` to stop it."""
        self.timeout = timeout
        self.retry = retry or throttle.RetryPolicy()
        self.stats = throttle.Stats()
        self.applied: dict[tuple[str, str, str, str], tuple[str, str]] = {}
        """identity -> (digest of what we applied, resourceVersion it produced)."""
        self.round_cache: Any = None
        """A ``cache.RoundCache`` while ``apply.read_round`` is active, else None."""
        self.watches: Any = None
        """An ``informer.Watches`` when this cluster's drift is read from watches."""
        self._api = api
        self._reload = reload
        """Builds a new ApiClient from the kubeconfig (or service account) as it is now."""
        self._sleep = sleep
        self._automatic = qps <= 0
        """No limit of our own where the server has API Priority and Fairness, else
        ``AUTOMATIC_QPS``; an explicit ``qps`` is always kept."""
        rate = AUTOMATIC_QPS if self._automatic else qps
        self._bucket = throttle.Bucket(qps=rate, burst=max(10, int(rate)), clock=clock, sleep=sleep)
        self.flow_control: bool | None = None
        """Whether the API server's last answer came through API Priority and Fairness
        (None: no answer yet)."""
        self.discovery = discovery.Discovery(fetch=self._fetch_discovery, cluster=name)
        self.max_response_bytes = MAX_RESPONSE_BYTES
        """Answers larger than this are refused (a list is read in pages of 500)."""
        self.claims = claims.Claims()
        """Objects apps of this process are creating here (see claims.py)."""

    def close(self) -> None:
        self._api.close()

    # --- objects -----------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> discovery.Resource:
        return self.discovery.resource(api_version, kind)

    def get(self, ref: refs.ObjectRef) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        resource = self.resource(ref.api_version, ref.kind)
        try:
            return self.request("GET", resource.path(namespace=ref.namespace, name=ref.name))
        except errors.NotFound:
            return None

    def list_objects(
        self, *, api_version: str, kind: str, namespace: str = "", label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """Every object of a kind (in a namespace) matching the selector, all pages."""
        return self.list_versioned(
            api_version=api_version, kind=kind, namespace=namespace, label_selector=label_selector
        )[0]

    def list_versioned(
        self, *, api_version: str, kind: str, namespace: str = "", label_selector: str = ""
    ) -> tuple[list[dict[str, Any]], str]:
        """``list_objects`` and the list's resourceVersion (where a watch starts from)."""
        resource = self.resource(api_version, kind)
        path = resource.path(namespace=namespace)
        items: list[dict[str, Any]] = []
        token = ""
        version = ""
        while True:
            query = [("limit", "500")]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            try:
                page = self.request("GET", path, query=query)
            except errors.NotFound:
                # The resource went away (its CRD was deleted): learn it, say it clearly.
                self.discovery.forget(api_version)
                self.resource(api_version, kind)
                raise
            for item in page.get("items") or []:
                # List items omit apiVersion/kind; the rest of apply relies on them.
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                items.append(item)
            meta = page.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            token = str(meta.get("continue") or "")
            if not token:
                return items, version

    def apply(
        self,
        obj: dict[str, Any],
        *,
        force: bool,
        dry_run: bool = False,
        metadata_only: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply with field manager ``syncer``; the resulting object, or with
        ``metadata_only`` just its metadata (a ``PartialObjectMetadata``: less for the
        server to encode and for us to parse, where the answer only tells success)."""
        ref = refs.ObjectRef.of(obj)
        resource = self.resource(ref.api_version, ref.kind)
        # Strict: a misspelt field is an error naming it, not silently dropped (and then
        # re-applied forever because it never shows up live).
        query = [
            ("fieldManager", ownership.FIELD_MANAGER),
            ("force", str(force).lower()),
            ("fieldValidation", "Strict"),
        ]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH",
            resource.path(namespace=ref.namespace, name=ref.name),
            query=query,
            body=obj,
            content_type=APPLY_PATCH,
            what=str(ref),
            accept=METADATA_ONLY if metadata_only else "application/json",
        )

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST a new object (used for namespaces); ``AlreadyExists`` is an ApiError."""
        ref = refs.ObjectRef.of(obj)
        resource = self.resource(ref.api_version, ref.kind)
        return self.request(
            "POST",
            resource.path(namespace=ref.namespace),
            query=[("fieldManager", ownership.FIELD_MANAGER)],
            body=obj,
            content_type="application/json",
            what=str(ref),
        )

    def delete(self, ref: refs.ObjectRef, *, uid: str = "") -> bool:
        """Delete (background propagation); False when it was already gone.

        ``uid`` makes the delete conditional, so an object re-created by someone else
        since we looked is never deleted by mistake.
        """
        resource = self.resource(ref.api_version, ref.kind)
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request(
                "DELETE",
                resource.path(namespace=ref.namespace, name=ref.name),
                body=body,
                content_type="application/json",
                what=str(ref),
            )
        except errors.NotFound:
            return False
        return True

    def allowed(
        self, *, verbs: Sequence[str], resource: discovery.Resource, namespace: str
    ) -> bool:
        """Whether this client's credentials may do every one of ``verbs`` on ``resource``
        in ``namespace`` ("": in all namespaces), by SelfSubjectAccessReview (which every
        authenticated user may ask): nothing is tried and refused to find out."""
        group = resource.api_version.rpartition("/")[0]
        for verb in verbs:
            attributes = {
                "verb": verb, "group": group, "resource": resource.plural, "namespace": namespace,
            }  # fmt: skip
            review = self.request(
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                body={
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes},
                },
                content_type="application/json",
                what=f"access review {verb} {resource.plural}",
                read_only=True,
            )
            if not (review.get("status") or {}).get("allowed"):
                return False
        return True

    def watch(
        self,
        *,
        api_version: str,
        kind: str,
        resource_version: str,
        namespace: str = "",
        label_selector: str = "",
        timeout_seconds: int = 300,
    ) -> WatchStream:
        """Open a WATCH of a kind (in every namespace, or in ``namespace``) from
        ``resource_version`` (bookmarks
        asked for); iterate the answer for its events. The server ends it after
        ``timeout_seconds``. A refused or expired start raises like ``request`` does
        (``Gone`` for an expired resourceVersion); one attempt, no retries: the caller
        (``informer``) owns the backoff."""
        resource = self.resource(api_version, kind)
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        path = resource.path(namespace=namespace)
        full_path = path + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query)
        subject = f"WATCH {kind}"
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        self._throttle()
        self.stats.count(verb="WATCH", write=False)
        try:
            method, url, headers, _, _ = self._api.param_serialize(
                method="GET",
                resource_path=full_path,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            # No total deadline: a watch is read for minutes. A read that waits past the
            # server's own end of the watch (plus a margin) means a dead connection.
            answer = self._api.call_api(
                method, url, header_params=headers,
                _request_timeout=(self.timeout, timeout_seconds + WATCH_READ_MARGIN),
            )  # fmt: skip
        except k8s_client.ApiException as err:
            raw = err.body if isinstance(err.body, bytes) else str(err.body or "").encode()
            raise self._watch_error(subject, err.status or 0, dict(err.headers or {}), raw) from err
        except (urllib3.exceptions.HTTPError, OSError, k8s_config.ConfigException) as err:
            raise errors.ClusterUnreachable(
                f"cluster {self.name}: API unreachable ({_short(err)}) on {subject}",
                retry_after=10.0,
            ) from err
        response = answer.response
        if answer.status != 200:
            data = self._read_body(response, started=time.monotonic(), what=subject)
            raise self._watch_error(subject, answer.status, dict(answer.headers or {}), data)
        return WatchStream(response, cluster=self.name, what=subject)

    def _watch_error(
        self, subject: str, status: int, headers: dict[str, str], data: bytes
    ) -> syncer_errors.SyncerError:
        if status == 410:
            return errors.Gone(f"cluster {self.name}: {subject}: resourceVersion expired")
        if status == 0:
            return errors.ClusterUnreachable(f"cluster {self.name}: {subject}: no answer")
        return self._error(method="GET", subject=subject, status=status, headers=headers, data=data)

    def served_apis(self) -> tuple[str, list[str]]:
        """(server version, every ``group/version`` and ``group/version/Kind`` served),
        from two aggregated discovery requests and ``/version``."""
        version = str(self.request("GET", "/version").get("gitVersion") or "")
        served: list[str] = []
        for root in ("/api", "/apis"):
            listing = self.request("GET", root, accept=AGGREGATED_DISCOVERY)
            for group in listing.get("items") or []:
                name = str((group.get("metadata") or {}).get("name") or "")
                for entry in group.get("versions") or []:
                    gv = f"{name}/{entry.get('version')}" if name else str(entry.get("version"))
                    served.append(gv)
                    served += [
                        f"{gv}/{r['responseKind']['kind']}"
                        for r in entry.get("resources") or []
                        if isinstance(r.get("responseKind"), dict) and r["responseKind"].get("kind")
                    ]
        return version, sorted(set(served))

    # --- transport ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "",
        what: str = "",
        accept: str = "application/json",
        read_only: bool = False,
    ) -> dict[str, Any]:
        """One API call with rate limiting and retries; the parsed JSON answer.
        ``read_only``: a POST that changes nothing (an access review): not a write."""
        url_query = "&".join(f"{key}={quote(value, safe='')}" for key, value in query or [])
        full_path = f"{path}?{url_query}" if url_query else path
        write = method != "GET" and ("dryRun", "All") not in (query or []) and not read_only
        subject = what or path
        attempt = 0
        reloaded = False
        while True:
            attempt += 1
            self._throttle()
            if write and self.guard is not None:
                self.guard()  # as late as possible: the bucket or a backoff may have slept
            self.stats.count(verb=method, write=write)
            try:
                status, headers, data = self._send(method, full_path, body, content_type, accept)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                if _tls_failure(err):
                    # The CA (or client certificate) may have been rotated in the
                    # kubeconfig since we read it: read it again, once, before failing.
                    if not reloaded and self._reload_credentials(why="TLS verification failed"):
                        reloaded = True
                        continue
                    raise errors.CertificateFailure(
                        f"cluster {self.name}: TLS certificate verification failed "
                        f"({_short(err)}) on {method} {subject}; check the CA "
                        "(certificate-authority) in its kubeconfig",
                        retry_after=30.0,
                    ) from err
                if attempt < self.retry.connect_attempts:
                    self._sleep(self._backoff(attempt))
                    continue
                raise errors.ClusterUnreachable(
                    f"cluster {self.name}: API unreachable ({_short(err)}) on {method} {subject}",
                    retry_after=10.0,
                ) from err
            if status < 300:
                return _json(data)
            if status == 401 and not reloaded and self._reload_credentials(why="HTTP 401"):
                reloaded = True  # a rotated token: read the kubeconfig again, once
                continue
            if (
                status in RETRY_STATUSES
                and attempt < self.retry.attempts
                and not _untypable(status, data)
            ):
                delay = self._backoff(attempt, retry_after=headers.get("Retry-After"))
                log.info(
                    "kube request retried cluster=%s verb=%s path=%s status=%s delay=%.2f",
                    self.name,
                    method,
                    path,
                    status,
                    delay,
                )
                self._sleep(delay)
                continue
            raise self._error(
                method=method, subject=subject, status=status, headers=headers, data=data
            )

    def _throttle(self) -> None:
        """Wait for the client-side rate limit, unless it is automatic and the server
        limits load itself (as client-go's users do, on SIG API Machinery's advice)."""
        if not (self._automatic and self.flow_control):
            self._bucket.take()

    def _note_flow_control(self, headers: Any) -> None:
        """Whether this answer came through API Priority and Fairness (the header names
        the flow schema); a change is logged where it turns the client's limit on or off."""
        shielded = any(str(name).lower() == FLOW_SCHEMA_HEADER for name in headers or ())
        if shielded == self.flow_control:
            return
        self.flow_control = shielded
        if self._automatic:
            log.info(
                "cluster=%s client-side rate limit %s",
                self.name,
                "off: the API server has API Priority and Fairness"
                if shielded
                else f"{AUTOMATIC_QPS:g}/s: the API server does not say it has API Priority "
                "and Fairness",
            )

    def _reload_credentials(self, *, why: str) -> bool:
        """Re-read the kubeconfig (CA, token, client certificate); True when it could."""
        if self._reload is None:
            return False
        try:
            api = self._reload()
        except syncer_errors.SyncerError as err:
            log.warning("kubeconfig re-read failed cluster=%s: %s", self.name, err)
            return False
        # The old ApiClient is left to the garbage collector: another thread may still be
        # using it for a request in flight.
        self._api = api
        log.info("kubeconfig re-read cluster=%s reason=%r", self.name, why)
        return True

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        content_type: str,
        accept: str = "application/json",
    ) -> tuple[int, dict[str, str], bytes]:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        headers: dict[str, str] = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            method, url, serialized, body_out, _ = self._api.param_serialize(
                method=method,
                resource_path=path,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            sent: Any = serialized
            if self.impersonate is not None:
                sent = self.impersonate.headers(serialized)
            started = time.monotonic()
            response = self._api.call_api(
                method,
                url,
                header_params=sent,
                body=body_out,
                _request_timeout=self.timeout,
            )
            data = self._read_body(response.response, started=started, what=f"{method} {path}")
        except k8s_client.ApiException as err:
            if err.status:
                raw = err.body if isinstance(err.body, bytes) else str(err.body or "").encode()
                self._note_flow_control(err.headers)
                return err.status, dict(err.headers or {}), raw
            # status 0: the client could not even send it (TLS setup, bad arguments)
            raise urllib3.exceptions.HTTPError(str(err.reason)) from err
        except k8s_config.ConfigException as err:
            # Refreshing credentials (exec plugin, expired token file) failed.
            raise errors.Unauthorized(
                f"cluster {self.name}: cannot refresh its credentials: {_short(err)}"
            ) from err
        self._note_flow_control(response.headers)
        return response.status, dict(response.headers or {}), data or b""

    def _read_body(self, raw: Any, *, started: float, what: str) -> bytes:
        """The body of an answer, within the request's whole timeout and the size cap.

        urllib3's timeout bounds each socket read, so an API (or a proxy in front of it)
        that drips one byte at a time would hold the call forever; reading what has
        arrived, piece by piece, lets the deadline and the cap be checked as it comes.
        """
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := raw.read1(1 << 16):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise errors.ApiError(
                        f"cluster {self.name}: {what}: the answer is over "
                        f"{self.max_response_bytes:,} bytes; refused",
                        status=0,
                        reason="TooLarge",
                    )
                if time.monotonic() - started > self.timeout:
                    raise urllib3.exceptions.TimeoutError(
                        f"answer not complete after {self.timeout:g}s"
                    )
                chunks.append(chunk)
        except BaseException:
            raw.close()  # the connection is in an unknown state: never reuse it
            raise
        raw.release_conn()
        return b"".join(chunks)

    def _backoff(self, attempt: int, *, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(self.retry.max_delay, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP-date: fall back to our own backoff
        delay = self.retry.base_delay * 2 ** (attempt - 1)
        return min(self.retry.max_delay, delay * random.uniform(0.8, 1.2))

    def _error(
        self, *, method: str, subject: str, status: int, headers: dict[str, str], data: bytes
    ) -> syncer_errors.SyncerError:
        document = _json_or_none(data) or {}
        message = str(document.get("message") or data[:300].decode("utf-8", "replace"))
        reason = str(document.get("reason") or "")
        text = f"cluster {self.name}: {method} {subject}: {message}"
        if _untypable(status, data):
            return errors.InvalidObject(
                f"cluster {self.name}: {method} {subject}: {_typing_problem(message)}; "
                "fix the manifest (the API server cannot type this object)"
            )
        if status in RETRY_STATUSES:
            retry_after = self._backoff(self.retry.attempts, retry_after=headers.get("Retry-After"))
            return errors.ApiUnavailable(
                f"{text} (HTTP {status}, gave up after {self.retry.attempts} tries)",
                retry_after=max(retry_after, 1.0),
            )
        if status in (401, 403):
            if self.impersonate is not None:
                return errors.Unauthorized(
                    f"{text} (HTTP {status}: syncer acts as {self.impersonate} here; grant"
                    f" that account the permission in the cluster's RBAC)"
                )
            return errors.Unauthorized(
                f"{text} (HTTP {status}: check the kubeconfig credentials and RBAC)"
            )
        if status == 404:
            return errors.NotFound(text, details=document.get("details") or {})
        if status == 409 and reason == "Conflict" and method == "PATCH":
            return errors.FieldConflict(
                f"{text}\nanother field manager owns these fields; remove them from the "
                "manifest, ask that manager to release them, or set sync.force: true"
            )
        if status in (400, 422):
            return errors.InvalidObject(text)
        return errors.ApiError(f"{text} (HTTP {status})", status=status, reason=reason)

    def _fetch_discovery(self, path: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", path)
        except errors.NotFound:
            return None


WATCH_READ_MARGIN = 30
"""Seconds a watch read may wait beyond the server's ``timeoutSeconds`` before the
connection is taken for dead (bookmarks and the server's own end come well before)."""


class WatchStream:
    """An open watch: iterating it yields its events (``{"type": ..., "object": ...}``)
    until the server ends it; ``close`` (from any thread) ends it at once. A connection
    that breaks mid-stream raises ``errors.ClusterUnreachable``."""

    def __init__(self, response: Any, *, cluster: str, what: str) -> None:
        self._response = response
        self._cluster = cluster
        self._what = what
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        pending = b""
        try:
            while chunk := self._response.read1(1 << 16):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    event = _json_or_none(line)
                    if event is not None:
                        yield event
        except Exception as err:
            if self.closed:
                return  # closed from another thread: whatever the read tripped on
            if not isinstance(err, urllib3.exceptions.HTTPError | OSError | ValueError):
                raise
            raise errors.ClusterUnreachable(
                f"cluster {self._cluster}: {self._what} broken ({_short(err)})", retry_after=1.0
            ) from err
        finally:
            self.close()

    def close(self) -> None:
        """End the watch; a read blocked in another thread returns."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # already broken: nothing left to end
            self._response.shutdown()
        with contextlib.suppress(Exception):
            self._response.close()


# A real apiserver answers 500 for an apply it cannot turn into a typed object (an
# undeclared field, a wrong type): a permanent error of the manifest, not of the server.
UNTYPABLE_MARKERS = ("failed to create typed patch object", "failed to create typed live object")


def _untypable(status: int, data: bytes) -> bool:
    if status != 500:
        return False
    text = data[:2000].decode("utf-8", "replace")
    return any(marker in text for marker in UNTYPABLE_MARKERS)


def _typing_problem(message: str) -> str:
    """'unknown field "spec.x"' or 'field "spec.x": expected …' from the server's text
    ("failed to create typed patch object (ns/n; apps/v1, Kind=K): .spec.x: why")."""
    found = re.search(r"\): \.?([^\s:]+): (.+)$", message, re.DOTALL)
    if not found:
        return message
    field, why = found.group(1), found.group(2).strip()
    if why == "field not declared in schema":
        return f'unknown field "{field}"'
    return f'field "{field}": {why}'


def _json(data: bytes) -> dict[str, Any]:
    parsed = _json_or_none(data)
    return parsed if parsed is not None else {}


def _json_or_none(data: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _tls_failure(err: BaseException) -> bool:
    """A certificate verification failure (not a network problem)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError) or (
            "CERTIFICATE_VERIFY_FAILED" in str(current)
        ):
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)
        if not isinstance(current, BaseException):
            current = None
    return False


def _short(err: BaseException) -> str:
    text = str(err)
    return text if len(text) < 200 else text[:200] + "..."


@dataclasses.dataclass(frozen=True)
class Identity:
    """Whom requests act as (Kubernetes user impersonation): a user and its groups."""

    user: str
    groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, impersonation: model.Impersonation) -> Identity:
        if impersonation.service_account:
            namespace, _, name = impersonation.service_account.partition("/")
            return cls(user=f"system:serviceaccount:{namespace}:{name}")
        return cls(user=impersonation.user, groups=impersonation.groups)

    def headers(self, headers: dict[str, str]) -> urllib3.HTTPHeaderDict:
        """``headers`` plus Impersonate-User and one Impersonate-Group line per group
        (the API server reads each line as one group, so they are not comma-joined)."""
        out = urllib3.HTTPHeaderDict(headers)
        out["Impersonate-User"] = self.user
        for group in self.groups:
            out.add("Impersonate-Group", group)
        return out

    def __str__(self) -> str:
        groups = f" (groups {', '.join(self.groups)})" if self.groups else ""
        return f"{self.user}{groups}"


_IDENTITY: list[str] = []


def set_identity(identity: str) -> None:
    """Name this process in the User-Agent of every cluster request from now on
    (``syncer/<identity>``): with several replicas, the API server's audit log then says
    which one wrote what."""
    _IDENTITY[:] = [identity]


def user_agent() -> str:
    return f"syncer/{_IDENTITY[0]}" if _IDENTITY else "syncer"


def connect(
    cluster: model.Cluster,
    *,
    base_dir: str = ".",
    qps: float | None = None,
    guard: Callable[[], None] | None = None,
    impersonate: Identity | None = None,
) -> ClusterClient:
    """A client for ``cluster``; nothing is sent yet, so a down cluster does not fail here.

    The kubeconfig path is relative to ``base_dir`` (the config file's directory);
    empty means ``$KUBECONFIG`` or ``~/.kube/config``. Raises ``PermanentError`` when
    the kubeconfig or context cannot be loaded.
    """

    def load() -> k8s_client.ApiClient:
        from kubernetes import client as k8s_client

        api = k8s_client.ApiClient(_configuration(cluster, base_dir=base_dir))
        api.user_agent = user_agent()
        return api

    return ClusterClient(
        name=cluster.name,
        api=load(),
        timeout=cluster.timeout,
        qps=cluster.qps if qps is None else qps,
        reload=load,
        guard=guard,
        impersonate=impersonate,
    )


def _configuration(cluster: model.Cluster, *, base_dir: str) -> k8s_client.Configuration:
    """The client configuration from the kubeconfig or service account, read now."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    try:
        if cluster.in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            path = cluster.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
            path = path or "~/.kube/config"
            resolved = Path(base_dir, os.path.expanduser(path))
            if not resolved.is_file():
                raise FileNotFoundError(f"kubeconfig {resolved} does not exist")
            k8s_config.load_kube_config(
                config_file=str(resolved),
                context=cluster.context or None,
                client_configuration=configuration,
                persist_config=False,
            )
    except Exception as err:  # ConfigException, YAML and file errors alike
        where = "in-cluster service account" if cluster.in_cluster else "kubeconfig"
        raise syncer_errors.PermanentError(
            f"cluster {cluster.name}: cannot load its {where}"
            f"{' context ' + repr(cluster.context) if cluster.context else ''}: {err}"
        ) from err
    # Our own retry loop decides; urllib3 must not retry behind its back.
    configuration.retries = False
    configuration.connection_pool_maxsize = POOL_CONNECTIONS
    return configuration
