"""What an unauthenticated request may make the server hold in memory: nothing of its
body until the headers prove what they can, bounded headers, and one body budget for
all connections (503 with Retry-After beyond it). Real HTTP over 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
from requests.structures import CaseInsensitiveDict

from syncer import metrics
from syncer.server import http
from tests.server.conftest import FakePort
from tests.server.replicas import wait_for
from tests.server.test_webhook_receivers import sign

PUSH = json.dumps({"url": "https://git.example.com/team/deploy.git"}).encode()


@contextmanager
def raw(address: tuple[str, int]) -> Iterator[socket.socket]:
    host, port = address
    with socket.create_connection((host, port), timeout=10) as sock:
        yield sock


def answer(
    sock: socket.socket, *, head_only: bool = False
) -> tuple[int, CaseInsensitiveDict[str], bytes]:
    """Status, headers and body of one answer read from ``sock`` (``head_only``: the
    answer to a HEAD, whose Content-Length is not followed by a body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = CaseInsensitiveDict(dict(line.split(": ", 1) for line in lines[1:]))
    while not head_only and len(body) < int(headers.get("Content-Length", "0")):
        body += sock.recv(65536)
    return int(lines[0].split(" ")[1]), headers, body


def head(path: str, length: int, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {length}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_unsigned_webhooks_are_refused_before_their_body_is_sent(
    server: http.HttpServer, fake_port: FakePort
) -> None:
    # Only the headers go out: the answer must come without the 4 MiB body.
    for path, headers in [
        ("/webhooks/generic", {}),  # no signature at all
        ("/webhooks/github", {"X_Hub_Signature_256": "sha256=not-hex"}),  # malformed
        ("/webhooks/gitea", {"X_Gitea_Signature": "abc"}),  # too short
        ("/webhooks/gitlab", {"X_Gitlab_Token": "wrong"}),  # a token kind: checked whole
        ("/webhooks/registry", {"Authorization": "Bearer wrong"}),
    ]:
        with raw(server.webhook_address) as sock:
            sock.sendall(head(path, 4 * 1024 * 1024, **headers))
            status, answer_headers, body = answer(sock)
        assert status == 401, (path, body)
        assert answer_headers["Connection"] == "close"
    # The API's bearer token is checked before its body is read, too.
    with raw(server.address) as sock:
        sock.sendall(head("/api/v1/apps/web/sync", 4 * 1024 * 1024, Authorization="Bearer no"))
        assert answer(sock)[0] == 401
    assert fake_port.calls == []


def test_a_signed_webhook_is_read_and_checked_as_before(
    server: http.HttpServer, fake_port: FakePort
) -> None:
    wrong = "sha256=" + sign("not-the-secret", PUSH)
    right = "sha256=" + sign("generic-secret", PUSH)
    with raw(server.webhook_address) as sock:
        # Well-formed but wrong: the body is read, checked, refused; the connection
        # stays usable because the body was consumed.
        sock.sendall(head("/webhooks/generic", len(PUSH), X_Signature_256=wrong) + PUSH)
        assert answer(sock)[0] == 401
        sock.sendall(head("/webhooks/generic", len(PUSH), X_Signature_256=right) + PUSH)
        status, _, body = answer(sock)
    assert status == 202, body
    assert fake_port.triggers() == [
        ("trigger_git", "https://git.example.com/team/deploy.git", None)
    ]


def test_bodies_beyond_the_shared_budget_get_503_with_retry_after_unread(
    start_server: Callable[..., http.HttpServer], fake_port: FakePort
) -> None:
    server = start_server(max_body=6000, max_buffered=8000)
    big = json.dumps({"url": "https://git.example.com/team/deploy.git", "pad": "x" * 5800})
    body = big.encode()
    signature = "sha256=" + sign("generic-secret", body)
    before = metrics.value("syncer_webhooks_total", kind="generic", result="busy")
    with raw(server.webhook_address) as slow, raw(server.webhook_address) as second:
        # The first sender's body is being read (all but its last byte has come): it
        # holds 5.9 KB of the 8 KB budget.
        slow.sendall(head("/webhooks/generic", len(body), X_Signature_256=signature) + body[:-1])
        wait_for(lambda: server.budget.in_use == len(body), timeout=5)
        # A second body of that size does not fit: refused at once, without reading it.
        second.sendall(head("/webhooks/generic", len(body), X_Signature_256=signature))
        status, headers, text = answer(second)
        assert status == 503, text
        assert headers["Retry-After"] == "1"
        assert "too many request bodies" in json.loads(text)["error"]
        # A small request still fits beside it.
        small = requests.post(
            f"{server.webhook_url}/webhooks/generic",
            data=PUSH,
            headers={"X-Signature-256": "sha256=" + sign("generic-secret", PUSH)},
            timeout=10,
        )
        assert small.status_code == 202
        slow.sendall(body[-1:])
        assert answer(slow)[0] == 202
    assert metrics.value("syncer_webhooks_total", kind="generic", result="busy") == before + 1
    # The budget was given back: the same large body is accepted now.
    again = requests.post(
        f"{server.webhook_url}/webhooks/generic",
        data=body,
        headers={"X-Signature-256": signature},
        timeout=10,
    )
    assert again.status_code == 202
    # (each request gives its share back just after its answer has gone out)
    wait_for(lambda: server.budget.in_use == 0, timeout=5)


def test_headers_over_64_kib_are_refused(server: http.HttpServer) -> None:
    padding = {f"X_Pad_{n}": "p" * 8000 for n in range(10)}
    with raw(server.webhook_address) as sock:
        sock.sendall(head("/webhooks/generic", 0, **padding))
        status, _, _ = answer(sock)
    assert status == 431


def test_a_short_body_nobody_read_is_skipped_and_the_connection_goes_on(
    server: http.HttpServer,
) -> None:
    with raw(server.address) as sock:
        # Refused before its body was read (405): the body must not be taken for the
        # next request on this kept-alive connection.
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(head("/healthz", len(smuggled)) + smuggled)
        assert answer(sock)[0] == 405
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = answer(sock)
    assert (status, body) == (200, b"ok\n")
