"""What a delivery says: the fields of one notification and its text.

``worker`` builds a ``Note`` from a queued delivery (the history entry, the release it
names, the rule's template) and hands it to ``providers``. Templates are
``string.Template`` text (``$app``, ``${release}``): substitution only, no expressions,
attribute access or code. Every field is masked by ``syncer.redact`` first, so a
credential that slipped into an error message never leaves the process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import string
from typing import Any

from syncer import redact
from syncer import release as release_mod
from syncer.notify import catalog
from syncer.state import records

DEFAULTS = {
    catalog.RELEASE_CREATED: "$app: new release $release (commit $commit): $images",
    catalog.ROLLOUT_STARTED: "$app: rolling out $release to $cluster",
    catalog.ROLLOUT_HEALTHY: "$app: $release is healthy on $cluster",
    catalog.ROLLOUT_FAILED: "$app: $release failed on $cluster: $message",
    catalog.ROLLED_BACK: "$app: rolled back on ${cluster}: $message",
    catalog.AWAITING_APPROVAL: "$app: $release waits for approval into stage $stage",
    catalog.APPROVED: "$app: $release approved into stage $stage by $by",
    catalog.REJECTED: "$app: $release rejected for stage $stage by $by",
    catalog.DRIFT_HEALED: "$app: drift healed on $cluster: $message",
    catalog.IMAGE_HELD_BACK: "$app: $message",
    catalog.UNREACHABLE: "$app: $message",
}
"""The text of each event type when a rule has no ``template``."""

DESCRIPTION_LIMIT = 140
"""Characters of a commit status description (GitHub's limit; GitLab and Gitea take it)."""


@dataclasses.dataclass(frozen=True)
class Note:
    """One notification, ready for a provider."""

    id: str
    """The delivery id: the same for every attempt (receivers deduplicate on it)."""
    event: str
    severity: str
    app: str
    cluster: str
    """The cluster (per-cluster providers), or every cluster the event names, joined."""
    stage: str
    release: str
    commit: str
    images: tuple[str, ...]
    by: str
    detail: str
    """The history entry's own message."""
    text: str
    """The rendered template."""
    at: float

    def fields(self) -> dict[str, str]:
        return {
            "app": self.app, "event": self.event, "severity": self.severity,
            "cluster": self.cluster, "stage": self.stage, "release": self.release[:12],
            "commit": self.commit[:12], "images": ", ".join(self.images), "by": self.by,
            "message": self.detail,
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The body of a generic webhook."""
        return {
            "id": self.id, "event": self.event, "severity": self.severity, "app": self.app,
            "cluster": self.cluster, "stage": self.stage, "release": self.release,
            "commit": self.commit, "images": list(self.images), "by": self.by,
            "message": self.text, "detail": self.detail,
            "at": dt.datetime.fromtimestamp(self.at, tz=dt.UTC).isoformat().replace(
                "+00:00", "Z"
            ),
        }  # fmt: skip


def note(
    *,
    delivery: records.Delivery,
    release: release_mod.Release | None,
    stages: list[str],
    clusters: list[str],
    template: str,
) -> Note:
    """The notification of ``delivery``; ``template`` empty: the event type's default."""
    event = delivery.event
    kind = catalog.classify(event.kind, event.data) or event.kind
    found = Note(
        id=delivery.id,
        event=kind,
        severity=catalog.EVENTS.get(kind, catalog.INFO),
        app=event.app,
        cluster=redact.mask(delivery.cluster or ", ".join(clusters)),
        stage=", ".join(stages),
        release=event.release_id,
        commit=release.commit if release is not None else "",
        images=tuple(redact.mask(i.ref) for i in release.images) if release is not None else (),
        by=redact.mask(str(event.data.get("by", ""))),
        detail=redact.mask(event.message),
        text="",
        at=event.at,
    )
    text = string.Template(template or DEFAULTS.get(kind, "$app: $message"))
    return dataclasses.replace(found, text=redact.mask(text.safe_substitute(found.fields())))
