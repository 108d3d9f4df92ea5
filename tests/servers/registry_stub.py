"""A small Distribution API server for behaviours ``docker-registry`` 2.8 lacks.

distribution 2.8 ignores ``?n=`` and never sends ``Link``; GHCR, Docker Hub and Harbor
paginate. This stdlib server serves ``/v2/``, ``tags/list`` with ``n``/``last`` and
``Link: <…>; rel="next"``, manifest HEAD/GET (optionally without
``Docker-Content-Digest``) and a ``/token`` endpoint, and can be told to answer the next
requests with 429 + ``Retry-After`` or 5xx, or to drop connections. Every request is
recorded.

It can also misbehave, the ways real registries and proxies have been seen to (or an
attacker would): set ``mode`` to one of ``MODES``. Slow modes (drips, stalls) end by
themselves after ``misbehave_for`` seconds or when the client hangs up; it listens on
127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.servers import lifecycle

MODES = {
    "self-link": "tags/list: Link rel=next points at the page itself",
    "cyclic-link": "tags/list: page 2 links back to page 1",
    "endless-link": "tags/list: every page links to a new page, forever",
    "link-elsewhere": "tags/list: Link rel=next points at another repository",
    "non-oci-tags": "tags/list: tags with '+', over 128 characters, a newline, non-ASCII",
    "tags-string": 'tags/list: "tags" is a string',
    "tags-object": 'tags/list: "tags" is an object',
    "tag-number": 'tags/list: "tags" holds a number',
    "truncated-json": "tags/list: the JSON body is cut short",
    "html-tags": "tags/list: an HTML page with Content-Type text/html",
    "huge-body": "tags/list: Content-Length of 300 MB, streamed",
    "huge-chunked": "tags/list: a chunked JSON body that never ends (up to 300 MB)",
    "drip-body": "tags/list: the body one byte every drip_interval seconds",
    "slow-headers": "every request: no answer at all for misbehave_for seconds",
    "drip-headers": "every request: the headers one byte every drip_interval seconds",
    "500-storm": "every request: HTTP 500",
    "redirect-loop": "every request: 307 to itself",
    "bad-digest": "manifests: Docker-Content-Digest is not a digest",
    "unknown-algorithm": "manifests: Docker-Content-Digest uses md5",
    "digest-mismatch": "manifests: GET's Docker-Content-Digest does not match the body",
    "manifest-content-type": "manifests: GET's Content-Type is text/plain, no mediaType",
    "manifest-wrong-types": 'manifests: GET body with "layers" an object',
    "bad-index-entry": "manifests: an index whose entry digest is a path",
    "token-bad-expiry": '/token: "expires_in" is a string',
    "token-header-injection": "/token: the token holds CR LF and a header",
    "token-not-json": "/token: the answer is not JSON",
}
HUGE = 300 * 1024 * 1024


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
    mode: str = ""
    """A key of ``MODES``: how to misbehave ("" behaves)."""
    misbehave_for: float = 30.0
    """Seconds a slow mode (drip, stall) lasts at most before it gives up by itself."""
    drip_interval: float = 0.2
    """Seconds between two bytes of a drip mode."""
    sent: int = 0
    """Bytes of body the misbehaving modes sent (the client stopped reading after that)."""
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
        if self.mode and self.mode not in MODES:
            raise ValueError(f"unknown stub mode {self.mode!r}; one of {', '.join(MODES)}")
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
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client hung up: nothing to answer
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        split = urllib.parse.urlsplit(handler.path)
        with self._lock:
            self.seen.append(Seen(method, split.path, split.query, dict(handler.headers)))
            scripted = self.failures.pop(0) if self.failures else None
        if self.mode and self._misbehave(handler, method, split):
            return
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
        if path == "/token":
            self._reply(handler, 200, json.dumps({"token": "t0k3n", "expires_in": 300}).encode())
            return
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

    # --- misbehaving ------------------------------------------------------------------
    def _misbehave(
        self, handler: http.server.BaseHTTPRequestHandler, method: str, split: Any
    ) -> bool:
        """Answer the way ``mode`` says when it concerns this request; True when done."""
        mode, path, head = self.mode, split.path, method == "HEAD"
        if mode == "slow-headers":
            self._stall(handler)
            return True
        if mode == "drip-headers":
            self._drip(handler, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"x" * 100_000)
            return True
        if mode == "500-storm":
            self._reply(handler, 500, b'{"errors":[{"code":"UNKNOWN"}]}', head=head)
            return True
        if mode == "redirect-loop":
            self._reply(handler, 307, b"", {"Location": handler.path}, head=head)
            return True
        if path == "/token":
            return self._bad_token(handler, mode)
        if path.endswith("/tags/list"):
            return self._bad_tags(handler, path, split.query, mode)
        if "/manifests/" in path:
            return self._bad_manifest(handler, path, method, mode)
        return False

    def _bad_token(self, handler: http.server.BaseHTTPRequestHandler, mode: str) -> bool:
        bodies = {
            "token-bad-expiry": {"token": "t0k3n", "expires_in": "soon"},
            "token-header-injection": {"token": "t0k3n\r\nX-Injected: yes"},
        }
        if mode in bodies:
            self._reply(handler, 200, json.dumps(bodies[mode]).encode())
            return True
        if mode == "token-not-json":
            self._reply(handler, 200, b"<html>login</html>", {"Content-Type": "text/html"})
            return True
        return False

    def _bad_tags(
        self, handler: http.server.BaseHTTPRequestHandler, path: str, query: str, mode: str
    ) -> bool:
        repository = path[len("/v2/") : -len("/tags/list")]
        tags = sorted(self.tags.get(repository, []))
        json_type = {"Content-Type": "application/json"}
        page = urllib.parse.parse_qs(query).get("page", ["1"])[0]
        if mode in ("self-link", "cyclic-link", "endless-link", "link-elsewhere"):
            number = int(page) if page.isdigit() else 1
            target = {
                "self-link": handler.path,
                "cyclic-link": f"/v2/{repository}/tags/list?page={2 if number == 1 else 1}",
                "endless-link": f"/v2/{repository}/tags/list?page={number + 1}",
                "link-elsewhere": "/v2/other/repository/tags/list?page=2",
            }[mode]
            # Each page serves the same first tags: a loop would never run out of pages.
            body = json.dumps({"name": repository, "tags": tags[:2]}).encode()
            self._reply(handler, 200, body, {**json_type, "Link": f'<{target}>; rel="next"'})
            return True
        bodies: dict[str, Any] = {
            "non-oci-tags": {
                "name": repository,
                "tags": [*tags, "9.9.9+build", "9." + "9" * 130, "9.9.9\n", "9.9.9é", "-9"],
            },
            "tags-string": {"name": repository, "tags": "9.9.9"},
            "tags-object": {"name": repository, "tags": {"9.9.9": True}},
            "tag-number": {"name": repository, "tags": [*tags, 9.9]},
        }
        if mode in bodies:
            self._reply(handler, 200, json.dumps(bodies[mode]).encode(), json_type)
            return True
        if mode == "truncated-json":
            body = json.dumps({"name": repository, "tags": tags}).encode()
            self._reply(handler, 200, body[: len(body) // 2], json_type)
            return True
        if mode == "html-tags":
            page_html = b"<html><body>Sign in to continue</body></html>"
            self._reply(handler, 200, page_html, {"Content-Type": "text/html"})
            return True
        if mode == "huge-body":
            self._stream(handler, chunked=False)
            return True
        if mode == "huge-chunked":
            self._stream(handler, chunked=True)
            return True
        if mode == "drip-body":
            body = json.dumps({"name": repository, "tags": tags}).encode() + b" " * 100_000
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            handler.wfile.write(head)
            self._drip(handler, body)
            return True
        return False

    def _bad_manifest(
        self, handler: http.server.BaseHTTPRequestHandler, path: str, method: str, mode: str
    ) -> bool:
        repository, _, ref = path[len("/v2/") :].partition("/manifests/")
        head = method == "HEAD"
        body = self.manifest(repository, ref)
        oci = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        digests = {
            "bad-digest": "sha256:not-a-digest/../../x",
            "unknown-algorithm": "md5:" + hashlib.md5(body).hexdigest(),
            "digest-mismatch": "sha256:" + "0" * 64,
        }
        if mode in digests:
            if mode == "digest-mismatch" and head:
                return False  # HEAD answers normally; the GET's header lies
            headers = {**oci, "Docker-Content-Digest": digests[mode]}
            self._reply(handler, 200, body, headers, head=head)
            return True
        if head and mode in ("manifest-content-type", "manifest-wrong-types", "bad-index-entry"):
            # No digest on HEAD: the client must GET (and check) the manifest.
            self._reply(handler, 200, body, oci, head=True)
            return True
        if mode == "manifest-content-type":
            plain = json.loads(body)
            plain.pop("mediaType")
            self._reply(handler, 200, json.dumps(plain).encode(), {"Content-Type": "text/plain"})
            return True
        if mode == "manifest-wrong-types":
            wrong = {**json.loads(body), "layers": {"digest": "sha256:" + "1" * 64}}
            self._reply(handler, 200, json.dumps(wrong).encode(), oci)
            return True
        if mode == "bad-index-entry":
            index = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "../../../v2/other/blobs/x",
                        "size": 10,
                        "platform": {"os": "linux", "architecture": "amd64"},
                    }
                ],
            }
            headers = {"Content-Type": "application/vnd.oci.image.index.v1+json"}
            self._reply(handler, 200, json.dumps(index).encode(), headers)
            return True
        return False

    def _stall(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        """Say nothing for ``misbehave_for`` seconds (or until the client hangs up)."""
        handler.close_connection = True
        deadline = time.monotonic() + self.misbehave_for
        handler.connection.settimeout(0.1)
        while time.monotonic() < deadline:
            try:
                if handler.connection.recv(1, socket.MSG_PEEK) == b"":
                    return  # the client hung up
            except TimeoutError:
                continue
            except OSError:
                return
            time.sleep(0.1)

    def _drip(self, handler: http.server.BaseHTTPRequestHandler, data: bytes) -> None:
        """Send ``data`` a byte at a time, ``drip_interval`` apart, for ``misbehave_for``."""
        handler.close_connection = True
        deadline = time.monotonic() + self.misbehave_for
        for index in range(len(data)):
            if time.monotonic() > deadline:
                return
            try:
                handler.wfile.write(data[index : index + 1])
            except OSError:
                return  # the client hung up
            with self._lock:
                self.sent += 1
            time.sleep(self.drip_interval)

    def _stream(self, handler: http.server.BaseHTTPRequestHandler, *, chunked: bool) -> None:
        """A 300 MB tag list, made up as it is sent (never held in memory here)."""
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(HUGE))
        handler.end_headers()
        piece = b'"1.0.0",' * 8192
        sent = 0
        deadline = time.monotonic() + self.misbehave_for
        try:
            for data in _pieces(b'{"tags":[', piece):
                if sent >= HUGE or time.monotonic() > deadline:
                    return
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                sent += len(piece)
                with self._lock:
                    self.sent = sent
        except OSError:
            return  # the client refused the rest


def _pieces(first: bytes, then: bytes) -> Iterator[bytes]:
    yield first
    while True:
        yield then
