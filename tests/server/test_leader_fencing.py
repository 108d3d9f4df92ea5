"""A leader frozen past its Lease writes nothing when it wakes (fencing).

Two real ``syncer run --leader-elect`` replicas, a real test cluster and a real Git
server. The replicas run different configs, as during the rollout of a changed config:
the new one deploys the app from ``next/``, the old one from ``web/``, so anything the
old one applies overwrites the new leader's work. The leader is frozen (SIGSTOP) in
the middle of a rollout, for longer than its lease; the standby takes over and rolls
out two commits; then the old leader gets SIGCONT. Its rollout in flight resumes at
once and its overdue Git poll finds a newer commit, but work starts only under a valid
lease and every write first asks the elector's ``fence``: the cluster's request log
shows no write after the new leader's, and the old leader exits instead of acting.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.server.replicas import Replica, Replicas, wait_for
from tests.servers import git_http as git_http_mod

pytestmark = pytest.mark.integration

LEASES = "/leases/"


def configmap(value: str, name: str = "fenced") -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\n"
        f"metadata: {{name: {name}, namespace: syncer}}\ndata: {{value: {value}}}\n"
    )


def files(commit: str) -> dict[str, str | None]:
    """The repository at ``commit``: what the old config (``web/``) and the new one
    (``next/``) deploy. Two objects each, so that a rollout dry-runs them both before
    its first write (a single object is written without one)."""
    return {
        f"{where}/{name}.yaml": configmap(f"{who}-{commit}", name)
        for where, who in (("web", "a"), ("next", "b"))
        for name in ("fenced", "fenced-too")
    }


def app_config(url: str, *, path: str) -> str:
    return (
        "sources:\n"
        f"  - {{name: deploy, git: {{url: {url}, branch: main, interval: 1s}}}}\n"
        "apps:\n"
        "  - name: web\n"
        "    source: deploy\n"
        f"    path: {path}\n"
        "    namespace: syncer\n"
        "    clusters: [k]\n"
        "    sync: {driftInterval: 1h, wait: 10s}\n"
    )


def app_writes(log: list[object], since: int = 0) -> list[object]:
    """Non-dry-run writes after index ``since``, leader election's Lease left out."""
    return [
        r
        for r in list(log)[since:]
        if getattr(r, "method", "") in ("POST", "PUT", "PATCH", "DELETE")
        and "dryRun=All" not in getattr(r, "query", "")
        and LEASES not in getattr(r, "path", "")
    ]


def settled(log: list[object]) -> int:
    """The request log's length once no app write has come for 1.5 s."""
    count = len(app_writes(log))
    while True:
        time.sleep(1.5)
        now = len(app_writes(log))
        if now == count:
            return len(list(log))
        count = now


def test_leader_frozen_past_its_lease_writes_nothing_on_waking(
    start_replica: Replicas, git_http: git_http_mod.GitHTTPServer
) -> None:
    cluster = start_replica.cluster
    repo = git_http.create_repo("deploy", files("one"))
    a = start_replica("replica-a", app_config(repo.url, path="web"))
    a.wait_url()
    wait_for(lambda: "started leading identity=replica-a" in a.log.read_text())

    def value() -> str:
        obj = cluster.get("v1", "ConfigMap", "fenced", namespace="syncer")
        return str(((obj or {}).get("data") or {}).get("value", ""))

    wait_for(lambda: value() == "a-one")
    b: Replica = start_replica("replica-b", app_config(repo.url, path="next"))
    b.wait_url()
    wait_for(lambda: "new leader leader=replica-a identity=replica-b" in b.log.read_text())
    settled(cluster.request_log)

    # The leader starts rolling out commit two; a dry run before its writes is held up
    # by the API, and while it waits the process is frozen (SIGSTOP) for longer than its
    # 3 s lease.
    held = cluster.set_fault("latency", seconds=5.0, count=1, method="PATCH",
                             path_contains="/configmaps")  # fmt: skip
    repo.commit(files("two"))
    wait_for(lambda: held.hits == 1)
    a.proc.send_signal(signal.SIGSTOP)
    try:
        # replica-b takes over and rolls out its config's commit two; then commit three
        # comes, which replica-b rolls out too.
        wait_for(lambda: "started leading identity=replica-b" in b.log.read_text())
        wait_for(lambda: value() == "b-two")
        settled(cluster.request_log)
        pushed_at = len(list(cluster.request_log))
        repo.commit(files("three"))
        wait_for(lambda: value() == "b-three")
        woken_at = settled(cluster.request_log)
        a_log_before = len(a.log.read_text())
    finally:
        a.proc.send_signal(signal.SIGCONT)

    # On waking, the old leader's rollout of commit two carries on at once (the API
    # answered long ago) and its Git poll, long overdue, finds commit three; its
    # elector sees replica-b's Lease. It must act on none of it: no write, and it exits.
    assert a.proc.wait(timeout=30) == 1, a.log.read_text()
    woke = a.log.read_text()[a_log_before:]
    settled(cluster.request_log)
    assert app_writes(cluster.request_log, woken_at) == [], woke
    assert value() == "b-three"
    assert "lost leadership" in woke, woke
    assert " applied: " not in woke, woke
    assert "writing nothing" in woke, woke
    # The new leader applied commit three exactly once, and still leads.
    new_writes = app_writes(cluster.request_log, pushed_at)
    assert sorted((r.method, r.path) for r in new_writes) == [  # type: ignore[attr-defined]
        ("PATCH", "/api/v1/namespaces/syncer/configmaps/fenced"),
        ("PATCH", "/api/v1/namespaces/syncer/configmaps/fenced-too"),
    ], new_writes
    assert b.proc.poll() is None
    assert b.readyz()[0] == 200
