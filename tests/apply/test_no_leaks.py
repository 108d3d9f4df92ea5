"""No kubernetes/urllib3 exception leaves syncer.apply: every failure is a SyncerError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncer import apply
from syncer import errors as syncer_errors
from syncer.config import model
from tests.apply.conftest import APP, NS, OPEN_GATE, basic_set

pytestmark = pytest.mark.integration

CALLS: dict[str, Callable[[apply.ClusterClient], Any]] = {
    "sync": lambda c: apply.sync(
        c,
        app_name=APP,
        objects=basic_set(),
        options=model.SyncOptions(),
        gateway_policy=OPEN_GATE,
        namespace=NS,
    ),
    "plan": lambda c: apply.plan(
        c,
        app_name=APP,
        objects=basic_set(),
        options=model.SyncOptions(),
        gateway_policy=OPEN_GATE,
        namespace=NS,
    ),
    "drift": lambda c: apply.drift(
        c,
        app_name=APP,
        objects=basic_set(),
        options=model.SyncOptions(),
        gateway_policy=OPEN_GATE,
        namespace=NS,
    ),
    "wait_healthy": lambda c: apply.wait_healthy(
        c, app_name=APP, inventory=[apply.ObjectRef("v1", "ConfigMap", NS, "x")], timeout=1
    ),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("mode", ["down", "500", "drop", "forbidden"])
def test_failures_are_syncer_errors(
    kube_clusters: Any, tmp_path: Any, call: str, mode: str
) -> None:
    [cluster] = kube_clusters(1)
    path = str(cluster.kubeconfig)
    if mode == "forbidden":
        path = str(tmp_path / "nobody.kubeconfig")
        cluster.kubeconfig_for(cluster.make_token(verbs=["create"]), path)
    client = apply.connect(
        model.Cluster(
            name="c", kubeconfig=path, context="" if mode == "forbidden" else cluster.context, qps=0
        )
    )
    client.retry = apply.RetryPolicy(attempts=2, base_delay=0.01, connect_attempts=1)
    if mode == "down":
        cluster.stop()
    elif mode == "500":
        cluster.set_fault("status", status=500)
    elif mode == "drop":
        cluster.set_fault("drop")
    with pytest.raises(syncer_errors.SyncerError) as caught:
        CALLS[call](client)
    expected = {
        "down": apply.errors.ClusterUnreachable,
        "500": apply.errors.ApiUnavailable,
        "drop": apply.errors.ClusterUnreachable,
        "forbidden": apply.errors.Unauthorized,
    }
    assert isinstance(caught.value, expected[mode]), repr(caught.value)
    assert "cluster c: " in str(caught.value)
