"""An idle ``syncer run`` writes nothing: state in Kubernetes, every app deployed and
healthy, nothing new in Git.

Real parts: the Git smart-HTTP server, the Kubernetes API test server (state Secrets and
the apps' objects in one cluster; its audit log records every write with the writer's
User-Agent) and ``python -m syncer run`` processes, alone or as two ``--shards``
replicas. After every app is rolled out and one more drift check of each has passed,
three idle cycles are driven on purpose: a webhook makes every replica poll the
repository (counted by the Git server), and each cycle waits until every app has been
reconciled again by its drift check (each reconcile is one log line). The API and
metrics are read too. Over those cycles the API server must have received no write from
syncer at all: no state Secret, no app object (the Leases are not audited: renewing
them is how replicas stay alive; a replica taking a shard records its term once in each
of the shard's apps, which is news: a loaded machine can make a renewal miss its
deadline, and such writes are told apart by the Leases' terms). Nor any read of the
state Secrets but the watch that keeps ``syncer run``'s cache of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from syncer import sharding
from tests import waiting
from tests.server import replicas
from tests.servers import lifecycle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

APPS = 8
NAMESPACE = "syncer"
API_TOKEN = "api-t0ken"
HOOK_SECRET = "h00k"
ENV = {"SYNCER_TEST_API": API_TOKEN, "SYNCER_TEST_HOOK": HOOK_SECRET}
API = {"Authorization": f"Bearer {API_TOKEN}"}
CYCLES = 3


def name_of(i: int) -> str:
    return f"app-{i}"


def app_files(i: int) -> dict[str, str]:
    files = {
        f"apps/{name_of(i)}/cm.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name_of(i)}}}\n"
            "data: {version: '1'}\n"
        )
    }
    if i == 0:  # one workload, whose health is checked again on every pass
        files[f"apps/{name_of(i)}/deploy.yaml"] = (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name_of(i)}}}\n"
            "spec:\n  replicas: 1\n  progressDeadlineSeconds: 60\n"
            f"  selector: {{matchLabels: {{app: {name_of(i)}}}}}\n"
            f"  template:\n    metadata: {{labels: {{app: {name_of(i)}}}}}\n"
            "    spec: {containers: [{name: main, image: example.org/web:1}]}\n"
        )
    return files


class Running:
    """One ``syncer run`` process (``--shards`` or alone) and where it logs."""

    def __init__(self, proc: subprocess.Popen[str], log: Path, url: str) -> None:
        self.proc, self.log, self.url = proc, log, url

    def webhook_url(self) -> str:
        found = re.search(r"webhooks on (http://[^\s,]+)", self.log.read_text())
        assert found, self.log.read_text()[-2000:]
        return found.group(1)


def alone(config: Path, work: Path) -> Running:
    port = lifecycle.free_port()
    log = work / "run.log"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "syncer", "--log-level=info", "run", "-c", str(config),
            f"--listen=127.0.0.1:{port}", "--webhook-listen=127.0.0.1:0", "--grace=5",
        ],
        stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True, env={**os.environ, **ENV},
    )  # fmt: skip
    return Running(proc, log, f"http://127.0.0.1:{port}")


def sharded(identity: str, config: Path, work: Path) -> Running:
    r = replicas.ShardReplica(
        identity, config=config, work=work, shards=4, env=ENV,
        extra=("--shard-lease-duration=6", "--shard-renew-deadline=4", "--shard-retry-period=1"),
    )  # fmt: skip
    return Running(r.proc, r.log, r.url)


@pytest.fixture
def setup(kube_clusters: Any, git_http: Any, tmp_path: Path) -> Any:
    (cluster,) = kube_clusters(1, workload_delay=0.05)
    for ns in (NAMESPACE, "apps"):
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    files: dict[str, str] = {}
    for i in range(APPS):
        files.update(app_files(i))
    repo = git_http.create_repo("deploy", files)
    config = tmp_path / "syncer.yaml"
    config.write_text(
        replicas.kube_state_config(
            cluster, repo_url=repo.url, apps=[name_of(i) for i in range(APPS)],
            sync="{wait: 30s, driftInterval: 2s}", interval="1h", workers=2, namespace=NAMESPACE,
        )
    )  # fmt: skip
    return cluster, git_http, repo, config, tmp_path


@pytest.fixture
def processes() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        if r.proc.poll() is None:
            r.proc.terminate()
    for r in started:
        try:
            r.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            r.proc.kill()
            r.proc.wait()


def settled(cluster: Any) -> bool:
    """Every app has a state document whose rollout finished healthy (one LIST)."""
    docs = replicas.app_docs(cluster, namespace=NAMESPACE)
    return len(docs) == APPS and all(replicas.finished(d) for d in docs.values())


def shards_held(cluster: Any) -> list[int]:
    """How many shard Leases each replica holds, fewest first."""
    found = cluster.list_objects("coordination.k8s.io/v1", "Lease", namespace=NAMESPACE)
    holders = Counter(
        o["spec"].get("holderIdentity") or ""
        for o in found
        if o["metadata"]["name"].startswith("syncer-shard-")
    )
    return sorted(n for holder, n in holders.items() if holder)


def reconciles(running: list[Running]) -> dict[str, int]:
    """How many passes each app has had so far (each ends with one log line)."""
    text = "".join(r.log.read_text() for r in running)
    return {name_of(i): len(re.findall(rf"app={name_of(i)} release=", text)) for i in range(APPS)}


def each_reconciled_again(running: list[Running]) -> Callable[[], bool]:
    before = reconciles(running)

    def done() -> bool:
        assert all(r.proc.poll() is None for r in running), running[0].log.read_text()[-3000:]
        now = reconciles(running)
        return all(now[a] > before[a] for a in before)

    return done


def shard_terms(cluster: Any) -> dict[int, int]:
    """Each shard Lease's term (``leaseTransitions``: taking a shard always raises it)."""
    found = cluster.list_objects("coordination.k8s.io/v1", "Lease", namespace=NAMESPACE)
    prefix = "syncer-shard-"
    return {
        int(o["metadata"]["name"].removeprefix(prefix)): o["spec"].get("leaseTransitions", 0)
        for o in found
        if o["metadata"]["name"].startswith(prefix)
    }


def term_records(before: dict[int, int], after: dict[int, int]) -> Counter[str]:
    """The writes a replica makes when it takes a shard: each app of the shard records
    the new term once, per term. Under a loaded machine a renewal can miss its deadline,
    so a shard may change hands during the idle cycles; only those writes are news."""
    moved = {s: after.get(s, 0) - before.get(s, 0) for s in after}
    allowed: Counter[str] = Counter()
    for i in range(APPS):
        terms = moved.get(sharding.shard_of(name_of(i), 4), 0)
        if terms:
            allowed[f"update secrets {NAMESPACE}/syncer-app-{name_of(i)}"] = terms
    return allowed


def unexplained(writes: list[str], allowed: Counter[str]) -> list[str]:
    left = Counter(allowed)
    extra = []
    for w in writes:
        if left[w] > 0:
            left[w] -= 1
        else:
            extra.append(w)
    return extra


def shard_lines(running: list[Running]) -> str:
    return "".join(
        line for r in running for line in r.log.read_text().splitlines(keepends=True)
        if "shard" in line or "lease" in line
    )  # fmt: skip


def syncer_writes(cluster: Any, since: float) -> list[str]:
    return [
        f"{e['verb']} {e['objectRef'].get('resource')} "
        f"{e['objectRef'].get('namespace', '')}/{e['objectRef'].get('name', '')}"
        for e in cluster.audit_events(since=since)
        if "syncer" in e.get("userAgent", "")
    ]


@pytest.mark.parametrize("mode", ["alone", "two-shard-replicas"])
def test_idle_cycles_write_nothing_to_the_cluster(
    setup: Any, processes: list[Running], mode: str
) -> None:
    cluster, git, repo, config, work = setup
    if mode == "alone":
        processes.append(alone(config, work))
    else:
        processes += [sharded(f"replica-{n}", config, work) for n in "ab"]
    if mode != "alone":
        # Shards stop moving (2 each): a replica taking an app over records its term
        # once, which is news, not an idle write.
        assert waiting.eventually(lambda: shards_held(cluster) == [2, 2], timeout=120, every=0.2)
    assert waiting.eventually(lambda: settled(cluster), timeout=300, every=0.5), (
        "apps never all rolled out:\n" + processes[0].log.read_text()[-3000:]
    )
    # What settling wrote (the last health check, the run's outcome) is over once every
    # app has had one more pass after it.
    assert waiting.eventually(each_reconciled_again(processes), timeout=120, every=0.2)
    since, first = time.time(), len(cluster.request_log)
    terms = shard_terms(cluster) if mode != "alone" else {}
    for _ in range(CYCLES):
        polls = git.count("ls-refs")
        answer = replicas.git_webhook(processes[0].webhook_url(), repo.url, secret=HOOK_SECRET)
        assert answer.status_code == 202, answer.text
        assert waiting.eventually(
            lambda polls=polls: git.count("ls-refs") >= polls + len(processes),
            timeout=60, every=0.05,
        ), "not every replica polled"  # fmt: skip
        assert waiting.eventually(each_reconciled_again(processes), timeout=120, every=0.2)
        for r in processes:
            listed = requests.get(f"{r.url}/api/v1/apps", headers=API, timeout=30)
            assert listed.status_code == 200 and len(listed.json()["apps"]) == APPS
            assert all(a["status"] == "Healthy" for a in listed.json()["apps"]), listed.json()
            assert requests.get(f"{r.url}/metrics", timeout=30).status_code == 200
    # (The audit log is written before the API server answers a write, and each pass
    # logs its line after its writes: nothing is missed by reading it now.)
    writes = syncer_writes(cluster, since)
    allowed = term_records(terms, shard_terms(cluster)) if mode != "alone" else Counter()
    assert unexplained(writes, allowed) == [], shard_lines(processes)[-4000:]
    # Polls, drift checks, API answers and scrapes read the state from the watch's cache:
    # no GET of an app's Secret each, no LIST (the watch itself goes on), but for the
    # apps of a shard that changed hands.
    taken = {w.rsplit("/", 1)[1] for w in allowed}
    reads = [
        f"{r.method} {r.path}?{r.query}"
        for r in list(cluster.request_log)[first:]
        if f"/namespaces/{NAMESPACE}/secrets" in r.path and "watch=true" not in r.query
        and r.path.rsplit("/", 1)[1] not in taken
    ]  # fmt: skip
    assert reads == [], shard_lines(processes)[-4000:]
