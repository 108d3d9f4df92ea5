"""Drift, field conflicts, health with a failing image, rollback, plan/diff."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

from syncer import apply
from syncer.config import model
from tests.apply.conftest import (
    APP,
    NS,
    OPEN_GATE,
    basic_set,
    config_map,
    deployment,
    reset_log,
    run_sync,
    settled,
)

pytestmark = pytest.mark.integration


def other_manager_applies(cluster: Any, obj: dict[str, Any], *, manager: str) -> None:
    """Server-side apply by another field manager, forced, with the real kubectl."""
    cluster.kubectl(
        "apply",
        "--server-side",
        f"--field-manager={manager}",
        "--force-conflicts",
        "-f",
        "-",
        input=yaml.safe_dump(obj),
        check=True,
    )


def test_drift_by_another_manager_is_reported_then_healed(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    report_only = model.SyncOptions(self_heal=False)
    first = run_sync(client, basic_set(), options=report_only)
    live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
    live["spec"]["replicas"] = 7
    cluster.put(live, manager="kubectl-edit")
    reset_log(cluster)
    report = apply.drift(
        client,
        app_name=APP,
        objects=basic_set(),
        options=report_only,
        gateway_policy=OPEN_GATE,
        namespace=NS,
        previous_inventory=first.inventory,
    )
    [item] = report.drifted
    assert item.message == "Deployment web/api: spec.replicas: 2 -> 7 (changed by kubectl-edit)"
    assert report.healed is None and settled(cluster).writes() == 0

    healed = apply.drift(
        client,
        app_name=APP,
        objects=basic_set(),
        options=model.SyncOptions(self_heal=True),
        gateway_policy=OPEN_GATE,
        namespace=NS,
        previous_inventory=first.inventory,
    )
    assert healed.healed is not None
    assert [str(ref) for ref in healed.healed.applied] == ["Deployment web/api"]
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS)["spec"]["replicas"] == 2


def test_an_object_deleted_by_someone_is_drift_and_comes_back(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, basic_set(), options=options)
    cluster.kubectl("delete", "configmap", "settings", "-n", NS, check=True)
    report = apply.drift(
        client,
        app_name=APP,
        objects=basic_set(),
        options=options,
        gateway_policy=OPEN_GATE,
        namespace=NS,
        previous_inventory=first.inventory,
    )
    assert [item.message for item in report.drifted] == [
        "ConfigMap web/settings: deleted by someone else"
    ]
    assert report.healed is not None and report.healed.created
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS) is not None


def test_conflict_with_another_manager_needs_force(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, basic_set(), options=options)
    theirs = deployment()
    theirs["spec"] = {
        "replicas": 5,
        "selector": theirs["spec"]["selector"],
        "template": theirs["spec"]["template"],
    }
    other_manager_applies(cluster, theirs, manager="hpa-tool")
    changed = basic_set()
    changed[0]["spec"]["replicas"] = 3
    with pytest.raises(apply.errors.FieldConflict) as caught:
        run_sync(client, changed, options=options, previous=first.inventory)
    text = str(caught.value)
    assert "Deployment web/api" in text and "hpa-tool" in text and "sync.force" in text
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS)["spec"]["replicas"] == 5
    forced = run_sync(
        client, changed, options=model.SyncOptions(force=True), previous=first.inventory
    )
    assert [str(ref) for ref in forced.applied] == ["Deployment web/api"]
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS)["spec"]["replicas"] == 3


def test_failing_image_is_unhealthy_and_rolls_back_to_the_previous_set(
    kube_clusters: Any, connect: Any
) -> None:
    dev, prod = kube_clusters(2, names=["dev", "prod"])
    options = model.SyncOptions(wait=20.0, rollback_on_failure=True)
    good = basic_set()
    bad = [
        deployment(image="registry.example.com/team/web:broken", progress_deadline=2),
        *basic_set()[1:],
        config_map("added-by-bad"),
    ]
    for cluster in (dev, prod):
        cluster.fail_image(":broken")
        client = connect(cluster)
        first = apply.deploy(
            client,
            app_name=APP,
            objects=good,
            options=options,
            gateway_policy=OPEN_GATE,
            namespace=NS,
            poll_interval=0.2,
        )
        assert first.ok and first.health.healthy, first.health.summary
        outcome = apply.deploy(
            client,
            app_name=APP,
            objects=bad,
            options=options,
            gateway_policy=OPEN_GATE,
            namespace=NS,
            previous_inventory=first.sync.inventory,
            previous_objects=good,
            poll_interval=0.2,
        )
        assert not outcome.ok and not outcome.health.timed_out
        [problem] = outcome.health.problems
        assert problem.startswith("Deployment web/api: ProgressDeadlineExceeded: "), problem
        assert outcome.rolled_back is not None and outcome.rollback_health is not None
        assert [str(r) for r in outcome.rolled_back.applied] == ["Deployment web/api"]
        assert [str(r) for r in outcome.rolled_back.pruned] == ["ConfigMap web/added-by-bad"]
        assert outcome.rollback_health.healthy, outcome.rollback_health.summary
        live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
        assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0")
        data = json.loads(json.dumps(outcome.to_json()))
        assert data["rolledBack"]["pruned"][0]["name"] == "added-by-bad"


def test_wait_times_out_with_a_reason_per_object(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    cluster.fail_image(":broken")
    client = connect(cluster)
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": NS},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"a": "db"}},
            "template": {
                "metadata": {"labels": {"a": "db"}},
                "spec": {"containers": [{"name": "db", "image": "db:broken"}]},
            },
        },
    }
    result = run_sync(client, [statefulset, config_map("c")], options=model.SyncOptions())
    report = apply.wait_healthy(
        client, app_name=APP, inventory=result.inventory, timeout=3.0, interval=0.2
    )
    assert report.timed_out and not report.healthy
    assert report.problems == ["StatefulSet web/db: 0 of 2 replicas ready"]
    assert re.fullmatch(
        r"timed out after \d+s: StatefulSet web/db: 0 of 2 replicas ready", report.summary
    ), report.summary


def test_plan_shows_a_unified_diff_and_a_summary_without_writing(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": NS},
        "stringData": {"password": "hunter2"},
    }
    first = run_sync(client, [*basic_set(), config_map("old"), secret], options=options)
    desired = basic_set()
    desired[0]["spec"]["replicas"] = 3
    secret2 = copy.deepcopy(secret)
    secret2["stringData"]["password"] = "hunter3"
    reset_log(cluster)
    plan = apply.plan(
        client,
        app_name=APP,
        objects=[*desired, config_map("new"), secret2],
        options=options,
        gateway_policy=OPEN_GATE,
        namespace=NS,
        previous_inventory=first.inventory,
    )
    assert settled(cluster).writes() == 0
    assert plan.summary == {"create": 1, "update": 2, "delete": 1, "unchanged": 2, "orphan": 0}
    actions = {str(item.ref): item.action for item in plan.objects}
    assert actions["Deployment web/api"] == "update"
    assert actions["ConfigMap web/old"] == "delete"
    deployment_diff = next(i.diff for i in plan.objects if i.ref.kind == "Deployment")
    assert "--- live/Deployment/web/api\n+++ desired/Deployment/web/api\n" in deployment_diff
    assert "-  replicas: 2\n+  replicas: 3\n" in deployment_diff
    assert "managedFields" not in plan.diff and "resourceVersion" not in plan.diff
    assert "hunter" not in plan.diff
    assert json.loads(json.dumps(plan.to_json()))["summary"]["update"] == 2


def migration_job(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "migrate",
            "namespace": NS,
            "annotations": {"syncer.io/sync-wave": "-1"},
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": image}]}
            },
        },
    }


def test_a_wave_must_be_healthy_before_the_next_one_starts(
    kube_clusters: Any, connect: Any
) -> None:
    good, bad = kube_clusters(2, names=["good", "bad"])
    options = model.SyncOptions(wait=15.0)
    result = run_sync(connect(good), [deployment(), migration_job("migrate:1")], options=options)
    assert [str(r) for r in result.applied] == ["Job web/migrate", "Deployment web/api"]
    job = good.get("batch/v1", "Job", "migrate", namespace=NS)
    assert any(c["type"] == "Complete" for c in job["status"]["conditions"])

    bad.fail_image(":broken")
    with pytest.raises(apply.errors.WaveUnhealthy) as caught:
        run_sync(connect(bad), [deployment(), migration_job("migrate:broken")], options=options)
    assert (
        "sync wave -1 is not healthy, later waves were not applied: Job web/migrate: "
        "BackoffLimitExceeded" in str(caught.value)
    )
    assert [str(r) for r in caught.value.partial.applied] == ["Job web/migrate"]
    assert bad.get("apps/v1", "Deployment", "api", namespace=NS) is None


def test_a_sync_that_fails_part_way_is_rolled_back(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    options = model.SyncOptions(wait=10.0)
    gate = model.GatewayPolicy(allowed_namespaces=(NS, "zz-missing"))
    good = basic_set()
    first = apply.deploy(
        client,
        app_name=APP,
        objects=good,
        options=options,
        gateway_policy=gate,
        namespace=NS,
        poll_interval=0.2,
    )
    assert first.ok
    elsewhere = config_map("elsewhere", ns="zz-missing")  # its namespace does not exist
    changed = basic_set()
    changed[2]["data"] = {"k": "new"}
    with pytest.raises(apply.errors.NotFound) as caught:
        apply.deploy(
            client,
            app_name=APP,
            objects=[*changed, config_map("extra"), elsewhere],
            options=options,
            gateway_policy=gate,
            namespace=NS,
            previous_inventory=first.sync.inventory,
            previous_objects=good,
            poll_interval=0.2,
        )
    rolled = caught.value.rolled_back
    assert rolled is not None
    assert [str(r) for r in rolled.applied] == ["ConfigMap web/settings"]
    assert [str(r) for r in rolled.pruned] == ["ConfigMap web/extra"]
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS)["data"] == {"k": "v"}
    assert cluster.get("v1", "ConfigMap", "extra", namespace=NS) is None


def test_a_deleted_object_is_missing_not_healthy(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    result = run_sync(
        client, [config_map("settings"), config_map("other")], options=model.SyncOptions()
    )
    cluster.kubectl("delete", "configmap", "other", "-n", NS, check=True)
    report = apply.wait_healthy(
        client, app_name=APP, inventory=result.inventory, timeout=0.3, interval=0.1
    )
    assert not report.healthy and report.timed_out
    assert report.problems == ["ConfigMap web/other: not found on the cluster"]
    assert [item.status for item in report.objects] == ["Missing", "Healthy"]


def test_plan_on_an_empty_cluster_creates_everything_and_writes_nothing(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    from tests.apply.conftest import CRD, widget

    [cluster] = kube_clusters(1)
    plan = apply.plan(
        connect(cluster),
        app_name=APP,
        objects=[*basic_set(), CRD, widget()],
        options=options,
        gateway_policy=OPEN_GATE,
        namespace=NS,
    )
    assert plan.summary["create"] == 5 and plan.summary["update"] == 0
    assert "+++ desired/Widget/web/blue" in plan.diff
    assert settled(cluster).writes() == 0
    assert cluster.get("v1", "Namespace", NS) is None
