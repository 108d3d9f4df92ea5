"""A notification in flight while its app's shard changes hands is sent once.

Real parts: ``python -m syncer run --shards`` processes, state and shard Leases in one
cluster of the Kubernetes API test server, a Git smart-HTTP server with one app, and a
signed-webhook receiver on 127.0.0.1 that holds the first request open (``hold_next``)
while the test moves the app's shard:

- a replica joining: the holder gives the shard back only once the delivery it is
  sending has ended and been recorded; the newcomer sends the rest, nothing twice;
- the holder frozen (SIGSTOP) mid-request until its Lease expired: the new holder
  sends the app's other notifications but not the one the frozen holder claimed; the
  frozen holder, resumed, records nothing of its attempt under the term it lost, and
  the claim is sent again (same delivery id) only once it is stale;
- the holder killed (SIGKILL) after the receiver accepted its request: the one case
  sent twice, with the same ``X-Syncer-Delivery`` (receivers drop the second).
"""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer import sharding
from syncer.apply import client as kube_client
from syncer.config import model
from syncer.notify import providers
from syncer.state import kube, kubeobjects
from tests import waiting
from tests.e2e.test_shards_e2e import NAMESPACE, app_docs, finished, leases
from tests.server.replicas import ShardReplica

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

KEY = "shard-notify-key"
TIMEOUT = 40
"""The webhook provider's timeout, longer than the held request waits before the
holder is frozen: a delivery claimed by a holder that stopped is stale
``kube.CLAIM_START + TIMEOUT + kube.CLAIM_SLACK`` seconds after its successor first
saw it."""
EVENTS = {"release-created", "rollout-started", "rollout-healthy"}
A, B = "replica-a", "replica-b"


def wait_for(condition: Callable[[], Any], *, what: str, timeout: float = 180) -> None:
    assert waiting.eventually(condition, timeout=timeout, every=0.2), f"not reached: {what}"


def app_in(shard: int, shards: int) -> str:
    """An app name whose shard is ``shard``."""
    return next(f"web-{i}" for i in range(1000) if sharding.shard_of(f"web-{i}", shards) == shard)


def setup(
    *, cluster: Any, git_http: Any, hook: Any, work: Path, app: str, timeout: int = TIMEOUT
) -> Path:
    for ns in (NAMESPACE, "apps"):
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    repo = git_http.create_repo(
        "deploy",
        {f"{app}/cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}\n"},
    )
    (work / "hook-url").write_text(f"{hook.url}/syncer")
    (work / "hook-key").write_text(KEY)
    config = work / "syncer.yaml"
    config.write_text(
        f"sources:\n  - {{name: deploy, git: {{url: {repo.url}, branch: main, interval: 1h}}}}\n"
        f"clusters:\n  - {{name: k, kubeconfig: {cluster.kubeconfig}, context: "
        f"{cluster.context}}}\n"
        f"apps:\n  - {{name: {app}, source: deploy, path: {app}, namespace: apps, "
        "clusters: [k], sync: {wait: 10s, driftInterval: 1h}}\n"
        f"state: {{kubernetes: {{cluster: k, namespace: {NAMESPACE}}}}}\n"
        "notifications:\n"
        "  providers:\n"
        "    - {name: hook, type: webhook, urlFrom: file:hook-url, secretFrom: file:hook-key,\n"
        f"       timeout: {timeout}s}}\n"
        "  rules:\n"
        "    - {providers: [hook]}\n"
    )
    return config


def replica(identity: str, *, config: Path, work: Path, shards: int) -> ShardReplica:
    return ShardReplica(
        identity, config=config, work=work, shards=shards,
        extra=("--shard-lease-duration=6", "--shard-renew-deadline=4",
               "--shard-retry-period=1"),
    )  # fmt: skip


def objects(cluster: Any) -> kubeobjects.Objects:
    return kubeobjects.Objects(
        client=kube_client.connect(
            model.Cluster(name="k", kubeconfig=str(cluster.kubeconfig), context=cluster.context)
        ),
        namespace=NAMESPACE,
    )


def queued(cluster: Any) -> dict[str, dict[str, Any]]:
    """The notification queue (``syncer-deliveries``) as the API holds it."""
    store = objects(cluster)
    try:
        doc = store.get(kube.DELIVERIES)
        return dict(doc.data["deliveries"]) if doc is not None else {}
    finally:
        store.client.close()


def holder(cluster: Any, shard: int) -> str:
    spec = leases(cluster).get(f"syncer-shard-{shard}", {})
    return str(spec.get("holderIdentity") or "")


def heartbeats(cluster: Any, identity: str) -> str:
    return str(leases(cluster).get(f"syncer-replica-{identity}", {}).get("renewTime") or "")


def all_delivered(cluster: Any) -> bool:
    found = queued(cluster)
    return len(found) == len(EVENTS) and all(x["state"] == "delivered" for x in found.values())


def start_held(
    *,
    cluster: Any,
    hook: Any,
    config: Path,
    work: Path,
    app: str,
    shards: int,
    started: list[ShardReplica],
) -> ShardReplica:
    """Replica A alone rolls ``app`` out; its first notification is held at the
    receiver (the rollout finished: its other events wait in the app's outbox, as
    A's notification thread is busy sending)."""
    a = replica(A, config=config, work=work, shards=shards)
    started.append(a)  # stopped by the caller, whatever happens next
    wait_for(hook.holding.is_set, what="A's first notification at the receiver")
    wait_for(
        lambda: app in app_docs(cluster) and finished(app_docs(cluster)[app]),
        what="the rollout finished",
    )  # fmt: skip
    assert hook.held in queued(cluster)
    return a


def signed(hook: Any) -> None:
    for r in hook.requests:
        assert r.headers["Idempotency-Key"] == r.delivery
        assert providers.verify(
            key=KEY.encode(), timestamp=r.headers["X-Syncer-Timestamp"], body=r.body,
            signature=r.headers["X-Syncer-Signature-256"],
        )  # fmt: skip


def test_a_replica_joining_while_a_notification_is_sent_sends_nothing_twice(
    tmp_path: Path, kube_clusters: Any, git_http: Any, receiver: Any
) -> None:
    (cluster,) = kube_clusters(1)
    hook = receiver()
    # Two shards; the app is in the one A gives back when B joins.
    (given_back,) = sharding.plan(me=A, members=[A, B], shards=2, holders={0: A, 1: A}).release
    app = app_in(given_back, 2)
    # The held request never times out here: it ends when the test lets it go.
    config = setup(
        cluster=cluster, git_http=git_http, hook=hook, work=tmp_path, app=app, timeout=300
    )
    hook.hold_next = (200, {})
    started: list[ShardReplica] = []
    try:
        start_held(cluster=cluster, hook=hook, config=config, work=tmp_path, app=app, shards=2,
                   started=started)  # fmt: skip
        a = started[0]
        b = replica(B, config=config, work=tmp_path, shards=2)
        started.append(b)
        wait_for(lambda: "msg=giving back shard" in a.log.read_text(), what="A giving back")
        # B goes round a few times (its heartbeat renewed): a shard given back would be
        # taken, and its notifications sent, by then. The held one must not be.
        seen: set[str] = set()

        def b_went_round() -> bool:
            seen.add(heartbeats(cluster, B))
            return len(seen - {""}) >= 8 or bool(hook.requests)

        wait_for(b_went_round, what="B's rounds")
        assert hook.requests == [], [r.json()["event"] for r in hook.requests]
        assert holder(cluster, given_back) == A
        hook.let_go()
        # A records it, gives the shard back, and B sends the other two.
        wait_for(lambda: holder(cluster, given_back) == B, what="B taking the shard")
        wait_for(lambda: all_delivered(cluster), what="every notification delivered")
    finally:
        for r in started:
            r.stop()
    per_delivery = Counter(r.delivery for r in hook.requests)
    assert set(per_delivery.values()) == {1}, per_delivery
    assert {r.json()["event"] for r in hook.accepted()} == EVENTS
    signed(hook)
    claims = app_docs(cluster)[app]["claims"]
    assert claims[hook.held]["holder"] == A and claims[hook.held]["done"] == "delivered"
    assert {c["holder"] for i, c in claims.items() if i != hook.held} == {B}
    for r in started:
        assert "Traceback" not in r.log.read_text(), r.log.read_text()[-3000:]


@contextlib.contextmanager
def holding_and_standing_by(
    *, tmp_path: Path, kube_clusters: Any, git_http: Any, receiver: Any, answer: int
) -> Iterator[tuple[Any, Any, str, ShardReplica, ShardReplica]]:
    """One shard: A holds it, its first notification held at the receiver (answered
    ``answer`` when let go); B stands by (A, first by name, has the one shard's quota).
    Yields (cluster, receiver, app, A, B); both are stopped at the end."""
    (cluster,) = kube_clusters(1)
    hook = receiver()
    app = app_in(0, 1)
    config = setup(cluster=cluster, git_http=git_http, hook=hook, work=tmp_path, app=app)
    hook.hold_next = (answer, {})
    started: list[ShardReplica] = []
    try:
        start_held(cluster=cluster, hook=hook, config=config, work=tmp_path, app=app, shards=1,
                   started=started)  # fmt: skip
        started.append(replica(B, config=config, work=tmp_path, shards=1))
        wait_for(lambda: heartbeats(cluster, B), what="B's heartbeat")
        yield cluster, hook, app, started[0], started[1]
    finally:
        for r in started:
            if r.proc.poll() is None:
                r.proc.send_signal(signal.SIGCONT)  # a frozen one stops too
            r.stop()


def test_a_holder_frozen_mid_delivery_is_not_doubled_by_its_successor(
    tmp_path: Path, kube_clusters: Any, git_http: Any, receiver: Any
) -> None:
    # The held request fails when answered: the receiver did not take it.
    with holding_and_standing_by(
        tmp_path=tmp_path, kube_clusters=kube_clusters, git_http=git_http, receiver=receiver,
        answer=503,
    ) as (cluster, hook, app, a, b):  # fmt: skip
        a.proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: holder(cluster, 0) == B, what="B taking the expired shard")
        # B sends the notifications A had not claimed, but not the one A is sending.
        others = EVENTS - {"release-created"}
        wait_for(
            lambda: {r.json()["event"] for r in hook.accepted()} >= others,
            what="B sending the app's other notifications",
        )  # fmt: skip
        assert hook.for_delivery(hook.held) == []
        assert "claimed by replica-a, who may still be sending it" in b.log.read_text()
        hook.let_go()
        a.proc.send_signal(signal.SIGCONT)
        # A, resumed, records nothing of the attempt it made under its lost term (and
        # takes the shard back: it is first by name). Once the claim of that term is
        # stale, the shard's holder sends it, with the same delivery id.
        wait_for(
            lambda: "not sent or recorded here" in a.log.read_text(),
            what="A, resumed, recording nothing",
        )  # fmt: skip
        wait_for(lambda: all_delivered(cluster), what="the held notification delivered")
    held = hook.for_delivery(hook.held)
    assert [r.status for r in held] == [503, 200], [(r.status, r.json()["event"]) for r in held]
    per_delivery = Counter(r.delivery for r in hook.accepted())
    assert set(per_delivery.values()) == {1}, per_delivery
    assert {r.json()["event"] for r in hook.accepted()} == EVENTS
    signed(hook)
    assert queued(cluster)[hook.held]["attempts"] == 1  # A's failed attempt: not recorded
    claims = app_docs(cluster)[app]["claims"]
    # Every delivery was sent and recorded under a term after the one A lost.
    assert all(c["term"] > 0 and c["done"] == "delivered" for c in claims.values()), claims


def test_a_holder_killed_after_the_receiver_took_it_resends_with_the_same_id(
    tmp_path: Path, kube_clusters: Any, git_http: Any, receiver: Any
) -> None:
    with holding_and_standing_by(
        tmp_path=tmp_path, kube_clusters=kube_clusters, git_http=git_http, receiver=receiver,
        answer=200,
    ) as (cluster, hook, _app, a, b):  # fmt: skip
        # A freezes; the receiver takes its request; A is killed before recording it.
        a.proc.send_signal(signal.SIGSTOP)
        hook.let_go()
        wait_for(lambda: hook.for_delivery(hook.held), what="the held request answered")
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        wait_for(lambda: all_delivered(cluster), what="B delivering everything")
    per_delivery = Counter(r.delivery for r in hook.accepted())
    # Sent twice, once by each, under one id: a receiver dropping ids it has seen
    # (X-Syncer-Delivery, Idempotency-Key) shows each event once.
    assert per_delivery[hook.held] == 2, per_delivery
    assert all(n == 1 for i, n in per_delivery.items() if i != hook.held), per_delivery
    assert len(per_delivery) == len(EVENTS)
    signed(hook)
    assert "sending it again (the receiver may have it: same delivery id)" in b.log.read_text()
