"""Benchmark: syncer's first apply of 1,000 objects (200 apps x 5) beside ``kubectl apply
--server-side`` on the same manifests, and syncer's no-change re-apply.

Run: ``python -m tests.bench.bench_apply [--apps 200] [--runs 3]``. It boots two real
clusters (tests/kubecluster: etcd, kube-apiserver, kube-controller-manager), one for
syncer and one for kubectl, so neither sees the other's objects, and talks to each
apiserver directly (not through the tests' fault proxy). Each run applies a new copy of
the manifests (into new namespaces) with both, one after the other, taking turns at
going first, so both see the same load on the machine. Printed per phase: the least
and the median wall time of the runs, requests, writes and the CPU seconds of the
apiserver, etcd and the client (syncer's process, or kubectl) of the fastest run; and,
from those, the least wall time that CPU allows on this machine's cores. syncer's
requests are counted by its client; kubectl's from its ``-v=6`` log. syncer runs as
``syncer run`` does at its shipped defaults (``settings.workers`` apps at once in one
read round, the default client rate limit ``clusters[].qps`` and parallel requests; all
printed with the figures).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import functools
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from syncer import apply
from syncer.apply import parallel
from syncer.config import model
from tests import bench, binaries
from tests.kubecluster import cluster as kubecluster
from tests.kubecluster import kubeconfig

KINDS_PER_APP = 5
NAMESPACES = 10


def app_objects(index: int, *, run: int = 0) -> list[dict[str, Any]]:
    """Five objects of one app: ServiceAccount, ConfigMap, Secret, Service, Deployment
    (in the namespaces of ``run``)."""
    name, ns = f"app-{index:03d}", namespace(index % NAMESPACES, run=run)
    labels = {"app": name}
    meta = {"name": name, "namespace": ns}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": dict(meta),
            "data": {"LOG_LEVEL": "info", "INDEX": str(index)},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": dict(meta),
            "type": "Opaque",
            "data": {"token": "c2VjcmV0"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": dict(meta),
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": dict(meta),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "containers": [
                            {
                                "name": "app",
                                "image": f"registry.example.com/{name}:1.0",
                                "ports": [{"containerPort": 8080}],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "0.5", "memory": "128Mi"},
                                },
                            }
                        ],
                    },
                },
            },
        },
    ]


def namespace(index: int, *, run: int) -> str:
    return f"bench-{run}-{index}"


def start_cluster(workdir: Path, name: str) -> tuple[kubecluster.RealCluster, Path]:
    """A real cluster and a kubeconfig naming its apiserver itself (no proxy)."""
    try:
        cluster = kubecluster.RealCluster(name).start()
    except kubecluster.BuildMissing as exc:
        raise SystemExit(str(exc)) from exc
    path = kubeconfig.write(
        workdir / f"{name}.kubeconfig", [kubeconfig.Entry(name, cluster.api_url, cluster.token)]
    )
    return cluster, path


def kubectl(kubeconfig: Path, cache: Path, *args: str) -> tuple[float, int, int]:
    """Run kubectl with -v=6; (seconds, requests, writes) as its log reports them."""
    command = [
        binaries.find("kubectl") or "kubectl",
        "--kubeconfig",
        str(kubeconfig),
        "--cache-dir",
        str(cache),
        "-v=6",
        *args,
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"kubectl failed: {proc.stderr[-2000:]}")
    verbs = re.findall(r'verb="(\w+)"', proc.stderr) or re.findall(
        r"\] (GET|POST|PUT|PATCH|DELETE) https?://", proc.stderr
    )
    return elapsed, len(verbs), sum(1 for verb in verbs if verb != "GET")


def run_syncer(
    client: apply.ClusterClient,
    apps: list[list[dict[str, Any]]],
    inventories: dict[int, list[apply.ObjectRef]],
    *,
    run: int,
    workers: int,
) -> tuple[float, int, int]:
    """Sync every app, ``workers`` apps at once in one read round, as a pass of the
    controller's queue does."""
    options = model.SyncOptions(create_namespace=False)
    gate = model.GatewayPolicy(
        allowed_namespaces=tuple(namespace(i, run=run) for i in range(NAMESPACES))
    )

    def one(index: int) -> None:
        result = apply.sync(
            client,
            app_name=f"app-{index:03d}",
            objects=copy.deepcopy(apps[index]),
            options=options,
            gateway_policy=gate,
            namespace=namespace(index % NAMESPACES, run=run),
            previous_inventory=inventories.get(index, []),
        )
        inventories[index] = result.inventory

    requests0, writes0 = client.stats.snapshot()
    start = time.perf_counter()
    with apply.read_round(client), concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(len(apps))))
    elapsed = time.perf_counter() - start
    requests1, writes1 = client.stats.snapshot()
    return elapsed, requests1 - requests0, writes1 - writes0


Figures = tuple[float, int, int, float, float, float]
"""Seconds, requests, writes, and the CPU seconds of the apiserver, etcd and the client."""


def own_cpu() -> float:
    """CPU seconds of this process (syncer's client, all threads)."""
    return time.process_time()


def children_cpu() -> float:
    """CPU seconds of the finished child processes (each ``kubectl``)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def measured(
    cluster: kubecluster.RealCluster,
    work: Callable[[], tuple[float, int, int]],
    client_cpu: Callable[[], float],
) -> Figures:
    """``work``'s figures and the CPU seconds the cluster's apiserver and etcd, and the
    client, spent meanwhile."""
    before, client_before = cluster.cpu_seconds(), client_cpu()
    seconds, requests, writes = work()
    after, client = cluster.cpu_seconds(), client_cpu() - client_before
    spent = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in ("kube-apiserver", "etcd")}
    return seconds, requests, writes, spent["kube-apiserver"], spent["etcd"], client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    total = args.apps * KINDS_PER_APP
    rows: dict[str, list[Figures]] = {}
    workers = model.Settings().workers
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        servers = [start_cluster(workdir, name) for name in ("syncer", "kubectl")]
        try:
            (ours, ours_path), (theirs, theirs_path) = servers
            cache = workdir / "kube-cache"
            shipped = model.Cluster(name="bench", kubeconfig=str(ours_path))
            defaults = (
                f"workers {workers}, qps {bench.qps_text(shipped.qps)}, "
                f"{parallel.PARALLELISM} requests at once per app"
            )
            first, kube_first = f"syncer: first apply ({defaults})", "kubectl: first apply"
            inventories: dict[int, list[apply.ObjectRef]] = {}
            client = apply.connect(shipped)
            for run in range(args.runs):
                apps = [app_objects(index, run=run) for index in range(args.apps)]
                for path in (ours_path, theirs_path):
                    for ns in range(NAMESPACES):
                        kubectl(path, cache, "create", "namespace", namespace(ns, run=run))
                manifests = workdir / f"manifests-{run}"
                manifests.mkdir()
                for index, objects in enumerate(apps):
                    (manifests / f"app-{index:03d}.yaml").write_text(
                        yaml.safe_dump_all(objects, sort_keys=False)
                    )
                apply_args = ("apply", "--server-side", "-R", "-f", str(manifests))
                # A restarted controller each run: cold discovery, no memory of applies.
                client = apply.connect(shipped)
                inventories = {}
                ours_first = functools.partial(
                    run_syncer, client, apps, inventories, run=run, workers=workers
                )
                theirs_first = functools.partial(kubectl, theirs_path, cache, *apply_args)
                turns = [
                    (first, ours, ours_first, own_cpu),
                    (kube_first, theirs, theirs_first, children_cpu),
                ]
                for label, server, work, cpu in turns if run % 2 == 0 else reversed(turns):
                    rows.setdefault(label, []).append(measured(server, work, cpu))
                rows.setdefault("syncer: re-apply, no change (one round)", []).append(
                    measured(ours, functools.partial(
                        run_syncer, client, apps, inventories, run=run, workers=workers
                    ), own_cpu)
                )  # fmt: skip
                rows.setdefault("kubectl: re-apply, no change", []).append(
                    measured(theirs, theirs_first, children_cpu)
                )
        finally:
            for server, _ in servers:
                server.close()
    print(
        f"{args.apps} apps x {KINDS_PER_APP} objects = {total} objects, {args.runs} runs "
        f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)"
    )
    print(
        f"{'phase':<72}{'min s':>8}{'median s':>10}{'requests':>10}{'writes':>8}"
        f"{'CPU s: apiserver':>18}{'etcd':>6}{'client':>8}"
    )
    for label, figures in rows.items():
        best = min(figures)
        median = statistics.median(f[0] for f in figures)
        print(
            f"{label:<72}{best[0]:>8.2f}{median:>10.2f}{best[1]:>10}{best[2]:>8}"
            f"{best[3]:>18.1f}{best[4]:>6.1f}{best[5]:>8.1f}"
        )
    ratio = min(rows[kube_first])[0] / min(rows[first])[0]
    print(f"first apply, kubectl time / syncer time (min of runs): {ratio:.2f}")
    medians = statistics.median(f[0] for f in rows[kube_first]) / statistics.median(
        f[0] for f in rows[first]
    )
    print(f"first apply, kubectl time / syncer time (median of runs): {medians:.2f}")
    for label in (first, kube_first):
        print(f"{label}, each run: " + ", ".join(f"{f[0]:.2f} s" for f in rows[label]))
    cores = os.cpu_count() or 1
    for label in (first, kube_first):
        best = min(rows[label])
        needed = sum(best[3:])
        print(
            f"{label.split(':')[0]}: the fastest first apply needed {needed:.1f} CPU seconds "
            f"(apiserver, etcd, client): at least {needed / cores:.2f} s on {cores} cores"
        )


if __name__ == "__main__":
    bench.stop_on_sigterm()
    main()
