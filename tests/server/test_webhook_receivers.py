"""Each webhook kind: a good signature triggers a poll of what it names; a bad or missing
one is refused with 401 and triggers nothing. Real HTTP over 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from syncer import metrics
from syncer.config import model
from syncer.server import http, webhooks
from tests.server.conftest import ALL_SECRETS, SECRETS, FakePort

DIGEST = "sha256:" + "ab" * 32


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Case:
    kind: str
    payload: dict[str, Any]
    headers: Callable[[bytes], dict[str, str]]
    """Correctly authenticated headers for this body."""
    bad_headers: Callable[[bytes], dict[str, str]]
    """Headers that carry the wrong signature or token."""
    expected: list[tuple[Any, ...]]
    query: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


GITHUB_PUSH = {
    "ref": "refs/heads/main",
    "after": "1" * 40,
    "repository": {
        "full_name": "team/deploy",
        "clone_url": "https://github.com/team/deploy.git",
        "ssh_url": "git@github.com:team/deploy.git",
        "html_url": "https://github.com/team/deploy",
    },
}
GITLAB_PUSH = {
    "object_kind": "tag_push",
    "ref": "refs/tags/v1.2.0",
    "project": {
        "git_http_url": "https://gitlab.example.com/team/deploy.git",
        "git_ssh_url": "git@gitlab.example.com:team/deploy.git",
        "web_url": "https://gitlab.example.com/team/deploy",
    },
}
GITEA_PUSH = {
    "ref": "refs/heads/main",
    "repository": {
        "clone_url": "https://gitea.example.com/team/deploy.git",
        "ssh_url": "ssh://git@gitea.example.com:2222/team/deploy.git",
        "html_url": "https://gitea.example.com/team/deploy",
    },
}
DISTRIBUTION_EVENTS = {
    "events": [
        {  # a layer upload: not a new image
            "action": "push",
            "target": {
                "mediaType": "application/octet-stream",
                "digest": "sha256:" + "cd" * 32,
                "repository": "team/web",
            },
            "request": {"host": "registry.example.com:5000"},
        },
        {
            "id": "e1",
            "action": "push",
            "target": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": DIGEST,
                "repository": "team/web",
                "url": "https://registry.example.com:5000/v2/team/web/manifests/" + DIGEST,
                "tag": "1.4.2",
            },
            "request": {"host": "registry.example.com:5000", "method": "PUT"},
        },
        {"action": "pull", "target": {"repository": "team/web", "tag": "1.4.1"}},
    ]
}
DOCKERHUB_PUSH = {
    "callback_url": "https://registry.hub.docker.com/u/team/web/hook/x/",
    "push_data": {"pusher": "dev", "tag": "1.4.2"},
    "repository": {"repo_name": "team/web", "namespace": "team", "name": "web"},
}
HARBOR_PUSH = {
    "type": "PUSH_ARTIFACT",
    "occur_at": 1700000000,
    "operator": "dev",
    "event_data": {
        "resources": [
            {
                "digest": DIGEST,
                "tag": "1.4.2",
                "resource_url": "harbor.example.com/team/web:1.4.2",
            }
        ],
        "repository": {"name": "web", "namespace": "team", "repo_full_name": "team/web"},
    },
}


def _bearer(token: str) -> Callable[[bytes], dict[str, str]]:
    return lambda body: {"Authorization": f"Bearer {token}"}


CASES = [
    Case(
        "github",
        GITHUB_PUSH,
        lambda b: {
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256=" + sign(SECRETS["SYNCER_TEST_GITHUB"], b),
        },
        lambda b: {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign("x", b)},
        [
            ("trigger_git", "https://github.com/team/deploy.git", "refs/heads/main"),
            ("trigger_git", "git@github.com:team/deploy.git", "refs/heads/main"),
            ("trigger_git", "https://github.com/team/deploy", "refs/heads/main"),
        ],
    ),
    Case(
        "gitlab",
        GITLAB_PUSH,
        lambda b: {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": "gl-token"},
        lambda b: {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": "gl-tokeN"},
        [
            ("trigger_git", "https://gitlab.example.com/team/deploy.git", "refs/tags/v1.2.0"),
            ("trigger_git", "git@gitlab.example.com:team/deploy.git", "refs/tags/v1.2.0"),
            ("trigger_git", "https://gitlab.example.com/team/deploy", "refs/tags/v1.2.0"),
        ],
    ),
    Case(
        "gitea",
        GITEA_PUSH,
        lambda b: {
            "X-Gitea-Event": "push",
            "X-Gitea-Signature": sign(SECRETS["SYNCER_TEST_GITEA"], b),
        },
        lambda b: {"X-Gitea-Event": "push", "X-Gitea-Signature": sign("gitea-secreT", b)},
        [
            ("trigger_git", "https://gitea.example.com/team/deploy.git", "refs/heads/main"),
            ("trigger_git", "ssh://git@gitea.example.com:2222/team/deploy.git", "refs/heads/main"),
            ("trigger_git", "https://gitea.example.com/team/deploy", "refs/heads/main"),
        ],
    ),
    Case(
        "generic",
        {"url": "https://git.example.com/team/deploy.git", "ref": "refs/heads/main"},
        lambda b: {"X-Signature-256": "sha256=" + sign(SECRETS["SYNCER_TEST_GENERIC"], b)},
        lambda b: {"X-Signature-256": sign(SECRETS["SYNCER_TEST_GENERIC"], b)},  # no prefix
        [("trigger_git", "https://git.example.com/team/deploy.git", "refs/heads/main")],
    ),
    Case(
        "generic",
        {"repository": "registry.example.com/team/web", "tag": "1.4.2", "digest": DIGEST},
        lambda b: {"X-Signature-256": "sha256=" + sign(SECRETS["SYNCER_TEST_GENERIC"], b)},
        lambda b: {"X-Signature-256": "sha256=" + sign(SECRETS["SYNCER_TEST_GITHUB"], b)},
        [("trigger_image", "registry.example.com/team/web", "1.4.2", DIGEST)],
    ),
    Case(
        "distribution",
        DISTRIBUTION_EVENTS,
        _bearer("registry-token"),
        _bearer("registry-tokenx"),
        [("trigger_image", "registry.example.com:5000/team/web", "1.4.2", DIGEST)],
        content_type="application/vnd.docker.distribution.events.v1+json",
    ),
    Case(
        "dockerhub",
        DOCKERHUB_PUSH,
        lambda b: {},
        lambda b: {},
        [("trigger_image", "docker.io/team/web", "1.4.2", None)],
        query={"token": "registry-token"},
    ),
    Case(
        "harbor",
        HARBOR_PUSH,
        lambda b: {"Authorization": "registry-token"},  # Harbor's auth header, verbatim
        _bearer("gh-secret"),
        [("trigger_image", "harbor.example.com/team/web", "1.4.2", DIGEST)],
    ),
    Case(
        "registry",
        {"repository": "registry.example.com/team/web", "tag": "latest"},
        _bearer("registry-token"),
        lambda b: {"Authorization": "Basic cmVnaXN0cnktdG9rZW4="},
        [("trigger_image", "registry.example.com/team/web", "latest", None)],
    ),
]
IDS = [f"{c.kind}-{c.expected[0][0]}" for c in CASES]


def post(
    session: requests.Session,
    server: http.HttpServer,
    case: Case,
    headers: dict[str, str],
    *,
    query: dict[str, str] | None = None,
) -> requests.Response:
    body = json.dumps(case.payload).encode()
    return session.post(
        f"{server.webhook_url}/webhooks/{case.kind}",
        data=body,
        headers={"Content-Type": case.content_type, **headers},
        params=query if query is not None else case.query,
        timeout=10,
    )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_good_signature_triggers_what_the_payload_names(
    case: Case, server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    def counter() -> float:
        return metrics.value("syncer_webhooks_total", kind=case.kind, result="triggered")

    before = counter()
    body = json.dumps(case.payload).encode()
    response = post(session, server, case, case.headers(body))
    assert response.status_code == 202, response.text
    assert fake_port.triggers() == case.expected
    assert response.json()["triggered"] in (["deploy"], ["web"])
    assert counter() == before + 1


TOKEN_KINDS = frozenset({"gitlab", "distribution", "dockerhub", "harbor", "registry"})


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_signature_is_refused_and_triggers_nothing(
    case: Case, server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    def counter() -> float:
        return metrics.value("syncer_webhooks_total", kind=case.kind, result="unauthorized")

    before = counter()
    body = json.dumps(case.payload).encode()
    bad_query = {"token": "wrong"} if case.query else {}
    response = post(session, server, case, case.bad_headers(body), query=bad_query)
    assert response.status_code == 401
    credential = webhooks.KINDS[case.kind].credential
    assert credential == ("token" if case.kind in TOKEN_KINDS else "signature")
    assert response.json() == {"error": f"bad or missing {credential}"}
    missing = post(session, server, case, {}, query={})
    assert missing.status_code == 401
    assert fake_port.triggers() == []
    assert counter() == before + 2


def test_signature_of_another_body_is_refused(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    signed = json.dumps(GITHUB_PUSH).encode()
    tampered = signed.replace(b"team/deploy", b"team/other")
    response = session.post(
        f"{server.webhook_url}/webhooks/github",
        data=tampered,
        headers={
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256=" + sign("gh-secret", signed),
        },
        timeout=10,
    )
    assert response.status_code == 401
    assert fake_port.triggers() == []


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea", "generic", "harbor", "registry"])
def test_kind_without_a_configured_secret_is_never_accepted(
    kind: str,
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_server(model.Server(api_token=ALL_SECRETS.api_token))
    case = next(c for c in CASES if c.kind == kind)
    body = json.dumps(case.payload).encode()
    with caplog.at_level(logging.WARNING, logger="syncer.server"):
        response = post(session, server, case, case.headers(body))
    assert response.status_code == 401
    assert "is not set" in response.json()["error"]
    assert fake_port.triggers() == []
    assert any(
        f"kind={kind}" in r.getMessage() and "no secret configured" in r.getMessage()
        for r in caplog.records
    )


def test_unreadable_secret_answers_500_and_triggers_nothing(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SYNCER_TEST_GITHUB")
    server = start_server()
    case = CASES[0]
    body = json.dumps(case.payload).encode()
    response = post(session, server, case, case.headers(body))
    assert response.status_code == 500
    assert "server.webhooks.github" in response.json()["error"]
    assert "gh-secret" not in response.text
    assert fake_port.triggers() == []


@pytest.mark.parametrize(
    ("kind", "headers", "payload", "reason"),
    [
        ("github", {"X-GitHub-Event": "ping"}, {"zen": "hi", "hook_id": 1}, "ping"),
        ("github", {"X-GitHub-Event": "issues"}, {"action": "opened"}, "not a push"),
        ("gitea", {"X-Gitea-Event": "create"}, {"ref": "x"}, "not a push"),
    ],
)
def test_signed_events_that_are_not_pushes_answer_200_and_trigger_nothing(
    kind: str,
    headers: dict[str, str],
    payload: dict[str, Any],
    reason: str,
    server: http.HttpServer,
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    body = json.dumps(payload).encode()
    if kind == "github":
        headers = {**headers, "X-Hub-Signature-256": "sha256=" + sign("gh-secret", body)}
    else:
        headers = {**headers, "X-Gitea-Signature": sign("gitea-secret", body)}
    response = session.post(f"{server.webhook_url}/webhooks/{kind}", data=body, headers=headers)
    assert response.status_code == 200
    assert reason in response.json()["ignored"]
    assert fake_port.triggers() == []


def test_harbor_events_other_than_push_are_ignored(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    payload = {**HARBOR_PUSH, "type": "PULL_ARTIFACT"}
    response = session.post(
        f"{server.webhook_url}/webhooks/harbor",
        json=payload,
        headers={"Authorization": "Bearer registry-token"},
    )
    assert response.status_code == 200
    assert fake_port.triggers() == []


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("generic", b"{not json", "not JSON"),
        ("generic", b'{"ref": "main"}', "expected"),
        ("generic", b"[1, 2]", "JSON object"),
        ("github", b'{"ref": "refs/heads/main"}', "'repository' must be an object"),
        ("gitlab", b'{"object_kind": "push", "project": {}}', "none of git_http_url"),
    ],
)
def test_signed_but_malformed_payload_is_400_naming_the_problem(
    kind: str,
    body: bytes,
    message: str,
    server: http.HttpServer,
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    headers = {
        "generic": {"X-Signature-256": "sha256=" + sign("generic-secret", body)},
        "github": {
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256=" + sign("gh-secret", body),
        },
        "gitlab": {"X-Gitlab-Token": "gl-token"},
    }[kind]
    response = session.post(f"{server.webhook_url}/webhooks/{kind}", data=body, headers=headers)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert fake_port.triggers() == []


def test_body_over_the_limit_is_refused_unread(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    server = start_server(max_body=1024)
    body = json.dumps({"url": "https://git.example.com/team/deploy.git", "pad": "x" * 2000})
    response = session.post(
        f"{server.webhook_url}/webhooks/generic",
        data=body,
        headers={"X-Signature-256": "sha256=" + sign("generic-secret", body.encode())},
    )
    assert response.status_code == 413
    assert fake_port.triggers() == []


def test_unknown_kind_is_404_and_get_is_405(
    server: http.HttpServer, session: requests.Session
) -> None:
    response = session.post(f"{server.webhook_url}/webhooks/bitbucket", data=b"{}")
    assert response.status_code == 404
    assert "github" in response.json()["error"]
    response = session.get(f"{server.webhook_url}/webhooks/github")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, OPTIONS"


def test_repository_nothing_watches_is_ignored_with_the_reason(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    body = json.dumps({"repository": "registry.example.com/other/app", "tag": "1"})
    response = session.post(
        f"{server.webhook_url}/webhooks/registry",
        data=body,
        headers={"Authorization": "Bearer registry-token"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "ignored": "no app uses image repository registry.example.com/other/app"
    }
    assert fake_port.triggers() == [("trigger_image", "registry.example.com/other/app", "1", None)]


def test_github_form_encoded_payload_is_accepted(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    body = urlencode({"payload": json.dumps(GITHUB_PUSH)}).encode()
    response = session.post(
        f"{server.webhook_url}/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256=" + sign("gh-secret", body),
        },
    )
    assert response.status_code == 202
    assert fake_port.triggers()[0] == (
        "trigger_git",
        "https://github.com/team/deploy.git",
        "refs/heads/main",
    )


def test_github_push_of_a_repository_nothing_follows_is_ignored_with_the_reason(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    body = json.dumps(GITHUB_PUSH).replace("team/deploy", "team/other").encode()
    response = session.post(
        f"{server.webhook_url}/webhooks/github",
        data=body,
        headers={
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256=" + sign("gh-secret", body),
        },
        timeout=10,
    )
    assert response.status_code == 200
    reason = response.json()["ignored"]
    assert reason.startswith("no source follows ") and "team/other" in reason
    assert "refs/heads/main" in reason
