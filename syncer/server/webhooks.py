"""Webhook receivers: who may call, and which repository or image a payload names.

``syncer.server.http`` hands every ``POST /webhooks/<kind>`` here: ``KINDS[kind]``
says which secret of ``server.webhooks`` signs it; ``check_headers`` looks at the
headers (and query) *before the body is read*: for token kinds that is the whole check,
for HMAC-signed kinds it only lets through a request whose signature header is present
and well-formed, so unsigned requests cost no memory. The HTTP layer then reads the body
(within its memory budget), ``check_body`` verifies an HMAC signature over it, and
``parse`` turns the payload into an ``Event`` — the Git repositories and image
repositories to poll now. The HTTP layer then calls the controller's
``trigger_git``/``trigger_image``; nothing here reconciles anything.

Kinds and what authenticates them:

============  =================  =====================================================
kind          secret             check
============  =================  =====================================================
github        webhooks.github    ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256>``
gitlab        webhooks.gitlab    ``X-Gitlab-Token: <token>``
gitea         webhooks.gitea     ``X-Gitea-Signature: <hex HMAC-SHA256>``
generic       webhooks.generic   ``X-Signature-256: sha256=<hex HMAC-SHA256>``
distribution  webhooks.registry  ``Authorization: Bearer <token>``
harbor        webhooks.registry  ``Authorization: [Bearer ]<token>`` (Harbor's auth header)
dockerhub     webhooks.registry  bearer token, or ``?token=`` (Docker Hub sends no headers)
registry      webhooks.registry  ``Authorization: Bearer <token>``
============  =================  =====================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from syncer.server import signatures

DISTRIBUTION_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"

_MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)


class InvalidPayload(ValueError):
    """The body is not what this kind of webhook sends; the message says what is wrong."""


@dataclass(frozen=True)
class GitPush:
    urls: tuple[str, ...]
    """Every URL the payload gives for the repository (clone, SSH, web)."""
    ref: str | None


@dataclass(frozen=True)
class ImagePush:
    repository: str
    """``host[:port]/path`` of the image repository."""
    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class Event:
    """What one webhook asks for. Empty ``git`` and ``images`` means nothing to do."""

    git: tuple[GitPush, ...] = ()
    images: tuple[ImagePush, ...] = ()
    ignored: str = ""
    """Why nothing is to be done (a ping, an event type we do not act on)."""


class Headers(Protocol):
    """Case-insensitive header lookup, as ``email.message.Message`` does it."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP request a receiver looks at."""

    headers: Headers
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)


HeaderCheck = Callable[[Headers, Mapping[str, str], str], bool]
"""(headers, query, secret) → whether the body may be read."""


@dataclass(frozen=True)
class Kind:
    secret: str
    """The field of ``WebhookSecrets`` holding this kind's secret."""
    check_headers: HeaderCheck
    """(headers, query, secret) → may the body be read: the whole check for token kinds,
    a present and well-formed signature header for HMAC kinds."""
    parse: Callable[[Request], Event]
    check_body: Callable[[Request, str], bool] | None = None
    """The HMAC signature over the body (HMAC kinds only), once it has been read."""
    credential: str = "signature"
    """What the sender proves itself with (named in the 401 answer): signature or token."""


# --- authentication ------------------------------------------------------------------

_GITHUB_SIGNATURE = ("X-Hub-Signature-256",)
# Forgejo (a Gitea fork) sends the same signature under its own name as well.
_GITEA_SIGNATURE = ("X-Gitea-Signature", "X-Forgejo-Signature")
_GENERIC_SIGNATURE = ("X-Signature-256",)


def _signature(headers: Headers, names: tuple[str, ...]) -> str | None:
    return next((value for name in names if (value := headers.get(name))), None)


def _hmac_kind(
    secret: str, parse: Callable[[Request], Event], names: tuple[str, ...], *, prefix: str = ""
) -> Kind:
    """A kind signed with HMAC-SHA256 of the body in one of the headers ``names``: the
    body is read only when that header is well-formed, then checked."""

    def check_headers(headers: Headers, _query: Mapping[str, str], _secret: str) -> bool:
        return signatures.well_formed_hmac(header=_signature(headers, names), prefix=prefix)

    def check_body(request: Request, key: str) -> bool:
        return signatures.check_hmac(
            header=_signature(request.headers, names), secret=key, body=request.body,
            prefix=prefix,
        )  # fmt: skip

    return Kind(secret, check_headers, parse, check_body=check_body)


def _token_kind(secret: str, parse: Callable[[Request], Event], check: HeaderCheck) -> Kind:
    """A kind whose sender proves itself with a token in the headers (or the query)."""
    return Kind(secret, check, parse, credential="token")


def _gitlab_auth(headers: Headers, _query: Mapping[str, str], secret: str) -> bool:
    return signatures.check_token(given=headers.get("X-Gitlab-Token"), secret=secret)


def _registry_auth(headers: Headers, _query: Mapping[str, str], secret: str) -> bool:
    return signatures.check_token(
        given=signatures.bearer(headers.get("Authorization")), secret=secret
    )


def _harbor_auth(headers: Headers, _query: Mapping[str, str], secret: str) -> bool:
    # Harbor sends its "Auth Header" setting verbatim: with or without "Bearer ".
    header = (headers.get("Authorization") or "").strip()
    given = signatures.bearer(header) or header
    return signatures.check_token(given=given, secret=secret)


def _dockerhub_auth(headers: Headers, query: Mapping[str, str], secret: str) -> bool:
    # Docker Hub webhooks cannot carry headers: the token travels in the URL instead.
    return _registry_auth(headers, query, secret) or signatures.check_token(
        given=query.get("token"), secret=secret
    )


# --- payloads ------------------------------------------------------------------------


def _json(request: Request) -> dict[str, Any]:
    body = request.body
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" and body.startswith(b"payload="):
        # GitHub's and Gitea's other content type: the JSON sits in a "payload" field
        # (the signature covers the form body as sent, which has been checked).
        payload = parse_qs(body.decode("utf-8", "replace")).get("payload")
        if not payload:
            raise InvalidPayload("a form-encoded webhook needs a 'payload' field")
        body = payload[0].encode()
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidPayload(f"the body is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidPayload("the body must be a JSON object")
    return data


def _obj(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise InvalidPayload(f"'{key}' must be an object")
    return value


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"'{key}' must be a string")
    return value


def _urls(repo: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    urls = tuple(dict.fromkeys(u for k in keys if (u := _str(repo, k))))
    if not urls:
        raise InvalidPayload(f"the repository has none of {', '.join(keys)}")
    return urls


def _github_like(request: Request, *, event: str | None) -> Event:
    if event == "ping":
        return Event(ignored="ping")
    if event not in (None, "push"):
        return Event(ignored=f"event {event!r} is not a push")
    data = _json(request)
    repo = _obj(data, "repository")
    urls = _urls(repo, ("clone_url", "ssh_url", "html_url"))
    return Event(git=(GitPush(urls=urls, ref=_str(data, "ref")),))


def parse_github(request: Request) -> Event:
    return _github_like(request, event=request.headers.get("X-GitHub-Event"))


def parse_gitea(request: Request) -> Event:
    event = request.headers.get("X-Gitea-Event") or request.headers.get("X-Forgejo-Event")
    return _github_like(request, event=event)


def parse_gitlab(request: Request) -> Event:
    data = _json(request)
    kind = data.get("object_kind") or data.get("event_name")
    if kind not in ("push", "tag_push"):
        return Event(ignored=f"object_kind {kind!r} is not a push")
    # Current payloads carry "project"; older ones only "repository".
    project = data.get("project")
    repo = project if isinstance(project, dict) else _obj(data, "repository")
    urls = _urls(repo, ("git_http_url", "git_ssh_url", "http_url", "ssh_url", "web_url"))
    return Event(git=(GitPush(urls=urls, ref=_str(data, "ref")),))


def _image_from_fields(data: Mapping[str, Any]) -> ImagePush:
    repository = _str(data, "repository")
    if not repository:
        raise InvalidPayload("'repository' is missing")
    return ImagePush(repository=repository, tag=_str(data, "tag"), digest=_str(data, "digest"))


def parse_generic(request: Request) -> Event:
    data = _json(request)
    if "url" in data:
        url = _str(data, "url")
        if not url:
            raise InvalidPayload("'url' is empty")
        return Event(git=(GitPush(urls=(url,), ref=_str(data, "ref")),))
    if "repository" in data:
        return Event(images=(_image_from_fields(data),))
    raise InvalidPayload('expected {"url": ..., "ref": ...} or {"repository": ..., "tag": ...}')


def parse_registry(request: Request) -> Event:
    return Event(images=(_image_from_fields(_json(request)),))


def parse_distribution(request: Request) -> Event:
    events = _json(request).get("events")
    if not isinstance(events, list):
        raise InvalidPayload("'events' must be a list")
    pushes: dict[ImagePush, None] = {}
    for item in events:
        if not isinstance(item, dict) or item.get("action") != "push":
            continue
        target = _obj(item, "target")
        # Blob uploads are notified too; only a manifest push makes a new image.
        media_type = _str(target, "mediaType") or ""
        if media_type not in _MANIFEST_TYPES and not _str(target, "tag"):
            continue
        path = _str(target, "repository")
        if not path:
            raise InvalidPayload("an event's target has no 'repository'")
        request_part = item.get("request") if isinstance(item.get("request"), dict) else {}
        host = _str(request_part or {}, "host") or urlsplit(_str(target, "url") or "").netloc
        repository = f"{host}/{path}" if host else path
        digest, tag = _str(target, "digest"), _str(target, "tag")
        pushes[ImagePush(repository=repository, tag=tag, digest=digest)] = None
    if not pushes:
        return Event(ignored="no manifest push in the events")
    return Event(images=tuple(pushes))


def parse_dockerhub(request: Request) -> Event:
    data = _json(request)
    repo = _obj(data, "repository")
    name = _str(repo, "repo_name")
    if not name:
        raise InvalidPayload("'repository.repo_name' is missing")
    tag = _str(data.get("push_data") or {}, "tag")
    return Event(images=(ImagePush(repository=f"docker.io/{name}", tag=tag),))


def _strip_reference(resource_url: str) -> str:
    """``host/ns/name:tag`` or ``host/ns/name@sha256:…`` → ``host/ns/name``."""
    path = resource_url.split("@", 1)[0]
    head, _, last = path.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def parse_harbor(request: Request) -> Event:
    data = _json(request)
    if data.get("type") != "PUSH_ARTIFACT":
        return Event(ignored=f"type {data.get('type')!r} is not PUSH_ARTIFACT")
    event_data = _obj(data, "event_data")
    full_name = _str(event_data.get("repository") or {}, "repo_full_name")
    pushes: dict[ImagePush, None] = {}
    for resource in event_data.get("resources") or []:
        if not isinstance(resource, dict):
            raise InvalidPayload("'event_data.resources' must hold objects")
        url = _str(resource, "resource_url")
        repository = _strip_reference(url) if url else full_name
        if not repository:
            raise InvalidPayload("a resource has no resource_url and the repository no name")
        image = ImagePush(
            repository=repository, tag=_str(resource, "tag"), digest=_str(resource, "digest")
        )
        pushes[image] = None
    if not pushes:
        raise InvalidPayload("'event_data.resources' is empty")
    return Event(images=tuple(pushes))


def unmatched(event: Event) -> str:
    """Why an event that names pushes triggered nothing (the ``ignored`` answer)."""
    reasons: dict[str, None] = {}
    for push in event.git:
        url = push.urls[0] if push.urls else "(no repository URL)"
        at = f" at {push.ref}" if push.ref else ""
        reasons[f"no source follows {url}{at}"] = None
    for image in event.images:
        reasons[f"no app uses image repository {image.repository}"] = None
    return "; ".join(reasons) or "the event names no push"


KINDS: dict[str, Kind] = {
    "github": _hmac_kind("github", parse_github, _GITHUB_SIGNATURE, prefix="sha256="),
    "gitlab": _token_kind("gitlab", parse_gitlab, _gitlab_auth),
    "gitea": _hmac_kind("gitea", parse_gitea, _GITEA_SIGNATURE),
    "generic": _hmac_kind("generic", parse_generic, _GENERIC_SIGNATURE, prefix="sha256="),
    "distribution": _token_kind("registry", parse_distribution, _registry_auth),
    "dockerhub": _token_kind("registry", parse_dockerhub, _dockerhub_auth),
    "harbor": _token_kind("registry", parse_harbor, _harbor_auth),
    "registry": _token_kind("registry", parse_registry, _registry_auth),
}
"""Every receiver, by the last segment of its path ``/webhooks/<kind>``."""
