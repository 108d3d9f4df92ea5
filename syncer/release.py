"""Releases: the immutable, content-addressed unit everything downstream moves.

``syncer.reconcile`` builds one from what an app deploys: the objects rendered for
each of its clusters from a Git snapshot, and the image decisions of ``syncer.images``
(one per app image); it hands it to ``syncer.state`` (stored once, whatever the number
of clusters) and to the rollout. History, rollback and promotion all speak of releases
by id.

The id is derived from the *content*: the SHA-256 of the canonical JSON of ``{rendered
objects per cluster (digests), sorted image refs, config digest}``, not from the
commit. A commit that changes nothing an app deploys (a README, another app's
directory in a monorepo) gives the same content, hence the same release: nothing moves
through the pipeline and pending approvals stay. The release keeps the commit its
content first appeared at (``commit``: the commit that last changed the app), which is
also what it is rendered from later. The same content always gives the same id, so a
restart or a second controller never creates a duplicate. The config digest covers the
app settings that change what is applied or whether it may be (gateway policy), so
editing them is a new release too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

ID_DISPLAY = 12
"""Characters of the id shown to people (like a short Git SHA); any unique prefix works."""


@dataclasses.dataclass(frozen=True)
class Image:
    """One image decision as it was when the release was made."""

    repository: str
    """Normalised repository, e.g. ``registry.example.com/team/web``."""
    tag: str
    digest: str
    """``sha256:…``, or empty when the registry could not be asked (offline plan)."""
    policy: str = ""
    """The policy that chose it, e.g. ``semver:^1.2`` or ``digest:latest``."""
    reason: str = ""
    """Why this tag won, in words."""
    warning: str = dataclasses.field(default="", compare=False)
    """What the user should act on (e.g. a limit cut the tag list and the running tag was
    kept); not part of the image's identity, nor stored with releases."""

    @property
    def ref(self) -> str:
        """What workloads run: ``repo:tag@sha256:…`` (or ``repo:tag`` without a digest)."""
        base = f"{self.repository}:{self.tag}" if self.tag else self.repository
        return f"{base}@{self.digest}" if self.digest else base

    def to_dict(self) -> dict[str, str]:
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "ref": self.ref,
            "policy": self.policy,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Image:
        return cls(
            repository=str(data["repository"]),
            tag=str(data.get("tag", "")),
            digest=str(data.get("digest", "")),
            policy=str(data.get("policy", "")),
            reason=str(data.get("reason", "")),
        )

    @classmethod
    def from_decision(cls, decision: Any) -> Image:
        """From a ``registry.Decision`` (repository, tag, digest, policy, reason)."""
        return cls(
            repository=str(decision.repository),
            tag=str(decision.tag or ""),
            digest=str(decision.digest or ""),
            policy=str(getattr(decision, "policy", "") or ""),
            reason=str(getattr(decision, "reason", "") or ""),
            warning=str(getattr(decision, "warning", "") or ""),
        )


@dataclasses.dataclass(frozen=True)
class Release:
    """``{git commit, image -> digest}`` for one app; never changes once made."""

    id: str
    app: str
    commit: str
    images: tuple[Image, ...]
    config_digest: str
    created_at: float
    """Unix time the release was first seen (not part of the id)."""
    source: str = ""
    """Name of the Git source (not part of the id)."""
    content: str = ""
    """``sha256:…`` of what the release deploys (the id is derived from it); empty for
    releases recorded before content identity (state schema 2 and older)."""

    @property
    def short_id(self) -> str:
        return self.id[:ID_DISPLAY]

    def image_refs(self) -> list[str]:
        return sorted(image.ref for image in self.images)

    def describe(self) -> str:
        """One line for logs and CLI: ``3f2a9c1b4d5e (commit 1a2b3c4, web:1.4.2)``."""
        images = ", ".join(f"{i.repository.rsplit('/', 1)[-1]}:{i.tag}" for i in self.images)
        parts = [f"commit {self.commit[:7]}"] + ([images] if images else [])
        return f"{self.short_id} ({'; '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "source": self.source,
            "commit": self.commit,
            "images": [image.to_dict() for image in self.images],
            "configDigest": self.config_digest,
            "content": self.content,
            "createdAt": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Release:
        return cls(
            id=str(data["id"]),
            app=str(data["app"]),
            source=str(data.get("source", "")),
            commit=str(data["commit"]),
            images=tuple(Image.from_dict(i) for i in data.get("images", ())),
            config_digest=str(data.get("configDigest", "")),
            created_at=float(data.get("createdAt", 0.0)),
            content=str(data.get("content", "")),
        )


def _sha256(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def objects_digest(objects: Iterable[Mapping[str, Any]]) -> str:
    """Digest of rendered objects, in their (stable) render order. Secret values go into
    the hash only: neither they nor anything reversible is kept."""
    return "sha256:" + _sha256(list(objects))


def content_digest(
    *, rendered: Mapping[str, str], image_refs: Iterable[str], config_digest: str
) -> str:
    """What an app deploys: per cluster the digest of its rendered objects (or, where
    rendering failed, the commit it failed at), the chosen images and the config digest."""
    return "sha256:" + _sha256(
        {"rendered": dict(rendered), "images": sorted(image_refs), "config": config_digest}
    )


def release_id(*, app: str, content: str) -> str:
    """The content address: SHA-256 hex of the app and the content digest."""
    return _sha256({"app": app, "content": content})


_LATER_GATEWAY_DEFAULTS = {"check_quota": True, "tenant": None}
"""Gateway rules added later, left out at their default so existing releases keep their ids."""


_config_digests: dict[str, tuple[Any, str]] = {}
"""App name -> (the app's model, its digest): asked twice per cluster and pass, and the
model (frozen) changes only with the config."""


def config_digest(app: Any) -> str:
    """Digest of the app settings that decide what is applied: rendering (path,
    namespace, Helm, image fields) and the gateway policy, so that relaxing a policy
    that blocked a release makes a new release that is tried again. Sync timing
    (wait, intervals) is left out: it changes nothing in the clusters."""
    kept = _config_digests.get(app.name)
    if kept is not None and kept[0] is app:
        return kept[1]
    digest = _config_digest(app)
    _config_digests[app.name] = (app, digest)
    return digest


def _config_digest(app: Any) -> str:
    relevant = {
        "path": app.path,
        "namespace": app.namespace,
        "helm": dataclasses.asdict(app.helm),
        "imageFields": [dataclasses.asdict(f) for f in app.image_fields],
        "gateway": {
            key: value
            for key, value in dataclasses.asdict(app.gateway).items()
            if key not in _LATER_GATEWAY_DEFAULTS or _LATER_GATEWAY_DEFAULTS[key] != value
        },
    }
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def make(
    *,
    app: str,
    commit: str,
    images: Iterable[Image],
    config_digest: str,
    rendered: Mapping[str, str] | None = None,
    source: str = "",
    now: float | None = None,
) -> Release:
    """Build the release for these inputs; images are kept sorted by repository.

    ``rendered``: cluster -> ``objects_digest`` of what was rendered for it (a cluster
    whose render failed maps to ``unrendered:<commit>``, so the failure is tried again
    at each new commit). Without it nothing was rendered and the commit stands for
    the content."""
    ordered = tuple(sorted(images, key=lambda i: (i.repository, i.tag, i.digest)))
    content = content_digest(
        rendered=rendered if rendered is not None else {"": f"unrendered:{commit}"},
        image_refs=[i.ref for i in ordered],
        config_digest=config_digest,
    )
    return Release(
        id=release_id(app=app, content=content),
        app=app,
        source=source,
        commit=commit,
        images=ordered,
        config_digest=config_digest,
        created_at=time.time() if now is None else now,
        content=content,
    )
