"""Syncing, checking drift and judging health read the objects they are given and never
change them: the controller hands them the render it keeps for the app's later passes
(``reconcile.decide.RenderCache``), so a change made here would be applied again, or
taken for drift, by every pass after it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from syncer import apply
from tests.apply.conftest import CRD, NS, OPEN_GATE, config_map, deployment, service, widget

pytestmark = pytest.mark.integration

APP = "given"


def the_set(version: str) -> list[dict[str, Any]]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": NS, "annotations": {"v": version}},
        "stringData": {"password": f"s3cret-{version}"},
        "status": {},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"migrate-{version}", "namespace": NS},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": f"registry.example.com/m:{version}"}],
                }
            }
        },
    }
    web = deployment(image=f"registry.example.com/web:{version}")
    web["metadata"]["resourceVersion"] = "1"  # server metadata, left out of the write
    return [
        copy.deepcopy(CRD), widget(), web, service(), config_map("settings", {"v": version}),
        secret, job,
    ]  # fmt: skip


def test_sync_drift_and_health_leave_the_objects_they_are_given_as_they_were(
    kube_clusters: Any, connect: Any, options: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    inventory: list[apply.ObjectRef] = []
    for version in ("1.0.0", "1.1.0"):  # created, then changed (dry runs, then writes)
        given = the_set(version)
        kept = copy.deepcopy(given)
        result = apply.sync(
            client, app_name=APP, objects=given, options=options, gateway_policy=OPEN_GATE,
            namespace=NS, previous_inventory=inventory,
        )  # fmt: skip
        assert given == kept
        inventory = list(result.inventory)
    cluster.kubectl(
        "patch", "configmap", "settings", "-n", NS, "--type=merge", "-p", '{"data":{"v":"x"}}',
        check=True,
    )  # fmt: skip
    report = apply.drift(
        client, app_name=APP, objects=given, options=options, gateway_policy=OPEN_GATE,
        namespace=NS, previous_inventory=inventory,
    )  # fmt: skip
    assert report.drifted and given == kept
    health = apply.wait_healthy(client, app_name=APP, inventory=inventory, timeout=1.0)
    assert health.objects and given == kept
