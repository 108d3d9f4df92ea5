"""The request each provider type expects for one ``message.Note``.

``worker`` calls ``request`` for every HTTP provider (Kubernetes Events are
``kube``'s); ``transport`` sends the result. Every request carries
``X-Syncer-Delivery`` (the stable id receivers deduplicate on; also as
``Idempotency-Key``) and ``X-Syncer-Event``. Credentials (chat webhook URLs, HMAC
keys, API tokens) are read through ``resolve`` when a request is built and go only
into the URL or headers a provider requires, never into a body, a log line or an
error.

- slack: ``{"text": ...}`` to an incoming webhook;
- teams: an Adaptive Card message (what Teams workflows' "post to a channel when a
  webhook request is received" takes);
- webhook: the note as JSON, signed: ``X-Syncer-Timestamp: <unix seconds>`` and
  ``X-Syncer-Signature-256: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, so a
  receiver can refuse old or replayed requests;
- github / gitea: ``POST /repos/OWNER/REPO/statuses/SHA`` (GitHub's API, Gitea's under
  ``/api/v1``); gitlab: ``POST /api/v4/projects/OWNER%2FREPO/statuses/SHA``. The
  context is ``syncer/APP/CLUSTER``: one status per cluster.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from syncer import errors, repos
from syncer.config import model
from syncer.notify import catalog, message

Resolve = Callable[[model.SecretRef], str]
"""Reads a secret reference (``syncer.config.secrets.resolve`` bound to the config)."""

DEFAULT_ADDRESS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com"}
STATUS_WORDS = {
    # GitHub's state -> each API's word for it.
    "github": {"pending": "pending", "success": "success", "failure": "failure"},
    "gitea": {"pending": "pending", "success": "success", "failure": "failure"},
    "gitlab": {"pending": "running", "success": "success", "failure": "failed"},
}
SEVERITY_COLOURS = {catalog.INFO: "good", catalog.WARNING: "warning", catalog.ERROR: "attention"}
"""Adaptive Card text colours by severity."""


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    what: str
    """Where it goes, without credentials (for logs and errors)."""


def request(
    provider: model.NotificationProvider,
    *,
    note: message.Note,
    resolve: Resolve,
    source_url: str,
    now: float | None = None,
) -> Request:
    """The request telling ``note`` to ``provider``; PermanentError when it cannot be
    built (a commit status without a commit)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "syncer",
        "X-Syncer-Delivery": note.id,
        # The same id under the name generic idempotency middleware reads
        # (draft-ietf-httpapi-idempotency-key-header): a resent delivery is dropped there.
        "Idempotency-Key": note.id,
        "X-Syncer-Event": note.event,
    }
    what = f"{provider.type} provider {provider.name}"
    if provider.type in catalog.COMMIT_STATUS:
        return _status(provider, note=note, resolve=resolve, source_url=source_url, headers=headers)
    assert provider.url_from is not None  # config checks require it for these types
    url = resolve(provider.url_from)
    if provider.type == "slack":
        return Request("POST", url, headers, _json({"text": note.text}), what)
    if provider.type == "teams":
        return Request("POST", url, headers, _json(_card(note)), what)
    assert provider.secret_from is not None
    body = _json(note.to_dict())
    stamp = str(int(now if now is not None else time.time()))
    key = resolve(provider.secret_from).encode()
    digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers["X-Syncer-Timestamp"] = stamp
    headers["X-Syncer-Signature-256"] = f"sha256={digest}"
    return Request("POST", url, headers, body, what)


def verify(*, key: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does with a signed webhook (the tests and the README use it)."""
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={digest}", signature)


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _card(note: message.Note) -> dict[str, Any]:
    facts = [
        {"title": title, "value": value}
        for title, value in (
            ("App", note.app), ("Cluster", note.cluster), ("Stage", note.stage),
            ("Release", note.release[:12]), ("Commit", note.commit[:12]),
        )
        if value
    ]  # fmt: skip
    title = {
        "type": "TextBlock", "text": note.text, "wrap": True, "weight": "bolder",
        "color": SEVERITY_COLOURS.get(note.severity, "default"),
    }  # fmt: skip
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [title, {"type": "FactSet", "facts": facts}],
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def _status(
    provider: model.NotificationProvider,
    *,
    note: message.Note,
    resolve: Resolve,
    source_url: str,
    headers: dict[str, str],
) -> Request:
    what = f"{provider.type} provider {provider.name}"
    if not note.commit:
        raise errors.PermanentError(f"{what}: release {note.release[:12]} has no commit recorded")
    repository = provider.repository or _repo_path(source_url)
    if not repository:
        raise errors.PermanentError(
            f"{what}: cannot tell OWNER/REPO from the source URL; set its repository"
        )
    base = (provider.address or DEFAULT_ADDRESS[provider.type]).rstrip("/")
    state = STATUS_WORDS[provider.type][catalog.STATUS_EVENTS[note.event]]
    context = f"syncer/{note.app}/{note.cluster}" if note.cluster else f"syncer/{note.app}"
    description = note.text[: message.DESCRIPTION_LIMIT]
    assert provider.token_from is not None  # config checks require it
    token = resolve(provider.token_from)
    sha = urllib.parse.quote(note.commit, safe="")
    if provider.type == "gitlab":
        project = urllib.parse.quote(repository, safe="")
        url = f"{base}/api/v4/projects/{project}/statuses/{sha}"
        headers["PRIVATE-TOKEN"] = token
        body = {"state": state, "name": context, "description": description}
    else:
        prefix = "/api/v1" if provider.type == "gitea" else ""
        url = f"{base}{prefix}/repos/{_quote_path(repository)}/statuses/{sha}"
        if provider.type == "github":
            headers["Authorization"] = f"Bearer {token}"
            headers["Accept"] = "application/vnd.github+json"
        else:
            headers["Authorization"] = f"token {token}"
        body = {"state": state, "context": context, "description": description}
    return Request("POST", url, headers, _json(body), f"{what} ({repository})")


def _repo_path(url: str) -> str:
    return repos.repo_path(url) if "://" in url or "@" in url else ""


def _quote_path(path: str) -> str:
    return "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))
