"""Helm hooks as syncer orders them: ``helm template`` prints hook objects beside the
chart's other objects, and applying them as ordinary objects would run a pre-upgrade
migration Job at the same time as the Deployment it prepares.

Called by ``helm.render`` on its output. Like Argo CD, which maps Helm hooks to its
sync phases and ``hook-weight`` to sync waves:

- ``pre-install`` / ``pre-upgrade`` hooks go to wave ``PRE_WAVE + weight`` (before every
  ordinary object), ``post-install`` / ``post-upgrade`` to ``POST_WAVE + weight``
  (after them). A wave must be healthy before the next starts, so a failed pre-upgrade
  Job stops the rollout as Helm does. An explicit ``syncer.io/sync-wave`` wins.
- Hooks of other events (``pre-delete``, ``post-delete``, ``pre-rollback``,
  ``post-rollback``) never run on install or upgrade: they are left out, with a note.
- A hook that is not a Job (Jobs are always re-created when their template changes)
  gets ``syncer.io/replace: "true"``: Helm re-creates hooks (``before-hook-creation``),
  so an immutable field changing must not fail the sync.
- ``hook-succeeded`` / ``hook-failed`` delete policies are not followed: the object is
  part of the desired state, and deleting it would make the next sync create it again.
"""

from __future__ import annotations

from syncer.render import labels, objects

HOOK_ANNOTATION = "helm.sh/hook"
WEIGHT_ANNOTATION = "helm.sh/hook-weight"
PRE_EVENTS = frozenset({"pre-install", "pre-upgrade"})
POST_EVENTS = frozenset({"post-install", "post-upgrade"})
PRE_WAVE = -1000
POST_WAVE = 1000
MAX_WEIGHT = 999


def order(items: list[objects.Item]) -> tuple[list[objects.Item], list[str]]:
    """The items to apply, hooks placed in their waves; and a note per hook left out."""
    kept: list[objects.Item] = []
    notes: list[str] = []
    for item in items:
        meta = item.obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        raw = annotations.get(HOOK_ANNOTATION)
        if not isinstance(raw, str) or not raw.strip():
            kept.append(item)
            continue
        events = {event.strip() for event in raw.split(",") if event.strip()}
        if not events & (PRE_EVENTS | POST_EVENTS):
            notes.append(
                f"{item.origin}: {item.obj.get('kind')} {meta.get('name')} is a Helm "
                f"{raw} hook, which never runs on install or upgrade: left out"
            )
            continue
        annotations = dict(annotations)
        if labels.SYNC_WAVE_ANNOTATION not in annotations:
            base = PRE_WAVE if events & PRE_EVENTS else POST_WAVE
            annotations[labels.SYNC_WAVE_ANNOTATION] = str(base + _weight(annotations))
        if item.obj.get("kind") != "Job":
            annotations.setdefault(labels.REPLACE_ANNOTATION, "true")
        item.obj["metadata"] = {**meta, "annotations": annotations}
        kept.append(item)
    return kept, notes


def _weight(annotations: dict[str, object]) -> int:
    """helm.sh/hook-weight as Helm reads it (an integer string; anything else is 0)."""
    try:
        weight = int(str(annotations.get(WEIGHT_ANNOTATION, "0")).strip())
    except ValueError:
        return 0
    return max(-MAX_WEIGHT, min(MAX_WEIGHT, weight))
