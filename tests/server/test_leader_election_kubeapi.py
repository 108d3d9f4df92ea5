"""Leader election against a Kubernetes API (the project's test server): the real Lease
client, the real kubernetes client, two electors over HTTP."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncer import errors
from syncer.apply import lease
from syncer.config import model
from syncer.server import leader

NAMESPACE_YAML = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: syncer\n"
FAST = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.25}

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], bool], *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Events:
    def __init__(self) -> None:
        self.log: list[str] = []

    def started(self) -> None:
        self.log.append("started")

    def stopped(self) -> None:
        self.log.append("stopped")


@pytest.fixture
def cluster(kube_clusters: Callable[..., list[Any]]) -> Any:
    (kube,) = kube_clusters(1)
    kube.kubectl("apply", "--server-side", "-f", "-", input=NAMESPACE_YAML, check=True)
    return kube


def settings(cluster: Any, identity: str) -> leader.Settings:
    return leader.Settings(
        namespace="syncer",
        name="syncer-leader",
        identity=identity,
        advertise_url=f"http://{identity}.example:8080",
        cluster=model.Cluster(name="k", kubeconfig=cluster.kubeconfig, context=cluster.context),
        **FAST,
    )


@pytest.fixture
def electors(cluster: Any) -> Iterator[Callable[[str], tuple[leader.LeaderElector, Events]]]:
    made: list[leader.LeaderElector] = []

    def make(identity: str) -> tuple[leader.LeaderElector, Events]:
        events = Events()
        elector = leader.elector(
            settings=settings(cluster, identity),
            on_started_leading=events.started,
            on_stopped_leading=events.stopped,
        )
        made.append(elector)
        return elector, events

    yield make
    for elector in made:
        elector.stop()


def lease_spec(cluster: Any) -> dict[str, Any]:
    obj = cluster.get("coordination.k8s.io/v1", "Lease", "syncer-leader", "syncer")
    assert obj is not None
    return obj["spec"]


def test_one_leads_and_the_other_takes_over_after_the_lease_expires(
    cluster: Any, electors: Callable[[str], tuple[leader.LeaderElector, Events]]
) -> None:
    a, a_events = electors("replica-a")
    b, b_events = electors("replica-b")
    a.start()
    wait_for(lambda: a.is_leader)
    b.start()
    wait_for(lambda: b.leader == "replica-a")
    spec = lease_spec(cluster)
    assert spec["holderIdentity"] == "replica-a"
    assert spec["leaseDurationSeconds"] == 2
    assert spec.get("leaseTransitions", 0) == 0
    # The standby knows where the leader answers, to forward webhooks to it.
    assert b.leader_url() == "http://replica-a.example:8080"
    assert a.leader_url() is None
    first_renew = spec["renewTime"]
    wait_for(lambda: lease_spec(cluster)["renewTime"] != first_renew)  # a keeps renewing
    assert not b.is_leader

    a.stop(release=False)  # a dies without releasing: b waits for the expiry
    stopped_at = time.monotonic()
    assert a_events.log == ["started", "stopped"]
    wait_for(lambda: b.is_leader)
    assert time.monotonic() - stopped_at >= 1.0  # not before the lease could expire
    spec = lease_spec(cluster)
    assert spec["holderIdentity"] == "replica-b"
    assert spec["leaseTransitions"] == 1
    assert b_events.log == ["started"]
    assert b.leader_url() is None


def test_released_lease_is_taken_over_at_once(
    cluster: Any, electors: Callable[[str], tuple[leader.LeaderElector, Events]]
) -> None:
    a, _ = electors("replica-a")
    b, _ = electors("replica-b")
    a.start()
    wait_for(lambda: a.is_leader)
    b.start()
    wait_for(lambda: b.leader == "replica-a")
    a.stop()
    assert lease_spec(cluster)["holderIdentity"] in ("", None, "replica-b")
    wait_for(lambda: b.is_leader, timeout=1.5)  # under the 2s lease duration
    assert lease_spec(cluster)["holderIdentity"] == "replica-b"


def test_lease_client_turns_api_errors_into_syncer_errors(cluster: Any) -> None:
    client = lease.connect(
        cluster=model.Cluster(name="k", kubeconfig=cluster.kubeconfig, context=cluster.context),
        namespace="syncer",
        name="other-lease",
    )
    try:
        assert client.get() is None
        created = client.create(lease.LeaseRecord(holder="x", duration=5))
        assert created.resource_version
        with pytest.raises(lease.LeaseConflict):
            client.create(lease.LeaseRecord(holder="y", duration=5))
        renewed = client.replace(dataclasses.replace(created, holder="x2"))
        assert renewed.holder == "x2"
        assert renewed.resource_version != created.resource_version
        with pytest.raises(lease.LeaseConflict):
            client.replace(dataclasses.replace(created, holder="y"))  # stale resourceVersion
        assert client.get() == renewed
    finally:
        client.close()
    missing_ns = lease.connect(
        cluster=model.Cluster(name="k", kubeconfig=cluster.kubeconfig, context=cluster.context),
        namespace="no-such-namespace",
        name="l",
    )
    try:
        with pytest.raises(errors.PermanentError, match="no-such-namespace"):
            missing_ns.create(lease.LeaseRecord(holder="x", duration=5))
    finally:
        missing_ns.close()


def test_unreachable_api_is_a_temporary_error(cluster: Any) -> None:
    client = lease.connect(
        cluster=model.Cluster(name="k", kubeconfig=cluster.kubeconfig, context=cluster.context),
        namespace="syncer",
        name="l",
        timeout=2,
    )
    cluster.stop()
    try:
        with pytest.raises(errors.TemporaryError, match="unreachable"):
            client.get()
    finally:
        cluster.start()
        client.close()


def test_forbidden_lease_access_names_the_fix(cluster: Any, tmp_path: Any) -> None:
    token = cluster.make_token(verbs=["get"], resources=["configmaps"])
    kubeconfig = tmp_path / "limited"
    cluster.kubeconfig_for(token, str(kubeconfig))
    client = lease.connect(
        cluster=model.Cluster(name="k", kubeconfig=str(kubeconfig)),
        namespace="syncer",
        name="l",
    )
    try:
        with pytest.raises(errors.PermanentError, match="grant the service account"):
            client.get()
    finally:
        client.close()
