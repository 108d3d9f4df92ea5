"""The cluster client: retries with Retry-After, error classes, connect errors, QPS.

Runs against a scripted HTTP server on 127.0.0.1 (one module under test: the client);
the full API behaviour is covered by the integration tests on the API test server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from syncer import errors as syncer_errors
from syncer.apply import client as client_mod
from syncer.apply import errors, throttle
from syncer.config import model


class Scripted:
    """Answers requests from a list of (status, headers, body); repeats the last one."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.seen: list[str] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                scripted.seen.append(f"{self.command} {self.path}")
                status, headers, body = (
                    scripted.replies.pop(0) if len(scripted.replies) > 1 else scripted.replies[0]
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = do_DELETE = _reply

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def status(code: int, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
        **extra,
    }


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


def kubeconfig(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "one",
                "clusters": [{"name": "one", "cluster": {"server": url}}],
                "users": [{"name": "one", "user": {"token": "t0ken"}}],
                "contexts": [{"name": "one", "context": {"cluster": "one", "user": "one"}}],
            }
        )
    )
    return path


@pytest.fixture
def make_client(tmp_path: Path, server: Scripted) -> Any:
    sleeps: list[float] = []

    def make(**kwargs: Any) -> client_mod.ClusterClient:
        path = kubeconfig(tmp_path, kwargs.pop("url", server.url))
        client = client_mod.connect(
            model.Cluster(name="one", kubeconfig=str(path), timeout=5),
            base_dir=str(tmp_path),
            qps=0,
        )
        client._sleep = sleeps.append  # record backoff instead of sleeping
        client.sleeps = sleeps  # type: ignore[attr-defined]
        return client

    return make


def test_429_with_retry_after_is_retried_after_that_delay(
    server: Scripted, make_client: Any
) -> None:
    server.replies = [
        (429, {"Retry-After": "2"}, status(429, "TooManyRequests", "slow down")),
        (200, {}, {"kind": "ConfigMap", "metadata": {"name": "a"}}),
    ]
    client = make_client()
    assert client.request("GET", "/api/v1/namespaces/x/configmaps/a")["metadata"]["name"] == "a"
    assert client.sleeps == [2.0]
    assert client.stats.requests == 2 and client.stats.writes == 0


def test_retry_after_is_capped(server: Scripted, make_client: Any) -> None:
    server.replies = [
        (503, {"Retry-After": "3600"}, status(503, "ServiceUnavailable", "x")),
        (200, {}, {}),
    ]
    client = make_client()
    client.request("GET", "/api/v1")
    assert client.sleeps == [client.retry.max_delay]


def test_persistent_5xx_becomes_a_temporary_error(server: Scripted, make_client: Any) -> None:
    server.replies = [(500, {}, status(500, "InternalError", "etcd is sad"))]
    client = make_client()
    with pytest.raises(errors.ApiUnavailable) as caught:
        client.request("GET", "/api/v1")
    assert isinstance(caught.value, syncer_errors.TemporaryError)
    assert "cluster one: GET /api/v1: etcd is sad (HTTP 500, gave up after 6 tries)" in str(
        caught.value
    )
    assert len(server.seen) == client.retry.attempts


@pytest.mark.parametrize(
    ("code", "reason", "method", "error", "fragment"),
    [
        (403, "Forbidden", "GET", errors.Unauthorized, "check the kubeconfig credentials and RBAC"),
        (401, "Unauthorized", "GET", errors.Unauthorized, "HTTP 401"),
        (404, "NotFound", "GET", errors.NotFound, "not here"),
        (409, "Conflict", "PATCH", errors.FieldConflict, "set sync.force: true"),
        (422, "Invalid", "PATCH", errors.InvalidObject, "not here"),
        (409, "AlreadyExists", "POST", errors.ApiError, "HTTP 409"),
    ],
)
def test_api_errors_are_classified(
    server: Scripted,
    make_client: Any,
    code: int,
    reason: str,
    method: str,
    error: type[Exception],
    fragment: str,
) -> None:
    server.replies = [(code, {}, status(code, reason, "not here"))]
    with pytest.raises(error, match=fragment):
        make_client().request(
            method, "/api/v1/namespaces", body={}, content_type="application/json"
        )
    # Never retried; a 401 only after reading the kubeconfig again (a rotated token).
    assert len(server.seen) == (2 if code == 401 else 1)


def test_a_down_cluster_fails_fast_with_a_temporary_error(make_client: Any) -> None:
    client = make_client(url="http://127.0.0.1:1")
    with pytest.raises(errors.ClusterUnreachable, match="cluster one: API unreachable") as caught:
        client.request("GET", "/api/v1")
    assert isinstance(caught.value, syncer_errors.TemporaryError)
    assert not isinstance(caught.value.__cause__, errors.ApplyError)  # chained original


def test_connect_errors_name_the_cluster_and_file(tmp_path: Path) -> None:
    with pytest.raises(
        syncer_errors.PermanentError,
        match=r"cluster c1: cannot load its "
        r"kubeconfig: kubeconfig .*nope",
    ):
        client_mod.connect(model.Cluster(name="c1", kubeconfig="nope"), base_dir=str(tmp_path))
    path = kubeconfig(tmp_path, "http://127.0.0.1:1")
    with pytest.raises(syncer_errors.PermanentError, match="context 'prod'"):
        client_mod.connect(model.Cluster(name="c1", kubeconfig=str(path), context="prod"))


def test_qps_spaces_requests() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = throttle.Bucket(qps=10, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        bucket.take()
    assert slept == pytest.approx([0.1, 0.1])


APF = {"X-Kubernetes-PF-FlowSchema-UID": "f-1", "X-Kubernetes-PF-PriorityLevel-UID": "p-1"}


@pytest.mark.parametrize(
    ("headers", "qps", "waits"),
    [
        ({}, 0.0, 50 * [1 / client_mod.AUTOMATIC_QPS]),  # 250 requests, a burst of 200
        (APF, 0.0, []),
        (APF, 100.0, 150 * [1 / 100]),
    ],
    ids=["automatic-no-flow-control", "automatic-flow-control", "explicit-kept"],
)
def test_an_automatic_rate_limit_is_off_only_where_the_server_limits_load_itself(
    tmp_path: Path, server: Scripted, headers: dict[str, str], qps: float, waits: list[float]
) -> None:
    server.replies = [(200, headers, {"kind": "ConfigMap"})]
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    path = kubeconfig(tmp_path, server.url)
    api = client_mod.connect(model.Cluster(name="one", kubeconfig=str(path)))._api
    client = client_mod.ClusterClient(
        name="one", api=api, qps=qps, sleep=sleep, clock=lambda: now[0]
    )
    for _ in range(250):
        client.request("GET", "/api/v1/namespaces/web/configmaps/settings")
    assert client.flow_control is bool(headers)
    assert slept == pytest.approx(waits)


def test_in_cluster_outside_a_pod_is_a_clear_permanent_error(monkeypatch: Any) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(
        syncer_errors.PermanentError,
        match="cluster here: cannot load its in-cluster service account",
    ):
        client_mod.connect(model.Cluster(name="here", in_cluster=True))


def test_per_thread_counts_keep_parallel_syncs_apart() -> None:
    import threading as threading_mod

    stats = throttle.Stats()
    stats.count(verb="PATCH", write=True)
    seen: list[tuple[int, int]] = []

    def other() -> None:
        stats.count(verb="GET", write=False)
        seen.append(stats.mine())

    thread = threading_mod.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [(1, 0)] and stats.mine() == (1, 1) and stats.snapshot() == (2, 1)
