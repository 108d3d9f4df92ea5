"""Benchmark: push-to-redeploy latency, and the steady-state cost of one poll cycle.

Run: ``python -m tests.bench.bench_controller [--pushes 20] [--apps 200] [--repos 20]``.

1. Latency: a token-auth ``docker-registry`` notifies syncer's webhook on every push;
   the time from the end of ``push`` to "both clusters run the new digest, ready" is
   measured over N pushes of a new tag (poll intervals are 1h, so only the webhook
   can make it happen). Prints p50/p95/max.
2. Poll cycle: APPS apps spread over REPOS Git repositories and REPOS image
   repositories, each app on two clusters. After the first rollout, every poll job
   (one per Git repository, one per image repository) is run once with nothing
   changed; the Git server, the registry and the clusters count the requests they
   serve. Prints Git ls-remote/fetch, registry requests, cluster requests and writes,
   CPU seconds and peak RSS of the controller process.
3. State store (``--state sqlite|kubernetes``): the same poll cycle, then two drift
   checks of every app (each app reconciled, nothing to change; the first records the
   outcome after the rollout, the second is the steady state), with the state in the
   SQLite file or in Secrets of the "staging" cluster (``state.kubernetes``).
   Prints the state store's Kubernetes API requests (by verb) and bytes sent and
   received, per app per cycle, counted by its client in this process.

Everything runs on 127.0.0.1: real Git (smart HTTP), real registry, two
real test clusters (``tests/kubecluster``), the controller in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from syncer import controller
from tests import bench
from tests.kubecluster import cluster as kube_cluster
from tests.kubecluster import kubeconfig
from tests.servers import git_http, images, registry_fixtures, registry_process, syncer_run

TOKEN = "bench-webhook-token"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: %(app)s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %(app)s}}
  template:
    metadata: {labels: {app: %(app)s}}
    spec:
      containers:
        - name: main
          image: %(image)s:1.0.0
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: %(app)s-config}
data: {APP: %(app)s}
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Lab:
    """A registry, a Git server and two clusters under one temporary directory."""

    def __init__(self, base: Path, *, port: int) -> None:
        self.base = base
        self.registries = registry_fixtures.RegistryFactory(base / "registry")
        self.registry = self.registries.start(
            "token",
            notifications=[
                {
                    "url": f"http://127.0.0.1:{port}/webhooks/distribution",
                    "headers": {"Authorization": [f"Bearer {TOKEN}"]},
                }
            ],
        )
        self.git = git_http.GitHTTPServer(root=base / "git", auth=("bench", "bench-pass"))
        self.clusters = [
            kube_cluster.RealCluster(name, workload_delay=0.02).start()
            for name in ("staging", "prod")
        ]
        self.kubeconfig = kubeconfig.write(
            base / "kubeconfig",
            [kubeconfig.Entry(c.name, c.url, c.token) for c in self.clusters],
        )
        os.environ.update(
            GIT_USER="bench",
            GIT_TOKEN="bench-pass",
            REGISTRY_USER=self.registry.username,
            REGISTRY_PASSWORD=self.registry.password,
            REGISTRY_WEBHOOK_TOKEN=TOKEN,
        )

    def close(self) -> None:
        for c in self.clusters:
            c.close()
        self.git.stop()
        self.registries.stop_all()

    def config(
        self, *, apps: list[dict[str, Any]], repos: list[Any], port: int, state: str = "sqlite"
    ) -> Path:
        data = {
            "sources": [
                {
                    "name": f"repo{i}",
                    "git": {
                        "url": repo.url,
                        "branch": "main",
                        "interval": "1h",
                        "auth": {"usernameFrom": "env:GIT_USER", "passwordFrom": "env:GIT_TOKEN"},
                    },
                }
                for i, repo in enumerate(repos)
            ],
            "registries": [
                {
                    "host": self.registry.host,
                    "auth": {
                        "usernameFrom": "env:REGISTRY_USER",
                        "passwordFrom": "env:REGISTRY_PASSWORD",
                    },
                }
            ],
            "clusters": [
                {"name": c.name, "kubeconfig": str(self.kubeconfig), "context": c.name}
                for c in self.clusters
            ],
            "apps": apps,
            "server": {
                "listen": "127.0.0.1:0",
                "webhookListen": f"127.0.0.1:{port}",
                "webhooks": {"registry": "env:REGISTRY_WEBHOOK_TOKEN"},
            },
            "state": {"path": str(self.base / f"state-{len(apps)}-{state}.db")},
            "settings": {"workers": 8},
        }
        if state == "kubernetes":
            namespace = f"syncer-state-{len(apps)}"
            self.clusters[0].put(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
            data["state"]["kubernetes"] = {"cluster": "staging", "namespace": namespace}
        path = self.base / f"syncer-{len(apps)}-{state}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def image(self, c: Any, app: str) -> str:
        obj = c.get("apps/v1", "Deployment", app, namespace=app)
        return str(obj["spec"]["template"]["spec"]["containers"][0]["image"]) if obj else ""

    def ready(self, c: Any, app: str) -> bool:
        obj = c.get("apps/v1", "Deployment", app, namespace=app)
        status = (obj or {}).get("status") or {}
        return bool(obj) and status.get("observedGeneration") == obj["metadata"][
            "generation"
        ] and status.get("availableReplicas") == 1  # fmt: skip

    def runs(self, app: str, ref: str) -> bool:
        return all(self.image(c, app) == ref and self.ready(c, app) for c in self.clusters)


def app_entry(*, name: str, source: str, repository: str, interval: str) -> dict[str, Any]:
    return {
        "name": name,
        "source": source,
        "path": f"apps/{name}",
        "namespace": name,
        "clusters": ["staging", "prod"],
        "images": [{"repository": repository, "policy": {"semver": "^1.0"}, "interval": interval}],
        "sync": {"wait": "30s", "driftInterval": "1h"},
    }


def running(path: Path) -> contextlib.AbstractContextManager[controller.Controller]:
    return syncer_run.serve(path, stop_timeout=60)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bench_latency(lab: Lab, *, pushes: int, port: int) -> None:
    repo = lab.git.create_repo(
        "latency",
        {"apps/web/web.yaml": DEPLOYMENT % {"app": "web", "image": f"{lab.registry.host}/web"}},
    )
    images.push_image(lab.registry, "web", tags=["1.0.0"])
    app = app_entry(name="web", source="repo0", repository=f"{lab.registry.host}/web",
                    interval="1h")  # fmt: skip
    path = lab.config(apps=[app], repos=[repo], port=port)
    with running(path):
        wait_until(lambda: all(lab.ready(c, "web") for c in lab.clusters), timeout=60,
                   what="first rollout")  # fmt: skip
        latencies = []
        for n in range(1, pushes + 1):
            tag = f"1.0.{n}"
            pushed = images.push_image(lab.registry, "web", tags=[tag])
            started = time.monotonic()
            ref = f"{lab.registry.host}/web:{tag}@{pushed.digest}"
            wait_until(lambda ref=ref: lab.runs("web", ref), timeout=60, what=f"web {tag}")
            latencies.append(time.monotonic() - started)
    print(f"push-to-redeploy (registry webhook -> 2 clusters applied and healthy), "
          f"{pushes} pushes:")  # fmt: skip
    print(f"  p50 {statistics.median(latencies) * 1000:7.0f} ms")
    print(f"  p95 {percentile(latencies, 0.95) * 1000:7.0f} ms")
    print(f"  max {max(latencies) * 1000:7.0f} ms")


class StateMeter:
    """Counts the Kubernetes API requests and bytes of a ``KubeStore``'s client."""

    def __init__(self, store: Any) -> None:
        self.requests: dict[str, int] = {}
        self.sent = self.received = 0
        self.client = getattr(getattr(store, "objects", None), "client", None)
        if self.client is None:
            return  # SQLite: no API requests at all
        send = self.client._send

        def counting(method: str, path: str, body: Any, *args: Any) -> Any:
            status, headers, data = send(method, path, body, *args)
            self.requests[method] = self.requests.get(method, 0) + 1
            self.sent += len(json.dumps(body)) if body is not None else 0
            self.received += len(data)
            return status, headers, data

        self.client._send = counting

    def reset(self) -> None:
        self.requests, self.sent, self.received = {}, 0, 0

    def report(self, *, what: str, apps: int) -> None:
        total = sum(self.requests.values())
        verbs = ", ".join(f"{v} {n}" for v, n in sorted(self.requests.items())) or "none"
        print(f"  {what}:")
        print(f"    state API requests         {total:8d}  ({verbs})")
        print(f"    per app                    {total / apps:8.2f}")
        print(f"    bytes sent / received      {self.sent:8d} / {self.received}")
        print(
            f"    per app                    {self.sent / apps:8.0f} / {self.received / apps:.0f}"
        )


def app_repos(
    lab: Lab,
    *,
    apps: int,
    repos: int,
    entry: Callable[..., dict[str, Any]],
    manifest: str = DEPLOYMENT,
) -> tuple[list[dict[str, Any]], list[Any]]:
    """APPS apps (``manifest``: a Deployment and a ConfigMap each by default) spread over
    REPOS Git repositories and as many image repositories: the config entries
    (``entry(name=, source=, repository=)``) and the repositories."""
    per_repo = max(1, apps // repos)
    git_repos = []
    entries = []
    for r in range(repos):
        image_repo = f"team{r}/svc"
        images.push_image(lab.registry, image_repo, tags=["1.0.0"])
        files = {}
        for a in range(per_repo):
            name = f"app-{r}-{a}"
            files[f"apps/{name}/all.yaml"] = manifest % {
                "app": name,
                "image": f"{lab.registry.host}/{image_repo}",
            }
            entries.append(
                entry(name=name, source=f"repo{r}", repository=f"{lab.registry.host}/{image_repo}")
            )
        git_repos.append(lab.git.create_repo(f"repo{r}", files))
    return entries, git_repos


def bench_poll_cycle(lab: Lab, *, apps: int, repos: int, port: int, state: str = "sqlite") -> None:
    entries, git_repos = app_repos(
        lab, apps=apps, repos=repos, entry=functools.partial(app_entry, interval="1h")
    )
    path = lab.config(apps=entries, repos=git_repos, port=port, state=state)
    started = time.monotonic()
    with running(path) as ctl:
        meter = StateMeter(ctl.store)
        names = [e["name"] for e in entries]

        def all_healthy() -> bool:
            # Read syncer's own records (cheap); the clusters are checked once after.
            for n in names:
                deployed = ctl.store.deployments(n)
                if len(deployed) != 2 or not all(d.healthy for d in deployed):
                    return False
            return True

        wait_until(
            lambda: all_healthy() and ctl.wait_idle(0.1),
            timeout=900,
            what="first rollout of every app",
        )
        first = time.monotonic() - started
        missing = [n for n in names if not all(lab.ready(c, n) for c in lab.clusters)]
        if missing:
            raise SystemExit(f"recorded healthy but not ready in the clusters: {missing[:5]}")
        time.sleep(0.5)
        lab.git.reset_counts()
        registry_before = len(lab.registry.served())
        for c in lab.clusters:
            c.request_log.clear()
        cpu0 = time.process_time()
        wall0 = time.monotonic()
        meter.reset()
        jobs = ctl._jobs  # the controller's poll jobs: run each exactly once, now
        ids = [j for j in jobs.ids() if j.startswith(("git:", "image:"))]
        jobs.trigger(ids)
        time.sleep(0.3)
        wait_until(lambda: ctl.wait_idle(0.1) and not jobs._running, timeout=300,
                   what="the poll cycle")  # fmt: skip
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        registry_requests = len(lab.registry.served()) - registry_before
        cluster_requests = sum(len(c.request_log) for c in lab.clusters)
        cluster_writes = sum(c.request_log.writes() for c in lab.clusters)
        poll_meter = (dict(meter.requests), meter.sent, meter.received)
        # A drift check of every app, twice: each reconciled with nothing to change. The
        # first records each app's new outcome ("up to date" after "applied to ...");
        # the second finds the same again (the steady state).
        drift = [j for j in jobs.ids() if j.startswith("drift:")]
        drifts = []
        for _ in range(2):
            meter.reset()
            drift0 = time.monotonic()
            jobs.trigger(drift)
            time.sleep(0.3)
            wait_until(lambda: ctl.wait_idle(0.1) and not jobs._running, timeout=600,
                       what="the drift checks")  # fmt: skip
            drifts.append((time.monotonic() - drift0, dict(meter.requests), meter.sent,
                           meter.received))  # fmt: skip
        print(f"\nstate store ({state}), {apps} apps:")
        meter.requests, meter.sent, meter.received = poll_meter
        meter.report(what="poll cycle, nothing changed", apps=apps)
        for what, (drift_wall, *drift_meter) in zip(("first", "second"), drifts, strict=True):
            meter.requests, meter.sent, meter.received = drift_meter
            meter.report(
                what=f"{what} drift check of every app after the rollout ({drift_wall:.1f} s)",
                apps=apps,
            )
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npoll cycle, nothing changed: {apps} apps, {repos} Git repositories, "
          f"{repos} image repositories, 2 clusters:")  # fmt: skip
    print(f"  first rollout of all apps   {first:8.1f} s (for scale)")
    print(f"  poll jobs run               {len(ids):8d}")
    git_total = sum(lab.git.counts.values())
    print(f"  git ls-remote (ls-refs)     {lab.git.count('ls-refs'):8d}")
    print(f"  git fetch                   {lab.git.count('fetch'):8d}")
    print(f"  git HTTP requests (all)     {git_total:8d}")
    print(f"  registry requests           {registry_requests:8d}")
    print(f"  cluster requests            {cluster_requests:8d}")
    print(f"  cluster writes              {cluster_writes:8d}")
    print(f"  wall time                   {wall:8.2f} s")
    print(f"  CPU time (this process)    {cpu:8.2f} s")
    print(f"  peak RSS (whole process)    {rss_mib:8.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-poll", action="store_true")
    parser.add_argument(
        "--state",
        choices=("sqlite", "kubernetes", "both"),
        default="sqlite",
        help="where the poll cycle keeps its state (both: one run each)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    registry_process.free_port()  # fail early when the registry binary is missing
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as tmp:
        port = free_port()
        lab = Lab(Path(tmp), port=port)
        try:
            if not args.skip_latency:
                bench_latency(lab, pushes=args.pushes, port=port)
            if not args.skip_poll:
                for state in ("sqlite", "kubernetes") if args.state == "both" else (args.state,):
                    bench_poll_cycle(lab, apps=args.apps, repos=args.repos, port=port, state=state)
        finally:
            lab.close()


if __name__ == "__main__":
    bench.stop_on_sigterm()
    main()
