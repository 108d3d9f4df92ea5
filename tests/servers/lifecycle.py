"""Starting and stopping the test servers: free ports, child processes, HTTP threads.

The process servers (``git_daemon.py``, ``git_ssh.py``, ``registry_process.py``) pick a
free 127.0.0.1 port, start their binary in its own process group and wait until it
accepts connections; the in-process ones (``registry_stub.py``, ``tokenserver.py``,
``git_http.py``) run a stdlib ``ThreadingHTTPServer`` on a daemon thread. Both kinds
stop by themselves when the test's fixture ends.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A port nobody listens on now (another process may still take it before we bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_on_free_port(start: Callable[[int], bool], *, attempts: int = 5) -> int | None:
    """Call ``start(port)`` with a new free port until it returns True; that port, or None.

    Another process may take the port between our probe and the server's bind: retry.
    """
    for _attempt in range(attempts):
        port = free_port()
        if start(port):
            return port
    return None


def wait_listening(proc: subprocess.Popen[bytes], *, port: int, timeout: float = 10) -> bool:
    """True once 127.0.0.1:``port`` accepts connections; False when ``proc`` exits first,
    or when ``timeout`` (seconds) passes, after killing its process group."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return False


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` and every child in its process group: SIGTERM, SIGKILL after 5 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def read_log(path: Path) -> str:
    """A server's log so far ("" before it wrote one)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def serve_http(
    handler: type[http.server.BaseHTTPRequestHandler], *, port: int = 0
) -> http.server.ThreadingHTTPServer:
    """``handler`` served on 127.0.0.1 (a free port unless ``port``) by a daemon thread;
    ``stop_http`` ends it."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return httpd


def stop_http(httpd: http.server.ThreadingHTTPServer) -> None:
    """Stop serving (waits for the serving loop to end) and close the listening socket."""
    httpd.shutdown()
    httpd.server_close()
