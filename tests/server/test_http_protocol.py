"""HTTP as clients speak it: HEAD, OPTIONS, chunked bodies, keep-alive, JSON errors, slow
and oversized clients, and which listener serves what. Real sockets on 127.0.0.1 (raw
ones where a library would hide the framing), and curl where it is installed."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from syncer.server import forward, http, transport
from tests.server.conftest import FakePort
from tests.server.test_request_memory import PUSH, answer, raw
from tests.server.test_webhook_receivers import sign

SIGNED = {"X-Signature-256": "sha256=" + sign("generic-secret", PUSH)}


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


@contextlib.contextmanager
def held(address: tuple[str, int], sent: bytes, *, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that each sent ``sent`` and wait, closed on exit."""
    socks = [socket.create_connection(address, timeout=10) for _ in range(count)]
    try:
        for sock in socks:
            sock.sendall(sent)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (after any answer it sent)."""
    sock.settimeout(10)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def test_head_answers_the_get_headers_without_a_body(server: http.HttpServer) -> None:
    with raw(server.address) as sock:
        sock.sendall(request("GET", "/api/v1/apps"))
        get_status, get_headers, get_body = answer(sock)
        sock.sendall(request("HEAD", "/api/v1/apps"))
        status, headers, body = answer(sock, head_only=True)
        # No body bytes followed: the next answer on the connection starts cleanly.
        sock.sendall(request("HEAD", "/healthz"))
        probe_status, probe_headers, probe_body = answer(sock, head_only=True)
    assert (status, body) == (200, b"")
    assert get_status == 200 and json.loads(get_body)["apps"]
    assert headers["Content-Length"] == get_headers["Content-Length"] == str(len(get_body))
    assert headers["Content-Type"] == "application/json"
    assert (probe_status, probe_body, probe_headers["Content-Length"]) == (200, b"", "3")


@pytest.mark.parametrize(
    ("listener", "path", "allow"),
    [
        ("api", "/api/v1/apps/web/sync", "GET, HEAD, POST, OPTIONS"),
        ("api", "/metrics", "GET, HEAD, OPTIONS"),
        ("webhooks", "/webhooks/github", "POST, OPTIONS"),
    ],
)
def test_options_names_the_allowed_methods(
    server: http.HttpServer, fake_port: FakePort, listener: str, path: str, allow: str
) -> None:
    address = server.address if listener == "api" else server.webhook_address
    with raw(address) as sock:
        sock.sendall(request("OPTIONS", path))
        status, headers, body = answer(sock)
    assert (status, headers["Allow"], body) == (204, allow, b"")
    assert fake_port.calls == []  # OPTIONS acts on nothing (no sync was asked for)


def test_a_chunked_webhook_is_read_verified_and_acted_on(
    server: http.HttpServer, fake_port: FakePort
) -> None:
    with raw(server.webhook_address) as sock:
        sock.sendall(
            request(
                "POST",
                "/webhooks/generic",
                "Transfer-Encoding: chunked",
                f"X-Signature-256: {SIGNED['X-Signature-256']}",
                body=chunked(PUSH, size=7),
            )
        )
        status, _, body = answer(sock)
        # Kept alive: a second request on the same connection is answered too.
        sock.sendall(request("POST", "/webhooks/generic", "Content-Length: 0"))
        second, _, _ = answer(sock)
    assert (status, json.loads(body)) == (202, {"triggered": ["deploy"]})
    assert second == 401
    assert fake_port.triggers() == [
        ("trigger_git", "https://git.example.com/team/deploy.git", None)
    ]


def test_a_chunked_api_post_is_read_as_json(server: http.HttpServer, fake_port: FakePort) -> None:
    with raw(server.address) as sock:
        sock.sendall(
            request(
                "POST",
                "/api/v1/apps/web/rollback",
                "Transfer-Encoding: chunked",
                "Authorization: Bearer api-token",
                body=chunked(b'{"to": "r7"}', size=3),
            )
        )
        status, _, body = answer(sock)
    assert (status, json.loads(body)) == (202, {"app": "web", "to": "r7"})


def test_a_chunked_body_over_the_cap_is_413_and_the_connection_ends(
    start_server: Callable[..., http.HttpServer], fake_port: FakePort
) -> None:
    server = start_server(max_body=4096)
    big = json.dumps({"url": "https://git.example.com/team/deploy.git", "pad": "x" * 8000})
    signature = "sha256=" + sign("generic-secret", big.encode())
    with raw(server.webhook_address) as sock:
        sock.sendall(
            request(
                "POST",
                "/webhooks/generic",
                "Transfer-Encoding: chunked",
                f"X-Signature-256: {signature}",
                body=chunked(big.encode()),
            )
        )
        status, headers, body = answer(sock)
        assert closed_by_server(sock)
    assert status == 413
    assert json.loads(body) == {"error": "body over 4096 bytes"}
    assert headers["Connection"] == "close"
    assert fake_port.calls == []
    assert server.budget.in_use == 0


def test_errors_are_json_never_html(server: http.HttpServer) -> None:
    cases = [
        (server.address, request("GET", "/nowhere"), 404),
        (server.address, request("PUT", "/api/v1/apps"), 405),
        (server.address, request("DELETE", "/healthz"), 405),
        (server.webhook_address, request("GET", "/webhooks/github"), 405),
        (server.address, b"NONSENSE\r\n\r\n", 400),
        (server.address, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (server.address, request("POST", "/api/v1/apps/web/sync", "Content-Length: x"), 400),
    ]
    for address, data, expected in cases:
        with raw(address) as sock:
            sock.sendall(data)
            status, headers, body = answer(sock)
        assert status == expected, (data, body)
        assert headers["Content-Type"] == "application/json", data
        assert isinstance(json.loads(body)["error"], str), data


def test_keep_alive_serves_many_requests_on_one_connection(
    server: http.HttpServer, fake_port: FakePort
) -> None:
    with raw(server.address) as sock:
        for _ in range(3):
            sock.sendall(request("GET", "/api/v1/apps/web/history?limit=1"))
            status, headers, _ = answer(sock)
            assert status == 200
            assert headers.get("Connection", "keep-alive") != "close"
        # Pipelined: two requests in one write get two answers, in order.
        sock.sendall(request("GET", "/healthz") + request("GET", "/nowhere"))
        data = b""
        while not data.endswith(b"}\n"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert re.findall(rb"^HTTP/1.1 (\d+) ", data, re.MULTILINE) == [b"200", b"404"]
    assert fake_port.calls.count(("history", "web", 1)) == 3


def test_a_client_sending_its_headers_slowly_is_cut_off_while_others_are_served(
    start_server: Callable[..., http.HttpServer],
) -> None:
    server = start_server(request_timeout=1.0)
    with raw(server.address) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        # A header byte every 0.2 s keeps the socket busy but never completes the head.
        cut_off = False
        for _ in range(100):
            with raw(server.address) as other:
                other.sendall(request("GET", "/healthz"))
                assert answer(other)[0] == 200
            try:
                slow.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
                break
            slow.settimeout(0.2)
            try:
                data = slow.recv(65536)
            except TimeoutError:
                continue
            cut_off = True
            assert data.startswith(b"HTTP/1.1 408 ") and b'"error"' in data, data
            break
    assert cut_off, "the server kept a connection whose head never completed"


def test_a_stalled_body_is_answered_408_and_its_budget_given_back(
    start_server: Callable[..., http.HttpServer], fake_port: FakePort
) -> None:
    server = start_server(request_timeout=1.0)
    with raw(server.webhook_address) as sock:
        sock.sendall(
            request(
                "POST",
                "/webhooks/generic",
                f"Content-Length: {len(PUSH)}",
                f"X-Signature-256: {SIGNED['X-Signature-256']}",
                body=PUSH[:10],
            )
        )
        status, headers, body = answer(sock)
    assert status == 408
    assert "the body stopped coming" in json.loads(body)["error"]
    assert headers["Connection"] == "close"
    assert server.budget.in_use == 0
    assert fake_port.calls == []


def test_each_listener_serves_only_its_own_paths(
    server: http.HttpServer, fake_port: FakePort
) -> None:
    webhook = request(
        "POST", "/webhooks/generic", f"Content-Length: {len(PUSH)}",
        f"X-Signature-256: {SIGNED['X-Signature-256']}", body=PUSH,
    )  # fmt: skip
    with raw(server.address) as sock:
        sock.sendall(webhook)
        status, _, body = answer(sock)
    assert status == 404 and "no such path /webhooks/generic" in json.loads(body)["error"]
    for path in ("/api/v1/apps", "/healthz", "/readyz", "/metrics"):
        with raw(server.webhook_address) as sock:
            sock.sendall(request("GET", path))
            status, _, body = answer(sock)
        assert status == 404, path
        assert "this port serves /webhooks/<kind>" in json.loads(body)["error"]
    assert fake_port.calls == []
    # A standby replica relays webhooks to the leader's advertised (API) address: those
    # are served there, and still authenticated.
    relayed = request(
        "POST", "/webhooks/generic", f"Content-Length: {len(PUSH)}",
        f"{forward.FORWARDED_HEADER}: 1", f"X-Signature-256: {SIGNED['X-Signature-256']}",
        body=PUSH,
    )  # fmt: skip
    with raw(server.address) as sock:
        sock.sendall(relayed)
        assert answer(sock)[0] == 202
        sock.sendall(relayed.replace(SIGNED["X-Signature-256"].encode()[-8:], b"00000000"))
        assert answer(sock)[0] == 401
    assert len(fake_port.triggers()) == 1


def test_too_many_connections_get_a_json_503(
    start_server: Callable[..., http.HttpServer],
) -> None:
    server = start_server(max_connections=2)
    # Both places are busy: their signed bodies are being read (and have not all come).
    busy = request(
        "POST", "/webhooks/generic", f"Content-Length: {len(PUSH)}",
        f"X-Signature-256: {SIGNED['X-Signature-256']}", body=PUSH[:5],
    )  # fmt: skip
    with held(server.webhook_address, busy, count=2):
        time.sleep(0.2)
        with raw(server.webhook_address) as sock:
            status, headers, body = answer(sock)
        assert (status, headers["Retry-After"]) == (503, "1")
        assert json.loads(body) == {"error": "too many connections; retry"}
        # The cap is per listener: the probes still answer.
        with raw(server.address) as sock:
            sock.sendall(request("GET", "/healthz"))
            assert answer(sock)[0] == 200


def test_at_the_cap_a_slow_head_makes_room_for_a_new_client(
    start_server: Callable[..., http.HttpServer],
) -> None:
    server = start_server(max_connections=2)
    with held(server.address, b"GET /healthz HTTP/1.1\r\nX-Trickle: ", count=2) as slow:
        # Older than transport.EVICT_AFTER, so they may be dropped for newcomers.
        time.sleep(transport.EVICT_AFTER + 0.5)
        with raw(server.address) as sock:
            sock.sendall(request("GET", "/healthz"))
            assert answer(sock)[0] == 200
        answers = []
        for sock in slow:
            sock.settimeout(0.5)
            try:
                answers.append(sock.recv(65536))
            except TimeoutError:
                answers.append(None)
        # One slow client gave its place (told why), the other still waits.
        dropped = [a for a in answers if a is not None]
        assert len(dropped) == 1 and dropped[0].startswith(b"HTTP/1.1 408 "), answers


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_head_options_and_chunked_upload(server: http.HttpServer, fake_port: FakePort) -> None:
    def curl(*args: str, data: bytes | None = None) -> str:
        done = subprocess.run(
            ["curl", "-sS", "--noproxy", "*", "-i", "--max-time", "10", *args],
            input=data, capture_output=True, check=True,
        )  # fmt: skip
        return done.stdout.decode()

    head = curl("-I", f"{server.url}/api/v1/apps")
    assert head.startswith("HTTP/1.1 200") and "content-length:" in head.lower()
    assert head.rstrip().endswith(head.strip().splitlines()[-1])  # no body after the headers
    options = curl("-X", "OPTIONS", f"{server.url}/api/v1/apps")
    assert options.startswith("HTTP/1.1 204") and "allow: GET, HEAD, POST, OPTIONS" in options
    upload = curl(
        "-X", "POST", "-H", "Transfer-Encoding: chunked",
        "-H", f"X-Signature-256: {SIGNED['X-Signature-256']}",
        "--data-binary", "@-", f"{server.webhook_url}/webhooks/generic", data=PUSH,
    )  # fmt: skip
    assert upload.startswith("HTTP/1.1 202"), upload
    assert upload.rstrip().endswith('{"triggered": ["deploy"]}')
    assert len(fake_port.triggers()) == 1
