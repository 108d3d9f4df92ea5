"""Benchmark: what drift checking costs the clusters in steady state, polled or watched.

Run: ``python -m tests.bench.bench_drift [--apps 1000] [--repos 20] [--window 300]``.

APPS apps (a Deployment and a ConfigMap each, in a namespace of their own) spread over
REPOS Git repositories, on two real test clusters (``tests/kubecluster``), every setting
at its default (``sync.driftInterval`` 5m, ``selfHeal`` off) but for the drift source:

1. ``clusters[].driftSource: poll`` (what syncer did before watches): after the first
   rollout, the clusters' front doors count every request for WINDOW seconds.
2. ``driftSource: watch`` (the default): the controller is restarted on the same state
   (its start-up pass checks every app once, which starts the watches), and once it is
   idle the requests are counted the same way. Then one Deployment is scaled by hand
   (an Update, as ``kubectl scale`` makes) and the time until its drift is recorded in
   history is printed.

Both print cluster requests per minute (all verbs, WATCH requests included), CPU seconds
of this process over the window, and the watch state. Nothing else changes meanwhile,
so every request counted is the cost of drift detection and health re-checks.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests import bench
from tests.bench import bench_controller as lab_mod
from tests.servers import registry_process


def entry(*, name: str, source: str, repository: str) -> dict[str, Any]:
    """An app with every setting at its default."""
    return {
        "name": name, "source": source, "path": f"apps/{name}", "namespace": name,
        "clusters": ["staging", "prod"],
        "images": [{"repository": repository, "policy": {"semver": "^1.0"}}],
    }  # fmt: skip


def with_source(path: Path, source: str) -> Path:
    data = yaml.safe_load(path.read_text())
    data.pop("settings", None)  # every setting at its default
    for cluster in data["clusters"]:
        cluster["driftSource"] = source
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def settle(ctl: Any, names: list[str], *, timeout: float) -> float:
    started = time.monotonic()

    def done() -> bool:
        for n in names:
            deployed = ctl.store.deployments(n)
            if len(deployed) != 2 or not all(d.healthy for d in deployed):
                return False
        return True

    lab_mod.wait_until(lambda: done() and ctl.wait_idle(0.5), timeout=timeout,
                       what="every app deployed, healthy, and the queue idle")  # fmt: skip
    return time.monotonic() - started


def measure(lab: lab_mod.Lab, ctl: Any, *, window: float) -> dict[str, float]:
    for c in lab.clusters:
        c.request_log.clear()
    cpu0 = time.process_time()
    time.sleep(window)
    logs = [list(c.request_log) for c in lab.clusters]
    count = sum(len(log) for log in logs)
    watches = sum(1 for log in logs for r in log if "watch=" in r.query)
    return {
        "per_minute": count * 60.0 / window,
        "watch_per_minute": watches * 60.0 / window,
        "cpu": time.process_time() - cpu0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--window", type=float, default=300.0,
                        help="seconds counted per mode (default: one drift interval)")  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    registry_process.free_port()  # fail early when the registry binary is missing
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        port = lab_mod.free_port()
        lab = lab_mod.Lab(Path(tmp), port=port)
        try:
            apps, repos = lab_mod.app_repos(lab, apps=args.apps, repos=args.repos, entry=entry)
            names = [a["name"] for a in apps]
            path = lab.config(apps=apps, repos=repos, port=port)
            results = {}
            with lab_mod.running(with_source(path, "poll")) as ctl:
                first = settle(ctl, names, timeout=3600)
                results["poll"] = measure(lab, ctl, window=args.window)
            with lab_mod.running(with_source(path, "watch")) as ctl:
                restart = settle(ctl, names, timeout=3600)
                results["watch"] = measure(lab, ctl, window=args.window)
                state = sorted({f"{w['cluster']}/{w['kind']}: {w['state']}"
                                for w in ctl.watch_status()})  # fmt: skip
                victim = names[len(names) // 2]
                before = len([e for e in ctl.store.history(victim, limit=50) if e.kind == "drift"])
                edit = lab.clusters[0].get("apps/v1", "Deployment", victim, namespace=victim)
                edit["spec"]["replicas"] = 3
                lab.clusters[0].put(edit, manager="kubectl-scale")  # as kubectl scale would
                edited = time.monotonic()
                lab_mod.wait_until(
                    lambda: len([e for e in ctl.store.history(victim, limit=50)
                                 if e.kind == "drift"]) > before,
                    timeout=600, what="the drift recorded",
                )  # fmt: skip
                noticed = time.monotonic() - edited
        finally:
            lab.close()
    print(f"drift cost, nothing changing: {args.apps} apps x 2 clusters, defaults "
          f"(driftInterval 5m), {args.window:.0f} s counted per mode")  # fmt: skip
    print(f"  first rollout (poll run)          {first:8.1f} s; restart pass (watch run) "
          f"{restart:.1f} s")  # fmt: skip
    for mode, figures in results.items():
        print(f"  driftSource: {mode:5s}  cluster requests/min {figures['per_minute']:8.1f}"
              f"  (of which WATCH {figures['watch_per_minute']:.1f})"
              f"  CPU {figures['cpu']:.2f} s")  # fmt: skip
    print(f"  watches: {', '.join(state)}")
    print(
        f"  kubectl scale -> drift recorded (watch): {noticed:.2f} s "
        f"(poll: up to the 5m drift interval)"
    )


if __name__ == "__main__":
    bench.stop_on_sigterm()
    main()
