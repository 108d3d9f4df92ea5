"""``plan`` and ``sync`` agree: fields taken over imperatively, objects syncer did not
create (adoption), and changes to immutable fields (replace)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from syncer import apply
from syncer.config import model
from tests.apply.conftest import APP, NS, OPEN_GATE, config_map, deployment, run_sync

pytestmark = pytest.mark.integration


def run_plan(
    client: apply.ClusterClient,
    objects: list[dict[str, Any]],
    *,
    options: model.SyncOptions,
    previous: list[apply.ObjectRef] | None = None,
) -> apply.PlanResult:
    return apply.plan(
        client,
        app_name=APP,
        objects=copy.deepcopy(objects),
        options=options,
        gateway_policy=OPEN_GATE,
        namespace=NS,
        previous_inventory=previous or [],
    )


def job(image: str, *, name: str = "migrate") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": image}],
                }
            },
        },
    }


def annotated(obj: dict[str, Any], key: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("annotations", {})[key] = "true"
    return obj


def test_plan_shows_a_scaled_deployment_taken_back_as_sync_does(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    options = model.SyncOptions(wait=5.0)
    first = run_sync(client, [deployment(replicas=2)], options=options)
    live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
    live["spec"]["replicas"] = 5
    cluster.put(live, manager="kubectl-scale")

    plan = run_plan(client, [deployment(replicas=2)], options=options, previous=first.inventory)

    [item] = plan.objects
    assert item.action == "update"
    assert item.fields == ["spec.replicas: 5 -> 2 (set by kubectl-scale)"]
    assert "-  replicas: 5\n" in item.diff and "+  replicas: 2\n" in item.diff
    assert "# Deployment web/api: spec.replicas: 5 -> 2" in plan.diff
    synced = run_sync(client, [deployment(replicas=2)], options=options, previous=first.inventory)
    assert [str(r) for r in synced.applied] == ["Deployment web/api"]
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS)["spec"]["replicas"] == 2


def test_an_object_syncer_did_not_create_is_refused_by_plan_and_sync(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    options = model.SyncOptions(wait=5.0)
    run_sync(client, [config_map("settings")], options=options)
    cluster.put(config_map("adoptme", {"k": "handmade"}), manager="kubectl-create")
    desired = [config_map("settings"), config_map("adoptme", {"k": "from-git"})]

    with pytest.raises(apply.errors.OwnershipConflict) as planned:
        run_plan(client, desired, options=options)
    with pytest.raises(apply.errors.OwnershipConflict) as synced:
        run_sync(client, desired, options=options)

    for err in (planned.value, synced.value):
        message = str(err)
        assert "ConfigMap web/adoptme already exists" in message
        assert "made by kubectl-create" in message
        assert 'syncer.io/adopt: "true"' in message and "sync.force" in message
    live = cluster.get("v1", "ConfigMap", "adoptme", namespace=NS)
    assert live["data"] == {"k": "handmade"}
    assert "syncer.io/app" not in (live["metadata"].get("labels") or {})


def test_adoption_asked_for_is_planned_and_recorded(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    options = model.SyncOptions(wait=5.0)
    run_sync(client, [config_map("settings")], options=options)
    cluster.put(config_map("adoptme", {"k": "handmade"}), manager="kubectl-create")
    desired = [
        config_map("settings"),
        annotated(config_map("adoptme", {"k": "from-git"}), "syncer.io/adopt"),
    ]

    plan = run_plan(client, desired, options=options)
    item = next(i for i in plan.objects if i.ref.name == "adoptme")
    assert item.action == "adopt"
    assert item.note == "adopted ConfigMap web/adoptme (was created by kubectl-create)"
    assert "data.k: 'handmade' -> 'from-git' (set by kubectl-create)" in item.fields

    result = run_sync(client, desired, options=options)
    assert result.adopted == ["adopted ConfigMap web/adoptme (was created by kubectl-create)"]
    live = cluster.get("v1", "ConfigMap", "adoptme", namespace=NS)
    assert live["data"] == {"k": "from-git"} and live["metadata"]["labels"]["syncer.io/app"] == APP
    # Once adopted, it is the app's: no adoption any more, nothing to do.
    again = run_sync(client, desired, options=options, previous=result.inventory)
    assert again.adopted == [] and not again.applied


def test_force_adopts_too(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    forced = model.SyncOptions(wait=5.0, force=True)
    run_sync(client, [config_map("settings")], options=forced)
    cluster.put(config_map("adoptme", {"k": "handmade"}), manager="kubectl-create")
    result = run_sync(client, [config_map("adoptme", {"k": "git"})], options=forced)
    assert result.adopted == ["adopted ConfigMap web/adoptme (was created by kubectl-create)"]


def test_a_changed_job_is_planned_as_replace_and_replaced(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    options = model.SyncOptions(wait=5.0)
    first = run_sync(client, [job("registry.example.com/migrate:1")], options=options)
    uid = cluster.get("batch/v1", "Job", "migrate", namespace=NS)["metadata"]["uid"]
    changed = [job("registry.example.com/migrate:2")]

    plan = run_plan(client, changed, options=options, previous=first.inventory)
    [item] = plan.objects
    assert item.action == "replace" and plan.summary["replace"] == 1
    assert "image: registry.example.com/migrate:2" in item.diff
    assert cluster.get("batch/v1", "Job", "migrate", namespace=NS)["metadata"]["uid"] == uid

    result = run_sync(client, changed, options=options, previous=first.inventory)
    assert [str(r) for r in result.replaced] == ["Job web/migrate"]
    live = cluster.get("batch/v1", "Job", "migrate", namespace=NS)
    assert live["metadata"]["uid"] != uid
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith("migrate:2")
    assert result.to_json()["replaced"] == [r.to_json() for r in result.replaced]


def test_immutable_field_of_other_kinds_needs_the_replace_annotation(
    kube_clusters: Any, connect: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    options = model.SyncOptions(wait=5.0)
    first = run_sync(client, [deployment()], options=options)
    moved = deployment()
    moved["spec"]["selector"]["matchLabels"] = {"app": "api", "tier": "web"}
    moved["spec"]["template"]["metadata"]["labels"] = {"app": "api", "tier": "web"}

    with pytest.raises(apply.errors.InvalidObject) as planned:
        run_plan(client, [moved], options=options, previous=first.inventory)
    with pytest.raises(apply.errors.InvalidObject) as synced:
        run_sync(client, [moved], options=options, previous=first.inventory)
    for err in (planned.value, synced.value):
        assert "spec.selector" in str(err) and "field is immutable" in str(err)
        assert 'syncer.io/replace: "true"' in str(err)

    allowed = [annotated(moved, "syncer.io/replace")]
    assert run_plan(client, allowed, options=options).objects[0].action == "replace"
    result = run_sync(client, allowed, options=options, previous=first.inventory)
    assert [str(r) for r in result.replaced] == ["Deployment web/api"]
    live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
    assert live["spec"]["selector"]["matchLabels"] == {"app": "api", "tier": "web"}


def test_adoption_takes_over_fields_another_tool_applied(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    options = model.SyncOptions(wait=5.0)
    run_sync(client, [config_map("settings")], options=options)
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=helm", "-f", "-",
        input=yaml.safe_dump(config_map("adoptme", {"k": "from-helm"})),
        check=True,
    )  # fmt: skip
    desired = [annotated(config_map("adoptme", {"k": "from-git"}), "syncer.io/adopt")]
    plan = run_plan(client, desired, options=options)
    assert plan.objects[0].action == "adopt"
    result = run_sync(client, desired, options=options)
    assert result.adopted == ["adopted ConfigMap web/adoptme (was created by helm)"]
    assert cluster.get("v1", "ConfigMap", "adoptme", namespace=NS)["data"] == {"k": "from-git"}
