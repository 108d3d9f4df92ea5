"""The controller's HTTP face: webhooks, JSON API, probes and metrics, on two listeners.

``syncer run`` builds an ``HttpServer`` with the ``server`` settings and the controller
(a ``port.ControllerPort``), calls ``start()`` (it serves from a background thread) and
``stop()`` on SIGTERM. ``syncer.server.transport`` (uvicorn's h11 protocol) carries the
bytes; every request comes here on a handler thread, on one of two listeners:

- ``server.webhookListen``: ``POST /webhooks/<kind>`` → ``webhooks`` checks the
  signature against the kind's secret and parses the payload → ``trigger_git``/
  ``trigger_image``. Nothing else is served there (404).
- ``server.listen``: ``/api/v1/...`` → ``api`` (``Authorization: Bearer <token>`` of a
  user whose role allows the route, ``syncer.server.users``); ``GET /healthz`` (the
  process answers), ``GET /readyz`` (``port.ready()``; a standby of leader election is
  ready when it can forward to the leader), ``GET /metrics`` (``metrics.exposition``:
  Prometheus text or OpenMetrics, by ``Accept``); the web UI at ``/`` (``server.ui``,
  ``syncer.server.ui``). Webhooks there answer 404, except
  those a standby replica relays to the leader (marked ``forward.FORWARDED_HEADER``,
  and authenticated again here like any other).

Every path answers ``OPTIONS`` (204 with ``Allow``), GET paths answer ``HEAD``, other
methods 405 with ``Allow``; every error is a JSON object ``{"error": "..."}``.

Secrets are ``SecretRef``s resolved when a request needs them (cached for
``SECRET_TTL`` seconds), so a rotated Secret or file is picked up without a restart.

Memory under a flood is bounded before anything is authenticated: headers are capped
(``MAX_HEADER_BYTES``); a body is read only after what the headers can prove has been
checked (a token, the API's bearer token, or at least a well-formed signature header
for HMAC-signed webhooks), and only within one budget shared by all connections
(``MAX_BUFFERED``): a body that would exceed it is answered 503 with ``Retry-After``
unread. Chunked bodies are read under the same cap and budget as they arrive.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from syncer import errors, metrics
from syncer.config import model, secrets
from syncer.server import api, forward, transport, ui, users, webhooks
from syncer.server import port as port_

log = logging.getLogger("syncer.server")

MAX_BODY = 4 * 1024 * 1024
"""Bytes a request body may have (default 4 MiB: a push of many commits stays well
under it; anything larger is refused with 413, unread when its length is declared)."""
REQUEST_TIMEOUT = 15.0
"""Seconds a client has to send a whole request head (from connecting, or from the
previous answer on a kept-alive connection), and the longest silence while its body is
read: slow clients are cut off (a byte every few seconds does not keep one alive)."""
KEEP_ALIVE = 5.0
"""Seconds an idle kept-alive connection stays open waiting for the next request."""
MAX_CONNECTIONS = 512
"""Connections open at once on each listener; more are answered 503 at once. A
connection costs the event loop a few KiB, plus what it sent before it was read (at
most one 256 KiB socket read and 64 KiB of body per connection)."""
API_THREADS = 16
"""Threads answering the API listener (API, probes, metrics): requests beyond wait."""
WEBHOOK_THREADS = 32
"""Threads answering webhooks; a flood of them never takes the probes' threads."""
MAX_BUFFERED = 64 * 1024 * 1024
"""Bytes of request bodies held in memory at once, across all connections (64 MiB, well
under the chart's 512 MiB limit): a request whose body would exceed it is answered 503
with ``Retry-After`` before its body is read."""
SMALL_BODY = 64 * 1024
"""Bodies up to this size (ordinary webhooks and API calls) may use the whole budget;
larger ones leave ``max_connections`` small ones room, so they cannot crowd those out."""
MAX_HEADER_BYTES = 64 * 1024
"""Bytes of headers a request may send (more: 431). Senders use a few KiB."""
SECRET_TTL = 10.0
"""Seconds a resolved secret is reused before it is read again."""
SecretResolver = Callable[[model.SecretRef], str]


def parse_listen(listen: str, *, setting: str = "server.listen") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (all interfaces) → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise errors.ConfigError(
            [f"{setting}: {listen!r} is not HOST:PORT (e.g. 0.0.0.0:8080, [::]:8080)"]
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

    def take(self, size: int, *, body: int | None = None) -> bool:
        """Reserve ``size`` more bytes for a body that will then hold ``body`` bytes
        (default ``size``); False (nothing reserved) when they do not fit now."""
        limit = self.total if (body or size) <= SMALL_BODY else self.total - self.reserve
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

    def __init__(
        self, status: int, body: Any, headers: dict[str, str] | None = None, *, close: bool = False
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.close = close


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
        request_timeout: float = REQUEST_TIMEOUT,
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
        self.request_timeout = request_timeout
        if max_body > max_buffered:
            raise ValueError(f"max_body ({max_body}) is over max_buffered ({max_buffered})")
        self.budget = _BodyBudget(
            total=max_buffered,
            reserve=min(max_connections * SMALL_BODY, max_buffered - max_body),
        )
        api_host, api_port = parse_listen(settings.listen)
        hook_host, hook_port = parse_listen(settings.webhook_listen, setting="server.webhookListen")
        self._transport = transport.Transport(
            listeners=[
                transport.Listener(
                    name="api", setting="server.listen", host=api_host, port=api_port,
                    max_connections=max_connections, threads=API_THREADS,
                ),
                transport.Listener(
                    name="webhooks", setting="server.webhookListen", host=hook_host,
                    port=hook_port, max_connections=max_connections, threads=WEBHOOK_THREADS,
                ),
            ],
            handler=self._serve,
            head_timeout=request_timeout,
            keep_alive=KEEP_ALIVE,
            max_header_bytes=MAX_HEADER_BYTES,
        )  # fmt: skip
        self._bound: list[tuple[str, int]] = []

        def default_resolve(ref: model.SecretRef) -> str:
            return secrets.resolve(ref, base_dir=base_dir, read_secret=read_secret)

        self._secrets = _Secrets(resolve_secret or default_resolve)
        self.users = users.Directory(settings=settings, resolve=self._secrets.get)

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> HttpServer:
        """Bind both listen addresses and serve from a background thread."""
        if self._bound:
            return self
        try:
            self._bound = self._transport.bind()
        except transport.BindError as err:
            raise errors.PermanentError(
                f"{err}: cannot listen; choose a free port or stop what uses it"
            ) from err
        self._transport.start()
        log.info("msg=listening address=%s webhooks=%s", self.url, self.webhook_url)
        return self

    def stop(self) -> None:
        """Stop accepting requests, finish answers in flight, close the sockets
        (idempotent)."""
        if not self._bound:
            return
        self._transport.stop()
        log.info("msg=stopped address=%s webhooks=%s", self.url, self.webhook_url)
        self._bound = []

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """The API listener's bound (host, port) (the real port when ``listen`` said 0)."""
        return self._address(0)

    @property
    def webhook_address(self) -> tuple[str, int]:
        """The webhook listener's bound (host, port)."""
        return self._address(1)

    def _address(self, index: int) -> tuple[str, int]:
        if self._bound:
            return self._bound[index]
        listener = self._transport.listeners[index]
        return listener.host, listener.port

    @property
    def url(self) -> str:
        return _url(*self.address)

    @property
    def webhook_url(self) -> str:
        return _url(*self.webhook_address)

    def _serve(self, request: transport.Request) -> transport.Response:
        """The transport's handler: one request, on a handler thread."""
        return _Exchange(self, request).answer()

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

    def forward_if_standby(self, headers: webhooks.Headers, *, app: str = "") -> None:
        """Raise ``_Forward`` when another replica leads (or, with shards, holds
        ``app``'s shard) and says where it answers."""
        if self.leader is None or headers.get(forward.FORWARDED_HEADER):
            return
        url = self.leader.owner_url(app) if app else self.leader.leader_url()
        if url:
            raise _Forward(url)

    def relay_to_peers(
        self, *, path: str, headers: Any, body: bytes, answer: dict[str, Any]
    ) -> dict[str, Any]:
        """With shards, a webhook is acted on by every replica for its own apps: send it
        on to the others (marked, so it goes no further) and merge what they triggered."""
        if self.leader is None or headers.get(forward.FORWARDED_HEADER):
            return answer
        triggered = dict.fromkeys(answer.get("triggered") or [])
        for peer in self.leader.peers():
            try:
                status, out, _type = forward.relay(
                    leader=peer, method="POST", path=path, headers=headers.items(), body=body
                )
            except forward.LeaderUnreachable:
                continue  # it polls on its own schedule; logged by relay
            if status == 202:
                try:
                    triggered.update(dict.fromkeys(json.loads(out).get("triggered") or []))
                except (ValueError, AttributeError):
                    continue
        if not triggered:
            return answer
        return {"triggered": list(triggered)}

    def ready(self) -> tuple[bool, str]:
        """The controller's readiness while it leads (or without leader election); a
        standby is ready once it knows where the leader answers (it forwards there)."""
        if self.leader is None or self.leader.is_leader:
            return self.port.ready()
        return bool(self.leader.leader_url()), self.leader.describe()

    def metrics_exposition(self, accept: str | None) -> tuple[str, bytes]:
        """(content type, body) of ``/metrics``: Prometheus text or OpenMetrics, by
        ``Accept``."""
        return metrics.exposition(accept)

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


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _json_bytes(body: Any) -> bytes:
    return (json.dumps(body, default=str) + "\n").encode()


_TEXT = "text/plain; charset=utf-8"


class _Exchange:
    """One request and its answer: routing, the body within the budget, relaying."""

    def __init__(self, app: HttpServer, request: transport.Request) -> None:
        self.app = app
        self.request = request
        self.headers = request.headers
        self._raw_body = b""
        self._reserved = 0
        """Bytes of the server's body budget this request holds."""

    def answer(self) -> transport.Response:
        try:
            return self._answer()
        finally:
            if self._reserved:
                self.app.budget.give(self._reserved)
                self._reserved = 0

    def _answer(self) -> transport.Response:
        method, path = self.request.method, self.request.path.rstrip("/") or "/"
        query = dict(parse_qsl(self.request.query_string))
        try:
            page = self._ui(method, path)
            if page is not None:
                return page
            status, body, content_type = self._route(method, path, query)
        except _Answer as answer:
            return _error(answer.status, answer.body, answer.headers, close=answer.close)
        except _Forward as leader:
            return self._proxy(leader=leader.url)
        except errors.Fenced as err:
            # With shards: the app's shard is changing hands; its next holder answers.
            return _error(503, {"error": str(err)}, {"Retry-After": "2"})
        except errors.PermanentError as err:
            return _error(409, {"error": str(err)})
        except errors.TemporaryError as err:
            retry = {"Retry-After": str(max(1, round(err.retry_after)))}
            return _error(503, {"error": str(err)}, retry)
        except errors.SyncerError as err:
            return _error(500, {"error": str(err)})
        except Exception:
            log.error(
                "msg=request failed method=%s path=%s\n%s", method, path, traceback.format_exc()
            )
            return _error(500, {"error": "internal error; see the controller log"})
        return transport.Response(status, body, content_type)

    def _route(self, method: str, path: str, query: dict[str, str]) -> tuple[int, bytes, str]:
        app, listener = self.app, self.request.listener
        # Webhooks have their own listener; a standby relays them to the leader's
        # advertised (API) address, marked, and they are authenticated here again.
        relayed = bool(self.headers.get(forward.FORWARDED_HEADER))
        if path.startswith("/webhooks/") and (listener == "webhooks" or relayed):
            self._only(method, "POST")
            status, body = app.webhook(
                kind_name=path[len("/webhooks/") :], headers=self.headers, query=query,
                read_body=self._body,
            )  # fmt: skip
            if status == 202 and isinstance(body, dict):
                # Every replica has the config, so the one that matched here matches
                # there: with shards each polls for its own apps, so all are told.
                body = app.relay_to_peers(
                    path=self.request.target, headers=self.headers, body=self._raw_body,
                    answer=body,
                )  # fmt: skip
            return status, _json_bytes(body), "application/json"
        if listener == "webhooks":
            raise _Answer(404, {"error": f"no such path {path}; this port serves /webhooks/<kind>"})
        if path in ("/healthz", "/readyz", "/metrics"):
            self._only(method, "GET", "HEAD")
            if path == "/healthz":
                return 200, b"ok\n", _TEXT
            if path == "/metrics":
                content_type, exposition = app.metrics_exposition(self.headers.get("Accept"))
                return 200, exposition, content_type
            ready, reason = app.ready()
            return (200 if ready else 503), f"{reason}\n".encode(), _TEXT
        if path.startswith("/api/v1/"):
            parts = path[len("/api/v1/") :].split("/")  # the transport decoded the path
            self._only(method, "GET", "HEAD", "POST")
            user = app.authorize_api(
                method="GET" if method == "HEAD" else method,
                parts=parts,
                authorization=self.headers.get("Authorization"),
            )
            if method in ("GET", "HEAD"):
                status, body = api.get(port=app.port, parts=parts, query=query, user=user)
            else:
                data = self._json_body()
                about = parts[1] if len(parts) > 1 and parts[0] == "apps" else ""
                app.forward_if_standby(self.headers, app=about)
                status, body = api.post(port=app.port, parts=parts, body=data, user=user)
            return status, _json_bytes(body), "application/json"
        raise _Answer(404, {"error": f"no such path {path}"})

    def _ui(self, method: str, path: str) -> transport.Response | None:
        """The web UI's file at ``path`` (``server.ui``, API listener, GET/HEAD); None
        for every other request."""
        if (
            self.request.listener != "api"
            or not self.app.settings.ui
            or path.startswith(("/api/", "/webhooks/"))
            or path in ("/healthz", "/readyz", "/metrics")
        ):
            return None
        try:
            found = ui.answer(path, if_none_match=self.headers.get("If-None-Match"))
        except ui.Missing as err:
            log.error("msg=web UI unavailable error=%s", err)
            raise _Answer(404, {"error": f"{err}; build it with syncer/ui/build.mjs"}) from err
        if found is None:
            return None
        self._only(method, "GET", "HEAD")
        status, file = found
        body = b"" if status == 304 else file.body
        return transport.Response(status, body, file.content_type, dict(file.headers))

    def _only(self, method: str, *allowed: str) -> None:
        allow = ", ".join((*allowed, "OPTIONS"))
        if method == "OPTIONS":
            raise _Answer(204, None, {"Allow": allow})
        if method not in allowed:
            raise _Answer(405, {"error": f"use {' or '.join(allowed)}"}, {"Allow": allow})

    def _proxy(self, *, leader: str) -> transport.Response:
        """Relay this request (already read and authenticated) to the leader; 503 with
        ``Retry-After`` when the leader does not answer."""
        try:
            status, body, content_type = forward.relay(
                leader=leader,
                method=self.request.method,
                path=self.request.target,
                headers=self.headers.items(),
                body=self._raw_body,
            )
        except forward.LeaderUnreachable:
            message = f"this replica stands by and the leader ({leader}) did not answer; retry"
            return _error(503, {"error": message}, {"Retry-After": "2"})
        return transport.Response(status, body, content_type)

    def _body(self) -> bytes:
        """The whole body, read within ``max_body`` and the shared budget."""
        body, app = self.request.body, self.app
        if body.length is not None:
            if body.length > app.max_body:
                raise _Answer(413, {"error": f"body over {app.max_body} bytes"})
            self._take(body.length, body=body.length)
        data = bytearray()
        try:
            for chunk in body.chunks(timeout=app.request_timeout):
                if len(data) + len(chunk) > app.max_body:
                    raise _Answer(413, {"error": f"body over {app.max_body} bytes"}, close=True)
                if body.length is None:  # chunked: the budget grows with what arrives
                    self._take(len(chunk), body=len(data) + len(chunk))
                data += chunk
        except transport.BodyTimeout as err:
            raise _Answer(408, {"error": f"the body stopped coming: {err}"}, close=True) from err
        except transport.ClientGone as err:
            raise _Answer(400, {"error": str(err)}, close=True) from err
        self._raw_body = bytes(data)
        return self._raw_body

    def _take(self, size: int, *, body: int) -> None:
        if not self.app.budget.take(size, body=body):
            log.warning(
                "msg=request bodies in memory at their limit; refusing client=%s bytes=%d",
                self.request.client, body,
            )  # fmt: skip
            raise _Answer(
                503, {"error": "too many request bodies in memory at once; retry"},
                {"Retry-After": "1"},
            )  # fmt: skip
        self._reserved += size

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


def _error(
    status: int, body: Any, headers: dict[str, str] | None = None, *, close: bool = False
) -> transport.Response:
    payload = b"" if status == 204 else _json_bytes(body)
    return transport.Response(status, payload, "application/json", headers or {}, close=close)
