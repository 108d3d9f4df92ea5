"""The JSON API (behind the legacy API token here; roles in test_api_users), probes,
/metrics, lifecycle."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from syncer import errors, metrics
from syncer.config import model
from syncer.server import http
from tests.server.conftest import FakePort
from tests.server.test_metrics_exposition import OPENMETRICS, parse

AUTH = {"Authorization": "Bearer api-token"}


def test_get_apps_status_history_and_releases(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    session.headers.update(AUTH)
    apps = session.get(f"{server.url}/api/v1/apps").json()
    assert apps == {"apps": [{"name": "web", "release": "r1", "health": "Healthy"}]}
    assert session.get(f"{server.url}/api/v1/apps/web").json()["health"] == "Healthy"
    history = session.get(f"{server.url}/api/v1/apps/web/history", params={"limit": "3"})
    assert history.json() == {"app": "web", "history": [{"release": f"r{i}"} for i in (3, 2, 1)]}
    assert ("history", "web", 3) in fake_port.calls
    session.get(f"{server.url}/api/v1/apps/web/history")
    assert ("history", "web", 50) in fake_port.calls
    releases = session.get(f"{server.url}/api/v1/apps/web/releases").json()
    assert releases["releases"][0]["id"] == "r1"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/v1/apps/nope", 404, "no app named 'nope'"),
        ("/api/v1/apps/nope/history", 404, "no app named"),
        ("/api/v1/apps/web/history?limit=0", 400, "limit must be"),
        ("/api/v1/apps/web/history?limit=abc", 400, "limit must be"),
        ("/api/v1/apps/web/other", 404, "no such API path"),
        ("/api/v2/apps", 404, "no such path"),
    ],
)
def test_bad_reads_answer_a_json_error(
    path: str, status: int, message: str, server: http.HttpServer, session: requests.Session
) -> None:
    response = session.get(server.url + path, headers=AUTH)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_posts_need_the_api_token(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    url = f"{server.url}/api/v1/apps/web/sync"
    missing = session.post(url)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = session.post(url, headers={"Authorization": "Bearer api-tokeN"})
    assert wrong.status_code == 401
    basic = session.post(url, auth=("x", "api-token"))
    assert basic.status_code == 401
    assert fake_port.calls == []
    ok = session.post(url, headers=AUTH)
    assert ok.status_code == 202
    assert ok.json() == {"app": "web", "scheduled": True}
    assert fake_port.calls == [("sync_now", "web")]


def test_the_api_is_disabled_without_users(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    server = start_server(model.Server())
    response = session.post(f"{server.url}/api/v1/apps/web/sync")
    assert response.status_code == 403
    assert "server.users" in response.json()["error"]
    assert fake_port.calls == []
    assert session.get(f"{server.url}/api/v1/apps").status_code == 403
    # A token nobody has is refused as such.
    assert session.post(f"{server.url}/api/v1/apps/web/sync", headers=AUTH).status_code == 401


def test_rollback_and_approve(
    server: http.HttpServer, fake_port: FakePort, session: requests.Session
) -> None:
    base = f"{server.url}/api/v1/apps/web"
    assert session.post(f"{base}/rollback", headers=AUTH).json() == {"app": "web", "to": "r0"}
    to = session.post(f"{base}/rollback", headers=AUTH, json={"to": "r7"})
    assert to.status_code == 202
    assert to.json() == {"app": "web", "to": "r7"}
    bad_to = session.post(f"{base}/rollback", headers=AUTH, json={"to": 7})
    assert bad_to.status_code == 400
    approve = session.post(f"{base}/approve", headers=AUTH, json={"stage": "prod"})
    assert approve.status_code == 200
    assert approve.json()["approvedBy"] == "api"
    assert approve.json()["approvedAt"] == "2017-07-14T02:40:00Z"  # ISO-8601 in answers
    no_stage = session.post(f"{base}/approve", headers=AUTH, json={})
    assert no_stage.status_code == 400
    assert "'stage' is required" in no_stage.json()["error"]
    not_json = session.post(f"{base}/approve", headers=AUTH, data=b"stage=prod")
    assert not_json.status_code == 400
    typo = session.post(f"{base}/approve", headers=AUTH, json={"stage": "prd"})
    assert typo.status_code == 400
    assert typo.json()["error"] == "no stage 'prd' in the pipeline of 'web' (stages: dev, prod)"
    assert fake_port.calls == [
        ("rollback", "web", None),
        ("rollback", "web", "r7"),
        ("approve", "web", "prod"),
    ]
    unknown = session.post(f"{server.url}/api/v1/apps/nope/sync", headers=AUTH)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.PermanentError("nothing to roll back to: web has one release"), 409),
        (errors.TemporaryError("state is busy", retry_after=7), 503),
        (errors.SyncerError("cluster dev unreachable"), 500),
        (RuntimeError("bug"), 500),
    ],
)
def test_controller_errors_map_to_http_statuses(
    error: Exception,
    status: int,
    server: http.HttpServer,
    fake_port: FakePort,
    session: requests.Session,
) -> None:
    fake_port.fail_with = error
    response = session.post(f"{server.url}/api/v1/apps/web/rollback", headers=AUTH)
    assert response.status_code == status
    if isinstance(error, errors.SyncerError):
        assert response.json()["error"] == str(error)
    else:
        assert response.json()["error"] == "internal error; see the controller log"
    if status == 503:
        assert response.headers["Retry-After"] == "7"
    # The server keeps serving after a failure.
    assert session.get(f"{server.url}/healthz").status_code == 200


def test_probes(server: http.HttpServer, fake_port: FakePort, session: requests.Session) -> None:
    assert session.get(f"{server.url}/healthz").text == "ok\n"
    ready = session.get(f"{server.url}/readyz")
    assert (ready.status_code, ready.text) == (200, "leading; state open\n")
    fake_port.is_ready = (False, "state database is locked")
    ready = session.get(f"{server.url}/readyz")
    assert (ready.status_code, ready.text) == (503, "state database is locked\n")
    assert session.post(f"{server.url}/healthz").status_code == 405


def test_metrics_endpoint_serves_the_registry(
    server: http.HttpServer, session: requests.Session
) -> None:
    metrics.APPLIES.labels(app="web", cluster="dev", result="ok").inc()
    response = session.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = parse(response.text)
    samples = families["syncer_applies"]["samples"]
    assert any(s[1] == {"app": "web", "cluster": "dev", "result": "ok"} for s in samples)
    # Prometheus asks for OpenMetrics first, and gets it.
    om = session.get(f"{server.url}/metrics", headers={"Accept": OPENMETRICS})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert om.text.endswith("# EOF\n")


def test_counters_outlive_a_server_restart_in_the_same_process(
    start_server: Callable[..., http.HttpServer], session: requests.Session
) -> None:
    first = start_server()
    metrics.WEBHOOKS.labels(kind="github", result="ignored").inc()
    before = parse(session.get(f"{first.url}/metrics").text)["syncer_webhooks"]["samples"]
    first.stop()
    second = start_server()
    after = parse(session.get(f"{second.url}/metrics").text)["syncer_webhooks"]["samples"]
    ignored = ("syncer_webhooks_total", {"kind": "github", "result": "ignored"})
    assert [s for s in after if s[:2] == ignored] == [s for s in before if s[:2] == ignored]
    assert next(s[2] for s in after if s[:2] == ignored) >= 1


def test_stop_closes_the_port_and_start_is_idempotent(
    start_server: Callable[..., http.HttpServer], session: requests.Session
) -> None:
    server = start_server()
    assert server.start() is server
    host, port = server.address
    assert port != 0
    server.stop()
    server.stop()
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
        pass


def test_listen_address_in_use_is_a_clear_error(fake_port: FakePort) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = http.HttpServer(
            settings=model.Server(listen=f"127.0.0.1:{port}", webhook_listen="127.0.0.1:0"),
            port=fake_port,
        )
        with pytest.raises(errors.PermanentError, match=rf"server.listen 127.0.0.1:{port}"):
            server.start()
        # The webhook listener's address is named the same way.
        server = http.HttpServer(
            settings=model.Server(listen="127.0.0.1:0", webhook_listen=f"127.0.0.1:{port}"),
            port=fake_port,
        )
        with pytest.raises(
            errors.PermanentError, match=rf"server.webhookListen 127.0.0.1:{port}: .*in use"
        ):
            server.start()


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        (":9090", ("0.0.0.0", 9090)),
        ("[::1]:8080", ("::1", 8080)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert http.parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["8080", "host:", "host:http", "h:70000"])
def test_parse_listen_rejects_what_is_not_host_port(listen: str) -> None:
    with pytest.raises(errors.ConfigError, match=r"server\.listen"):
        http.parse_listen(listen)


def test_ipv6_listen(fake_port: FakePort, session: requests.Session) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        settings = model.Server(listen="[::1]:0", webhook_listen="[::1]:0")
        server = http.HttpServer(settings=settings, port=fake_port).start()
    except errors.PermanentError as err:
        pytest.skip(f"::1 not usable here: {err}")
    try:
        assert session.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()


def test_api_token_from_a_file_relative_to_the_config(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    session: requests.Session,
    tmp_path: Path,
) -> None:
    (tmp_path / "api-token").write_text("from-file\n")  # echo's newline is not part of it
    server = start_server(model.Server(api_token=model.SecretRef(kind="file", name="api-token")))
    url = f"{server.url}/api/v1/apps/web/sync"
    assert session.post(url, headers={"Authorization": "Bearer from-file"}).status_code == 202
    assert session.post(url, headers={"Authorization": "Bearer from-fil"}).status_code == 401


def test_connections_over_the_limit_are_answered_503(
    start_server: Callable[..., http.HttpServer], session: requests.Session
) -> None:
    server = start_server(max_connections=2)
    host, port = server.address
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(2)]
    try:
        # Both are busy: their requests are being read (the bodies have not come).
        for sock in idle:
            sock.sendall(
                b"POST /api/v1/apps/web/sync HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer api-token\r\nContent-Length: 10\r\n\r\n{"
            )
        time.sleep(0.2)
        response = session.get(f"{server.url}/healthz")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
    finally:
        for sock in idle:
            sock.close()
    # Slots come back when those clients leave.
    deadline = time.monotonic() + 5
    while session.get(f"{server.url}/healthz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
