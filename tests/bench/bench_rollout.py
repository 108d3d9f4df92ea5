"""Benchmark: big rollouts through ``syncer run`` at its shipped defaults.

Run: ``python -m tests.bench.bench_rollout [--apps 1000]``.

1. First rollout: APPS new apps (a Deployment and a ConfigMap each, in a namespace of
   their own) on 3 clusters, from the start of ``syncer run`` until every app is
   applied (its ConfigMap on every cluster), and until every Deployment is available.
2. One commit changing every app: APPS other apps on 2 clusters, rolled out first, then
   one commit that changes each app's ConfigMap and pod template; from the commit to
   every app applied on both clusters, and to every Deployment rolled over and
   available.

With the times, the CPU seconds each kind of process used during the first rollout:
the clusters' apiservers, etcd and controller-managers, and this process (syncer, the
test kubelets and the benchmark's watches), which all share the machine's cores.

Everything is real and on 127.0.0.1: one Git repository served over smart HTTP
(``tests/servers/git_http``), three test clusters (``tests/kubecluster``: etcd,
kube-apiserver, kube-controller-manager, and the fake kubelet that makes a pod Ready
after ``--workload-delay``), and ``syncer run`` in this process with no ``settings``
(so ``settings.workers``, ``clusters[].qps`` and the rest are the shipped defaults,
printed with the figures). The Git poll interval is 1h: the commit is picked up by
running the source's poll job at once, as a push webhook does. The controller-manager's
own client limits are raised (``--controller-qps``, printed) so that the clusters'
Deployment and ReplicaSet controllers, not syncer, are not what is measured; at their
defaults (20 requests/s) they need minutes to create 1,000 ReplicaSets and pods.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from syncer import memory, threads
from syncer.apply import parallel
from syncer.config import model
from tests import bench
from tests.kubecluster import cluster as kube_cluster
from tests.kubecluster import kubeconfig
from tests.servers import git_http, git_repo, syncer_run

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {bench/version: "%(version)s"}
    spec:
      containers:
        - name: main
          image: registry.example.com/web:1.0.0
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {VERSION: "%(version)s"}
"""


def app_files(prefix: str, apps: int, version: int) -> dict[str, str]:
    return {f"apps/{prefix}-{n:04d}/all.yaml": MANIFEST % {"version": version} for n in range(apps)}


def config(
    base: Path, *, name: str, repo_url: str, kube: Path, clusters: list[str], apps: int
) -> Path:
    """A config of APPS apps from one repository on ``clusters``; no ``settings``."""
    data = {
        "sources": [{"name": name, "git": {"url": repo_url, "branch": "main", "interval": "1h"}}],
        "clusters": [{"name": c, "kubeconfig": str(kube), "context": c} for c in clusters],
        "apps": [
            {
                "name": f"{name}-{n:04d}",
                "source": name,
                "path": f"apps/{name}-{n:04d}",
                "namespace": f"{name}-{n:04d}",
                "clusters": clusters,
            }
            for n in range(apps)
        ],
        "server": {"listen": "127.0.0.1:0"},
        "state": {"path": str(base / f"state-{name}.db")},
    }
    path = base / f"syncer-{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Progress:
    """Counts, on each cluster, the apps whose ConfigMap holds ``version`` (applied) and
    whose Deployment runs it, rolled over and available (ready). It follows both kinds
    by watch: polling LISTs of every object twice a second loaded the apiservers (and
    this process) under measurement with work that grew with the apps."""

    def __init__(self, clusters: list[kube_cluster.RealCluster], *, prefix: str) -> None:
        self.clusters = clusters
        self.prefix = prefix
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._versions: dict[str, dict[str, str]] = {c.name: {} for c in clusters}
        """cluster -> namespace/name -> the VERSION its ConfigMap holds."""
        self._ready: dict[str, dict[str, str]] = {c.name: {} for c in clusters}
        """cluster -> namespace/name -> the version its Deployment runs, available."""
        for c in clusters:
            c.follow("v1", "ConfigMap", functools.partial(self._config_map, c.name),
                     stop=self._stop)  # fmt: skip
            c.follow("apps/v1", "Deployment", functools.partial(self._deployment, c.name),
                     stop=self._stop)  # fmt: skip

    def close(self) -> None:
        self._stop.set()

    def _key(self, obj: dict[str, Any]) -> str | None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or ""
        return f"{namespace}/{meta['name']}" if namespace.startswith(self.prefix) else None

    def _config_map(self, cluster: str, event: str, obj: dict[str, Any]) -> None:
        key = self._key(obj)
        if key is None:
            return
        with self._lock:
            if event == "DELETED":
                self._versions[cluster].pop(key, None)
            else:
                self._versions[cluster][key] = str((obj.get("data") or {}).get("VERSION"))

    def _deployment(self, cluster: str, event: str, obj: dict[str, Any]) -> None:
        key = self._key(obj)
        if key is None:
            return
        version = _available_version(obj)
        with self._lock:
            if event == "DELETED" or version is None:
                self._ready[cluster].pop(key, None)
            else:
                self._ready[cluster][key] = version

    def times(
        self, version: int, *, since: float, goal: int, timeout: float
    ) -> tuple[float, float]:
        """Seconds from ``since`` until every app is applied, and until every app is ready."""
        until(lambda: self.applied(version), goal=goal, timeout=timeout,
              what=f"version {version} applied")  # fmt: skip
        applied = time.monotonic() - since
        until(lambda: self.ready(version), goal=goal, timeout=timeout,
              what=f"version {version} available")  # fmt: skip
        return applied, time.monotonic() - since

    def applied(self, version: int) -> int:
        with self._lock:
            return min(
                sum(1 for v in self._versions[c.name].values() if v == str(version))
                for c in self.clusters
            )

    def ready(self, version: int) -> int:
        with self._lock:
            return min(
                sum(1 for v in self._ready[c.name].values() if v == str(version))
                for c in self.clusters
            )


def _available_version(deployment: dict[str, Any]) -> str | None:
    """The version a Deployment runs once rolled over and available, else None."""
    meta, spec = deployment["metadata"], deployment["spec"]
    status = deployment.get("status") or {}
    annotations = spec["template"]["metadata"].get("annotations") or {}
    if (
        status.get("observedGeneration") == meta["generation"]
        and status.get("updatedReplicas") == status.get("availableReplicas") == 1
        and not status.get("unavailableReplicas")
    ):
        return str(annotations.get("bench/version"))
    return None


def until(count: Callable[[], int], *, goal: int, timeout: float, what: str) -> float:
    """Seconds (from the call) until ``count()`` reaches ``goal``; polls every 0.5 s."""
    start = time.monotonic()
    while (found := count()) < goal:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s: {what}: {found} of {goal}")
        time.sleep(0.5)
    return time.monotonic() - start


def prepare(
    lab: Lab, *, name: str, clusters: list[kube_cluster.RealCluster], apps: int
) -> tuple[Progress, git_repo.BareRepo, Path]:
    """A repository of APPS apps at version 1, their config, and a way to count them."""
    repo = lab.git.create_repo(name, app_files(name, apps, 1))
    path = config(lab.base, name=name, repo_url=lab.git.url_for(repo), kube=lab.kubeconfig,
                  clusters=[c.name for c in clusters], apps=apps)  # fmt: skip
    return Progress(clusters, prefix=f"{name}-"), repo, path


class Lab:
    def __init__(self, base: Path, *, workload_delay: float, controller_qps: int) -> None:
        self.base = base
        self.git = git_http.GitHTTPServer(root=base / "git")
        limits = (f"--kube-api-qps={controller_qps}", f"--kube-api-burst={controller_qps * 2}")
        self.clusters = [
            kube_cluster.RealCluster(
                name, workload_delay=workload_delay, controller_args=limits
            ).start()
            for name in ("one", "two", "three")
        ]
        self.kubeconfig = kubeconfig.write(
            base / "kubeconfig",
            [kubeconfig.Entry(c.name, c.api_url, c.token) for c in self.clusters],
        )

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far: by the clusters' processes, per binary (all clusters),
        and by this process (syncer, the test kubelets and the benchmark's watches)."""
        used: dict[str, float] = {}
        for c in self.clusters:
            for binary, seconds in c.cpu_seconds().items():
                used[binary] = used.get(binary, 0.0) + seconds
        used["this process"] = time.process_time()
        return used

    def close(self) -> None:
        for c in self.clusters:
            c.close()
        self.git.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--workload-delay", type=float, default=0.5)
    parser.add_argument("--controller-qps", type=int, default=500)
    args = parser.parse_args()
    # As `syncer run` does first (the lab's threads in this process share both).
    memory.limit_arenas()
    threads.shorten_switches()
    apps = args.apps
    timeout = 900.0
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        lab = Lab(Path(tmp), workload_delay=args.workload_delay,
                  controller_qps=args.controller_qps)  # fmt: skip
        try:
            # 1. First rollout on 3 clusters.
            progress, _, path = prepare(lab, name="first", clusters=lab.clusters, apps=apps)
            used = lab.cpu_seconds()
            start = time.monotonic()  # from the start of `syncer run`
            with syncer_run.serve(path, stop_timeout=120):
                applied, ready = progress.times(1, since=start, goal=apps, timeout=timeout)
                used = {k: v - used.get(k, 0.0) for k, v in lab.cpu_seconds().items()}
            progress.close()
            rows.append((f"first rollout, {apps} apps x 3 clusters: all applied", applied))
            rows.append((f"first rollout, {apps} apps x 3 clusters: all available", ready))
            # 2. One commit changing every app, on 2 clusters.
            two = lab.clusters[:2]
            progress, repo, path = prepare(lab, name="change", clusters=two, apps=apps)
            with syncer_run.serve(path, stop_timeout=120) as ctl:
                setup = until(lambda: progress.ready(1), goal=apps, timeout=timeout,
                              what="rollout before the commit")  # fmt: skip
                rows.append((f"(first rollout, {apps} apps x 2 clusters, available)", setup))
                ctl.wait_idle(timeout)
                repo.commit(app_files("change", apps, 2), message="change every app")
                start = time.monotonic()
                ctl._jobs.trigger([j for j in ctl._jobs.ids() if j.startswith("git:")])
                applied, ready = progress.times(2, since=start, goal=apps, timeout=timeout)
            progress.close()
            rows.append((f"one commit changing {apps} apps on 2 clusters: all applied", applied))
            rows.append((f"one commit changing {apps} apps on 2 clusters: all available", ready))
        finally:
            lab.close()
    settings, cluster = model.Settings(), model.Cluster(name="defaults")
    print(
        f"syncer run at shipped defaults: settings.workers {settings.workers}, clusters[].qps "
        f"{bench.qps_text(cluster.qps)}, {parallel.PARALLELISM} requests at once per app; "
        f"{os.cpu_count()} cpus; pods Ready {args.workload_delay:g} s after they are bound; "
        f"controller-manager --kube-api-qps {args.controller_qps}"
    )
    for label, seconds in rows:
        print(f"  {label:<62}{seconds:>8.1f} s")
    print("CPU seconds used during the first rollout, until all available:")
    for name, seconds in sorted(used.items(), key=lambda item: -item[1]):
        print(f"  {name:<62}{seconds:>8.1f} s")


if __name__ == "__main__":
    bench.stop_on_sigterm()
    main()
