"""Kubernetes Events on the objects an app runs, for the ``kubernetes`` provider.

``worker`` hands each delivery of a ``kubernetes`` provider to ``KubeEvents.post``:
one ``events.k8s.io/v1`` Event per workload of the app's inventory on the delivery's
cluster (``kubectl describe deployment web`` and ``kubectl events`` show them), created
through the cluster's own client (``syncer.apply``), fenced like every write. An
Event's name is derived from the delivery id, so a delivery sent again after a crash
finds its Event there (409 AlreadyExists) and creates no second one.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable, Sequence
from typing import Any

from syncer import apply, errors
from syncer.config import model
from syncer.notify import catalog, message
from syncer.reconcile import live
from syncer.state import store as store_

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
"""Kinds an Event is put on; an app without any gets it on its first namespaced object."""
MAX_OBJECTS = 10
"""Objects of one app that get the same Event (a big app is told about on the first)."""
NOTE_LIMIT = 1024
"""Characters of an Event's note (the API's limit)."""
CONTROLLER = "syncer.io/syncer"
"""``reportingController`` of every Event syncer writes."""


def regarding(keys: Sequence[str]) -> list[apply.ObjectRef]:
    """The objects of an inventory an Event is about: its workloads, else its first
    namespaced object."""
    objects = [live.ref_of(k) for k in keys]
    found = [r for r in objects if r.kind in WORKLOADS and r.namespace]
    if not found:
        found = [r for r in objects if r.namespace][:1]
    return sorted(found, key=lambda r: (r.namespace, r.kind, r.name))[:MAX_OBJECTS]


def event_object(note: message.Note, *, about: apply.ObjectRef, instance: str) -> dict[str, Any]:
    when = dt.datetime.fromtimestamp(note.at, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    warning = note.severity != catalog.INFO
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": f"{about.name[:200]}.{note.id[:16]}",
            "namespace": about.namespace,
            "labels": {"app.kubernetes.io/managed-by": "syncer", "syncer.io/app": note.app},
        },
        "eventTime": when,
        "reportingController": CONTROLLER,
        "reportingInstance": instance[:128],
        "action": "Rollout",
        "reason": catalog.KUBERNETES_EVENTS.get(note.event, "Syncer"),
        "regarding": {
            "apiVersion": about.api_version,
            "kind": about.kind,
            "namespace": about.namespace,
            "name": about.name,
        },
        "note": note.text[:NOTE_LIMIT],
        "type": "Warning" if warning else "Normal",
    }


class KubeEvents:
    """Posts Events through the cluster clients of the running controller."""

    def __init__(
        self,
        *,
        clusters: Sequence[model.Cluster],
        client: Callable[[model.Cluster], apply.ClusterClient],
        store: store_.Store,
    ) -> None:
        self._clusters = {c.name: c for c in clusters}
        self._client = client
        self._store = store
        self._instance = socket.gethostname() or "syncer"

    def post(self, note: message.Note) -> None:
        """Create the Event on each object; raises ``errors.SyncerError`` (temporary:
        the cluster is unreachable; permanent: RBAC refuses)."""
        cluster = self._clusters.get(note.cluster)
        if cluster is None:
            raise errors.PermanentError(f"cluster {note.cluster!r} is no longer configured")
        keys = self._store.inventory(note.app, note.cluster) or []
        objects = regarding(keys)
        if not objects:
            raise errors.PermanentError(
                f"app {note.app} has no objects on cluster {note.cluster} to put an Event on"
            )
        client = self._client(cluster)
        for about in objects:
            try:
                client.create(event_object(note, about=about, instance=self._instance))
            except apply.errors.ApiError as err:
                if err.status != 409:  # 409: this delivery's Event is there already
                    raise
