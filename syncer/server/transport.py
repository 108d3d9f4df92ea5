"""HTTP/1.1 on the wire: uvicorn's h11 protocol, one listener per role, handlers on threads.

``syncer.server.http`` builds a ``Transport`` with its listeners (``server.listen`` for
the API, metrics and probes; ``server.webhookListen`` for webhooks) and one synchronous
``Handler``; the transport turns every request into a ``Request`` and runs the handler
on that listener's thread pool, then writes the ``Response``. It owns what HTTP itself
needs and the handler should never see:

- parsing and framing (h11): keep-alive, pipelining, chunked request bodies,
  ``Expect: 100-continue`` (sent only when the handler starts reading the body), HEAD
  answered without a body;
- a connection cap per listener: at the cap, the connection that has waited longest
  (``EVICT_AFTER`` seconds at least) for a request head is closed to make room, else
  the new one is answered 503 at once, before a byte is read;
- a deadline for each request head (``head_timeout``), counted from the connection or
  the previous answer, so a client that sends its headers a byte at a time is cut off
  (slowloris), plus a per-read deadline for bodies that the handler gives;
- malformed requests and oversized headers answered with a JSON 400/431, never HTML.

The event loop only moves bytes: a slow client costs a coroutine, not a thread. Until
the handler reads a body, uvicorn holds at most about 64 KiB of it (one socket read
past that pauses reading), so a request refused on its headers costs little memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import socket
import threading
import time
import wsgiref.headers
from collections.abc import Callable, Iterator
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http import h11_impl

log = logging.getLogger("syncer.server")

SKIP_UNREAD = 64 * 1024
"""Bytes of an unread body (refused on its headers) read and dropped to keep the
connection; longer or chunked rests close it instead."""
LINGER = 2.0
"""Seconds a refused connection stays half-closed, so its 503 is read, not reset."""
EVICT_AFTER = 1.0
"""Seconds a connection must have waited for a request head before a new connection
at the cap may take its place."""
SHUTDOWN_GRACE = 5.0
"""Seconds ``stop()`` lets answers in flight finish before it cancels them."""


class BodyTimeout(Exception):
    """The client sent no body bytes for the handler's read deadline."""


class ClientGone(Exception):
    """The client closed the connection before its body was read."""


class Body:
    """A request body, read from a handler thread as the client sends it."""

    def __init__(
        self, *, receive: Callable[[], Any], loop: asyncio.AbstractEventLoop, length: int | None
    ) -> None:
        self._receive = receive
        self._loop = loop
        self.length = length
        """The declared Content-Length; None when chunked (unknown until read)."""
        self.received = 0
        self.complete = length == 0
        """Whether the whole body has reached the handler."""
        self.first: dict[str, Any] | None = None
        """What the event loop already received (a short body, before the handler ran)."""

    def chunks(self, *, timeout: float) -> Iterator[bytes]:
        """The body's bytes as they arrive; ``BodyTimeout`` when none come for
        ``timeout`` seconds, ``ClientGone`` when the client hangs up."""
        while not self.complete:
            message, self.first = self.first or self._next(timeout=timeout), None
            if message["type"] == "http.disconnect":
                raise ClientGone("the client closed the connection")
            self.complete = not message.get("more_body", False)
            data: bytes = message.get("body", b"")
            self.received += len(data)
            yield data

    def _next(self, *, timeout: float) -> dict[str, Any]:
        future = asyncio.run_coroutine_threadsafe(self._receive(), self._loop)
        try:
            message: dict[str, Any] = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError as err:
            future.cancel()
            raise BodyTimeout(f"no body bytes for {timeout:g} s") from err
        return message

    def left_unread(self) -> int | None:
        """Bytes the client will still send that nobody read; None when unknown."""
        if self.complete:
            return 0
        return None if self.length is None else self.length - self.received


@dataclasses.dataclass
class Request:
    listener: str
    """Which listener it came in on (a key of ``Transport``'s ``listeners``)."""
    method: str
    path: str
    """The percent-decoded path, without the query."""
    target: str
    """The path and query as the client sent them (for relaying)."""
    query_string: str
    headers: wsgiref.headers.Headers
    """Case-insensitive ``get``; ``items()`` as sent."""
    client: str
    body: Body


@dataclasses.dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    close: bool = False
    """End the connection after this answer (part of the body is unread, or bad framing)."""


Handler = Callable[[Request], Response]


@dataclasses.dataclass(frozen=True)
class Listener:
    """One listening socket and how its requests are served."""

    name: str
    setting: str
    """The config key it comes from, for errors (``server.listen``)."""
    host: str
    port: int
    max_connections: int
    threads: int
    """Handler threads: requests beyond wait (in the event loop, holding no thread)."""


def _json(body: Any) -> bytes:
    return (json.dumps(body) + "\n").encode()


def _canned(status: int, reason: str, message: str, *extra: str) -> bytes:
    """A whole JSON answer for the protocol to write on its own (then close)."""
    body = _json({"error": message})
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


_BUSY = _canned(503, "Service Unavailable", "too many connections; retry", "Retry-After: 1")


def _protocol(
    *, listener: Listener, head_timeout: float, max_header_bytes: int
) -> type[h11_impl.H11Protocol]:
    """uvicorn's h11 protocol with this listener's connection cap, request-head deadline
    and JSON errors."""
    too_large = _canned(
        431, "Request Header Fields Too Large", f"headers over {max_header_bytes} bytes"
    )
    timed_out = _canned(408, "Request Timeout", f"no complete request head in {head_timeout:g} s")

    class Protocol(h11_impl.H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _waiting_since = 0.0
        _refused = False
        _served = False
        """At least one request of this connection has been answered."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # Headers and body go out in two writes; with Nagle's algorithm the second
            # waits for the client's delayed ACK (~40 ms per request). asyncio sets
            # TCP_NODELAY itself only on sockets it created.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(self.connections) > listener.max_connections and not self._make_room():
                log.warning(
                    "msg=too many connections; refusing listener=%s client=%s",
                    listener.name, self.client[0] if self.client else "",
                )  # fmt: skip
                self._refuse()
                return
            self._arm()

        def _refuse(self) -> None:
            self._refused = True
            self.connections.discard(self)  # it holds no place while it lingers
            self.transport.write(_BUSY)
            # Closed with the request unread, the socket would be reset and the 503
            # could be lost: half-close, drop what comes, close once the client has
            # read it (its EOF) or after a moment.
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER, self.transport.close)

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def _arm(self) -> None:
            self._disarm()
            self._waiting_since = self.loop.time()
            self._deadline = self.loop.call_later(head_timeout, self._head_overdue)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _waiting(self) -> bool:
            """No request of this connection is being read or answered: it waits for
            (the rest of) the next request head."""
            return self.conn.their_state is h11.IDLE and not self.transport.is_closing()

        def _head_overdue(self) -> None:
            self._deadline = None
            # A request being read or answered is the handler's to time out.
            if self._waiting():
                self._drop()

        def _drop(self) -> None:
            if self.conn.trailing_data[0]:  # part of a head came: say why it ends
                self.transport.write(timed_out)
            self.transport.close()

        def _make_room(self) -> bool:
            """At the cap: close the connection that has waited longest for a request
            head, if it has waited ``EVICT_AFTER`` seconds and sent something (an idle
            keep-alive, or a client trickling its head in), so slow clients cannot hold
            every place. A connection that sent nothing yet may only be waiting for
            the event loop to read it: the head deadline deals with silent ones."""
            now = self.loop.time()
            waiting = [
                other
                for other in self.connections
                if isinstance(other, Protocol) and other is not self and other._waiting()
                and (other._served or other.conn.trailing_data[0])
                and now - other._waiting_since >= EVICT_AFTER
            ]  # fmt: skip
            if not waiting:
                return False
            oldest = min(waiting, key=lambda other: other._waiting_since)
            oldest._disarm()
            oldest._drop()
            # It leaves the set once its transport has closed (connection_lost).
            self.connections.discard(oldest)
            return True

        def on_response_complete(self) -> None:
            self._served = True
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            # h11 refuses a head over its size limit like any malformed request.
            if len(self.conn.trailing_data[0]) > max_header_bytes:
                self.transport.write(too_large)
            else:
                self.transport.write(_canned(400, "Bad Request", "malformed HTTP request"))
            self.transport.close()

    return Protocol


class Transport:
    """Serves ``listeners`` from one event loop in a background thread."""

    def __init__(
        self,
        *,
        listeners: list[Listener],
        handler: Handler,
        head_timeout: float,
        keep_alive: float,
        max_header_bytes: int,
    ) -> None:
        self.listeners = listeners
        self._handler = handler
        self._head_timeout = head_timeout
        self._keep_alive = keep_alive
        self._max_header_bytes = max_header_bytes
        self._sockets: list[socket.socket] = []
        self._servers: list[uvicorn.Server] = []
        self._pools: list[concurrent.futures.ThreadPoolExecutor] = []
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def bind(self) -> list[tuple[str, int]]:
        """Open every listening socket (so a taken port fails here, in the caller's
        thread); the bound (host, port) of each, in order. Raises ``BindError``."""
        bound = []
        for listener in self.listeners:
            family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((listener.host, listener.port))
                sock.listen(1024)
            except OSError as err:
                sock.close()
                self.close_sockets()
                raise BindError(listener, err) from err
            sock.setblocking(False)
            self._sockets.append(sock)
            host, port = sock.getsockname()[:2]
            bound.append((str(host), int(port)))
        return bound

    def close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def start(self) -> None:
        """Serve the bound sockets from a background thread; returns once they accept."""
        self._pools = [
            concurrent.futures.ThreadPoolExecutor(
                max_workers=listener.threads, thread_name_prefix=f"syncer-{listener.name}"
            )
            for listener in self.listeners
        ]
        self._servers = [
            uvicorn.Server(self._config(listener, pool))
            for listener, pool in zip(self.listeners, self._pools, strict=True)
        ]
        self._thread = threading.Thread(target=self._run, name="syncer-http", daemon=True)
        self._thread.start()
        while not all(server.started for server in self._servers):
            if not self._thread.is_alive():
                raise RuntimeError(f"the HTTP server did not start: {self._failure}")
            time.sleep(0.01)

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=SHUTDOWN_GRACE + 5)
            self._thread = None
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        self.close_sockets()

    def _run(self) -> None:
        async def serve() -> None:
            await asyncio.gather(
                *(
                    server.serve(sockets=[sock])
                    for server, sock in zip(self._servers, self._sockets, strict=True)
                )
            )

        try:
            asyncio.run(serve())
        except BaseException as err:  # a thread's death must be told, not printed
            self._failure = err
            log.error("msg=HTTP server stopped unexpectedly error=%s", err)

    def _config(
        self, listener: Listener, pool: concurrent.futures.ThreadPoolExecutor
    ) -> uvicorn.Config:
        return uvicorn.Config(
            self._asgi(listener, pool),
            http=_protocol(
                listener=listener,
                head_timeout=self._head_timeout,
                max_header_bytes=self._max_header_bytes,
            ),
            loop="asyncio",
            interface="asgi3",
            lifespan="off",
            # Nobody proxies for the controller's ports unless the operator says so,
            # and uvicorn's own logging set-up would replace syncer's.
            proxy_headers=False,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=max(1, round(self._keep_alive)),
            timeout_graceful_shutdown=round(SHUTDOWN_GRACE),
            h11_max_incomplete_event_size=self._max_header_bytes,
        )

    def _asgi(self, listener: Listener, pool: concurrent.futures.ThreadPoolExecutor) -> Any:
        handler, max_header_bytes = self._handler, self._max_header_bytes

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            loop = asyncio.get_running_loop()
            request = _request(listener=listener.name, scope=scope, receive=receive, loop=loop)
            started = time.monotonic()
            if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > max_header_bytes:
                # h11 caps a head that arrives in pieces; one that came whole in a
                # single read is measured here.
                message = {"error": f"headers over {max_header_bytes} bytes"}
                response = Response(431, _json(message), close=True)
            else:
                _prefetch(request, receive=receive)
                response = await loop.run_in_executor(pool, handler, request)
            unread = request.body.left_unread()
            given = {name.lower() for name in response.headers}
            # API answers are never cached; a response may say otherwise (the UI's files).
            headers = [] if "cache-control" in given else [(b"cache-control", b"no-store")]
            if response.status not in (204, 304):
                headers += [
                    (b"content-type", response.content_type.encode("latin-1")),
                    (b"content-length", str(len(response.body)).encode()),
                ]
            headers += [
                (name.lower().encode(), value.encode("latin-1"))
                for name, value in response.headers.items()
            ]
            if response.close or unread is None or unread > SKIP_UNREAD:
                # h11 skips what is left of a short declared body to keep the
                # connection; a long or unknown rest would cost more than reconnecting.
                headers.append((b"connection", b"close"))
            await send({"type": "http.response.start", "status": response.status,
                        "headers": headers})  # fmt: skip
            await send({"type": "http.response.body", "body": response.body})
            log.debug(
                "msg=request listener=%s method=%s path=%s status=%d client=%s ms=%.1f",
                listener.name, request.method, request.path, response.status, request.client,
                (time.monotonic() - started) * 1000,
            )  # fmt: skip

        return app


def _prefetch(request: Request, *, receive: Any) -> None:
    """For a short body (at most ``SKIP_UNREAD``, which uvicorn holds before anyone
    reads it anyway) that has already come, take it on the event loop, so the handler
    thread need not ask the loop for it (a hop between threads costs a wake-up, and
    many under load). Nothing is waited for: a body still on its way is the handler's
    to read once the headers have passed."""
    length = request.body.length
    if length is None or not 0 < length <= SKIP_UNREAD or request.headers.get("Expect"):
        return
    pending = receive()
    try:
        # Runs receive() up to its first wait: done at once when the body is here.
        pending.send(None)
    except StopIteration as done:
        request.body.first = done.value
    else:
        pending.close()  # it would wait: leave the body unread


class BindError(Exception):
    """A listener's address could not be bound."""

    def __init__(self, listener: Listener, err: OSError) -> None:
        where = f"{listener.setting} {listener.host}:{listener.port}"
        super().__init__(f"{where}: {err.strerror or err}")
        self.listener = listener


def _request(
    *, listener: str, scope: dict[str, Any], receive: Any, loop: asyncio.AbstractEventLoop
) -> Request:
    headers = wsgiref.headers.Headers(
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    )
    raw_path = scope["raw_path"].decode("latin-1")
    query_string = scope["query_string"].decode("latin-1")
    length = headers.get("Content-Length")
    chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
    # h11 has already refused a malformed or conflicting Content-Length.
    declared = None if chunked else int(length or 0)
    client = scope.get("client") or ("", 0)
    return Request(
        listener=listener,
        method=scope["method"],
        path=scope["path"],
        target=raw_path + (f"?{query_string}" if query_string else ""),
        query_string=query_string,
        headers=headers,
        client=str(client[0]),
        body=Body(receive=receive, loop=loop, length=declared),
    )
