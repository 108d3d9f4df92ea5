"""Ownership labels: how syncer marks the objects it applies, and reads that mark back.

Render stamps these labels on every object it produces; apply makes sure they are
there before writing (so a hand-made object list is still tracked), lists live
objects by them to build the inventory, and refuses to touch or prune an object whose
label names another app.
"""

from __future__ import annotations

from typing import Any

from syncer.render import labels

# The label keys are render's (it stamps them); apply reads the very same constants.
MANAGED_BY_LABEL = labels.MANAGED_BY_LABEL
MANAGED_BY_VALUE = labels.MANAGED_BY_VALUE
APP_LABEL = labels.APP_LABEL
SYNC_WAVE_ANNOTATION = labels.SYNC_WAVE_ANNOTATION
ADOPT_ANNOTATION = "syncer.io/adopt"
"""``"true"`` on a desired object: take over a live object syncer did not create."""
REPLACE_ANNOTATION = labels.REPLACE_ANNOTATION
FIELD_MANAGER = "syncer"
"""The server-side apply field manager of every write syncer makes."""


def app_of(obj: dict[str, Any]) -> str:
    """The app named by an object's ownership label, or "" when it carries none."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get(APP_LABEL, ""))


def stamped(obj: dict[str, Any], *, app_name: str) -> dict[str, Any]:
    """A shallow-copied object whose labels carry this app's ownership."""
    meta = dict(obj.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    labels[APP_LABEL] = app_name
    meta["labels"] = labels
    return {**obj, "metadata": meta}


def selector(app_name: str) -> str:
    """The label selector that lists an app's objects."""
    return f"{APP_LABEL}={app_name}"


def _annotation(obj: dict[str, Any], key: str) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(key, "")).strip().lower() == "true"


def wants_adoption(obj: dict[str, Any]) -> bool:
    """The desired object asks to take over a live object syncer did not create."""
    return _annotation(obj, ADOPT_ANNOTATION)


def replaceable(obj: dict[str, Any]) -> bool:
    """May be deleted and re-created when a change hits an immutable field."""
    return obj.get("kind") == "Job" or _annotation(obj, REPLACE_ANNOTATION)


def made_by_syncer(obj: dict[str, Any]) -> bool:
    """Carries syncer's managed-by label (e.g. a namespace syncer created for an app)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def managers(obj: dict[str, Any]) -> list[str]:
    """The field managers of a live object other than syncer, in order."""
    found: list[str] = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        name = str(entry.get("manager", ""))
        if name and name != FIELD_MANAGER and name not in found:
            found.append(name)
    return found
