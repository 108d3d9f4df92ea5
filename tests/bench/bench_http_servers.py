"""Benchmark: the HTTP transport before and after uvicorn, side by side in one run.

Run on demand: ``python -m tests.bench.bench_http_servers``. Each server runs in its own
process (so its resident memory is its own) behind a controller stub that returns at
once: the stdlib ``ThreadingHTTPServer`` one, read from Git at ``LEGACY`` (the last
commit that had it), and today's ``syncer.server.http``. Against each it prints:

- signed GitHub pushes (3 KB) one at a time: p50/p95 latency;
- 8 keep-alive senders, 2,000 pushes: webhooks/s, and the server's CPU time per push
  (which, unlike latency, other work on the machine does not skew);
- 1,000 clients connecting at once, one push each: how many were served, refused
  (503) or failed, p95 latency, the server's peak RSS;
- 1,000 slow clients sending a request head a byte a second for 20 s, while one client
  sends a push and a probe every 0.2 s: how many of those were answered, their p95
  latency, how many slow connections the server had cut off by the end, RSS;
- HEAD, OPTIONS and a chunked push: the status each answers.

Clients and server share this machine's cores, so absolute figures are low; the two
servers are measured the same way, one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from syncer.config import model
from syncer.server import http
from tests.bench.bench_webhooks import Port

LEGACY = "b27adb7"
"""The last commit whose ``syncer/server/http.py`` ran on the stdlib's http.server."""
ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret"
PUSH = json.dumps(
    {
        "ref": "refs/heads/main",
        "repository": {"clone_url": "https://git.example.com/team/deploy.git"},
        "commits": [{"id": f"{i:040d}", "message": "x" * 120} for i in range(20)],
    }
).encode()
SIGNATURE = "sha256=" + hmac.new(SECRET.encode(), PUSH, hashlib.sha256).hexdigest()
HEADERS = {"X-GitHub-Event": "push", "X-Hub-Signature-256": SIGNATURE}


def legacy_module() -> types.ModuleType:
    """The stdlib-based server module as it was at ``LEGACY``."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{LEGACY}:syncer/server/http.py"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("legacy_http")
    exec(compile(source, f"{LEGACY}:syncer/server/http.py", "exec"), module.__dict__)
    return module


def serve(which: str) -> None:
    """Child process: start one server, print its URLs, serve until stdin closes."""
    os.environ["BENCH_GITHUB"] = SECRET
    settings = model.Server(
        listen="127.0.0.1:0",
        webhook_listen="127.0.0.1:0",
        webhooks=model.WebhookSecrets(github=model.SecretRef(kind="env", name="BENCH_GITHUB")),
    )
    module: Any = legacy_module() if which == "stdlib" else http
    server = module.HttpServer(settings=settings, port=Port()).start()
    print(json.dumps({"api": server.url, "webhooks": getattr(server, "webhook_url", server.url)}))
    sys.stdout.flush()
    sys.stdin.read()
    server.stop()


class Child:
    def __init__(self, which: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_http_servers", "serve", which],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, cwd=ROOT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        urls = json.loads(self.proc.stdout.readline())
        self.api, self.webhooks = urls["api"], urls["webhooks"]

    def rss(self, field: str = "VmRSS") -> float:
        """MiB of the server process's ``field`` (VmRSS now, VmHWM peak)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
        assert match
        return int(match.group(1)) / 1024

    def cpu(self) -> float:
        """CPU seconds the server process has used (user + system): unlike latency, not
        skewed by other work on the machine."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def request_bytes(host: str, path: str) -> bytes:
    head = [
        f"POST {path} HTTP/1.1", f"Host: {host}", "X-GitHub-Event: push",
        f"X-Hub-Signature-256: {SIGNATURE}", f"Content-Length: {len(PUSH)}", "Connection: close",
    ]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode() + PUSH


async def one_push(host: str, port: int) -> tuple[str, float]:
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        writer.write(request_bytes(host, "/webhooks/github"))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 60)
        writer.close()
    except (OSError, TimeoutError) as err:
        return type(err).__name__, time.perf_counter() - start
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "no answer"
    return status, time.perf_counter() - start


def thousand_at_once(child: Child) -> dict[str, Any]:
    host, port = child.webhooks.removeprefix("http://").rsplit(":", 1)

    async def run() -> list[tuple[str, float]]:
        return await asyncio.gather(*(one_push(host, int(port)) for _ in range(1000)))

    start = time.perf_counter()
    results = asyncio.run(run())
    elapsed = time.perf_counter() - start
    counts: dict[str, int] = {}
    for status, _ in results:
        counts[status] = counts.get(status, 0) + 1
    served = [t for status, t in results if status == "202"]
    return {
        "counts": counts,
        "p95": pct(served, 0.95),
        "elapsed": elapsed,
        "hwm": child.rss("VmHWM"),
    }


def slow_clients(child: Child, *, count: int = 1000, seconds: float = 20.0) -> dict[str, Any]:
    host, port = child.api.removeprefix("http://").rsplit(":", 1)
    hook_host, hook_port = child.webhooks.removeprefix("http://").rsplit(":", 1)
    slow: list[socket.socket] = []
    refused = 0
    for _ in range(count):
        try:
            sock = socket.create_connection((hook_host, int(hook_port)), timeout=5)
            sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        except OSError:
            refused += 1
    latencies: list[float] = []
    answered = attempts = 0
    deadline = time.monotonic() + seconds
    next_byte = time.monotonic() + 1.0
    with requests.Session() as session:
        session.trust_env = False
        while time.monotonic() < deadline:
            for url, data, headers in (
                (f"{child.webhooks}/webhooks/github", PUSH, HEADERS),
                (f"http://{host}:{port}/healthz", None, {}),
            ):
                attempts += 1
                start = time.perf_counter()
                try:
                    if data is None:
                        ok = session.get(url, timeout=5).status_code == 200
                    else:
                        ok = (
                            session.post(url, data=data, headers=headers, timeout=5).status_code
                            == 202
                        )
                except requests.RequestException:
                    ok = False
                if ok:
                    answered += 1
                    latencies.append(time.perf_counter() - start)
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X")
            time.sleep(0.2)
    cut = 0
    for sock in slow:
        sock.setblocking(False)
        try:
            cut += sock.recv(1024) is not None  # an answer or EOF: the server let go
        except BlockingIOError:
            pass  # still open, waiting for the rest of the head
        except OSError:
            cut += 1
        sock.close()
    return {
        "answered": answered, "attempts": attempts, "p95": pct(latencies, 0.95),
        "cut": cut, "opened": len(slow), "refused": refused, "rss": child.rss(),
    }  # fmt: skip


def protocol(child: Child) -> dict[str, str]:
    host, port = child.api.removeprefix("http://").rsplit(":", 1)
    hook_host, hook_port = child.webhooks.removeprefix("http://").rsplit(":", 1)
    chunked_body = f"{len(PUSH):x}\r\n".encode() + PUSH + b"\r\n0\r\n\r\n"
    cases = {
        "HEAD /healthz": (host, port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
        "OPTIONS /api/v1/apps": (host, port, b"OPTIONS /api/v1/apps HTTP/1.1\r\nHost: x\r\n\r\n"),
        "chunked push": (
            hook_host, hook_port,
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
            + f"X-Hub-Signature-256: {SIGNATURE}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n" + chunked_body,
        ),
    }  # fmt: skip
    seen = {}
    for name, (h, p, data) in cases.items():
        with socket.create_connection((h, int(p)), timeout=10) as sock:
            sock.sendall(data)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        head, _, _ = answer.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        kind = next(
            (
                line.split(":", 1)[1].strip()
                for line in lines
                if line.lower().startswith("content-type")
            ),
            "-",
        )
        seen[name] = f"{lines[0].split(' ', 1)[1] if lines[0] else 'no answer'} ({kind})"
    return seen


def measure(which: str) -> dict[str, Any]:
    child = Child(which)
    try:
        idle = child.rss()
        with requests.Session() as session:
            session.trust_env = False
            url = f"{child.webhooks}/webhooks/github"
            for _ in range(50):  # warm up
                session.post(url, data=PUSH, headers=HEADERS)
            latencies = []
            for _ in range(500):
                start = time.perf_counter()
                response = session.post(url, data=PUSH, headers=HEADERS)
                latencies.append(time.perf_counter() - start)
                assert response.status_code == 202, response.text

        def send(_: int) -> None:
            with requests.Session() as s:
                s.trust_env = False
                for _ in range(250):
                    assert s.post(url, data=PUSH, headers=HEADERS).status_code == 202

        start, cpu = time.perf_counter(), child.cpu()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, range(8)))
        rate = 2000 / (time.perf_counter() - start)
        cpu_ms = (child.cpu() - cpu) / 2000 * 1000
        loaded = child.rss()
        burst = thousand_at_once(child)
        slow = slow_clients(child)
        return {
            "p50": pct(latencies, 0.5), "p95": pct(latencies, 0.95), "rate": rate,
            "cpu": cpu_ms,
            "idle": idle, "loaded": loaded, "burst": burst, "slow": slow,
            "protocol": protocol(child),
        }  # fmt: skip
    finally:
        child.close()


def main() -> None:
    results = {which: measure(which) for which in ("stdlib", "uvicorn")}
    print(f"{'':<44}{'stdlib http.server':>22}{'uvicorn (h11)':>22}")

    def row(label: str, value: Any) -> None:
        print(f"{label:<44}{value(results['stdlib']):>22}{value(results['uvicorn']):>22}")

    row("push, sequential: p50 / p95 ms", lambda r: f"{r['p50']:.2f} / {r['p95']:.2f}")
    row("push, 8 keep-alive senders: webhooks/s", lambda r: f"{r['rate']:.0f}")
    row("push: server CPU per webhook (ms)", lambda r: f"{r['cpu']:.2f}")
    row("RSS idle / after 2,500 pushes (MiB)", lambda r: f"{r['idle']:.0f} / {r['loaded']:.0f}")
    row(
        "1,000 at once: answers",
        lambda r: ", ".join(f"{n}x{s}" for s, n in sorted(r["burst"]["counts"].items())),
    )
    row("1,000 at once: p95 of 202s (ms)", lambda r: f"{r['burst']['p95']:.0f}")
    row("1,000 at once: all done in (s)", lambda r: f"{r['burst']['elapsed']:.1f}")
    row("1,000 at once: peak RSS (MiB)", lambda r: f"{r['burst']['hwm']:.0f}")
    row(
        "1,000 slow heads, 20 s: others answered",
        lambda r: f"{r['slow']['answered']}/{r['slow']['attempts']}",
    )
    row("1,000 slow heads: p95 of others (ms)", lambda r: f"{r['slow']['p95']:.1f}")
    row(
        "1,000 slow heads: cut off by the server",
        lambda r: f"{r['slow']['cut']}/{r['slow']['opened']}",
    )
    row("1,000 slow heads: RSS (MiB)", lambda r: f"{r['slow']['rss']:.0f}")
    for name in results["stdlib"]["protocol"]:
        row(name, lambda r, name=name: r["protocol"][name][:21])


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    else:
        main()
