"""A small Distribution API server for behaviours ``docker-registry`` 2.8 lacks.

distribution 2.8 ignores ``?n=`` and never sends ``Link``; GHCR, Docker Hub and Harbor
paginate. This stdlib server serves ``/v2/``, ``tags/list`` with ``n``/``last`` and
``Link: <…>; rel="next"``, and manifest HEAD/GET (optionally without
``Docker-Content-Digest``), and can be told to answer the next requests with 429 +
``Retry-After`` or 5xx, or to drop connections. Every request is recorded.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from tests.servers import lifecycle


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class StubRegistry:
    tags: dict[str, list[str]] = field(default_factory=dict)
    """repository -> tags (served in this order)."""
    page_size: int = 0
    """Largest page served (0: whatever ``n`` asks, or everything)."""
    send_digest_header: bool = True
    etag: bool = False
    """Send an ETag on tag lists and honour If-None-Match with 304."""
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Scripted answers for the next requests: (status, headers), consumed in order."""
    seen: list[Seen] = field(default_factory=list)
    max_page_size: int = 0
    """Answer 400 when ``n`` asks for more than this (some registries do); 0 = no limit."""
    link_host: str = ""
    """Write ``Link`` URLs absolute, on this host (to test that we refuse other hosts)."""
    challenge: str = ""
    """A ``WWW-Authenticate`` value: answer 401 with it to requests without Authorization."""
    delay: float = 0.0
    """Seconds each answer waits, to make requests overlap."""
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests the stub was serving at the same time."""
    _httpd: http.server.ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        assert self._httpd is not None
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    def manifest(self, repository: str, tag: str) -> bytes:
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"digest": "sha256:" + "0" * 64, "size": 2, "mediaType": "x"},
                "layers": [],
                "annotations": {"repository": repository, "tag": tag},
            }
        ).encode()

    def digest(self, repository: str, tag: str) -> str:
        return "sha256:" + hashlib.sha256(self.manifest(repository, tag)).hexdigest()

    def count(self, *, path_part: str = "") -> int:
        with self._lock:
            return sum(1 for s in self.seen if path_part in s.path)

    def start(self) -> StubRegistry:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def do_GET(self) -> None:
                stub._handle(self, "GET")

            def do_HEAD(self) -> None:
                stub._handle(self, "HEAD")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = lifecycle.serve_http(Handler)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            lifecycle.stop_http(self._httpd)
            self._httpd = None

    def _reply(
        self,
        handler: http.server.BaseHTTPRequestHandler,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        head: bool = False,
    ) -> None:
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def _handle(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            self._serve(handler, method)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        split = urllib.parse.urlsplit(handler.path)
        with self._lock:
            self.seen.append(Seen(method, split.path, split.query, dict(handler.headers)))
            scripted = self.failures.pop(0) if self.failures else None
        if scripted is not None:
            status, headers = scripted
            if status == 0:  # drop the connection without an answer
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            body = b'{"errors":[{"code":"TOOMANYREQUESTS"}]}'
            self._reply(handler, status, body, headers, head=method == "HEAD")
            return
        path = split.path
        if self.challenge and not handler.headers.get("Authorization"):
            self._reply(
                handler, 401, b"{}", {"WWW-Authenticate": self.challenge}, head=method == "HEAD"
            )
            return
        if path == "/v2/":
            self._reply(handler, 200, b"{}", {"Content-Type": "application/json"})
            return
        if path.endswith("/tags/list"):
            self._tags(handler, path[len("/v2/") : -len("/tags/list")], split.query)
            return
        if "/manifests/" in path:
            repository, _, ref = path[len("/v2/") :].partition("/manifests/")
            tags = self.tags.get(repository, [])
            tag = next((t for t in tags if t == ref or self.digest(repository, t) == ref), None)
            if tag is None:
                body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
                self._reply(handler, 404, body, head=method == "HEAD")
                return
            body = self.manifest(repository, tag)
            headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
            if self.send_digest_header:
                headers["Docker-Content-Digest"] = self.digest(repository, tag)
            self._reply(handler, 200, body, headers, head=method == "HEAD")
            return
        self._reply(handler, 404, b"{}")

    def _tags(
        self, handler: http.server.BaseHTTPRequestHandler, repository: str, query: str
    ) -> None:
        if repository not in self.tags:
            body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}'
            self._reply(handler, 404, body, {"Content-Type": "application/json"})
            return
        params = urllib.parse.parse_qs(query)
        all_tags = sorted(self.tags[repository])
        etag = '"' + hashlib.sha256("\n".join(all_tags).encode()).hexdigest()[:16] + '"'
        if self.etag and handler.headers.get("If-None-Match") == etag:
            self._reply(handler, 304, b"", {"ETag": etag})
            return
        last = params.get("last", [""])[0]
        asked = int(params.get("n", ["0"])[0] or 0)
        if self.max_page_size and asked > self.max_page_size:
            body = b'{"errors":[{"code":"PAGINATION_NUMBER_INVALID"}]}'
            self._reply(handler, 400, body, {"Content-Type": "application/json"})
            return
        size = min(x for x in (asked, self.page_size, len(all_tags) or 1) if x > 0)
        start = 0
        if last:
            start = next((i + 1 for i, t in enumerate(all_tags) if t == last), len(all_tags))
        page = all_tags[start : start + size]
        headers = {"Content-Type": "application/json"}
        if self.etag:
            headers["ETag"] = etag
        if start + size < len(all_tags):
            nxt = urllib.parse.urlencode({"last": page[-1], "n": size})
            prefix = f"http://{self.link_host}" if self.link_host else ""
            headers["Link"] = f'<{prefix}/v2/{repository}/tags/list?{nxt}>; rel="next"'
        body = json.dumps({"name": repository, "tags": page}).encode()
        self._reply(handler, 200, body, headers)
