"""What a registry answers, checked against the OCI distribution spec before any use.

``registry.client`` and ``registry.auth`` pass each body (and digest header) through
here; nothing a registry sends reaches a decision, a URL or a manifest unchecked. Each
check returns the value in its expected shape or raises ``Invalid`` with what was wrong,
in words; the caller turns that into a registry error naming the registry, the
repository and the request. Tags are not checked here: an invalid tag is skipped by the
caller (one bad tag must not hide the others), see ``registry.reference.is_tag``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from registry import reference

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[1::2]


class Invalid(ValueError):
    """The answer breaks the spec; the message says how, without echoing the body."""


def _json(raw: bytes, *, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as err:
        # UnicodeDecodeError is a ValueError too: bytes that are not text are not JSON.
        raise Invalid(f"the {what} is not JSON ({_kind(raw)})") from err


def _kind(raw: bytes) -> str:
    return "empty" if not raw.strip() else f"{len(raw)} bytes, cut short or not JSON"


def _type(value: Any) -> str:
    """The JSON type of ``value`` in the spec's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _object(value: Any, *, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"the {what} is {_type(value)}, not a JSON object")
    return value


def digest(value: Any, *, what: str) -> str:
    """``value`` when it is an ``algorithm:hex`` digest (sha256 or sha512)."""
    problem = reference.digest_problem(value)
    if problem:
        raise Invalid(f"{what}: {problem}")
    return str(value)


def digest_of(raw: bytes, *, algorithm: str = "sha256") -> str:
    """The digest of ``raw`` with ``algorithm`` (one of ``reference.DIGEST_HEX``)."""
    return f"{algorithm}:{hashlib.new(algorithm, raw).hexdigest()}"


def tag_page(raw: bytes) -> list[str]:
    """The ``tags`` of a ``tags/list`` answer: ``{"name": str, "tags": [str, …]}``.

    ``tags`` may be null or absent (an empty repository, as some registries answer).
    """
    body = _object(_json(raw, what="tag list"), what="tag list")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise Invalid(f'"name" of the tag list is {_type(name)}, not a string')
    tags = body.get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise Invalid(f'"tags" of the tag list is {_type(tags)}, not an array of strings')
    for index, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise Invalid(f'"tags"[{index}] of the tag list is {_type(tag)}, not a string')
    return tags


def _descriptor(value: Any, *, what: str) -> dict[str, Any]:
    entry = _object(value, what=what)
    digest(entry.get("digest"), what=f"{what}: digest")
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise Invalid(f"{what}: size is {_type(size)} {size!r:.40}, not a byte count")
    media_type = entry.get("mediaType")
    if media_type is not None and not isinstance(media_type, str):
        raise Invalid(f"{what}: mediaType is {_type(media_type)}, not a string")
    return entry


def manifest(raw: bytes, *, content_type: str) -> tuple[str, dict[str, Any]]:
    """(media type, body) of a manifest or index answer.

    The media type is the body's ``mediaType``, else the ``Content-Type``; it must be one
    of the four manifest types asked for, and the two must agree when both are given.
    """
    body = _object(_json(raw, what="manifest"), what="manifest")
    version = body.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise Invalid(f"schemaVersion is {version!r:.40}; only schema 2 manifests are supported")
    declared = body.get("mediaType")
    if declared is not None and declared not in MANIFEST_TYPES:
        raise Invalid(f"mediaType {str(declared)!r:.80} is not a manifest type")
    sent = content_type.split(";")[0].strip().lower()
    if declared and sent in MANIFEST_TYPES and sent != declared:
        raise Invalid(f"Content-Type {sent!r} disagrees with the body's mediaType {declared!r}")
    media_type = declared or sent
    if media_type not in MANIFEST_TYPES:
        raise Invalid(
            f"Content-Type {sent[:80]!r} is not a manifest type and the body names none; "
            f"expected one of {', '.join(MANIFEST_TYPES)}"
        )
    if media_type in INDEX_TYPES:
        entries = body.get("manifests")
        if not isinstance(entries, list):
            raise Invalid(f'"manifests" of the index is {_type(entries)}, not an array')
        for index, entry in enumerate(entries):
            _descriptor(entry, what=f"manifests[{index}]")
            platform = entry.get("platform")
            if platform is None:
                continue
            for key, value in _object(platform, what=f"manifests[{index}].platform").items():
                if key in ("os", "architecture", "variant") and not isinstance(value, str):
                    raise Invalid(f"manifests[{index}].platform.{key} is {_type(value)}")
        return media_type, body
    _descriptor(body.get("config"), what="config")
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise Invalid(f'"layers" of the manifest is {_type(layers)}, not an array')
    for index, layer in enumerate(layers):
        _descriptor(layer, what=f"layers[{index}]")
    return media_type, body


def image_config(raw: bytes) -> str:
    """The ``created`` time (RFC 3339 text, or "") of an image config blob."""
    body = _object(_json(raw, what="image config"), what="image config")
    created = body.get("created")
    if created is None:
        return ""
    if not isinstance(created, str):
        raise Invalid(f'"created" of the image config is {_type(created)}, not a string')
    return created


def token(raw: bytes) -> tuple[str, float | None]:
    """(token, lifetime in seconds or None) of a token server's answer.

    ``token`` or ``access_token`` must be a non-empty string of visible ASCII (it goes
    into an ``Authorization`` header); ``expires_in`` a non-negative number.
    """
    body = _object(_json(raw, what="token answer"), what="token answer")
    value: Any = None
    for key in ("token", "access_token"):
        found = body.get(key)
        if found is not None and not isinstance(found, str):
            raise Invalid(f'"{key}" is {_type(found)}, not a string')
        value = value or found
    if not value:
        raise Invalid("it holds no token")
    if not all(33 <= ord(c) <= 126 for c in value):
        raise Invalid("the token has spaces or characters outside visible ASCII")
    lifetime = body.get("expires_in")
    if lifetime is None:
        return value, None
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime < 0:
        raise Invalid(f'"expires_in" is {_type(lifetime)}, not a number of seconds')
    return value, float(lifetime)
