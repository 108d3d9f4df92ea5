"""Object semantics over raw REST: metadata, concurrency, namespaces, deletion, GC, dry runs."""

from __future__ import annotations

import pytest

from tests.kubeapi import cluster
from tests.kubeapi.conftest import Api, configmap, deployment, namespace

pytestmark = pytest.mark.integration

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


def test_create_sets_uid_timestamps_and_a_cluster_wide_resource_version(api: Api) -> None:
    first = api.call("POST", CM, configmap("a", {"k": "v"}))
    assert first.status_code == 201
    a = first.json()
    assert len(a["metadata"]["uid"]) == 36 and a["metadata"]["creationTimestamp"].endswith("Z")
    assert "generation" not in a["metadata"]  # ConfigMaps have no generation, as on kube-apiserver
    b = api.call("POST", "/api/v1/namespaces", namespace("other")).json()
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    listed = api.call("GET", CM).json()
    assert listed["kind"] == "ConfigMapList" and listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) >= int(b["metadata"]["resourceVersion"])
    again = api.call("POST", CM, configmap("a", {"k": "v"}))
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"
    assert again.json()["details"] == {"name": "a", "kind": "configmaps"}


def test_generation_bumps_on_spec_changes_only(api: Api) -> None:
    api.call("POST", DEPLOY, deployment("web"))
    merge = "application/merge-patch+json"
    labeled = api.call(
        "PATCH", f"{DEPLOY}/web", {"metadata": {"labels": {"x": "y"}}}, ctype=merge
    ).json()
    assert labeled["metadata"]["generation"] == 1
    scaled = api.call("PATCH", f"{DEPLOY}/web", {"spec": {"replicas": 5}}, ctype=merge).json()
    assert scaled["metadata"]["generation"] == 2
    status = api.call(
        "PATCH",
        f"{DEPLOY}/web/status",
        {"status": {"observedGeneration": 2, "replicas": 9}},
        ctype=merge,
    ).json()
    assert status["metadata"]["generation"] == 2 and status["status"]["replicas"] == 9


def test_status_subresource_is_separate_from_the_main_resource(
    api: Api, kube: cluster.KubeCluster
) -> None:
    kube.workload_delay = 60  # keep the simulated controller out of the way
    body = deployment("web")
    body["status"] = {"replicas": 42}
    created = api.call("POST", DEPLOY, body).json()
    assert "replicas" not in created.get("status", {})  # status is dropped on create
    merge = "application/merge-patch+json"
    api.call("PATCH", f"{DEPLOY}/web/status", {"status": {"replicas": 7}}, ctype=merge)
    # a main-resource write cannot change status ...
    main = api.call(
        "PATCH", f"{DEPLOY}/web", {"spec": {"replicas": 3}, "status": {"replicas": 1}}, ctype=merge
    )
    assert main.json()["status"]["replicas"] == 7 and main.json()["spec"]["replicas"] == 3
    # ... and a status write cannot change spec
    sub = api.call(
        "PATCH",
        f"{DEPLOY}/web/status",
        {"spec": {"replicas": 9}, "status": {"replicas": 2}},
        ctype=merge,
    )
    assert sub.json()["spec"]["replicas"] == 3 and sub.json()["status"]["replicas"] == 2
    managers = {
        (m["manager"], m.get("subresource", "")) for m in sub.json()["metadata"]["managedFields"]
    }
    assert ("python-requests", "status") in managers


def test_stale_resource_version_on_update_is_a_conflict(api: Api) -> None:
    created = api.call("POST", CM, configmap("a", {"k": "1"})).json()
    fresh = dict(created, data={"k": "2"})
    assert api.call("PUT", f"{CM}/a", fresh).status_code == 200
    stale = api.call("PUT", f"{CM}/a", dict(created, data={"k": "3"}))
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    assert "the object has been modified" in stale.json()["message"]
    assert api.call("GET", f"{CM}/a").json()["data"] == {"k": "2"}


def test_missing_namespace_and_missing_object_are_404_status(api: Api) -> None:
    missing_ns = api.call(
        "POST", "/api/v1/namespaces/nope/configmaps", configmap("a", {}, ns="nope")
    )
    assert missing_ns.status_code == 404
    assert missing_ns.json()["message"] == 'namespaces "nope" not found'
    missing = api.call("GET", "/apis/apps/v1/namespaces/default/deployments/ghost").json()
    assert missing == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "ghost" not found',
        "reason": "NotFound",
        "details": {"name": "ghost", "kind": "deployments", "group": "apps"},
        "code": 404,
    }
    assert api.call("GET", "/apis/apps/v1/namespaces/default/gizmos").status_code == 404


def test_validation_errors_are_422_with_causes(api: Api) -> None:
    bad = deployment("web")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    resp = api.call("POST", DEPLOY, bad)
    assert resp.status_code == 422 and resp.json()["reason"] == "Invalid"
    assert resp.json()["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "1web"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert api.call("POST", "/api/v1/namespaces/default/services", svc).status_code == 422
    assert api.call("POST", "/api/v1/namespaces", namespace("a.b")).status_code == 422
    assert api.call("POST", CM, configmap("ok", {}, labels={"bad key": "v"})).status_code == 422
    ns = api.call("POST", "/api/v1/namespaces", namespace("fine")).json()
    assert "generation" not in ns["metadata"]  # namespaces have none, as on kube-apiserver
    resp = api.call("POST", CM, configmap("Bad_Name", {}))
    assert (
        resp.status_code == 422 and resp.json()["details"]["causes"][0]["field"] == "metadata.name"
    )
    api.call("POST", DEPLOY, deployment("web"))
    immutable = api.call(
        "PATCH",
        f"{DEPLOY}/web",
        {
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}}},
            }
        },
        ctype="application/merge-patch+json",
    )
    assert immutable.status_code == 422 and "field is immutable" in immutable.json()["message"]


def test_namespace_deletion_removes_its_contents(api: Api, kube: cluster.KubeCluster) -> None:
    api.call("POST", "/api/v1/namespaces", namespace("team"))
    api.call("POST", "/api/v1/namespaces/team/configmaps", configmap("a", {}, ns="team"))
    api.call("POST", "/apis/apps/v1/namespaces/team/deployments", deployment("web", ns="team"))
    api.call("POST", CM, configmap("survivor", {}))
    assert api.call("DELETE", "/api/v1/namespaces/team").status_code == 200
    assert api.call("GET", "/api/v1/namespaces/team").status_code == 404
    assert kube.list_objects("v1", "ConfigMap", "team") == []
    assert kube.list_objects("apps/v1", "Deployment", "team") == []
    assert kube.get("v1", "ConfigMap", "survivor") is not None


def test_namespace_with_a_finalized_object_stays_terminating(api: Api) -> None:
    api.call("POST", "/api/v1/namespaces", namespace("team"))
    held = configmap("held", {}, ns="team")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    api.call("POST", "/api/v1/namespaces/team/configmaps", held)
    api.call("DELETE", "/api/v1/namespaces/team")
    ns = api.call("GET", "/api/v1/namespaces/team").json()
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    refused = api.call(
        "POST", "/api/v1/namespaces/team/configmaps", configmap("new", {}, ns="team")
    )
    assert refused.status_code == 403 and "being terminated" in refused.json()["message"]
    api.call(
        "PATCH",
        "/api/v1/namespaces/team/configmaps/held",
        [{"op": "remove", "path": "/metadata/finalizers"}],
        ctype="application/json-patch+json",
    )
    assert api.call("GET", "/api/v1/namespaces/team/configmaps/held").status_code == 404
    assert api.call("GET", "/api/v1/namespaces/team").status_code == 404


def test_finalizers_hold_deletion_with_a_deletion_timestamp(api: Api) -> None:
    body = configmap("a", {})
    body["metadata"]["finalizers"] = ["example.com/cleanup"]
    api.call("POST", CM, body)
    resp = api.call("DELETE", f"{CM}/a")
    assert (
        resp.status_code == 200 and resp.json()["metadata"]["deletionTimestamp"]
    )  # the held object
    held = api.call("GET", f"{CM}/a").json()
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == [
        "example.com/cleanup"
    ]
    more = dict(
        held, metadata={**held["metadata"], "finalizers": ["example.com/cleanup", "x.io/new"]}
    )
    assert api.call("PUT", f"{CM}/a", more).status_code == 422  # none may be added while deleting
    held["metadata"]["finalizers"] = []
    assert api.call("PUT", f"{CM}/a", held).status_code == 200
    assert api.call("GET", f"{CM}/a").status_code == 404


def _owned(name: str, owner: dict, *, block: bool = False) -> dict:
    body = configmap(name, {})
    body["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "blockOwnerDeletion": block,
        }
    ]
    return body


def test_owner_references_garbage_collection(api: Api) -> None:
    owner = api.call("POST", CM, configmap("owner", {})).json()
    api.call("POST", CM, _owned("child", owner))
    grandchild_owner = api.call("GET", f"{CM}/child").json()
    api.call("POST", CM, _owned("grandchild", grandchild_owner))
    api.call("DELETE", f"{CM}/owner")  # background propagation by default
    names = [i["metadata"]["name"] for i in api.call("GET", CM).json()["items"]]
    assert names == []
    # orphan keeps dependents and drops the reference
    owner = api.call("POST", CM, configmap("owner", {})).json()
    api.call("POST", CM, _owned("child", owner))
    api.call("DELETE", f"{CM}/owner", {"propagationPolicy": "Orphan"})
    child = api.call("GET", f"{CM}/child").json()
    assert "ownerReferences" not in child["metadata"]


def test_foreground_deletion_removes_dependents_first(api: Api, kube: cluster.KubeCluster) -> None:
    owner = api.call("POST", CM, configmap("owner", {})).json()
    child = _owned("child", owner, block=True)
    child["metadata"]["finalizers"] = ["example.com/slow"]
    api.call("POST", CM, child)
    resp = api.call("DELETE", f"{CM}/owner", propagationPolicy="Foreground")
    assert resp.status_code == 200
    waiting = api.call("GET", f"{CM}/owner").json()
    assert "foregroundDeletion" in waiting["metadata"]["finalizers"]
    api.call(
        "PATCH",
        f"{CM}/child",
        {"metadata": {"finalizers": None}},
        ctype="application/merge-patch+json",
    )
    assert kube.get("v1", "ConfigMap", "child") is None
    assert kube.get("v1", "ConfigMap", "owner") is None


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype"),
    [
        ("POST", CM, configmap("new", {"k": "new"}), "application/json"),
        ("PUT", f"{CM}/existing", configmap("existing", {"k": "changed"}), "application/json"),
        ("PATCH", f"{CM}/existing", {"data": {"k": "patched"}}, "application/merge-patch+json"),
        (
            "PATCH",
            f"{CM}/existing",
            configmap("existing", {"k": "applied"}),
            "application/apply-patch+yaml",
        ),
        ("DELETE", f"{CM}/existing", None, "application/json"),
    ],
)
def test_dry_run_all_changes_nothing(
    api: Api, kube: cluster.KubeCluster, method: str, path: str, body: dict | None, ctype: str
) -> None:
    api.call("POST", CM, configmap("existing", {"k": "v"}))
    before = kube.store.resource_version
    params = {"dryRun": "All", "fieldManager": "test"}
    if ctype == "application/apply-patch+yaml":
        params["force"] = "true"
    resp = api.call(method, path, body, ctype=ctype, **params)
    assert resp.status_code in (200, 201), resp.text
    if method != "DELETE":
        assert resp.json()["data"]["k"] != "v"  # the answer shows the would-be result
    assert kube.store.resource_version == before
    assert kube.get("v1", "ConfigMap", "existing")["data"] == {"k": "v"}  # type: ignore[index]
    assert kube.get("v1", "ConfigMap", "new") is None


def test_put_creates_missing_objects_and_delete_collection(api: Api) -> None:
    assert api.call("PUT", f"{CM}/fresh", configmap("fresh", {})).status_code == 201
    for name in ("a", "b"):
        api.call("POST", CM, configmap(name, {}, labels={"group": "x"}))
    resp = api.call("DELETE", CM, labelSelector="group=x")
    assert resp.status_code == 200
    assert [i["metadata"]["name"] for i in api.call("GET", CM).json()["items"]] == ["fresh"]


def test_scale_subresource(api: Api) -> None:
    api.call("POST", DEPLOY, deployment("web", replicas=2))
    scale = api.call("GET", f"{DEPLOY}/web/scale").json()
    assert (
        scale["kind"] == "Scale"
        and scale["spec"]["replicas"] == 2
        and scale["status"]["selector"] == "app=web"
    )
    api.call(
        "PATCH",
        f"{DEPLOY}/web/scale",
        {"spec": {"replicas": 4}},
        ctype="application/merge-patch+json",
    )
    scaled = api.call("GET", f"{DEPLOY}/web").json()
    assert scaled["spec"]["replicas"] == 4
    entries = [m for m in scaled["metadata"]["managedFields"] if m.get("subresource") == "scale"]
    assert entries and entries[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_defaults_are_filled_in_like_kube_apiserver(api: Api) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    created = api.call("POST", "/api/v1/namespaces/default/services", svc).json()
    assert created["spec"]["type"] == "ClusterIP" and created["spec"]["clusterIP"].startswith(
        "10.96."
    )
    assert created["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"pw": "hunter2"},
    }
    stored = api.call("POST", "/api/v1/namespaces/default/secrets", secret).json()
    assert (
        stored["type"] == "Opaque"
        and stored["data"] == {"pw": "aHVudGVyMg=="}
        and "stringData" not in stored
    )
    dep = api.call("POST", DEPLOY, deployment("web")).json()
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
