"""A hard time limit for one HTTP exchange, connection included, headers and body alike.

``registry.transport`` arms a ``Watch`` around each request it sends and mounts
``adapter()`` on its session. ``requests``' timeouts bound each socket read, not the
exchange: a server that drips one byte per second, in its headers or its body, never
trips them. When a watch expires it shuts down the socket of the connection in use, so
the read blocked on it returns at once and ``requests`` raises; the transport then
sees ``Watch.fired`` and reports the deadline instead of a dropped connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool

_current = threading.local()
"""The watch of the exchange this thread is sending, if any."""


GRACE = 0.25
"""Seconds the watch waits past its time, so that a server silent for the whole time
meets ``requests``' own read timeout first (the clearer message)."""


class Watch:
    """Armed for ``seconds``; on expiry, shuts down the connection in use."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._connection: Any = None
        self._timer = threading.Timer(max(0.0, seconds) + GRACE, self._fire)
        self._timer.daemon = True
        self._started = time.monotonic()

    def __enter__(self) -> Watch:
        _current.watch = self
        self._started = time.monotonic()
        self._timer.start()
        return self

    def left(self) -> float:
        """Seconds until the watch fires (at least a millisecond: a timeout of 0 is none)."""
        return max(0.001, self.seconds - (time.monotonic() - self._started))

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.watch = None

    def attach(self, connection: Any) -> None:
        """The exchange now uses ``connection`` (a redirect or a retry may change it)."""
        with self._lock:
            self._connection = connection
            fired = self.fired
        if fired:
            _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            connection = self._connection
        if connection is not None:
            _shut(connection)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        # Shutting down (not closing) wakes a read blocked in another thread.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _attach(connection: Any) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(connection)


class _Watched:
    """Connection behaviour: every use is claimed by the thread's current watch."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        # Kept-alive connections skip connect(): claim the connection on every request.
        _attach(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def adapter() -> requests.adapters.HTTPAdapter:
    """A ``requests`` adapter whose connections a ``Watch`` can cut."""
    return _Adapter()
