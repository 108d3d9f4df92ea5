"""``python -m tests.kubeapi serve --port PORT --kubeconfig PATH [--clusters N]``.

Starts N real test clusters (tests/kubecluster: etcd, kube-apiserver,
kube-controller-manager, a fake kubelet) whose front doors listen on PORT, PORT+1, …,
writes one kubeconfig with a context per cluster (kube-0, kube-1, …) and serves until
interrupted (Ctrl-C, SIGTERM), then stops every process it started.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.kubecluster import cluster, kubeconfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubeapi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve test clusters until interrupted")
    serve.add_argument(
        "--port", type=int, required=True, help="port of the first cluster (0 = any free port)"
    )
    serve.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig")
    serve.add_argument("--clusters", type=int, default=1, help="number of clusters (default 1)")
    serve.add_argument(
        "--workload-delay", type=float, default=0.2, help="seconds before a pod turns Ready"
    )
    serve.add_argument(
        "--progress-deadline",
        type=float,
        default=None,
        help="accepted for old scripts; a real Deployment's deadline is its own "
        "spec.progressDeadlineSeconds",
    )
    serve.add_argument(
        "--fail-image", action="append", default=[], help="image substring that never becomes ready"
    )
    args = parser.parse_args(argv)
    if args.clusters < 1:
        parser.error("--clusters must be at least 1")
    if args.progress_deadline is not None:
        print(
            "note: --progress-deadline has no effect on real clusters: "
            "set spec.progressDeadlineSeconds on the Deployment",
            file=sys.stderr,
        )
    clusters: list[cluster.RealCluster] = []
    try:
        for i in range(args.clusters):
            c = cluster.RealCluster(
                f"kube-{i}",
                port=args.port + i if args.port else 0,
                workload_delay=args.workload_delay,
            )
            for image in args.fail_image:
                c.fail_image(image)
            clusters.append(c)
            c.start()
    except (cluster.BuildMissing, OSError, RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        for c in clusters:
            c.close()
        return 1
    path = kubeconfig.write(
        args.kubeconfig, [kubeconfig.Entry(c.name, c.url, c.token) for c in clusters]
    )
    for c in clusters:
        c.kubeconfig = str(path)
        print(
            f"cluster {c.name} serving on {c.url} "
            f"(apiserver {c.api_url}, started in {c.started_in:.1f}s)",
            flush=True,
        )
    print(f"kubeconfig written to {path}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    for c in clusters:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
