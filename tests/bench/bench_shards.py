"""Benchmark: apps sharded over replicas (``syncer run --shards``), state in Kubernetes.

Run: ``python -m tests.bench.bench_shards [--apps 5000] [--replicas 3] [--shards 16]
[--repos 10]``.

APPS apps (one small ConfigMap each) spread over REPOS Git repositories on one Git
smart-HTTP server; REPLICAS ``python -m syncer run --shards`` processes with the state,
the shard Leases and the apps' ConfigMaps in one test cluster (``tests/kubecluster``).
After every app is rolled out, and the state store has had no write for 10 s:

1. Poll cycle, nothing changed: a generic webhook sent to one replica (relayed to the
   others) moves every replica's poll jobs to now. Printed: the time until every
   replica has polled each repository its apps use (ls-remote requests counted by the
   Git server), and the state store's Kubernetes API requests (Secrets, by verb; and
   the shard Leases' renewals over the same time) and bytes (the API server's own
   ``apiserver_response_sizes`` and ``apiserver_request_body_size_bytes`` for secrets)
   per app for that cycle; reads (GET, LIST) and writes (POST, PUT) apart. The state
   Secrets' watch (the cache ``syncer run`` reads from) is not a request per cycle and
   is not counted.
2. Answers: ``GET /api/v1/apps`` and ``GET /metrics`` of every replica, once each; the
   state store's requests per app for all of them.
3. RSS per replica (``VmRSS`` and peak ``VmHWM`` from ``/proc``).
4. Takeover: one replica is killed with SIGKILL and a new one started at once; printed
   the time until every shard the dead one held is held again, and until the new one
   holds its share (as seen on the Leases).

Everything runs on 127.0.0.1 on whatever cores the machine has: the figures are for
comparing runs, and say what was run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import urllib3

from syncer import sharding
from syncer.config import model
from tests import bench
from tests.kubecluster import cluster as kube_cluster
from tests.kubecluster import kubeconfig
from tests.server.replicas import ShardReplica
from tests.servers import git_http

NAMESPACE = "syncer"
HOOK = "bench-hook"
API_TOKEN = "bench-api"
LEASE = 15.0


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def replica(identity: str, *, config: Path, work: Path, shards: int) -> ShardReplica:
    return ShardReplica(
        identity, config=config, work=work, shards=shards,
        env={"BENCH_HOOK": HOOK, "BENCH_API": API_TOKEN},
    )  # fmt: skip


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process in MiB, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss / 1024, peak / 1024


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def lost_shards(running: ShardReplica) -> int:
    """``syncer_shard_lease_transitions_total{result="lost"}`` of one replica."""
    text = requests.get(f"{running.url}/metrics", timeout=120).text
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("syncer_shard_lease_transitions_total{") and 'result="lost"' in line
        )
    )


def holders(cluster: Any, shards: int) -> dict[int, str]:
    found = {
        o["metadata"]["name"]: o["spec"].get("holderIdentity") or ""
        for o in cluster.list_objects("coordination.k8s.io/v1", "Lease", namespace=NAMESPACE)
    }
    return {s: found.get(f"syncer-shard-{s}", "") for s in range(shards)}


def rolled_out(cluster: Any) -> int:
    """How many apps' ConfigMaps exist (each app's only object)."""
    found = cluster.list_objects("v1", "ConfigMap", namespace="apps")
    return sum(1 for o in found if o["metadata"]["name"].startswith("app-"))


def apiserver_bytes(cluster: Any) -> tuple[float, float]:
    """(request body bytes, response bytes) the API server counted for secrets."""
    answer = requests.get(
        f"{cluster.api_url}/metrics", headers={"Authorization": f"Bearer {cluster.token}"},
        verify=False, timeout=30,
    )  # fmt: skip
    sent = received = 0.0
    for line in answer.text.splitlines():
        if 'resource="secrets"' not in line or line.startswith("#"):
            continue
        if line.startswith("apiserver_response_sizes_sum"):
            received += float(line.rsplit(" ", 1)[1])
        elif line.startswith("apiserver_request_body_size_bytes_sum"):
            sent += float(line.rsplit(" ", 1)[1])
    return sent, received


def state_requests(cluster: Any) -> Counter[str]:
    """The state store's requests (by method) in the cluster's request log; the watch of
    the state Secrets is a standing request, not counted."""
    return Counter(
        r.method
        for r in list(cluster.request_log)
        if f"/namespaces/{NAMESPACE}/secrets" in r.path and "watch=true" not in r.query
    )


def settle(cluster: Any, *, quiet: float, timeout: float) -> float:
    """Wait until the state store has had no write for ``quiet`` seconds (the end of
    the first rollout's last records); the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        cluster.request_log.clear()
        time.sleep(quiet)
        if not any(state_requests(cluster)[m] for m in ("POST", "PUT", "PATCH", "DELETE")):
            break
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument(
        "--workers", type=int, default=None, help="settings.workers (default: the shipped one)"
    )
    args = parser.parse_args()
    urllib3.disable_warnings()
    print(
        f"bench_shards: {args.apps} apps (a ConfigMap each) over {args.repos} Git repositories, "
        f"{args.replicas} replicas, {args.shards} shards, settings.workers "
        f"{args.workers or f'{model.Settings().workers} (shipped default)'}, "
        f"state and Leases in one test cluster; {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        base = Path(tmp)
        git = git_http.GitHTTPServer(root=base / "git")
        cluster = kube_cluster.RealCluster("bench", workload_delay=0.02).start()
        started: list[ShardReplica] = []
        try:
            run(args, base=base, git=git, cluster=cluster, started=started)
        finally:
            for r in started:
                r.stop()
            cluster.close()
            git.stop()


def run(args: Any, *, base: Path, git: Any, cluster: Any, started: list[ShardReplica]) -> None:
    config_path = kubeconfig.write(
        base / "kubeconfig", [kubeconfig.Entry(cluster.name, cluster.url, cluster.token)]
    )
    for ns in (NAMESPACE, "apps"):
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    repos = []
    for r in range(args.repos):
        files = {
            f"apps/app-{i:05d}/cm.yaml": (
                f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app-{i:05d}}}\n"
                "data: {version: '1'}\n"
            )
            for i in range(r, args.apps, args.repos)
        }
        repos.append(git.create_repo(f"deploy-{r}", files))
    lines = ["sources:"]
    lines += [
        f"  - {{name: deploy-{r}, git: {{url: {repo.url}, branch: main, interval: 1h}}}}"
        for r, repo in enumerate(repos)
    ]
    lines += [
        f"clusters: [{{name: k, kubeconfig: {config_path}, context: {cluster.name}}}]",
        "apps:",
    ]
    lines += [
        f"  - {{name: app-{i:05d}, source: deploy-{i % args.repos}, path: apps/app-{i:05d}, "
        "namespace: apps, clusters: [k], sync: {wait: 10s, driftInterval: 24h}}"
        for i in range(args.apps)
    ]
    lines += [
        f"state: {{kubernetes: {{cluster: k, namespace: {NAMESPACE}}}}}",
        *([f"settings: {{workers: {args.workers}}}"] if args.workers else []),
        "server: {apiToken: env:BENCH_API, webhooks: {generic: env:BENCH_HOOK}}",
    ]
    config = base / "syncer.yaml"
    config.write_text("\n".join(lines) + "\n")

    began = time.monotonic()
    started += [
        replica(f"replica-{n}", config=config, work=base, shards=args.shards)
        for n in range(args.replicas)
    ]
    wait_until(
        lambda: rolled_out(cluster) >= args.apps,
        timeout=max(600.0, args.apps * 2.0), what="every app rolled out", every=5.0,
    )  # fmt: skip
    print(f"first rollout of every app: {time.monotonic() - began:.1f} s ({load()})")
    settled = settle(cluster, quiet=10.0, timeout=600.0)
    print(f"  then {settled:.0f} s until no state write for 10 s")

    # 1. A poll cycle with nothing changed.
    def ls_remotes() -> int:
        return int(git.count("ls-refs"))

    before = ls_remotes()
    cluster.request_log.clear()
    sent0, received0 = apiserver_bytes(cluster)
    # Every repository: one webhook per repository (each names one).
    cycle_began = time.monotonic()
    for repo in repos:
        answer = started[0].git_webhook(repo.url, secret=HOOK)
        assert answer.status_code == 202, answer.text
    # Each replica polls every repository one of its apps reads.
    owners: dict[str, set[int]] = {r.identity: set() for r in started}
    held = holders(cluster, args.shards)
    for i in range(args.apps):
        holder = held[sharding.shard_of(f"app-{i:05d}", args.shards)]
        if holder in owners:
            owners[holder].add(i % args.repos)
    expected = sum(len(v) for v in owners.values())
    wait_until(
        lambda: ls_remotes() - before >= expected, timeout=600, what="every poll", every=0.05
    )
    cycle = time.monotonic() - cycle_began
    time.sleep(3)  # what the polls queued (nothing changed: nothing) and the lease rounds
    window = time.monotonic() - cycle_began
    sent1, received1 = apiserver_bytes(cluster)
    state = state_requests(cluster)
    leases = Counter(
        r.method for r in list(cluster.request_log) if f"/namespaces/{NAMESPACE}/leases" in r.path
    )
    per_app = sum(state.values()) / args.apps
    print(
        f"poll cycle (nothing changed, {expected} polls by {len(started)} replicas): "
        f"{cycle:.2f} s ({load()})"
    )
    print(
        f"  state store requests per app per cycle: {per_app:.3f} "
        f"({', '.join(f'{m} {n}' for m, n in sorted(state.items())) or 'none'})"
    )
    writes = state["POST"] + state["PUT"]
    print(
        f"  state store writes per app per cycle: {writes / args.apps:.3f}; reads "
        f"{(sum(state.values()) - writes) / args.apps:.3f}"
    )
    print(
        f"  state store bytes per app per cycle: sent {(sent1 - sent0) / args.apps:.1f} B, "
        f"received {(received1 - received0) / args.apps:.1f} B"
    )
    print(
        f"  shard Lease requests over those {window:.1f} s: "
        f"{', '.join(f'{m} {n}' for m, n in sorted(leases.items())) or 'none'} "
        f"({sum(leases.values()) / window / len(started):.2f} per second per replica)"
    )

    # 2. What the API and a metrics scrape of every replica cost the state.
    cluster.request_log.clear()
    for running in started:
        listed = requests.get(
            f"{running.url}/api/v1/apps", headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=120,
        )  # fmt: skip
        assert listed.status_code == 200 and len(listed.json()["apps"]) == args.apps, listed.text
        assert requests.get(f"{running.url}/metrics", timeout=120).status_code == 200
    answers = state_requests(cluster)
    print(
        f"  /api/v1/apps and /metrics of each of {len(started)} replicas: state store requests "
        f"per app {sum(answers.values()) / args.apps:.3f} "
        f"({', '.join(f'{m} {n}' for m, n in sorted(answers.items())) or 'none'})"
    )

    # 3. Memory, and shards lost so far because renewals came too late.
    for running in started:
        rss, peak = memory_mib(running.proc.pid)
        print(
            f"  {running.identity}: RSS {rss:.0f} MiB (peak {peak:.0f} MiB); shards lost to "
            f"late renewals since it started: {lost_shards(running)}"
        )

    # 4. Takeover of a dead replica's shards by the others and a new one.
    victim = started[-1]
    theirs = [s for s, h in holders(cluster, args.shards).items() if h == victim.identity]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    killed = time.monotonic()
    newcomer = replica("replica-new", config=config, work=base, shards=args.shards)
    started.append(newcomer)
    alive = {r.identity for r in started if r.proc.poll() is None}
    wait_until(
        lambda: all(holders(cluster, args.shards)[s] in alive for s in theirs),
        timeout=300, what="the dead replica's shards held again", every=0.1,
    )  # fmt: skip
    retaken = time.monotonic() - killed
    share = args.shards // len(alive)
    wait_until(
        lambda: sum(1 for h in holders(cluster, args.shards).values() if h == newcomer.identity)
        >= share,
        timeout=300, what="the new replica holding its share", every=0.1,
    )  # fmt: skip
    joined = time.monotonic() - killed
    print(
        f"takeover after kill -9 of {victim.identity} ({len(theirs)} shards, lease duration "
        f"{LEASE:g} s): all its shards held again after {retaken:.1f} s; the new replica "
        f"held its share ({share}) after {joined:.1f} s ({load()})"
    )


if __name__ == "__main__":
    bench.stop_on_sigterm()
    main()
