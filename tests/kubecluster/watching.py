"""Following a collection of a test cluster's API, as an informer does: LIST, then WATCH
from the listed version, resumed from the last version seen, listed again when the watch
expires, and after a cut connection. The fake kubelet follows pods with it; benchmarks
follow what they count (``RealCluster.follow``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import requests

OnObject = Callable[[str, dict[str, Any]], None]
"""``on_object(event, obj)``: "ADDED" for each listed object, then each watched change
("ADDED", "MODIFIED", "DELETED")."""


def follow(
    session: requests.Session, url: str, on_object: OnObject, *, stop: threading.Event
) -> None:
    """Call ``on_object`` for every object of the collection at ``url`` until ``stop``."""
    version = ""
    while not stop.is_set():
        try:
            if not version:
                listed = session.get(url, timeout=30)
                listed.raise_for_status()
                body = listed.json()
                for item in body.get("items") or []:
                    on_object("ADDED", item)
                version = body["metadata"]["resourceVersion"]
            version = _watch(session, url, version, on_object, stop=stop)
        except (requests.RequestException, ValueError, KeyError):
            if stop.wait(0.5):
                return


def _watch(
    session: requests.Session,
    url: str,
    version: str,
    on_object: OnObject,
    *,
    stop: threading.Event,
) -> str:
    """Follow events from ``version``; the last version seen ("" to list again)."""
    params = {
        "watch": "true",
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "60",
    }
    with session.get(url, params=params, stream=True, timeout=(10, 90)) as stream:
        stream.raise_for_status()
        for line in stream.iter_lines():
            if stop.is_set():
                return version
            if not line:
                continue
            event = json.loads(line)
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                return ""  # 410 Gone and friends: list again
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                on_object(event["type"], obj)
    return version
