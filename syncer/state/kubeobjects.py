"""State documents kept as Secrets in one namespace, written with optimistic concurrency.

``syncer.state.kube.KubeStore`` keeps each part of the state (one document per app, the
poll results, the notification deliveries, a small index) as a JSON document in one
Secret, through this module only. It reaches the API with ``syncer.apply.client``'s
``ClusterClient`` (rate limit, retries, credentials and fencing as for any cluster).

Every write is a read-modify-write guarded by ``metadata.resourceVersion``: a change
made meanwhile by another writer makes the API answer 409 Conflict, and ``update``
reads the object again and re-applies the change to what it holds now, so two writers
never both win and neither loses the other's change. A document that cannot be read
(edited by hand into garbage, or written by a newer syncer) is never overwritten: the
error names the Secret and what to do. A document that would outgrow ``max_bytes`` is
first shrunk by its owner's ``shrink`` (oldest history goes first), else refused.

Reads by a long-running process (``syncer run``: every API answer, metrics scrape and
poll asks about every app) come from a cache once ``watch`` started one: a LIST and
WATCH of the state Secrets of the namespace (``syncer.apply.informer.Informer``), so an
answer costs no request. Its own writes are seen at once (the written Secret is kept
until the watch brings that version or a later one), others' as the watch brings them.
While the watch is not synced (starting, broken, RBAC refusing list or watch) reads GET
and LIST as without it. Writes always read the Secret itself first.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from syncer import errors
from syncer.apply import client as kube_client
from syncer.apply import errors as apply_errors
from syncer.apply import informer as informer_

log = logging.getLogger("syncer.state")

SCHEMA = 1
"""The document format this syncer writes (``schema`` in every document)."""
DATA_KEY = "state.json.gz"
"""The Secret data key holding the gzip-compressed JSON document."""
SECRET_TYPE = "syncer.dev/state"
KIND_LABEL = "syncer.dev/state"
"""``app``, ``polls``, ``deliveries`` or ``index``: what a state Secret holds."""
MANAGED = {"app.kubernetes.io/managed-by": "syncer"}
MAX_BYTES = 512 * 1024
"""The largest Secret written (512 KiB encoded: a third of etcd's 1.5 MiB request limit,
so an object never nears it, and a LIST page of them stays small)."""
CONFLICT_RETRIES = 20
"""Re-reads after a 409 before a write gives up (each one re-applies the change)."""
CONFLICT_BACKOFF = 0.02
"""Seconds times the attempt number, at most, waited (at random) before re-reading after
a conflict, so that writers racing on one object take turns instead of starving one."""

T = TypeVar("T")


class StateObjectError(errors.PermanentError):
    """A state Secret cannot be read or written as it is: the message says what to do."""


@dataclasses.dataclass
class Doc:
    """One state document as read: its JSON data, labels and ``resourceVersion``."""

    name: str
    data: dict[str, Any]
    labels: dict[str, str]
    resource_version: str


class Objects:
    """The state Secrets of one namespace in one cluster."""

    def __init__(
        self,
        *,
        client: kube_client.ClusterClient,
        namespace: str,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.max_bytes = max_bytes
        self._writes = threading.Lock()
        self._informer: informer_.Informer | None = None
        self._written: dict[str, dict[str, Any]] = {}
        """Secrets this process wrote that the watch has not brought yet (by name)."""
        self._written_lock = threading.Lock()
        self.cached_reads = 0
        """Reads answered from the watch's cache."""

    @property
    def where(self) -> str:
        return f"cluster {self.client.name} namespace {self.namespace}"

    def describe(self, name: str) -> str:
        return f"state Secret {self.namespace}/{name} (cluster {self.client.name})"

    def _path(self, name: str = "") -> str:
        base = f"/api/v1/namespaces/{self.namespace}/secrets"
        return f"{base}/{name}" if name else base

    # --- the cache ----------------------------------------------------------------------
    def watch(self) -> None:
        """Answer reads from a watch of the state Secrets from now on (see the module
        docstring); ``close`` stops it."""
        if self._informer is not None:
            return
        self._informer = informer_.Informer(
            self.client, api_version="v1", kind="Secret", namespace=self.namespace,
            changed=self._seen, label_selector=f"{_selector(MANAGED)},{KIND_LABEL}",
            fallback="state reads get each Secret",
        )  # fmt: skip
        self._informer.start()

    def close(self) -> None:
        if self._informer is not None:
            self._informer.stop()
        self.client.close()

    @property
    def cache_synced(self) -> bool:
        return self._informer is not None and self._informer.synced

    def cache_state(self) -> str:
        """The watch's state (``synced``, ``starting``, ``reconnecting``, ``unavailable``);
        "" without one."""
        return self._informer.state if self._informer is not None else ""

    def _seen(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """The watch brought a change: a Secret this process wrote is the cache's again
        once the watch has that version or a later one (or saw it deleted)."""
        name = _name(new or old or {})
        with self._written_lock:
            mine = self._written.get(name)
            if mine is not None and (new is None or not _older(new, than=mine)):
                del self._written[name]

    def _remember(self, written: dict[str, Any]) -> None:
        """Read-your-writes: ``written`` (the API's answer to this process's write) is
        what reads see until the watch catches up with it."""
        informer = self._informer
        if informer is None:
            return
        name = _name(written)
        with self._written_lock:
            cached = informer.labelled(namespace=self.namespace, names=[name])
            if not cached or _older(cached[0], than=written):
                self._written[name] = written

    def _cached(self) -> dict[str, dict[str, Any]] | None:
        """Every state Secret as this process knows it (by name); None when not synced."""
        informer = self._informer
        if informer is None or not informer.synced:
            return None
        found = {_name(obj): obj for obj in informer.items()}
        with self._written_lock:
            found.update(self._written)
            self.cached_reads += 1
        return found

    def _cached_one(self, name: str) -> tuple[bool, dict[str, Any] | None]:
        """(True, the Secret or None when there is none) from the cache; (False, None)
        when it is not synced."""
        informer = self._informer
        if informer is None or not informer.synced:
            return False, None
        with self._written_lock:
            mine = self._written.get(name)
            self.cached_reads += 1
        if mine is not None:
            return True, mine
        found = informer.labelled(namespace=self.namespace, names=[name])
        return True, (found[0] if found else None)

    # --- reading ----------------------------------------------------------------------
    def get(self, name: str) -> Doc | None:
        """The document in Secret ``name``, or None when there is none."""
        hit, obj = self._cached_one(name)
        if hit:
            return self.decode(obj) if obj is not None else None
        return self.fetch(name)

    def fetch(self, name: str) -> Doc | None:
        """``get`` from the API server itself, never from the cache."""
        try:
            obj = self._call("GET", self._path(name), verb="get", name=name)
        except apply_errors.NotFound:
            return None
        return self.decode(obj)

    def list(self, *, kind: str, selector: str = "") -> list[Doc]:
        """Every document of ``kind`` (and matching the extra label ``selector``)."""
        label_selector = f"{KIND_LABEL}={kind}" + (f",{selector}" if selector else "")
        wanted = _equalities(label_selector)
        cached = self._cached() if wanted is not None else None
        if cached is not None and wanted is not None:
            matching = [
                obj for _name_, obj in sorted(cached.items())
                if all(_labels(obj).get(k) == v for k, v in wanted.items())
            ]  # fmt: skip
            return [self.decode(obj) for obj in matching]
        try:
            items = self.client.list_objects(
                api_version="v1",
                kind="Secret",
                namespace=self.namespace,
                label_selector=label_selector,
            )
        except apply_errors.Unauthorized as err:
            raise self._refused(verb="list", name="", err=err) from err
        return [self.decode(item) for item in items]

    def decode(self, obj: dict[str, Any]) -> Doc:
        metadata = obj.get("metadata") or {}
        name = str(metadata.get("name") or "")
        try:
            raw = base64.b64decode((obj.get("data") or {})[DATA_KEY], validate=True)
            data = json.loads(gzip.decompress(raw))
        except (KeyError, TypeError, ValueError, binascii.Error, OSError, EOFError) as err:
            raise StateObjectError(
                f"{self.describe(name)} is not valid syncer state ({type(err).__name__}: "
                f"{str(err)[:120]}); nothing was changed: restore it from a backup, or delete "
                f"it (kubectl -n {self.namespace} delete secret {name}) to forget what it held"
            ) from err
        if not isinstance(data, dict) or not isinstance(data.get("schema"), int):
            raise StateObjectError(
                f"{self.describe(name)} holds no syncer state document (no schema number); "
                f"nothing was changed: restore it from a backup, or delete it (kubectl -n "
                f"{self.namespace} delete secret {name})"
            )
        if data["schema"] > SCHEMA:
            raise StateObjectError(
                f"{self.describe(name)} has schema {data['schema']}, this syncer knows up to "
                f"{SCHEMA}: upgrade syncer"
            )
        return Doc(
            name=name,
            data=data,
            labels=dict(metadata.get("labels") or {}),
            resource_version=str(metadata.get("resourceVersion") or ""),
        )

    # --- writing ----------------------------------------------------------------------
    def update(
        self,
        name: str,
        *,
        kind: str,
        new: Callable[[], dict[str, Any]],
        change: Callable[[dict[str, Any]], T],
        labels: Callable[[dict[str, Any]], dict[str, str]] | None = None,
        annotations: dict[str, str] | None = None,
        shrink: Callable[[dict[str, Any]], bool] | None = None,
        stamp: Callable[[dict[str, Any]], None] | None = None,
    ) -> T:
        """Apply ``change`` to the document (``new()`` when there is none) and write it
        back under the ``resourceVersion`` read; on a conflict read it again and re-apply.
        ``change`` returns the result and must only touch the document it is given;
        when it leaves the document as it was, nothing is written. ``stamp`` marks a
        document that is about to be written (who writes it), or refuses the write."""
        for attempt in range(CONFLICT_RETRIES):
            if attempt:
                time.sleep(random.uniform(0, CONFLICT_BACKOFF * attempt))
            doc = self.fetch(name)
            data = doc.data if doc is not None else new()
            before = _canonical(data)
            result = change(data)
            if doc is not None and _canonical(data) == before:
                return result
            if stamp is not None:
                stamp(data)
            body = self._secret(
                name, data=data, kind=kind, doc=doc, labels=labels, annotations=annotations,
                shrink=shrink,
            )  # fmt: skip
            try:
                if doc is None:
                    written = self._call("POST", self._path(), verb="create", name=name, body=body)
                else:
                    written = self._call("PUT", self._path(name), verb="update", name=name,
                                         body=body)  # fmt: skip
            except apply_errors.ApiError as err:
                if err.status == 409:
                    continue  # another writer was first: read theirs, re-apply ours
                raise
            except apply_errors.NotFound as err:
                if doc is None:
                    raise self._missing_namespace(err) from err
                continue  # deleted meanwhile: start from a new document
            self._remember(written)
            return result
        raise errors.TemporaryError(
            f"{self.describe(name)}: changed by another writer {CONFLICT_RETRIES} times in a "
            "row while writing; is a second syncer writing this state? (retried later)",
            retry_after=1.0,
        )

    def put(self, name: str, *, kind: str, data: dict[str, Any], labels: dict[str, str]) -> None:
        """Create Secret ``name`` holding ``data`` (for ``syncer state migrate``); an
        existing one is an error (migrating never overwrites)."""
        body = self._secret(
            name, data=data, kind=kind, doc=None, labels=lambda _d: labels, annotations=None,
            shrink=None,
        )  # fmt: skip
        try:
            self._call("POST", self._path(), verb="create", name=name, body=body)
        except apply_errors.NotFound as err:
            raise self._missing_namespace(err) from err

    def _secret(
        self,
        name: str,
        *,
        data: dict[str, Any],
        kind: str,
        doc: Doc | None,
        labels: Callable[[dict[str, Any]], dict[str, str]] | None,
        annotations: dict[str, str] | None,
        shrink: Callable[[dict[str, Any]], bool] | None,
    ) -> dict[str, Any]:
        data["schema"] = SCHEMA
        encoded = _encode(data)
        while len(encoded) > self.max_bytes and shrink is not None and shrink(data):
            encoded = _encode(data)
        if len(encoded) > self.max_bytes:
            raise StateObjectError(
                f"{self.describe(name)} would be {len(encoded):,} bytes, over the limit of "
                f"{self.max_bytes:,}; nothing was written: trim what it holds (for an app: "
                "fewer clusters or inventory objects per app) or split the app"
            )
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": {**MANAGED, KIND_LABEL: kind, **(labels(data) if labels else {})},
        }
        if annotations:
            metadata["annotations"] = annotations
        if doc is not None:
            metadata["resourceVersion"] = doc.resource_version
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_TYPE,
            "metadata": metadata,
            "data": {DATA_KEY: encoded},
        }

    # --- errors -----------------------------------------------------------------------
    def _call(
        self, method: str, path: str, *, verb: str, name: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            return self.client.request(
                method, path, body=body, content_type="application/json" if body else "",
                what=self.describe(name),
            )  # fmt: skip
        except apply_errors.Unauthorized as err:
            raise self._refused(verb=verb, name=name, err=err) from err
        except apply_errors.InvalidObject as err:
            raise StateObjectError(f"{self.describe(name)}: {verb} refused: {err}") from err

    def _refused(self, *, verb: str, name: str, err: Exception) -> StateObjectError:
        what = self.describe(name) if name else f"state Secrets in {self.where}"
        return StateObjectError(
            f"{what}: {verb} refused ({_short(err)}); grant syncer's service account get, "
            f"list, watch, create and update on secrets in namespace {self.namespace} (the "
            "chart's Role does)"
        )

    def _missing_namespace(self, err: apply_errors.NotFound) -> StateObjectError:
        return StateObjectError(
            f"state namespace {self.namespace} does not exist on cluster {self.client.name} "
            f"({_short(err)}): create it (kubectl create namespace {self.namespace}) or set "
            "state.kubernetes.namespace"
        )


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _equalities(selector: str) -> dict[str, str] | None:
    """``a=b,c=d`` as a dict; None for anything else (the API server matches those)."""
    found: dict[str, str] = {}
    for term in selector.split(","):
        key, eq, value = term.partition("=")
        if not eq or not key or any(c in term for c in "!()<> ") or value.startswith("="):
            return None
        found[key] = value
    return found


def _older(obj: dict[str, Any], *, than: dict[str, Any]) -> bool:
    """Whether ``obj`` is an earlier version of the object ``than`` is. resourceVersions
    are opaque to clients, but every API server backed by etcd hands out increasing
    integers; anything else counts as older until the watch brings that very version."""
    mine = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    theirs = str((than.get("metadata") or {}).get("resourceVersion") or "")
    if mine.isdigit() and theirs.isdigit():
        return int(mine) < int(theirs)
    return mine != theirs


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def _encode(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), default=str).encode()
    # mtime=0: the same document always encodes to the same bytes.
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def _short(err: Exception) -> str:
    text = str(err)
    return text if len(text) < 240 else text[:240] + "..."
