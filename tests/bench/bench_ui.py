"""Benchmark: the web UI's apps list with 1,000 apps, in headless Chromium.

Run on demand: ``python -m tests.bench.bench_ui`` (after ``tests/setup``). The real HTTP
server serves the UI and the API, in front of a controller stub whose ``apps_status``
answers 1,000 apps of three clusters each (two images, a pipeline, a hold on every
tenth app). Printed:

- the ``/api/v1/apps`` answer's size and the server's time to answer it;
- load: from navigation to the list showing "1000 of 1000 apps" (median of 5);
- rows in the DOM (only those in view are rendered);
- a search narrowing the list: from the keystroke to the new count;
- a jump to the end of the list: until the last app's row is shown.

Figures depend on the machine and what else runs on it; nothing is asserted.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import requests

from syncer.config import model
from syncer.server import http
from tests.bench.bench_webhooks import Port
from tests.ui.browser import Browser

APPS = 1000
TOKEN = "bench-token"


def summary(i: int) -> dict[str, Any]:
    name = f"app-{i:04d}"
    commit = f"{i:08x}" * 5
    clusters = [
        {"cluster": c, "release": f"{i:012x}", "healthy": i % 17 != 0,
         "health": "Healthy" if i % 17 else "Degraded", "commit": commit,
         "images": [f"registry.example.com/team/{name}:1.{i % 9}.{i % 5}@sha256:{'ab' * 32}",
                    f"registry.example.com/team/{name}-worker:2.0.{i % 7}"],
         "lastAppliedAt": "2026-01-01T00:00:00Z"}
        for c in ("dev", "staging", "prod")
    ]  # fmt: skip
    return {
        "name": name, "status": "Healthy" if i % 17 else "Degraded",
        "sync": "Synced" if i % 5 else "OutOfSync", "release": f"{i:012x}",
        "releases": [f"{i:012x}"], "healthy": i % 17 != 0, "clusters": clusters,
        "lastAttemptAt": None, "lastSuccessAt": None, "message": "", "errors": [],
        "waiting": [], "warnings": [],
        "stages": [{"name": s, "phase": "done", "message": "", "gates": [],
                    "clusters": [{"name": s, "release": f"{i:012x}", "state": "healthy",
                                  "running": f"{i:012x}", "current": True}]}
                   for s in ("dev", "staging", "prod")],
        "holds": [{"stage": "prod", "kind": "suspend", "release": "", "by": "ops",
                   "at": "2026-01-01T00:00:00Z", "message": "suspended by ops"}]
        if i % 10 == 0 else [],
    }  # fmt: skip


class ManyApps(Port):
    def __init__(self) -> None:
        super().__init__()
        self.apps = [summary(i) for i in range(APPS)]

    def apps_status(self) -> list[dict[str, Any]]:
        return self.apps


def main() -> None:
    settings = model.Server(
        listen="127.0.0.1:0",
        webhook_listen="127.0.0.1:0",
        users=(model.ApiUser(name="vera", role="viewer", token=model.SecretRef("env", "BENCH")),),
    )
    server = http.HttpServer(
        settings=settings, port=ManyApps(), resolve_secret=lambda ref: TOKEN
    ).start()
    browser = Browser()
    try:
        url = f"{server.url}/"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        started = time.perf_counter()
        answer = requests.get(f"{url}api/v1/apps", headers=auth, timeout=30)
        took = (time.perf_counter() - started) * 1000
        size = len(answer.content) / 1024
        print(f"GET /api/v1/apps, {APPS} apps: {size:.0f} KiB in {took:.0f} ms")

        browser.login(url, TOKEN)
        loads = [
            browser.do("timing", url=f"{url}#/apps", selector=f'text="{APPS} of {APPS} apps"')
            for _ in range(5)
        ]
        print(f"load to {APPS} apps listed: median {statistics.median(loads):.0f} ms "
              f"(runs: {', '.join(str(t) for t in loads)})")  # fmt: skip
        rows = browser.do("count", selector="tbody tr[data-app]")
        print(f"rows in the DOM: {rows} of {APPS}")

        started = time.perf_counter()
        browser.fill('input[type="search"]', "app-09")
        browser.wait_text("[data-testid=count]", f"100 of {APPS} apps")
        print(f"search narrowing to 100 apps: {(time.perf_counter() - started) * 1000:.0f} ms")
        browser.fill('input[type="search"]', "")

        started = time.perf_counter()
        browser.do("evaluate", script="document.querySelector('.scroller').scrollTop = 1e9")
        browser.do("wait", selector=f'tr[data-app="app-{APPS - 1:04d}"]')
        print(f"jump to the last row: {(time.perf_counter() - started) * 1000:.0f} ms")
    finally:
        browser.close()
        server.stop()


if __name__ == "__main__":
    main()
