"""sync against the API test server, two clusters at once: order, no-change, change,
prune, ownership, namespace creation."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import apply
from syncer import errors as syncer_errors
from syncer.config import model
from tests.apply.conftest import (
    CRD,
    NS,
    basic_set,
    config_map,
    deployment,
    reset_log,
    run_sync,
    service,
    settled,
    widget,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def patched_paths(cluster: Any) -> list[str]:
    """Paths of the real writes (not the dry runs, which go side by side first)."""
    return [r.path for r in settled(cluster) if r.method == "PATCH" and "dryRun=All" not in r.query]


def test_first_apply_in_order_with_a_crd_and_its_resource_on_two_clusters(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    objects = [widget(), deployment(), service(), config_map("settings"), CRD]
    for cluster in kube_clusters(2, names=["dev", "prod"]):
        result = run_sync(connect(cluster), objects, options=options)
        assert [str(ref) for ref in result.applied] == [
            "CustomResourceDefinition widgets.example.com",
            "ConfigMap web/settings",
            "Service web/api",
            "Deployment web/api",
            "Widget web/blue",
        ]
        assert result.created == result.applied and result.namespace_created
        kinds = [p.split("/")[-2] for p in patched_paths(cluster)]
        assert list(dict.fromkeys(kinds)) == [
            "customresourcedefinitions",
            "configmaps",
            "services",
            "deployments",
            "widgets",
        ]
        assert cluster.get("example.com/v1", "Widget", "blue", namespace=NS)["spec"] == {"size": 3}
        live = cluster.get("apps/v1", "Deployment", "api", namespace=NS)
        assert live["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "syncer",
            "syncer.io/app": "web",
        }
        assert any(
            entry["manager"] == "syncer" and entry["operation"] == "Apply"
            for entry in live["metadata"]["managedFields"]
        )
        assert cluster.get("v1", "Namespace", NS) is not None
        assert len(result.inventory) == 5


def test_reapply_without_change_makes_zero_writes_one_list_per_kind(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    objects = [*basic_set(), CRD, widget()]
    first = run_sync(connect(cluster), objects, options=options)
    # A fresh client (a restarted controller) must not write either.
    for client in (connect(cluster), connect(cluster)):
        reset_log(cluster)
        again = run_sync(client, objects, options=options, previous=first.inventory)
        assert again.writes == 0 and settled(cluster).writes() == 0
        assert again.applied == [] and len(again.unchanged) == 5
        lists = [
            r for r in settled(cluster) if r.method == "GET" and "labelSelector" in str(r.query)
        ]
        assert len(lists) == 5  # one LIST per kind and namespace
        assert all(r.method == "GET" for r in settled(cluster))
    assert again.inventory == first.inventory


def test_changing_one_field_writes_only_that_object(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, basic_set(), options=options)
    changed = basic_set()
    changed[0]["spec"]["replicas"] = 3
    reset_log(cluster)
    result = run_sync(client, changed, options=options, previous=first.inventory)
    assert [str(ref) for ref in result.applied] == ["Deployment web/api"]
    assert result.writes == 1 == settled(cluster).writes()
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS)["spec"]["replicas"] == 3


def test_removed_objects_are_pruned_in_reverse_order(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, [*basic_set(), CRD, widget()], options=options)
    reset_log(cluster)
    result = run_sync(client, [config_map("settings")], options=options, previous=first.inventory)
    assert [str(ref) for ref in result.pruned] == [
        "Widget web/blue",
        "Deployment web/api",
        "Service web/api",
        "CustomResourceDefinition widgets.example.com",
    ]
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS) is None
    assert cluster.get("v1", "Service", "api", namespace=NS) is None
    assert [str(ref) for ref in result.inventory] == ["ConfigMap web/settings"]
    assert settled(cluster).count(method="DELETE") == 4


def test_prune_off_reports_orphans_and_keeps_tracking_them(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    keep = model.SyncOptions(prune=False, wait=5)
    first = run_sync(client, basic_set(), options=keep)
    result = run_sync(client, [config_map("settings")], options=keep, previous=first.inventory)
    assert sorted(str(ref) for ref in result.orphans) == ["Deployment web/api", "Service web/api"]
    assert result.pruned == [] and settled(cluster).count(method="DELETE") == 0
    assert cluster.get("v1", "Service", "api", namespace=NS) is not None
    # Turning prune on later deletes them, from the recorded inventory.
    later = run_sync(client, [config_map("settings")], options=options, previous=result.inventory)
    assert sorted(str(ref) for ref in later.pruned) == ["Deployment web/api", "Service web/api"]


def test_an_object_taken_over_by_another_app_is_not_pruned(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, [config_map("settings"), config_map("shared")], options=options)
    taken = cluster.get("v1", "ConfigMap", "shared", namespace=NS)
    taken["metadata"]["labels"]["syncer.io/app"] = "other"
    cluster.put(taken, manager="someone")
    result = run_sync(client, [config_map("settings")], options=options, previous=first.inventory)
    assert result.pruned == []
    assert result.skipped == ["ConfigMap web/shared: not pruned, it now belongs to app 'other'"]
    assert cluster.get("v1", "ConfigMap", "shared", namespace=NS) is not None


def test_an_object_owned_by_another_app_is_a_conflict_and_nothing_is_written(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    run_sync(client, [config_map("shared")], options=options, app="other")
    reset_log(cluster)
    with pytest.raises(apply.errors.OwnershipConflict) as caught:
        run_sync(client, [config_map("mine"), config_map("shared")], options=options)
    assert isinstance(caught.value, syncer_errors.PermanentError)
    assert str(caught.value) == (
        "ConfigMap web/shared on cluster belongs to app 'other' (label syncer.io/app); app "
        "'web' will not touch it: remove it from one of the two apps"
    )
    assert settled(cluster).writes() == 0
    assert cluster.get("v1", "ConfigMap", "mine", namespace=NS) is None


def test_namespace_not_created_when_disabled(kube_clusters: Any, connect: Any) -> None:
    [cluster] = kube_clusters(1)
    with pytest.raises(apply.errors.NotFound, match=r"set sync\.createNamespace: true"):
        run_sync(
            connect(cluster), [config_map("a")], options=model.SyncOptions(create_namespace=False)
        )
    assert cluster.get("v1", "Namespace", NS) is None


def test_an_unknown_kind_fails_before_any_write(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    with pytest.raises(
        apply.errors.UnknownKind,
        match=r"no resource serves kind Widget in apiVersion example\.com/v1",
    ):
        run_sync(connect(cluster), [config_map("a"), widget()], options=options)
    assert settled(cluster).writes() == 0


def test_results_serialize_to_json(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    import json

    [cluster] = kube_clusters(1)
    result = run_sync(connect(cluster), basic_set(), options=options)
    data = json.loads(json.dumps(result.to_json()))
    assert data["applied"][0] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": NS,
        "name": "settings",
    }
    inventory = [apply.ObjectRef.from_json(item) for item in data["inventory"]]
    assert inventory == result.inventory


def test_a_partial_failure_reports_what_was_written(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    elsewhere = deployment()
    elsewhere["metadata"]["namespace"] = "missing"
    gate = model.GatewayPolicy(allowed_namespaces=(NS, "missing"))
    with pytest.raises(apply.errors.NotFound) as caught:
        run_sync(
            connect(cluster),
            [config_map("settings"), service(), elsewhere],
            options=options,
            gate=gate,
        )
    assert str(caught.value) == (
        "cluster kube-0: namespace 'missing' of Deployment missing/api does not exist (only "
        "the app's own namespace is created automatically)"
    )
    partial = caught.value.partial
    assert [str(ref) for ref in partial.applied] == ["ConfigMap web/settings", "Service web/api"]
    assert [str(ref) for ref in partial.inventory] == ["ConfigMap web/settings", "Service web/api"]
    # the namespace (made before the dry runs that check the set), two applies, the failed one
    assert partial.writes == 4


def test_sync_wave_annotation_overrides_kind_order(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    migrate = config_map("migrate-first")
    migrate["metadata"]["annotations"] = {"syncer.io/sync-wave": "-1"}
    late = config_map("after-workloads")
    late["metadata"]["annotations"] = {"syncer.io/sync-wave": "1"}
    result = run_sync(connect(cluster), [late, deployment(), migrate, service()], options=options)
    assert [str(ref) for ref in result.applied] == [
        "ConfigMap web/migrate-first",
        "Service web/api",
        "Deployment web/api",
        "ConfigMap web/after-workloads",
    ]


def test_a_crd_deleted_behind_our_back_makes_its_kind_unknown(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, [CRD, widget()], options=options)
    cluster.kubectl("delete", "crd", "widgets.example.com", check=True)
    with pytest.raises(apply.errors.UnknownKind, match="kind Widget"):
        run_sync(client, [widget()], options=options, previous=first.inventory)


def test_a_misspelt_field_is_an_error_naming_it(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    typo = deployment()
    typo["spec"]["replica"] = 3
    with pytest.raises(apply.errors.InvalidObject, match=r"Deployment web/api.*replica"):
        run_sync(connect(cluster), [typo], options=options)
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS) is None


def test_a_wrongly_typed_field_is_an_invalid_object(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    bad = deployment()
    bad["spec"]["replicas"] = "many"
    with pytest.raises(apply.errors.InvalidObject, match="Deployment web/api") as caught:
        run_sync(connect(cluster), [config_map("settings"), bad], options=options)
    assert isinstance(caught.value, syncer_errors.PermanentError)
    # The dry run of the whole set refused it before any object was written.
    assert caught.value.partial.applied == []
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS) is None


def test_an_empty_render_never_prunes_everything(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, basic_set(), options=options)
    with pytest.raises(apply.errors.EmptyRender, match="has no objects but owns 3 there"):
        run_sync(client, [], options=options, previous=first.inventory)
    assert settled(cluster).count(method="DELETE") == 0
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS) is not None


def test_remove_deletes_what_the_app_owns_only(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    first = run_sync(client, [*basic_set(), CRD, widget()], options=options)
    run_sync(client, [config_map("theirs")], options=options, app="other")
    result = apply.remove(client, app_name="web", inventory=first.inventory)
    assert len(result.pruned) == 5 and result.inventory == []
    assert cluster.get("v1", "ConfigMap", "theirs", namespace=NS) is not None
    # A CRD goes once its custom resources are gone (the customresourcecleanup finalizer).
    assert eventually(
        lambda: (
            cluster.get(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"
            )
            is None
        )
    )
