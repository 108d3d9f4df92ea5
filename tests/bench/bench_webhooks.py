"""Benchmark: what the HTTP server itself costs per webhook and per /metrics scrape.

Run on demand: ``python -m tests.bench.bench_webhooks``. Prints latency percentiles of
signed GitHub and distribution webhooks against a controller stub that returns at once
(so the figures are the server's own: parsing, HMAC, JSON, handing over to a thread), the
throughput with 8 concurrent senders, and the time and size of a /metrics scrape with
the series of 200 apps x 20 clusters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import prometheus_client
import requests

from syncer import metrics
from syncer.config import model
from syncer.server import http


class Port:
    def __init__(self) -> None:
        self.triggers = 0

    def trigger_git(self, url: str, ref: str | None) -> list[str]:
        self.triggers += 1
        return ["deploy"]

    def trigger_image(self, repository: str, tag: str | None, digest: str | None) -> list[str]:
        self.triggers += 1
        return ["web"]

    def apps_status(self) -> list[dict[str, Any]]:
        return []

    def app_status(self, name: str) -> dict[str, Any] | None:
        return None

    def history(self, app: str, limit: int) -> list[dict[str, Any]]:
        return []

    def releases(self, app: str) -> list[dict[str, Any]]:
        return []

    def plan(self, app: str) -> dict[str, Any]:
        return {}

    def sync_now(self, app: str, *, by: str) -> dict[str, Any]:
        return {}

    def rollback(
        self, app: str, to: str | None, stage: str | None = None, *, by: str
    ) -> dict[str, Any]:
        return {}

    def suspend(self, app: str, stage: str | None, *, by: str) -> dict[str, Any]:
        return {}

    def resume(self, app: str, stage: str | None, *, by: str) -> dict[str, Any]:
        return {}

    def approve(self, app: str, stage: str, *, by: str) -> dict[str, Any]:
        return {}

    def reject(self, app: str, stage: str, *, by: str) -> dict[str, Any]:
        return {}

    def ready(self) -> tuple[bool, str]:
        return True, "ok"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    os.environ["BENCH_GITHUB"] = "s3cret"
    os.environ["BENCH_REGISTRY"] = "tok"
    settings = model.Server(
        listen="127.0.0.1:0",
        webhook_listen="127.0.0.1:0",
        webhooks=model.WebhookSecrets(
            github=model.SecretRef(kind="env", name="BENCH_GITHUB"),
            registry=model.SecretRef(kind="env", name="BENCH_REGISTRY"),
        ),
    )
    port = Port()
    server = http.HttpServer(settings=settings, port=port).start()
    push = {
        "ref": "refs/heads/main",
        "repository": {"clone_url": "https://git.example.com/team/deploy.git"},
        "commits": [{"id": f"{i:040d}", "message": "x" * 200} for i in range(20)],
    }
    github_body = json.dumps(push).encode()
    github_headers = {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": "sha256="
        + hmac.new(b"s3cret", github_body, hashlib.sha256).hexdigest(),
    }
    events = {
        "events": [
            {
                "action": "push",
                "target": {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "repository": "team/web",
                    "digest": "sha256:" + "a" * 64,
                    "tag": "1.0.0",
                },
                "request": {"host": "registry.example.com"},
            }
        ]
    }
    registry_body = json.dumps(events).encode()
    registry_headers = {"Authorization": "Bearer tok"}
    try:
        with requests.Session() as session:
            session.trust_env = False
            for name, path, body, headers in (
                ("github push (3 KB)", "/webhooks/github", github_body, github_headers),
                ("distribution event", "/webhooks/distribution", registry_body, registry_headers),
            ):
                latencies = []
                for _ in range(500):
                    start = time.perf_counter()
                    response = session.post(server.webhook_url + path, data=body, headers=headers)
                    latencies.append(time.perf_counter() - start)
                    assert response.status_code == 202, response.text
                print(
                    f"{name:<24} 500 sequential: p50 {pct(latencies, 0.5):.2f} ms  "
                    f"p95 {pct(latencies, 0.95):.2f} ms  p99 {pct(latencies, 0.99):.2f} ms"
                )

        def send(_: int) -> None:
            with requests.Session() as s:
                s.trust_env = False
                for _ in range(250):
                    r = s.post(
                        server.webhook_url + "/webhooks/github",
                        data=github_body,
                        headers=github_headers,
                    )
                    assert r.status_code == 202

        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, range(8)))
        elapsed = time.perf_counter() - start
        print(
            f"github push, 8 concurrent senders: {2000 / elapsed:.0f} webhooks/s "
            f"(server and clients share this machine's cores)"
        )

        registry = prometheus_client.CollectorRegistry()
        applies = prometheus_client.Counter(
            "x_applies_total", "x", ["app", "cluster", "result"], registry=registry
        )
        duration = prometheus_client.Histogram(
            "x_reconcile_duration_seconds", "x", ["app"], registry=registry,
            buckets=metrics.DURATION_BUCKETS,
        )  # fmt: skip
        for app in range(200):
            duration.labels(app=f"app-{app}").observe(0.3)
            for cluster in range(20):
                applies.labels(app=f"app-{app}", cluster=f"c{cluster}", result="ok").inc()
        for accept in (None, "application/openmetrics-text;version=1.0.0"):
            scrape = []
            for _ in range(20):
                start = time.perf_counter()
                _, body = metrics.exposition(accept, source=registry)
                scrape.append(time.perf_counter() - start)
            series = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
            print(
                f"/metrics ({'OpenMetrics' if accept else 'text 0.0.4'}) with {series} series "
                f"(200 apps x 20 clusters): {statistics.median(scrape) * 1000:.1f} ms to "
                f"render, {len(body) / 1024:.0f} KiB"
            )
        print(f"controller trigger calls: {port.triggers}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
