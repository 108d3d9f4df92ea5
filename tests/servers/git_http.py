"""A real Git smart-HTTP server for tests: stdlib ``http.server`` running ``git http-backend``.

Serves every bare repository under ``root`` at ``http://127.0.0.1:PORT/<name>.git``,
optionally behind HTTP Basic auth, and counts requests by kind so tests can prove what a
client did: ``info-refs`` (ref advertisement: every ls-remote and fetch starts with one),
``ls-refs`` (protocol v2 ref listing), ``fetch`` (an upload-pack that asks for objects),
``push`` (receive-pack) and ``denied`` (401 answers).
"""

from __future__ import annotations

import base64
import collections
import gzip
import hmac
import os
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.servers import git_repo, lifecycle


class GitHTTPServer:
    """A running smart-HTTP Git server; ``stop()`` (or the fixture) shuts it down."""

    def __init__(self, *, root: Path, auth: tuple[str, str] | None = None) -> None:
        self.root = root
        self.auth = auth
        self.counts: collections.Counter[str] = collections.Counter()
        self.repo_counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.log_lines: list[str] = []
        self.before_push: list[Callable[[], None]] = []
        """Run one each at the next push's ref advertisement (a push racing another)."""
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = lifecycle.serve_http(_handler_for(self))
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    # --- repositories ----------------------------------------------------------------

    def create_repo(
        self, name: str, files: dict[str, git_repo.FileValue] | None = None, *, branch: str = "main"
    ) -> git_repo.BareRepo:
        """A new bare repository served here; with ``files``, a first commit on ``branch``."""
        return git_repo.create_served(
            root=self.root, name=name, files=files, branch=branch, url_for=self.url_for
        )

    def url_for(self, repo: git_repo.BareRepo) -> str:
        return f"{self.base_url}/{repo.path.relative_to(self.root).as_posix()}"

    # --- observing -------------------------------------------------------------------

    def count(self, kind: str, repo: str | None = None) -> int:
        """Requests of ``kind`` so far (optionally for one repo, e.g. ``app.git``)."""
        with self._lock:
            return self.repo_counts[(repo, kind)] if repo else self.counts[kind]

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.repo_counts.clear()

    def auth_header(self, user: str | None = None, password: str | None = None) -> str:
        """``Authorization: Basic ...`` for the given (default: the server's) credentials."""
        assert self.auth or (user and password), "server has no credentials"
        u = user if user is not None else self.auth[0]  # type: ignore[index]
        p = password if password is not None else self.auth[1]  # type: ignore[index]
        return "Authorization: Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()

    def logs(self) -> str:
        with self._lock:
            return "\n".join(self.log_lines)

    def stop(self) -> None:
        """Stop answering (connections are refused); ``start`` serves again."""
        if self._httpd is not None:
            lifecycle.stop_http(self._httpd)
            self._httpd = None

    def start(self) -> None:
        """Serve again on the same port after ``stop`` (a Git server back from an outage)."""
        if self._httpd is None:
            self._httpd = lifecycle.serve_http(_handler_for(self), port=self.port)

    def _record(self, *, kind: str, repo: str, line: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            self.repo_counts[(repo, kind)] += 1
            self.log_lines.append(line)


def _classify(*, method: str, path: str, query: str, body: bytes) -> str:
    if method == "GET" and path.endswith("/info/refs"):
        return "push-refs" if "git-receive-pack" in query else "info-refs"
    if method == "POST" and path.endswith("/git-upload-pack"):
        # Protocol v2 sends "command=ls-refs" to list refs and "command=fetch" for
        # objects; a v0 upload-pack POST always negotiates objects.
        return "ls-refs" if b"command=ls-refs" in body[:200] else "fetch"
    if method == "POST" and path.endswith("/git-receive-pack"):
        return "push"
    return "other"


def _repo_of(path: str) -> str:
    for suffix in ("/info/refs", "/git-upload-pack", "/git-receive-pack"):
        if path.endswith(suffix):
            return path[: -len(suffix)].lstrip("/")
    return path.lstrip("/")


def _handler_for(server: GitHTTPServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # requests are recorded in server.log_lines instead

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            body = self._read_body()
            if self.headers.get("Content-Encoding", "") == "gzip":
                body = gzip.decompress(body)
            kind = _classify(method=self.command, path=path, query=query, body=body)
            repo = _repo_of(path)
            user = self._user()
            if server.auth and user is None:
                server._record(kind="denied", repo=repo, line=f"401 {self.command} {self.path}")
                self._reply(401, {"WWW-Authenticate": 'Basic realm="git"'}, b"unauthorized\n")
                return
            if kind == "push-refs" and server.before_push:
                # Someone else pushes between this client's fetch and its push.
                server.before_push.pop(0)()
            status, headers, out, err = self._backend(path=path, query=query, body=body, user=user)
            server._record(
                kind=kind, repo=repo, line=f"{status} {self.command} {self.path} kind={kind} {err}"
            )
            self._reply(status, headers, out)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        # trailers end with an empty line
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _user(self) -> str | None:
            if not server.auth:
                return "anonymous"
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            ok_user = hmac.compare_digest(user, server.auth[0])
            ok_pass = hmac.compare_digest(password, server.auth[1])
            return user if ok_user and ok_pass else None

        def _backend(
            self, *, path: str, query: str, body: bytes, user: str | None
        ) -> tuple[int, dict[str, str], bytes, str]:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": user or "",
                "REMOTE_ADDR": self.client_address[0],
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "GIT_CONFIG_NOSYSTEM": "1",
                "HOME": str(server.root),
            }
            proc = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120
            )
            raw = proc.stdout
            sep, width = raw.find(b"\r\n\r\n"), 4
            if sep < 0:
                sep, width = raw.find(b"\n\n"), 2
            if sep < 0:
                return 500, {}, b"", proc.stderr.decode(errors="replace").strip()
            head, out = raw[:sep], raw[sep + width :]
            status, headers = 200, {}
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers[name.strip()] = value.strip()
            return status, headers, out, proc.stderr.decode(errors="replace").strip()

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
