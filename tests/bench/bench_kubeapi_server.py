"""Benchmark of the Kubernetes API test server: ``python -m tests.bench.bench_kubeapi_server``.

Prints per-request latencies (keep-alive HTTPS, one client thread) for the calls syncer's
tests make most: create, get, list, server-side apply, watch delivery, and namespace
deletion with many objects. Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.kubeapi import cluster
from tests.kubeapi.conftest import Api, configmap, deployment


def _timed(label: str, n: int, call: Callable[[int], Any]) -> None:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    median = statistics.median(samples)
    print(f"{label:<44} n={n:<5} median={median:7.2f} ms  p95={p95:7.2f} ms")


def run(objects: int) -> None:
    kube = cluster.KubeCluster("bench", workload_delay=60).start()
    api = Api(kube, kube.token)
    api.call(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}},
    )
    cm = "/api/v1/namespaces/b/configmaps"
    try:
        _timed(
            "POST configmap",
            objects,
            lambda i: api.call("POST", cm, configmap(f"c{i}", {"i": str(i)}, ns="b")),
        )
        _timed("GET configmap", 200, lambda i: api.call("GET", f"{cm}/c{i}"))
        _timed(f"LIST {objects} configmaps", 20, lambda i: api.call("GET", cm))
        _timed(
            "LIST with labelSelector (no match)",
            20,
            lambda i: api.call("GET", cm, labelSelector="x=y"),
        )
        path = "/apis/apps/v1/namespaces/b/deployments"

        def apply(i: int) -> None:
            body = deployment(f"d{i % 50}", ns="b", image=f"nginx:{i}")
            api.call(
                "PATCH",
                f"{path}/d{i % 50}",
                body,
                ctype="application/apply-patch+yaml",
                fieldManager="bench",
            )

        _timed("server-side apply Deployment", 200, apply)
        _timed(
            "strategic merge patch Deployment",
            200,
            lambda i: api.call(
                "PATCH",
                f"{path}/d{i % 50}",
                {"spec": {"replicas": i % 5 + 1}},
                ctype="application/strategic-merge-patch+json",
            ),
        )
        _watch_latency(kube, api)
        started = time.perf_counter()
        api.call("DELETE", "/api/v1/namespaces/b")
        took = (time.perf_counter() - started) * 1000
        label = f"DELETE namespace with {objects + 50} objects"
        print(f"{label:<44} n=1     took={took:9.2f} ms")
    finally:
        kube.close()


def _watch_latency(kube: cluster.KubeCluster, api: Api) -> None:
    session = Api(kube, kube.token).session
    rv = api.call("GET", "/api/v1/namespaces/default/configmaps").json()["metadata"][
        "resourceVersion"
    ]
    resp = session.get(
        f"{kube.url}/api/v1/namespaces/default/configmaps",
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "30"},
        stream=True,
    )
    arrived: list[float] = []
    done = threading.Event()

    def reader() -> None:
        for line in resp.iter_lines():
            if line:
                arrived.append(time.perf_counter())
                if len(arrived) == 50:
                    done.set()
                    return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    sent = []
    for i in range(50):
        sent.append(time.perf_counter())
        api.call("POST", "/api/v1/namespaces/default/configmaps", configmap(f"w{i}", {}))
        while len(arrived) <= i and not done.is_set():
            time.sleep(0.0005)
    done.wait(10)
    lat = sorted((a - s) * 1000 for a, s in zip(arrived, sent, strict=False))
    label = "watch event delivery after POST"
    print(f"{label:<44} n={len(lat):<5} median={statistics.median(lat):7.2f} ms")
    resp.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--objects", type=int, default=1000, help="configmaps to create (default 1000)"
    )
    run(parser.parse_args().objects)


if __name__ == "__main__":
    main()
