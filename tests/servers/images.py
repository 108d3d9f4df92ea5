"""Pushing test images to a ``RegistryServer`` without docker, over the Distribution API.

Blobs go up with ``POST /v2/<name>/blobs/uploads/`` then ``PUT <Location>&digest=…``;
manifests with ``PUT /v2/<name>/manifests/<tag>``. Each push makes a fresh layer (unless
``content`` is given), so re-pushing a tag gives it a new digest. Works in every auth mode
of ``tests.servers.registry_process`` (Basic, or a push token from its token server).

    img = images.push_image(server, "team/web", tags=["1.0.0", "latest"])
    idx = images.push_index(server, "team/web", tags=["multi"])
    images.delete(server, "team/web", img.digest)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.servers import registry_process

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tags: tuple[str, ...]
    digest: str
    """Digest of the manifest (what ``Docker-Content-Digest`` answers)."""
    media_type: str
    config_digest: str
    layer_digest: str
    created: str
    platform: tuple[str, str]
    manifest: bytes = field(repr=False)


@dataclass(frozen=True)
class PushedIndex:
    repository: str
    tags: tuple[str, ...]
    digest: str
    media_type: str
    manifests: dict[str, PushedImage]
    """``"os/arch"`` -> the platform's image."""
    manifest: bytes = field(repr=False)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pusher:
    """An authenticated session to one registry, for one repository's pushes."""

    def __init__(self, server: registry_process.RegistryServer, repository: str) -> None:
        self.server = server
        self.repository = repository
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        self.session.verify = server.verify
        if server.mode == "basic":
            self.session.auth = (server.username, server.password)
        elif server.mode == "token":
            assert server.token_server is not None
            answer = self.session.get(
                server.token_server.realm,
                params={
                    "service": server.token_server.service,
                    "scope": f"repository:{repository}:pull,push,delete",
                },
                auth=(server.username, server.password),
                timeout=10,
            )
            _check(answer, "get push token")
            self.session.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def _url(self, path: str) -> str:
        return f"{self.server.url}/v2/{self.repository}/{path}"

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        if self.session.head(self._url(f"blobs/{digest}"), timeout=10).status_code == 200:
            return digest
        start = self.session.post(self._url("blobs/uploads/"), timeout=10)
        _check(start, "start blob upload")
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.server.url + location
        done = self.session.put(
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=30,
        )
        _check(done, "finish blob upload")
        return digest

    def manifest(self, reference: str, body: bytes, media_type: str) -> str:
        answer = self.session.put(
            self._url(f"manifests/{reference}"),
            data=body,
            headers={"Content-Type": media_type},
            timeout=30,
        )
        _check(answer, f"put manifest {reference}")
        return answer.headers.get("Docker-Content-Digest", sha256(body))

    def get_manifest(self, reference: str) -> tuple[bytes, str]:
        answer = self.session.get(
            self._url(f"manifests/{reference}"), headers={"Accept": ACCEPT}, timeout=10
        )
        _check(answer, f"get manifest {reference}")
        return answer.content, answer.headers["Content-Type"].split(";")[0]

    def delete(self, digest: str) -> None:
        _check(self.session.delete(self._url(f"manifests/{digest}"), timeout=10), "delete")


def _check(response: requests.Response, what: str) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


def _image(
    pusher: Pusher,
    *,
    media: str,
    content: bytes | None,
    created: str | None,
    platform: tuple[str, str],
    labels: dict[str, str] | None,
) -> tuple[bytes, str, str, str, str]:
    """Upload config + layer; return (manifest body, media type, config, layer, created)."""
    if media not in ("oci", "docker"):
        raise ValueError(f"media must be 'oci' or 'docker', not {media!r}")
    oci = media == "oci"
    layer = content if content is not None else f"layer {uuid.uuid4()}".encode()
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    config = json.dumps(
        {
            "created": created,
            "architecture": platform[1],
            "os": platform[0],
            "config": {"Labels": labels or {}},
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
        },
        sort_keys=True,
    ).encode()
    config_digest = pusher.blob(config)
    layer_digest = pusher.blob(layer)
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        },
        indent=2,
    ).encode()
    return manifest, media_type, config_digest, layer_digest, created


def push_image(
    server: registry_process.RegistryServer,
    repository: str,
    tags: Sequence[str] = ("latest",),
    *,
    media: str = "oci",
    content: bytes | None = None,
    created: str | None = None,
    platform: tuple[str, str] = ("linux", "amd64"),
    labels: dict[str, str] | None = None,
) -> PushedImage:
    """Push one single-platform image under every tag in ``tags`` (may be empty).

    ``media`` is ``"oci"`` or ``"docker"``; ``content`` fixes the layer bytes (same content
    and created time give the same digest); ``created`` is the config's RFC 3339 time.
    """
    pusher = Pusher(server, repository)
    body, media_type, config_digest, layer_digest, created = _image(
        pusher, media=media, content=content, created=created, platform=platform, labels=labels
    )
    digest = sha256(body)
    for tag in tags or [digest]:
        digest = pusher.manifest(tag, body, media_type)
    return PushedImage(
        repository=repository,
        tags=tuple(tags),
        digest=digest,
        media_type=media_type,
        config_digest=config_digest,
        layer_digest=layer_digest,
        created=created,
        platform=platform,
        manifest=body,
    )


def push_index(
    server: registry_process.RegistryServer,
    repository: str,
    tags: Sequence[str] = ("latest",),
    *,
    platforms: Iterable[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64")),
    media: str = "oci",
    created: str | None = None,
) -> PushedIndex:
    """Push a multi-arch index (OCI index or Docker manifest list) and its images."""
    pusher = Pusher(server, repository)
    entries: list[dict[str, Any]] = []
    images: dict[str, PushedImage] = {}
    for platform in platforms:
        body, media_type, config_digest, layer_digest, made = _image(
            pusher, media=media, content=None, created=created, platform=platform, labels=None
        )
        digest = pusher.manifest(sha256(body), body, media_type)
        images[f"{platform[0]}/{platform[1]}"] = PushedImage(
            repository, (), digest, media_type, config_digest, layer_digest, made, platform, body
        )
        entries.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(body),
                "platform": {"os": platform[0], "architecture": platform[1]},
            }
        )
    index_type = OCI_INDEX if media == "oci" else DOCKER_LIST
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": index_type, "manifests": entries}, indent=2
    ).encode()
    digest = sha256(index)
    for tag in tags or [digest]:
        digest = pusher.manifest(tag, index, index_type)
    return PushedIndex(repository, tuple(tags), digest, index_type, images, index)


def tag(
    server: registry_process.RegistryServer, repository: str, source: str, *new_tags: str
) -> str:
    """Point ``new_tags`` at the manifest ``source`` (a tag or digest); return its digest."""
    pusher = Pusher(server, repository)
    body, media_type = pusher.get_manifest(source)
    digest = sha256(body)
    for new_tag in new_tags:
        digest = pusher.manifest(new_tag, body, media_type)
    return digest


def delete(server: registry_process.RegistryServer, repository: str, digest: str) -> None:
    """Delete a manifest by digest (distribution deletes by digest only)."""
    Pusher(server, repository).delete(digest)


def head_digest(
    server: registry_process.RegistryServer, repository: str, reference: str
) -> str | None:
    """The registry's ``Docker-Content-Digest`` for a tag/digest, or None when unknown."""
    pusher = Pusher(server, repository)
    answer = pusher.session.head(
        pusher._url(f"manifests/{reference}"), headers={"Accept": ACCEPT}, timeout=10
    )
    if answer.status_code == 404:
        return None
    _check(answer, f"head manifest {reference}")
    return answer.headers.get("Docker-Content-Digest")
