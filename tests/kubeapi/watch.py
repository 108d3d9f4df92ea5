"""Watch streams: one JSON event per line over a chunked HTTP response.

server.py calls ``run`` for ``?watch=true`` (and legacy ``/watch/`` paths) with a
``send`` callback that writes one chunk. Events come from store.py's history: from the
given ``resourceVersion`` on (an ERROR event with a 410 Expired Status when it is older
than the kept history), or synthetic ADDED events for the current state when none is
given. Label/field selectors apply to the old and new object, so an object leaving the
selection is reported DELETED, as kube-apiserver does. Bookmarks, ``timeoutSeconds``
and the ``watch_cut`` fault end or decorate the stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.kubeapi import resources, selectors, store

Send = Callable[[dict[str, Any]], None]


def _visible(
    obj: dict[str, Any] | None, *, namespace: str | None, labels: list, fields: list
) -> bool:
    if obj is None:
        return False
    if namespace and obj["metadata"].get("namespace") != namespace:
        return False
    return selectors.matches(obj, labels=labels, fields=fields)


def _versioned(obj: dict[str, Any], rt: resources.ResourceType) -> dict[str, Any]:
    return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}


def _translate(
    event: store.Event,
    rt: resources.ResourceType,
    *,
    namespace: str | None,
    labels: list,
    fields: list,
) -> dict[str, Any] | None:
    if event.key != rt.key:
        return None
    now = _visible(event.obj, namespace=namespace, labels=labels, fields=fields)
    if event.type == "DELETED":
        return {"type": "DELETED", "object": _versioned(event.obj, rt)} if now else None
    before = _visible(event.prev, namespace=namespace, labels=labels, fields=fields)
    if now:
        kind = "MODIFIED" if before else "ADDED"
    elif before:
        kind = "DELETED"
    else:
        return None
    return {"type": kind, "object": _versioned(event.obj, rt)}


def _bookmark(rt: resources.ResourceType, rv: int, *, initial_end: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
    }


def expired(rv: str, oldest: int) -> dict[str, Any]:
    return {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: {rv} ({oldest})",
            "reason": "Expired",
            "code": 410,
        },
    }


def run(
    *,
    st: store.Store,
    rt: resources.ResourceType,
    namespace: str | None,
    query: dict[str, str],
    send: Send,
    stopping: Callable[[], bool],
    bookmark_interval: float,
    cut_after: float | None,
    served: Callable[[], bool] = lambda: True,
) -> bool:
    """Stream events until timeout or stop; False when the stream must be cut abruptly."""
    labels = selectors.parse_labels(query.get("labelSelector"))
    fields = selectors.parse_fields(query.get("fieldSelector"), kind=rt.kind)
    timeout = float(query.get("timeoutSeconds") or 1800)
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    started = time.monotonic()
    deadline = started + timeout
    rv_text = query.get("resourceVersion") or ""
    initial_end = query.get("sendInitialEvents") in ("true", "1")
    with st.lock:
        if rv_text in ("", "0") or initial_end:
            last = st.resource_version
            initial = [
                {"type": "ADDED", "object": _versioned(o, rt)}
                for o in st.select(rt.key, namespace)
                if _visible(o, namespace=namespace, labels=labels, fields=fields)
            ]
        else:
            try:
                last = int(rv_text)
            except ValueError:
                last = -1
            initial = []
            if last < 0 or st.events_since(last) is None:
                send(expired(rv_text, st.resource_version))
                return True
    for event in initial:
        send(event)
    if initial_end:
        # the streaming-list protocol (WatchList): a bookmark marks the end of the state
        send(_bookmark(rt, last, initial_end=True))
    last_sent = time.monotonic()
    while True:
        if stopping():
            return False
        if not served():
            return True  # the CRD behind this resource was deleted: the stream ends
        now = time.monotonic()
        if cut_after is not None and now - started >= cut_after:
            return False
        if now >= deadline:
            return True
        with st.changed:
            pending = st.events_since(last)
            if pending == []:
                wait = min(deadline - now, 0.25)
                st.changed.wait(timeout=max(wait, 0.01))
                pending = st.events_since(last)
        if pending is None:
            send(expired(str(last), st.resource_version))
            return True
        for change in pending:
            last = change.rv
            out = _translate(change, rt, namespace=namespace, labels=labels, fields=fields)
            if out is not None:
                send(out)
                last_sent = time.monotonic()
        if bookmarks and time.monotonic() - last_sent >= bookmark_interval:
            send(_bookmark(rt, last, initial_end=False))
            last_sent = time.monotonic()
