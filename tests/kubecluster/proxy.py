"""A TLS reverse proxy in front of a real kube-apiserver: the cluster's front door.

cluster.py starts one per cluster and writes its URL into the kubeconfig, so every
client request (kubectl, syncer, the Python client) passes through it. It logs each
request (method, path, query, status) for the tests' request counts and fires the faults
of faults.py (latency, error statuses, 429 with Retry-After, dropped
connections, cut watches), so fault tests meet a real apiserver's semantics. Stopping it
is the cluster "going down" for its clients: the listener closes and open connections,
watches included, are cut, while the apiserver and its state live on.

HTTP/1.1 only (ALPN offers nothing else); requests and responses are relayed as bytes,
framed by Content-Length or chunked encoding, over one upstream connection per client
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import ssl
import threading
from collections.abc import Callable
from typing import NamedTuple

from tests.kubecluster import faults as faultlib

MAX_HEAD = 1 << 20
REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Request(NamedTuple):
    method: str
    path: str
    query: str
    status: int


class RequestLog(list[Request]):
    """Every request the front door answered, in order (thread-safe appends)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def record(self, method: str, path: str, query: str, status: int) -> None:
        with self._lock:
            self.append(Request(method, path, query, status))

    def writes(self) -> int:
        """POST/PUT/PATCH/DELETE requests that were not dry runs."""
        return sum(
            1 for r in list(self) if r.method in WRITE_METHODS and "dryRun=All" not in r.query
        )

    def count(  # type: ignore[override]  # counts by method and path, not by item
        self, method: str | None = None, path_contains: str | None = None
    ) -> int:
        return sum(
            1
            for r in list(self)
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
        )


class _Drop(Exception):
    """Close the client connection without an answer."""


class FaultProxy:
    """Listens on 127.0.0.1:port (0 = any), forwards to the apiserver at upstream_port."""

    def __init__(
        self,
        *,
        upstream_port: int,
        server_ssl: ssl.SSLContext,
        upstream_ssl: ssl.SSLContext,
        faults: faultlib.Faults,
        record: Callable[[str, str, str, int], None],
        port: int = 0,
    ) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self._server_ssl = server_ssl
        self._upstream_ssl = upstream_ssl
        self._faults = faults
        self._record = record
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> int:
        """Listen (again, on the same port once one was chosen); returns the port."""
        if self._server is not None:
            return self.port
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name=f"kube-proxy-{self.upstream_port}", daemon=True
            )
            self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self.port

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(
            self._serve_client,
            host="127.0.0.1",
            port=self.port,
            ssl=self._server_ssl,
            reuse_address=True,
            limit=MAX_HEAD,
        )
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._loop is None or self._server is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)

    async def _shutdown(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    def close(self) -> None:
        self.stop()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._loop.close()
            self._loop = None

    # --- one client connection -----------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request = _Head.parse(head)
                body = await _read_body(reader, request)
                upstream, keep = await self._exchange(request, head, body, reader, writer, upstream)
                if not keep:
                    return
        except (
            _Drop,
            asyncio.CancelledError,
            asyncio.IncompleteReadError,  # either side went away mid-message
            asyncio.LimitOverrunError,
            ConnectionError,
            ssl.SSLError,
        ):
            pass
        finally:
            self._tasks.discard(task)
            if upstream is not None:
                _abort(upstream[1])
            _abort(writer)

    async def _exchange(
        self,
        request: _Head,
        head: bytes,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
    ) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, bool]:
        """Answer one request; returns the upstream connection and whether to keep going."""
        path, _, query = request.target.partition("?")
        watching = "watch=true" in query or "watch=1" in query or "/watch/" in path
        cut_after: float | None = None
        drip = 0.0
        for fault in self._faults.pick(method=request.method, path=path, watch=watching):
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "drop":
                self._record(request.method, path, query, 0)
                raise _Drop()
            elif fault.kind == "status":
                reason = REASONS.get(fault.status, "InternalError")
                await _answer(writer, fault.status, reason, f"injected fault: HTTP {fault.status}")
                self._record(request.method, path, query, fault.status)
                return upstream, True
            elif fault.kind == "retry_after":
                seconds = math.ceil(fault.seconds)
                await _answer(
                    writer,
                    429,
                    "TooManyRequests",
                    "the server has received too many requests and has asked us to try again later",
                    retry_after=seconds,
                )
                self._record(request.method, path, query, 429)
                return upstream, True
            elif fault.kind == "watch_cut":
                cut_after = fault.seconds
            elif fault.kind == "drip":
                drip = fault.seconds
        if upstream is None:
            upstream = await asyncio.open_connection(
                "127.0.0.1",
                self.upstream_port,
                ssl=self._upstream_ssl,
                server_hostname="127.0.0.1",
                limit=MAX_HEAD,
            )
        up_reader, up_writer = upstream
        up_writer.write(head + body)
        await up_writer.drain()
        response_head = await up_reader.readuntil(b"\r\n\r\n")
        response = _Head.parse(response_head)
        self._record(request.method, path, query, response.status)
        writer.write(response_head)
        if drip and response.status != 101:
            # The whole answer, then one byte at a time: a server that never stalls
            # long enough for a read timeout, yet never finishes.
            body = await _read_body(up_reader, response)
            for index in range(len(body)):
                writer.write(body[index : index + 1])
                await writer.drain()
                await asyncio.sleep(drip)
            return upstream, not (request.closes or response.closes)
        relay = _relay_body(up_reader, writer, response, method=request.method)
        if cut_after is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(relay, timeout=cut_after)
            return upstream, False
        await relay
        if response.status == 101:  # an upgraded stream: pipe both ways until one side ends
            await _pipe_both(reader=reader, writer=writer, upstream=upstream)
            return upstream, False
        keep = not (request.closes or response.closes)
        return upstream, keep


class _Head:
    """The start line and headers of a request or a response."""

    def __init__(self, start: str, headers: dict[str, str]) -> None:
        self.start = start
        self.headers = headers

    @classmethod
    def parse(cls, raw: bytes) -> _Head:
        lines = raw.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return cls(lines[0], headers)

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0].upper()

    @property
    def target(self) -> str:
        parts = self.start.split(" ")
        return parts[1] if len(parts) > 1 else "/"

    @property
    def status(self) -> int:
        parts = self.start.split(" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


async def _read_body(reader: asyncio.StreamReader, head: _Head) -> bytes:
    """A request body as raw bytes (framing kept), to forward unchanged."""
    if head.chunked:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            parts.append(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)
    length = int(head.headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


async def _relay_body(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, head: _Head, *, method: str
) -> None:
    """Copy a response body as it arrives (watches stream for minutes)."""
    if method == "HEAD" or head.status in (101, 204, 304) or 100 <= head.status < 200:
        await sink.drain()
        return
    if head.chunked:
        while True:
            size_line = await source.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            sink.write(size_line + await source.readexactly(size + 2))
            await sink.drain()
            if size == 0:
                return
    if "content-length" in head.headers:
        left = int(head.headers["content-length"])
        while left > 0:
            chunk = await source.read(min(left, 1 << 16))
            if not chunk:
                raise ConnectionError("upstream closed mid-body")
            sink.write(chunk)
            left -= len(chunk)
        await sink.drain()
        return
    while chunk := await source.read(1 << 16):  # close-delimited
        sink.write(chunk)
        await sink.drain()
    raise ConnectionError("close-delimited body ended")


async def _pipe_both(
    *,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """An upgraded connection (exec, port-forward, websockets): bytes both ways until one ends."""

    async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while chunk := await source.read(1 << 16):
            sink.write(chunk)
            await sink.drain()

    up_reader, up_writer = upstream
    tasks = [
        asyncio.ensure_future(copy(reader, up_writer)),
        asyncio.ensure_future(copy(up_reader, writer)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _answer(
    writer: asyncio.StreamWriter,
    code: int,
    reason: str,
    message: str,
    *,
    retry_after: int | None = None,
) -> None:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    headers = ["Content-Type: application/json"]
    if retry_after is not None:
        status["details"] = {"retryAfterSeconds": retry_after}
        headers.append(f"Retry-After: {retry_after}")
    body = json.dumps(status).encode()
    head = f"HTTP/1.1 {code} {reason}\r\n" + "".join(f"{h}\r\n" for h in headers)
    head += f"Content-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.transport.abort()
