"""Three ``syncer run --shards`` processes share 300 apps, with state in Kubernetes.

Everything is real: a Git smart-HTTP server holding one tiny ConfigMap per app, the
Kubernetes API test server (state Secrets, shard Leases and the apps' ConfigMaps all in
one cluster, its audit log recording every write with the writing replica in the
User-Agent), and ``python -m syncer run`` processes.

- Replica C is killed with SIGKILL while rollouts are under way; A and B take its shard
  Leases once they expired (observed on the Leases: a new holder and a higher
  ``leaseTransitions``) and complete the rollouts it left: one rollout and one
  "rollout" history entry per app, every ConfigMap there.
- A fourth replica D joins and takes over a share (the Leases say 3 shards each).
- No app is ever worked on by two replicas at once: each app Secret's ``writers`` log
  (who wrote it, under which term of its shard's Lease) has increasing terms and
  non-overlapping spans, and in the audit log the writers of an app's ConfigMap and
  Secret change no more often than its shard's Lease changed hands.

``SYNCER_SHARD_APPS`` makes the run smaller (for a quick look); 300 by default.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from syncer import sharding
from syncer.apply import errors as apply_errors
from syncer.state import kube
from tests import waiting
from tests.server.replicas import ShardReplica, app_docs, finished, kube_state_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

APPS = int(os.environ.get("SYNCER_SHARD_APPS", "300"))
SHARDS = 12
LEASE = 6.0
SLACK = 10.0
"""Seconds past the lease duration a takeover may take: a few lease rounds (1 s each) on a
loaded machine."""
NAMESPACE = "syncer"
IDENTITIES = ("replica-a", "replica-b", "replica-c", "replica-d")
API_TOKEN = "api-t0ken"
HOOK_SECRET = "h00k"
API = {"Authorization": f"Bearer {API_TOKEN}"}


def name_of(i: int) -> str:
    return f"app-{i:03d}"


def configmap(i: int) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name_of(i)}\ndata:\n  version: '1'\n"
    )


def wait_for(
    condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.5
) -> None:
    assert waiting.eventually(condition, timeout=timeout, every=every), f"not reached: {what}"


def all_rolled_out(cluster: Any) -> bool:
    """Every app has a document, and every document a finished rollout (one LIST; a
    LIST dropped by an apiserver busy with 300 rollouts is asked again next time)."""
    try:
        docs = app_docs(cluster, namespace=NAMESPACE)
    except apply_errors.ClusterUnreachable:
        return False
    return len(docs) == APPS and all(finished(d) for d in docs.values())


def replica(identity: str, *, config: Path, work: Path) -> ShardReplica:
    return ShardReplica(
        identity, config=config, work=work, shards=SHARDS,
        env={"SYNCER_TEST_API": API_TOKEN, "SYNCER_TEST_HOOK": HOOK_SECRET},
        extra=(f"--shard-lease-duration={LEASE:g}", "--shard-renew-deadline=4",
               "--shard-retry-period=1"),
    )  # fmt: skip


def held(cluster: Any, replicas: tuple[ShardReplica, ...]) -> list[int]:
    """How many shards each of ``replicas`` holds, fewest first."""
    holders = [h for h, _t in shard_holders(cluster).values()]
    return sorted(holders.count(r.identity) for r in replicas)


@pytest.fixture
def setup(kube_clusters: Any, git_http: Any, tmp_path: Path) -> Any:
    (cluster,) = kube_clusters(1)
    for ns in (NAMESPACE, "apps"):
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    repo = git_http.create_repo(
        "deploy", {f"apps/{name_of(i)}/cm.yaml": configmap(i) for i in range(APPS)}
    )
    config = tmp_path / "syncer.yaml"
    config.write_text(
        kube_state_config(
            cluster, repo_url=repo.url, apps=[name_of(i) for i in range(APPS)],
            sync="{wait: 10s, driftInterval: 1h}", interval="5s", workers=3,
            namespace=NAMESPACE,
        )
    )  # fmt: skip
    return cluster, config, tmp_path


def leases(cluster: Any) -> dict[str, dict[str, Any]]:
    found = cluster.list_objects("coordination.k8s.io/v1", "Lease", namespace=NAMESPACE)
    return {o["metadata"]["name"]: o["spec"] for o in found}


def shard_holders(cluster: Any) -> dict[int, tuple[str, int]]:
    """shard -> (holder, leaseTransitions)"""
    found = leases(cluster)
    return {
        s: (
            found.get(f"syncer-shard-{s}", {}).get("holderIdentity") or "",
            int(found.get(f"syncer-shard-{s}", {}).get("leaseTransitions") or 0),
        )
        for s in range(SHARDS)
    }


def test_three_replicas_share_300_apps_survive_kill_and_rebalance(setup: Any) -> None:
    cluster, config, work = setup
    repo_url = yaml.safe_load(config.read_text())["sources"][0]["git"]["url"]
    since = time.time() - 1
    started: list[ShardReplica] = []
    try:
        a, b, c = (replica(i, config=config, work=work) for i in IDENTITIES[:3])
        started += [a, b, c]

        # The three split the shards 4/4/4 and start rolling out.
        wait_for(
            lambda: held(cluster, (a, b, c)) == [4, 4, 4],
            timeout=120, what="3 replicas holding 4 shards each",
        )  # fmt: skip
        c_shards = sorted(s for s, (h, _t) in shard_holders(cluster).items() if h == c.identity)
        c_apps = [name_of(i) for i in range(APPS) if sharding.shard_of(name_of(i), SHARDS)
                  in c_shards]  # fmt: skip

        # C has finished some rollouts but not all of its apps': kill it mid-way. (Its
        # log says at once when a rollout is done; the state is checked after the kill.)
        def c_under_way() -> bool:
            done = c.log.read_text().count("applied to 1 cluster(s)")
            return max(3, min(20, len(c_apps) // 4)) <= done < len(c_apps) - 2

        assert waiting.eventually(c_under_way, timeout=600, every=0.05), "C never under way"
        before = shard_holders(cluster)
        c_last_renew = {s: leases(cluster)[f"syncer-shard-{s}"]["renewTime"] for s in c_shards}
        c.proc.send_signal(signal.SIGKILL)
        c.proc.wait()
        killed_at = time.time()
        docs = app_docs(cluster)
        left_open = [n for n in c_apps if n not in docs or not finished(docs[n])]
        assert left_open, "C finished everything before it was killed"

        # A and B take C's shards over (a new holder, a new term of each Lease) ...
        wait_for(
            lambda: all(
                shard_holders(cluster)[s][0] in (a.identity, b.identity) for s in c_shards
            ),
            timeout=120, what="C's shards taken over",
        )  # fmt: skip
        after = shard_holders(cluster)
        for s in c_shards:
            assert after[s][1] == before[s][1] + 1, (s, before[s], after[s])
            spec = leases(cluster)[f"syncer-shard-{s}"]
            acquired = _time(spec["acquireTime"])
            # ... never before C's Lease had expired (it was not renewed for the lease
            # duration since its last renewal) ...
            assert acquired >= _time(c_last_renew[s]) + LEASE - 0.5, (s, spec, c_last_renew)
            # ... and within the lease duration plus a few retry rounds of the kill.
            assert acquired <= killed_at + LEASE + SLACK, (s, spec, killed_at)

        # ... and complete every rollout it left: each app once, everything there.
        # (Looked at every few seconds: a LIST of every state Secret is not free.)
        wait_for(
            lambda: all_rolled_out(cluster), timeout=1200, what="every app rolled out", every=3.0
        )

        # A fourth replica joins and gets a share: 3 shards each.
        d = replica(IDENTITIES[3], config=config, work=work)
        started.append(d)
        wait_for(
            lambda: held(cluster, (a, b, d)) == [4, 4, 4], timeout=120,
            what="D taking over a share",
        )  # fmt: skip
        d_shards = [s for s, (h, _t) in shard_holders(cluster).items() if h == d.identity]
        assert d_shards
        # D works on its apps: its start-up pass writes their state under its term.
        d_apps = [name_of(i) for i in range(APPS) if sharding.shard_of(name_of(i), SHARDS)
                  in d_shards]  # fmt: skip
        wait_for(
            lambda: any(
                (app_docs(cluster)[n].get("writers") or [{}])[-1].get("holder") == d.identity
                for n in d_apps
            ),
            timeout=300, what="D reconciling its apps",
        )  # fmt: skip

        # A one-shot `syncer sync` would write beside the replicas: refused, naming them.
        refused = subprocess.run(
            [sys.executable, "-m", "syncer", "sync", "-c", str(config), d_apps[0]],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert refused.returncode == 3, refused.stderr
        assert "syncer replicas with shards (" in refused.stderr
        assert "ask them instead (--server), or stop them first" in refused.stderr

        # Asked of any replica, an app's status names its owner; an action on it is
        # carried out by the owner (forwarded), a webhook reaches every replica.
        d_app = d_apps[0]
        status = requests.get(f"{a.url}/api/v1/apps/{d_app}", headers=API, timeout=30)
        assert status.status_code == 200, status.text
        assert status.json()["owner"] == d.identity
        synced = requests.post(f"{a.url}/api/v1/apps/{d_app}/sync", headers=API, timeout=30)
        assert synced.status_code == 202, synced.text
        assert f"forwarded to leader path=/api/v1/apps/{d_app}/sync" in a.log.read_text()
        wait_for(
            lambda: any(
                e["kind"] == "sync" for e in app_docs(cluster)[d_app]["history"]
            ),
            timeout=60, what="the sync request recorded by the owner",
        )  # fmt: skip
        assert app_docs(cluster)[d_app]["writers"][-1]["holder"] == d.identity
        hooked = a.git_webhook(repo_url, secret=HOOK_SECRET)
        assert hooked.status_code == 202, hooked.text
        relayed = [
            line for line in a.log.read_text().splitlines()
            if "forwarded to leader path=/webhooks/generic" in line
        ]  # fmt: skip
        assert {r.url for r in (b, d)} == {line.split("leader=")[1].split()[0] for line in relayed}
        for r in (b, d):
            wait_for(
                lambda r=r: "msg=webhook kind=generic triggered=deploy" in r.log.read_text(),
                timeout=30, what=f"the webhook reaching {r.identity}",
            )  # fmt: skip
    finally:
        for r in started:
            r.stop()
    logs = {r.identity: r.log.read_text() for r in started}
    for r in started[:2] + started[3:]:
        assert "Traceback" not in logs[r.identity], logs[r.identity][-3000:]

    docs = app_docs(cluster)
    assert len(docs) == APPS
    final = shard_holders(cluster)
    for name, doc in sorted(docs.items()):
        # Exactly once: one rollout of the one release, one "rollout" entry in history.
        assert len(doc["rollouts"]) == 1, (name, doc["rollouts"])
        assert [e["kind"] for e in doc["history"]].count("rollout") == 1, (name, doc["history"])
        assert doc["rollouts"][0]["targets"][0]["state"] == "healthy", name
        # Never two writers at once: terms only grow, spans never overlap.
        writers = doc["writers"]
        for w1, w2 in itertools.pairwise(writers):
            assert w2["term"] > w1["term"] and w2["first"] >= w1["last"], (name, writers)
        shard = sharding.shard_of(name, SHARDS)
        assert writers[-1]["term"] <= final[shard][1], (name, writers, final[shard])
    # `syncer status` (from the state) says who works on each app.
    shown = subprocess.run(
        [sys.executable, "-m", "syncer", "status", "-c", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    header, *rows = shown.stdout.split("\n\n")[0].splitlines()
    assert header.split()[-1] == "OWNER"
    owners = {row.split()[0]: row.split()[-1] for row in rows if row.startswith("app-")}
    assert set(owners.values()) <= set(IDENTITIES) and len(owners) == APPS
    assert {owners[n] for n in d_apps} == {d.identity}
    # Every ConfigMap is there.
    cms = {o["metadata"]["name"] for o in cluster.list_objects("v1", "ConfigMap", "apps")}
    assert {name_of(i) for i in range(APPS)} <= cms

    # The audit log: who wrote each app's objects (User-Agent syncer/<replica>). The
    # writer of an app changes no more often than its shard's Lease changed hands, so
    # two replicas never interleaved writes to one app.
    writes: dict[str, list[str]] = defaultdict(list)
    configmap_writes: dict[str, int] = defaultdict(int)
    for event in cluster.audit_events(since=since):
        agent = str(event.get("userAgent") or "")
        ref = event.get("objectRef") or {}
        if not agent.startswith("syncer/") or ref.get("namespace") not in ("apps", NAMESPACE):
            continue
        if event.get("verb") not in ("create", "update", "patch"):
            continue
        if ref.get("resource") == "configmaps":
            app = str(ref.get("name"))
            configmap_writes[app] += 1
        elif ref.get("resource") == "secrets" and str(ref.get("name", "")).startswith(
            kube.APP_PREFIX
        ):
            app = str(ref.get("name"))[len(kube.APP_PREFIX) :]
        else:
            continue
        who = agent.split("/", 1)[1].split()[0]
        if not writes[app] or writes[app][-1] != who:
            writes[app].append(who)
    assert set(writes) >= {name_of(i) for i in range(APPS)}
    for app, sequence in sorted(writes.items()):
        shard = sharding.shard_of(app, SHARDS)
        assert len(sequence) - 1 <= final[shard][1], (app, sequence, final[shard])
    # A ConfigMap is applied once; at most twice when C was killed between applying it
    # and recording that it had (the survivor's apply of the same object changes nothing).
    for i in range(APPS):
        name = name_of(i)
        limit = 2 if name in left_open else 1
        assert 1 <= configmap_writes[name] <= limit, (name, configmap_writes[name])


def _time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
