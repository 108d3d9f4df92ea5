"""Benchmark: syncer's apply of 1,000 objects (200 apps x 5) and its no-change re-apply,
side by side with ``kubectl apply --server-side`` on the same manifests.

Run: ``python -m tests.bench.bench_apply [--apps 200]``. It boots two real clusters
(tests/kubecluster: etcd, kube-apiserver, kube-controller-manager), one for syncer and
one for kubectl, so neither sees the other's objects, talks to each apiserver directly
(not through the tests' fault proxy), and prints wall time, requests and writes per
phase. syncer's requests are counted by its client; kubectl's from its ``-v=6`` log.
syncer runs as ``syncer run`` does at its shipped defaults (``settings.workers`` apps at
once, one read round, the default client rate limit, printed beside the figure), and,
on a third cluster, one app at a time with the rate limit off.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import copy
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from syncer import apply
from syncer.config import model
from tests import binaries
from tests.kubecluster import cluster as kubecluster
from tests.kubecluster import kubeconfig

KINDS_PER_APP = 5
NAMESPACES = 10


def app_objects(index: int) -> list[dict[str, Any]]:
    """Five objects of one app: ServiceAccount, ConfigMap, Secret, Service, Deployment."""
    name, ns = f"app-{index:03d}", f"bench-{index % NAMESPACES}"
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
    workers: int = 1,
    round_: bool = False,
) -> tuple[float, int, int]:
    """Sync every app; ``workers`` apps at once as the controller's queue does, and with
    ``round_`` the ownership reads served by one read round as in a controller pass."""
    options = model.SyncOptions(create_namespace=False)
    gate = model.GatewayPolicy(allowed_namespaces=tuple(f"bench-{i}" for i in range(NAMESPACES)))

    def one(index: int) -> None:
        result = apply.sync(
            client,
            app_name=f"app-{index:03d}",
            objects=copy.deepcopy(apps[index]),
            options=options,
            gateway_policy=gate,
            namespace=f"bench-{index % NAMESPACES}",
            previous_inventory=inventories.get(index, []),
        )
        inventories[index] = result.inventory

    requests0, writes0 = client.stats.snapshot()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if round_:
            stack.enter_context(apply.read_round(client))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(len(apps))))
    elapsed = time.perf_counter() - start
    requests1, writes1 = client.stats.snapshot()
    return elapsed, requests1 - requests0, writes1 - writes0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=200)
    args = parser.parse_args()
    apps = [app_objects(index) for index in range(args.apps)]
    total = sum(len(objects) for objects in apps)
    rows: list[tuple[str, float, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        servers = [
            start_cluster(workdir, name) for name in ("syncer", "kubectl", "syncer-one-by-one")
        ]
        try:
            ours, theirs, one_by_one = (path for _, path in servers)
            cache = workdir / "kube-cache"
            for path in (ours, theirs, one_by_one):
                for ns in range(NAMESPACES):
                    kubectl(path, cache, "create", "namespace", f"bench-{ns}")
            # What `syncer run` does at its defaults: settings.workers apps at once, one
            # read round per pass, the shipped client rate limit.
            workers = model.Settings().workers
            shipped = model.Cluster(name="bench", kubeconfig=str(ours))
            client = apply.connect(shipped)
            inventories: dict[int, list[apply.ObjectRef]] = {}
            defaults = f"{workers} workers, qps {shipped.qps:g}"
            rows.append(
                (
                    f"syncer: first apply ({defaults})",
                    *run_syncer(client, apps, inventories, workers=workers, round_=True),
                )
            )
            rows.append(
                (
                    "syncer: re-apply, no change, one round",
                    *run_syncer(client, apps, inventories, workers=workers, round_=True),
                )
            )
            rows.append(
                ("syncer: re-apply, no change, app by app", *run_syncer(client, apps, inventories))
            )
            fresh = apply.connect(shipped)  # a restarted controller: cold caches
            rows.append(
                (
                    "syncer: re-apply, no change, restarted",
                    *run_syncer(fresh, apps, inventories, workers=workers, round_=True),
                )
            )
            unlimited = model.Cluster(name="bench", kubeconfig=str(one_by_one), qps=0)
            rows.append(
                (
                    "syncer: first apply, app by app, no rate limit",
                    *run_syncer(apply.connect(unlimited), apps, {}),
                )
            )

            manifests = workdir / "manifests"
            manifests.mkdir()
            for index, objects in enumerate(apps):
                (manifests / f"app-{index:03d}.yaml").write_text(
                    yaml.safe_dump_all(objects, sort_keys=False)
                )
            apply_args = ("apply", "--server-side", "-R", "-f", str(manifests))
            rows.append(
                ("kubectl apply --server-side: first", *kubectl(theirs, cache, *apply_args))
            )
            rows.append(
                ("kubectl apply --server-side: no change", *kubectl(theirs, cache, *apply_args))
            )
        finally:
            for server, _ in servers:
                server.close()
    print(
        f"{args.apps} apps x {KINDS_PER_APP} objects = {total} objects "
        f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)"
    )
    print(f"{'phase':<44}{'seconds':>9}{'requests':>10}{'writes':>8}{'ms/object':>11}")
    for label, seconds, requests, writes in rows:
        print(f"{label:<44}{seconds:>9.2f}{requests:>10}{writes:>8}{seconds * 1000 / total:>11.2f}")


if __name__ == "__main__":
    main()
