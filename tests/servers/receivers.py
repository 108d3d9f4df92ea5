"""Notification receivers of the tests: chat webhooks, signed webhooks, commit statuses.

One stdlib HTTP server records every request (method, path, headers, JSON body) and
answers 2xx, or the answers queued in ``fail`` first (``503`` with ``Retry-After``,
``500``, ``400`` ...), or those of ``fail_each`` first to every delivery; with
``hold_next`` it holds the next request open until ``let_go``, with ``delay`` it
answers every request that many seconds late (a slow receiver). Its paths
are those of the real services: any path for Slack, Teams and webhooks;
``POST /repos/{o}/{r}/statuses/{sha}`` (GitHub), ``/api/v1/repos/{o}/{r}/statuses/{sha}`` (Gitea)
and ``/api/v4/projects/{id}/statuses/{sha}`` (GitLab) for commit statuses, which it also
answers with the status as those APIs do (201 and the status object). A 404 for
anything else under an API prefix, so a wrong URL fails the test.

The ``receiver`` fixture starts one per call and stops them all at the end.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.servers import lifecycle

STATUS_PATHS = (
    re.compile(r"^/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$"),
    re.compile(r"^/api/v1/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$"),
    re.compile(r"^/api/v4/projects/[^/]+/statuses/[0-9a-f]{40}$"),
)


@dataclasses.dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    """What the receiver answered."""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers.get("X-Syncer-Delivery", "")


class Receiver:
    """A recording HTTP receiver on 127.0.0.1."""

    def __init__(self, *, api: bool = False) -> None:
        self.api = api
        self.requests: list[Received] = []
        self.fail: list[tuple[int, dict[str, str]]] = []
        """Answers to give first, in order: (status, headers)."""
        self.fail_each: list[tuple[int, dict[str, str]]] = []
        """Answers to give first to each delivery (by ``X-Syncer-Delivery``), in order."""
        self.hold_next: tuple[int, dict[str, str]] | None = None
        """When set, the next request is held open until ``let_go()`` and then given
        this answer (a receiver slow to answer while the sender's world changes)."""
        self.delay = 0.0
        """Seconds each request waits for its answer (a receiver slow to answer)."""
        self.arrived: list[str] = []
        """Delivery ids of the requests received so far, answered yet or not."""
        self.holding = threading.Event()
        """Set once a request is being held (``held`` is its delivery id)."""
        self.held = ""
        self._let_go = threading.Event()
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender died mid-request (a crash test): nothing arrived
                delivery = self.headers.get("X-Syncer-Delivery", "")
                with receiver._lock:
                    receiver.arrived.append(delivery)
                    hold, receiver.hold_next = receiver.hold_next, None
                time.sleep(receiver.delay)
                if hold is not None:
                    receiver.held = delivery
                    receiver.holding.set()
                    receiver._let_go.wait(600)
                    status, headers, answer = *hold, b'{"message": "held"}'
                else:
                    status, headers, answer = receiver._answer(self.path, body, delivery=delivery)
                with receiver._lock:
                    receiver.requests.append(
                        Received("POST", self.path, dict(self.headers.items()), body, status)
                    )
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up on a held request (or was stopped)

        self.httpd = lifecycle.serve_http(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _answer(
        self, path: str, body: bytes, *, delivery: str
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            seen = self._seen[delivery] = self._seen.get(delivery, 0) + 1
            if seen <= len(self.fail_each):
                status, headers = self.fail_each[seen - 1]
                return status, headers, b'{"message": "try again"}'
            if self.fail:
                status, headers = self.fail.pop(0)
                return status, headers, b'{"message": "try again"}'
        if self.api:
            if not any(p.match(path) for p in STATUS_PATHS):
                return 404, {}, b'{"message": "Not Found"}'
            return 201, {}, body
        return 200, {}, b"ok"

    def let_go(self) -> None:
        """Answer the held request (``hold_next``)."""
        self._let_go.set()

    def for_delivery(self, delivery: str) -> list[Received]:
        """The requests answered so far that carried delivery id ``delivery``."""
        with self._lock:
            return [r for r in self.requests if r.delivery == delivery]

    def accepted(self) -> list[Received]:
        """The requests answered 2xx, in order."""
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def stop(self) -> None:
        self._let_go.set()
        lifecycle.stop_http(self.httpd)


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(*, api: bool = False) -> Receiver:
        found = Receiver(api=api)
        started.append(found)
        return found

    yield start
    for r in started:
        r.stop()
