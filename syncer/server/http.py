"""The controller's one HTTP port: webhooks, JSON API, probes and metrics.

``syncer run`` builds an ``HttpServer`` with the ``server`` settings and the controller
(a ``port.ControllerPort``), calls ``start()`` (it serves from a background thread) and
``stop()`` on SIGTERM. Requests go to:

- ``POST /webhooks/<kind>`` → ``webhooks`` checks the signature against the kind's
  secret and parses the payload → ``trigger_git``/``trigger_image``;
- ``/api/v1/...`` → ``api`` (``Authorization: Bearer <token>`` of a user whose role
  allows the route, ``syncer.server.users``);
- ``GET /healthz`` (the process answers), ``GET /readyz`` (``port.ready()``; a standby
  of leader election is ready when it can forward to the leader),
  ``GET /metrics`` (``metrics.exposition``: Prometheus text or OpenMetrics, by ``Accept``).

Secrets are ``SecretRef``s resolved when a request needs them (cached for
``SECRET_TTL`` seconds), so a rotated Secret or file is picked up without a restart.

Memory under a flood is bounded before anything is authenticated: headers are capped
(``MAX_HEADER_BYTES``); a body is read only after what the headers can prove has been
checked (a token, the API's bearer token, or at least a well-formed signature header
for HMAC-signed webhooks), and only within one budget shared by all connections
(``MAX_BUFFERED``): a body that would exceed it is answered 503 with ``Retry-After``
unread. An unread body is skipped in small chunks when it is short, else the
connection is closed.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from syncer import errors, metrics
from syncer.config import model, secrets
from syncer.server import api, forward, users, webhooks
from syncer.server import port as port_

log = logging.getLogger("syncer.server")

MAX_BODY = 4 * 1024 * 1024
"""Bytes a request body may have (default 4 MiB: a push of many commits stays well
under it; anything larger is refused with 413 before it is read)."""
REQUEST_TIMEOUT = 15.0
"""Seconds a connection may stay silent before it is closed (slow clients hold a
thread, so they must not hold it for long)."""
MAX_CONNECTIONS = 128
"""Connections served at once (one thread each); more are answered 503 at once, so a
flood of slow clients cannot exhaust threads and memory."""
MAX_BUFFERED = 64 * 1024 * 1024
"""Bytes of request bodies held in memory at once, across all connections (64 MiB, well
under the chart's 512 MiB limit): a request whose body would exceed it is answered 503
with ``Retry-After`` before its body is read."""
SMALL_BODY = 64 * 1024
"""Bodies up to this size (ordinary webhooks and API calls) may use the whole budget;
larger ones leave ``max_connections`` small ones room, so they cannot crowd those out.
It is also the most an unread body is skipped by reading (more: the connection closes)."""
MAX_HEADER_BYTES = 64 * 1024
"""Bytes of headers a request may send (more: 431). Senders use a few KiB."""
SECRET_TTL = 10.0
"""Seconds a resolved secret is reused before it is read again."""
SecretResolver = Callable[[model.SecretRef], str]


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (all interfaces) → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise errors.ConfigError(
            [f"server.listen: {listen!r} is not HOST:PORT (e.g. 0.0.0.0:8080, [::]:8080)"]
        )
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or "0.0.0.0", int(port)


class _Secrets:
    """Resolves ``SecretRef``s, remembering each value for ``SECRET_TTL`` seconds."""

    def __init__(self, resolve: SecretResolver) -> None:
        self._resolve = resolve
        self._lock = threading.Lock()
        self._cache: dict[model.SecretRef, tuple[float, str]] = {}

    def get(self, ref: model.SecretRef) -> str:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(ref)
            if hit and now - hit[0] < SECRET_TTL:
                return hit[1]
        value = self._resolve(ref)
        with self._lock:
            self._cache[ref] = (now, value)
        return value


class _BodyBudget:
    """Bytes of request bodies buffered at once, across every connection."""

    def __init__(self, *, total: int, reserve: int) -> None:
        self.total = total
        self.reserve = reserve
        """Kept for bodies up to ``SMALL_BODY``: larger ones may use ``total - reserve``."""
        self._lock = threading.Lock()
        self.in_use = 0

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (nothing reserved) when they do not fit now."""
        limit = self.total if size <= SMALL_BODY else self.total - self.reserve
        with self._lock:
            if self.in_use + size > limit:
                return False
            self.in_use += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.in_use -= size


class _Answer(Exception):
    """Stops handling a request with this status and JSON body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class _Forward(Exception):
    """Hand this request to the leader at ``url`` (this replica stands by)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class HttpServer:
    """The HTTP server of one controller process."""

    def __init__(
        self,
        *,
        settings: model.Server,
        port: port_.ControllerPort,
        base_dir: str = ".",
        read_secret: secrets.SecretReader | None = None,
        resolve_secret: SecretResolver | None = None,
        max_body: int = MAX_BODY,
        leader: forward.LeaderView | None = None,
        max_connections: int = MAX_CONNECTIONS,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        """``resolve_secret`` replaces ``secrets.resolve`` (with ``base_dir`` and
        ``read_secret``) for callers that resolve secrets their own way.

        ``leader`` (with leader election: the ``LeaderElector``) tells whether this
        replica leads: while it stands by, authenticated webhooks and API POSTs are
        forwarded to the leader's advertised URL, since only the leader acts on them,
        and ``/readyz`` reports the standby's own state."""
        self.settings = settings
        self.port = port
        self.max_body = max_body
        self.leader = leader
        self.max_connections = max_connections
        if max_body > max_buffered:
            raise ValueError(f"max_body ({max_body}) is over max_buffered ({max_buffered})")
        self.budget = _BodyBudget(
            total=max_buffered,
            reserve=min(max_connections * SMALL_BODY, max_buffered - max_body),
        )
        self._host, self._port = parse_listen(settings.listen)

        def default_resolve(ref: model.SecretRef) -> str:
            return secrets.resolve(ref, base_dir=base_dir, read_secret=read_secret)

        self._secrets = _Secrets(resolve_secret or default_resolve)
        self.users = users.Directory(settings=settings, resolve=self._secrets.get)
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> HttpServer:
        """Bind the listen address and serve from a background thread."""
        if self._httpd is not None:
            return self
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        try:
            httpd = _ThreadingServer(
                (self._host, self._port),
                _Handler,
                family=family,
                max_connections=self.max_connections,
            )
        except OSError as err:
            raise errors.PermanentError(
                f"server.listen {self.settings.listen}: cannot listen ({err.strerror or err}); "
                "choose a free port or stop what uses it"
            ) from err
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="syncer-http"
        )
        self._thread.daemon = True
        self._thread.start()
        log.info("msg=listening address=%s", self.url)
        return self

    def stop(self) -> None:
        """Stop accepting requests and close the socket (idempotent)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        log.info("msg=stopped address=%s:%s", self._host, self._port)

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is the real one when ``listen`` said 0."""
        if self._httpd is None:
            return self._host, self._port
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # --- secrets -------------------------------------------------------------------

    def secret(self, *, ref: model.SecretRef, what: str) -> str:
        """The secret's value; a failure is logged and answered 500 (a setup problem)."""
        try:
            return self._secrets.get(ref)
        except (errors.SyncerError, OSError, KeyError, ValueError) as err:
            log.error("msg=secret unavailable what=%s ref=%s error=%s", what, ref, err)
            raise _Answer(
                500, {"error": f"the {what} could not be read; see the controller log"}
            ) from err

    # --- webhooks ------------------------------------------------------------------

    def webhook(
        self,
        *,
        kind_name: str,
        headers: webhooks.Headers,
        query: dict[str, str],
        read_body: Callable[[], bytes],
    ) -> tuple[int, Any]:
        """Authenticate, then parse and act. ``read_body`` is called only once the
        headers pass (``Kind.check_headers``); it may answer 413 or 503 itself."""
        kind = webhooks.KINDS.get(kind_name)
        if kind is None:
            raise _Answer(
                404,
                {"error": f"no webhook kind {kind_name!r}; use one of {sorted(webhooks.KINDS)}"},
            )
        result = "error"
        try:
            status, body, result = self._webhook(
                kind_name=kind_name, kind=kind, headers=headers, query=query, read_body=read_body
            )
            return status, body
        except _Forward:
            result = "forwarded"
            raise
        except _Answer as answer:
            result = "busy" if answer.status == 503 else result
            raise
        finally:
            metrics.WEBHOOKS.labels(kind=kind_name, result=result).inc()

    def _webhook(
        self,
        *,
        kind_name: str,
        kind: webhooks.Kind,
        headers: webhooks.Headers,
        query: dict[str, str],
        read_body: Callable[[], bytes],
    ) -> tuple[int, Any, str]:
        ref = getattr(self.settings.webhooks, kind.secret)
        if ref is None:
            log.warning(
                "msg=webhook refused: no secret configured kind=%s "
                "fix=set server.webhooks.%s to a SecretRef (env:, file: or secret:)",
                kind_name,
                kind.secret,
            )
            return (
                401,
                {
                    "error": f"{kind_name} webhooks are disabled: server.webhooks.{kind.secret} "
                    "is not set"
                },
                "unauthorized",
            )
        secret = self.secret(ref=ref, what=f"server.webhooks.{kind.secret} secret")
        # The headers first: a request without the token or a well-formed signature
        # header is refused before a byte of its body is read.
        if not kind.check_headers(headers, query, secret):
            return _unauthorized(kind_name=kind_name, kind=kind)
        request = webhooks.Request(headers=headers, body=read_body(), query=query)
        if kind.check_body is not None and not kind.check_body(request, secret):
            return _unauthorized(kind_name=kind_name, kind=kind)
        try:
            event = kind.parse(request)
        except webhooks.InvalidPayload as err:
            log.warning("msg=webhook payload invalid kind=%s error=%s", kind_name, err)
            return 400, {"error": f"invalid {kind_name} payload: {err}"}, "invalid"
        if event.ignored:
            # Registries send one event per blob: routine, so only at debug level.
            log.debug("msg=webhook ignored kind=%s reason=%s", kind_name, event.ignored)
            return 200, {"ignored": event.ignored}, "ignored"
        self.forward_if_standby(headers)
        triggered = self._trigger(event)
        if not triggered:
            reason = webhooks.unmatched(event)
            log.info("msg=webhook ignored kind=%s reason=%s", kind_name, reason)
            return 200, {"ignored": reason}, "ignored"
        log.info("msg=webhook kind=%s triggered=%s", kind_name, ",".join(triggered))
        return 202, {"triggered": triggered}, "triggered"

    def _trigger(self, event: webhooks.Event) -> list[str]:
        names: dict[str, None] = {}
        for push in event.git:
            for url in push.urls:
                names.update(dict.fromkeys(self.port.trigger_git(url, push.ref)))
        for image in event.images:
            found = self.port.trigger_image(image.repository, image.tag, image.digest)
            names.update(dict.fromkeys(found))
        return list(names)

    def forward_if_standby(self, headers: webhooks.Headers) -> None:
        """Raise ``_Forward`` when another replica leads and says where it answers."""
        if self.leader is None or headers.get(forward.FORWARDED_HEADER):
            return
        url = self.leader.leader_url()
        if url:
            raise _Forward(url)

    def ready(self) -> tuple[bool, str]:
        """The controller's readiness while it leads (or without leader election); a
        standby is ready once it knows where the leader answers (it forwards there)."""
        if self.leader is None or self.leader.is_leader:
            return self.port.ready()
        return bool(self.leader.leader_url()), self.leader.describe()

    # --- API -----------------------------------------------------------------------

    def authorize_api(
        self, *, method: str, parts: list[str], authorization: str | None
    ) -> users.User:
        """The caller, allowed to call this route (``api.authorize``); else the refusal."""
        found = api.authorize(
            directory=self.users, method=method, parts=parts, authorization=authorization
        )
        if isinstance(found, api.Refusal):
            raise _Answer(found.status, found.body, found.headers)
        return found


def _unauthorized(*, kind_name: str, kind: webhooks.Kind) -> tuple[int, Any, str]:
    log.warning("msg=webhook refused: bad or missing %s kind=%s", kind.credential, kind_name)
    return 401, {"error": f"bad or missing {kind.credential}"}, "unauthorized"


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    app: HttpServer

    def __init__(
        self, address: tuple[str, int], handler: type, *, family: int, max_connections: int
    ) -> None:
        self.address_family = family
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("msg=too many connections; refusing client=%s", client_address[0])
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-answer is routine; anything else is logged once,
        # in our format, instead of a bare traceback on stderr.
        log.debug("msg=connection error client=%s\n%s", client_address[0], traceback.format_exc())


_BUSY_BODY = b'{"error": "too many connections; retry"}\n'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)


def _json_bytes(body: Any) -> bytes:
    return (json.dumps(body, default=str) + "\n").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _ThreadingServer
    protocol_version = "HTTP/1.1"
    server_version = "syncer"
    sys_version = ""
    timeout = REQUEST_TIMEOUT
    # Headers and body go out in two writes; with Nagle's algorithm the second waits
    # for the client's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True
    _raw_body = b""
    _unread = 0
    """Body bytes the client declared and nobody read (-1: unknown, e.g. chunked)."""
    _reserved = 0
    """Bytes of the server's body budget this request holds."""

    def parse_request(self) -> bool:
        # The stdlib reads up to 100 header lines of 64 KiB each: cap the whole.
        rfile = self.rfile
        self.rfile = _HeaderLimit(rfile, limit=MAX_HEADER_BYTES)  # type: ignore[assignment]
        try:
            return super().parse_request()
        finally:
            self.rfile = rfile

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("msg=request client=%s %s", self.client_address[0], format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        try:
            self._handle_request(method)
        finally:
            self._raw_body = b""  # a kept-alive connection must not resend an earlier body
            if self._reserved:
                self.server.app.budget.give(self._reserved)
                self._reserved = 0
        if 0 < self._unread <= SMALL_BODY:
            self._skip_unread()

    def _handle_request(self, method: str) -> None:
        app = self.server.app
        self._unread = _declared_length(self.headers)
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = dict(parse_qsl(url.query))
        try:
            status, body, content_type = self._route(app, method, path, query)
        except _Answer as answer:
            self._send(answer.status, _json_bytes(answer.body), "application/json", answer.headers)
        except _Forward as forward:
            self._proxy(method=method, leader=forward.url)
        except errors.PermanentError as err:
            self._send(409, _json_bytes({"error": str(err)}), "application/json")
        except errors.TemporaryError as err:
            headers = {"Retry-After": str(max(1, round(err.retry_after)))}
            self._send(503, _json_bytes({"error": str(err)}), "application/json", headers)
        except errors.SyncerError as err:
            self._send(500, _json_bytes({"error": str(err)}), "application/json")
        except Exception:
            log.error(
                "msg=request failed method=%s path=%s\n%s", method, path, traceback.format_exc()
            )
            self._send(
                500,
                _json_bytes({"error": "internal error; see the controller log"}),
                "application/json",
            )
        else:
            self._send(status, body, content_type)

    def _route(
        self, app: HttpServer, method: str, path: str, query: dict[str, str]
    ) -> tuple[int, bytes, str]:
        if path in ("/healthz", "/readyz", "/metrics"):
            self._only(method, "GET")
            if path == "/healthz":
                return 200, b"ok\n", "text/plain; charset=utf-8"
            if path == "/metrics":
                content_type, body = metrics.exposition(self.headers.get("Accept"))
                return 200, body, content_type
            ready, reason = app.ready()
            return (200 if ready else 503), f"{reason}\n".encode(), "text/plain; charset=utf-8"
        if path.startswith("/webhooks/"):
            self._only(method, "POST")
            kind = unquote(path[len("/webhooks/") :])
            status, body = app.webhook(
                kind_name=kind, headers=self.headers, query=query, read_body=self._body
            )
            return status, _json_bytes(body), "application/json"
        if path.startswith("/api/v1/"):
            parts = [unquote(p) for p in path[len("/api/v1/") :].split("/")]
            self._only(method, "GET", "POST")
            user = app.authorize_api(
                method=method, parts=parts, authorization=self.headers.get("Authorization")
            )
            if method == "GET":
                status, body = api.get(port=app.port, parts=parts, query=query)
            else:
                data = self._json_body()
                app.forward_if_standby(self.headers)
                status, body = api.post(port=app.port, parts=parts, body=data, user=user)
            return status, _json_bytes(body), "application/json"
        raise _Answer(404, {"error": f"no such path {path}"})

    def _proxy(self, *, method: str, leader: str) -> None:
        """Relay this request (already read and authenticated) to the leader; 503 with
        ``Retry-After`` when the leader does not answer."""
        try:
            status, body, content_type = forward.relay(
                leader=leader,
                method=method,
                path=self.path,
                headers=self.headers.items(),
                body=self._raw_body,
            )
        except forward.LeaderUnreachable:
            message = f"this replica stands by and the leader ({leader}) did not answer; retry"
            self._send(503, _json_bytes({"error": message}), "application/json",
                       {"Retry-After": "2"})  # fmt: skip
            return
        self._send(status, body, content_type)

    def _only(self, method: str, *allowed: str) -> None:
        if method not in allowed:
            raise _Answer(
                405, {"error": f"use {' or '.join(allowed)}"}, {"Allow": ", ".join(allowed)}
            )

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise _Answer(411, {"error": "send the body with a Content-Length"})
        raw = self.headers.get("Content-Length") or "0"
        if not raw.isdigit():
            self.close_connection = True
            raise _Answer(400, {"error": "bad Content-Length"})
        length = int(raw)
        app = self.server.app
        if length > app.max_body:
            # Unread bytes would be taken for the next request: drop the connection.
            self.close_connection = True
            raise _Answer(413, {"error": f"body over {app.max_body} bytes"})
        if not app.budget.take(length):
            log.warning(
                "msg=request bodies in memory at their limit; refusing client=%s bytes=%d",
                self.client_address[0], length,
            )  # fmt: skip
            raise _Answer(
                503, {"error": "too many request bodies in memory at once; retry"},
                {"Retry-After": "1"},
            )  # fmt: skip
        self._reserved = length
        self._raw_body = self.rfile.read(length)
        self._unread = 0
        if len(self._raw_body) < length:
            self.close_connection = True
            raise _Answer(400, {"error": "the body is shorter than its Content-Length"})
        return self._raw_body

    def _json_body(self) -> dict[str, Any]:
        body = self._body()
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _Answer(400, {"error": f"the body is not JSON: {err}"}) from err
        if not isinstance(data, dict):
            raise _Answer(400, {"error": "the body must be a JSON object"})
        return data

    def _skip_unread(self) -> None:
        """Read and drop a short body nobody wanted (refused before reading it), so the
        answer reaches the client and the connection can serve its next request."""
        try:
            while self._unread > 0:
                chunk = self.rfile.read(min(self._unread, 16 * 1024))
                if not chunk:
                    break
                self._unread -= len(chunk)
        except OSError:
            self._unread = -1
        if self._unread:
            self.close_connection = True

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        if self._unread < 0 or self._unread > SMALL_BODY:
            # A body left unread (refused first) that is too long to skip: unread bytes
            # would be taken for the next request, so this connection ends here.
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def _declared_length(headers: Any) -> int:
    """The body length a request declares: 0 without one, -1 when it cannot be known
    (chunked, or a Content-Length that is not a number)."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return -1
    raw = headers.get("Content-Length") or "0"
    return int(raw) if raw.isdigit() else -1


class _HeaderLimit:
    """``rfile`` for header parsing: refuses (431) once the headers exceed ``limit``."""

    def __init__(self, raw: Any, *, limit: int) -> None:
        self._raw = raw
        self._left = limit

    def readline(self, size: int = -1) -> bytes:
        cap = self._left + 1 if size < 0 else min(size, self._left + 1)
        line: bytes = self._raw.readline(cap)
        self._left -= len(line)
        if self._left < 0:
            raise http.client.LineTooLong(f"headers over {MAX_HEADER_BYTES} bytes")
        return line
