"""API users and roles on the real HTTP server: who may read and act, anonymous reads,
tokens from Secrets-like refs and a token file rotated without a restart, and the names
that reach the controller (what history records)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from syncer.config import model
from syncer.server import http
from tests.server.conftest import FakePort, env
from tests.server.openapi_check import validate

USERS = (
    model.ApiUser(name="vera", role="viewer", token=env("T_VERA")),
    model.ApiUser(name="bob", role="deployer", token=env("T_BOB")),
    model.ApiUser(name="alice", role="approver", token=env("T_ALICE"), stages=("prod",)),
    model.ApiUser(name="ada", role="admin", token=env("T_ADA")),
)
TOKENS = {"T_VERA": "vera-token", "T_BOB": "bob-token", "T_ALICE": "alice-token",
          "T_ADA": "ada-token"}  # fmt: skip
POSTS = ["sync", "rollback", "suspend", "resume", "approve", "reject"]
ALLOWED = {
    "vera": set(),
    "bob": {"sync", "rollback", "suspend", "resume"},
    "alice": {"approve", "reject"},
    "ada": set(POSTS),
}


@pytest.fixture
def users_server(
    start_server: Callable[..., http.HttpServer], monkeypatch: pytest.MonkeyPatch
) -> http.HttpServer:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    return start_server(model.Server(users=USERS))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("user", ["vera", "bob", "alice", "ada"])
def test_each_role_may_read_and_only_its_own_actions(
    user: str, users_server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    auth = bearer(f"{user}-token")
    assert session.get(f"{users_server.url}/api/v1/apps", headers=auth).status_code == 200
    for action in POSTS:
        answer = session.post(
            f"{users_server.url}/api/v1/apps/web/{action}", headers=auth, json={"stage": "prod"}
        )
        if action in ALLOWED[user]:
            assert answer.status_code in (200, 202), (action, answer.text)
        else:
            assert answer.status_code == 403, (action, answer.text)
            assert (
                answer.json()["error"] == f"user {user!r} ({USERS_BY[user].role}) may not {action}"
            )
    # The controller was asked by name: history says who, not "api".
    assert fake_port.actors == [user] * len(ALLOWED[user])


USERS_BY = {u.name: u for u in USERS}


def test_approver_limited_to_stages(
    users_server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    url = f"{users_server.url}/api/v1/apps/web/approve"
    refused = session.post(url, headers=bearer("alice-token"), json={"stage": "dev"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "user 'alice' may approve only in stages: prod"
    assert session.post(url, headers=bearer("ada-token"), json={"stage": "dev"}).ok
    assert fake_port.calls == [("approve", "web", "dev")]


def test_anonymous_reads_are_off_by_default_and_can_be_allowed(
    start_server: Callable[..., http.HttpServer],
    users_server: http.HttpServer,
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    for path in ("apps", "apps/web", "apps/web/history", "apps/nope", "nothing/here"):
        answer = session.get(f"{users_server.url}/api/v1/{path}")
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = session.get(f"{users_server.url}/api/v1/apps", headers=bearer("vera-tokeN"))
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "unknown or expired token"}

    open_reads = start_server(model.Server(users=USERS, anonymous_reads=True))
    assert session.get(f"{open_reads.url}/api/v1/apps").status_code == 200
    assert session.post(f"{open_reads.url}/api/v1/apps/web/sync").status_code == 401
    # A token that is presented must be right, even where reads are open.
    assert session.get(f"{open_reads.url}/api/v1/apps", headers=bearer("x")).status_code == 401
    assert fake_port.calls == []


def test_token_file_rotation_needs_no_restart(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("# token,user,role[,stages]\nold-secret,carol,deployer\n\nbad line\n")
    server = start_server(model.Server(token_file=str(tokens)))
    url = f"{server.url}/api/v1/apps/web/sync"
    assert session.post(url, headers=bearer("old-secret")).status_code == 202
    assert fake_port.actors == ["carol"]
    # The bad line is reported by number, never by content (it may hold a token).
    assert "line=4 problem=expected TOKEN,USER,ROLE[,STAGE...]" in caplog.text

    tokens.write_text("new-secret,carol,deployer\nview-secret,dan,viewer\n")
    os.utime(tokens, ns=(1, 1))  # a rewrite within the same clock tick is seen too
    assert session.post(url, headers=bearer("old-secret")).status_code == 401
    assert session.post(url, headers=bearer("new-secret")).status_code == 202
    assert session.post(url, headers=bearer("view-secret")).status_code == 403
    assert fake_port.actors == ["carol", "carol"]
    assert "old-secret" not in caplog.text and "new-secret" not in caplog.text


def test_legacy_api_token_acts_as_admin_api(
    server: http.HttpServer,
    fake_port: FakePort,
    session: requests.Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = session.post(
        f"{server.url}/api/v1/apps/web/approve", headers=bearer("api-token"), json={"stage": "prod"}
    )
    assert answer.status_code == 200
    assert fake_port.actors == ["api"]


def test_deprecation_of_api_token_is_logged(
    start_server: Callable[..., http.HttpServer], caplog: pytest.LogCaptureFixture
) -> None:
    start_server(model.Server(api_token=env("SYNCER_TEST_API")))
    assert "server.apiToken is deprecated" in caplog.text
    assert "api-token" not in caplog.text


def test_a_user_whose_token_cannot_be_read_is_locked_out_alone(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("T_ADA", "ada-token")
    monkeypatch.delenv("T_GONE", raising=False)
    users = (
        model.ApiUser(name="gone", role="admin", token=env("T_GONE")),
        model.ApiUser(name="ada", role="admin", token=env("T_ADA")),
    )
    server = start_server(model.Server(users=users))
    answer = session.post(f"{server.url}/api/v1/apps/web/sync", headers=bearer("ada-token"))
    assert answer.status_code == 202
    assert "msg=API token unavailable user=gone ref=env:T_GONE" in caplog.text


@pytest.mark.parametrize("user", ["vera", "bob", "alice", "ada"])
def test_me_says_who_the_token_is_and_what_they_may_do(
    user: str, users_server: http.HttpServer, session: requests.Session
) -> None:
    answer = session.get(f"{users_server.url}/api/v1/me", headers=bearer(f"{user}-token"))
    assert answer.status_code == 200, answer.text
    me = answer.json()
    document = session.get(f"{users_server.url}/api/v1/openapi.json").json()
    validate(document, method="GET", path="/me", status=200, body=me)
    assert me["name"] == user and me["role"] == USERS_BY[user].role
    assert set(me["may"]) == ALLOWED[user]
    assert me["stages"] == (["prod"] if user == "alice" else [])
    assert session.get(f"{users_server.url}/api/v1/me").status_code == 401
