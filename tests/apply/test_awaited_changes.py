"""A rollout left waiting for health is brought back by the watch when one of its
objects settles (healthy, failed or gone), not at each status update on the way: on a
real apiserver, a Deployment of two replicas passes through several statuses while its
pods start, and each call back was a pass of the whole app."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from syncer import apply
from syncer.apply import health, informer
from tests.apply.conftest import APP, NS, OPEN_GATE, deployment
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def test_a_waiting_rollout_is_called_back_once_its_deployment_is_available(
    kube_clusters: Any, connect: Any, options: Any
) -> None:
    [cluster] = kube_clusters(1, workload_delay=3.0)
    client = connect(cluster)
    seen: list[str] = []
    called = threading.Event()

    def progressed(app: str) -> None:
        # What the cluster holds at the call: the change that brought the app back.
        live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
        seen.append(f"{app}: {health.assess(live).status}")
        called.set()

    client.watches = informer.Watches(client, progressed=progressed)
    try:
        apply.sync(
            client, app_name=APP, objects=[deployment(replicas=2)], options=options,
            gateway_policy=OPEN_GATE, namespace=NS,
        )  # fmt: skip
        assert eventually(
            lambda: client.watches.owned(
                api_version="apps/v1", kind="Deployment", namespace=NS, app_name=APP
            ),
            timeout=10,
        )
        live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
        assert health.assess(live).status == health.PROGRESSING  # pods are Ready 3 s later
        client.watches.await_change(APP)
        assert called.wait(30), "never called back"
        assert seen == [f"{APP}: {health.HEALTHY}"]
    finally:
        client.watches.stop()
