"""Patch and server-side apply semantics: unit tables for patch.py and apply.py, plus SSA
ownership rules over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kubeapi import apply, errors, patch
from tests.kubeapi.conftest import Api, configmap, deployment


def pod_spec(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers), **extra}}}}


SMP_CASES = [
    pytest.param(
        pod_spec({"name": "a", "image": "1"}, {"name": "b", "image": "1"}),
        pod_spec({"name": "b", "image": "2"}),
        pod_spec({"name": "a", "image": "1"}, {"name": "b", "image": "2"}),
        id="containers-merge-by-name",
    ),
    pytest.param(
        pod_spec({"name": "a", "image": "1"}, {"name": "b", "image": "1"}),
        pod_spec({"name": "a", "$patch": "delete"}),
        pod_spec({"name": "b", "image": "1"}),
        id="patch-delete-list-item",
    ),
    pytest.param(
        pod_spec({"name": "a", "image": "1"}, {"name": "b", "image": "1"}),
        pod_spec({"name": "c", "image": "1"}, {"$patch": "replace"}),
        pod_spec({"name": "c", "image": "1"}),
        id="patch-replace-list",
    ),
    pytest.param(
        pod_spec({"name": "a", "image": "1"}, {"name": "b", "image": "1"}),
        {
            "spec": {
                "template": {
                    "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}
                }
            }
        },
        pod_spec({"name": "b", "image": "1"}, {"name": "a", "image": "1"}),
        id="set-element-order",
    ),
    pytest.param(
        pod_spec({"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}),
        pod_spec({"name": "a", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]}),
        pod_spec(
            {
                "name": "a",
                "env": [
                    {"name": "X", "value": "1"},
                    {"name": "Y", "value": "3"},
                    {"name": "Z", "value": "4"},
                ],
            }
        ),
        id="env-merge-by-name",
    ),
    pytest.param(
        pod_spec({"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}),
        pod_spec(
            {"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 443}]}
        ),
        pod_spec(
            {"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 443}]}
        ),
        id="ports-merge-by-container-port",
    ),
    pytest.param(
        {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        {"spec": {"strategy": {"type": "Recreate"}}},
        id="retain-keys",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}},
        {"metadata": {"finalizers": ["b", "c"]}},
        id="primitive-list-merge-and-delete",
    ),
    pytest.param(
        pod_spec({"name": "a", "args": ["x", "y"]}),
        pod_spec({"name": "a", "args": ["z"]}),
        pod_spec({"name": "a", "args": ["z"]}),
        id="atomic-list-replaced",
    ),
    pytest.param(
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"a": None}}},
        {"metadata": {"labels": {"b": "2"}}},
        id="null-deletes-key",
    ),
    pytest.param(
        {"spec": {"selector": {"app": "x"}, "other": 1}},
        {"spec": {"selector": {"$patch": "replace", "tier": "y"}}},
        {"spec": {"selector": {"tier": "y"}, "other": 1}},
        id="patch-replace-map",
    ),
]


@pytest.mark.parametrize(("original", "body", "expected"), SMP_CASES)
def test_strategic_merge_patch(original: dict, body: dict, expected: dict) -> None:
    result = patch.apply_patch(
        content_type=patch.STRATEGIC_PATCH, original=original, body=body, kind="Deployment"
    )
    assert result == expected


def test_service_ports_merge_by_port() -> None:
    original = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}
    body = {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}
    result = patch.apply_patch(
        content_type=patch.STRATEGIC_PATCH, original=original, body=body, kind="Service"
    )
    assert result["spec"]["ports"] == [
        {"port": 80, "name": "http"},
        {"port": 443, "name": "https", "targetPort": 8443},
    ]


def test_merge_patch_and_json_patch() -> None:
    original = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert patch.apply_patch(
        content_type=patch.MERGE_PATCH,
        original=original,
        body={"a": {"c": [3], "b": None}},
        kind="X",
    ) == {"a": {"c": [3]}, "d": 1}
    ops = [
        {"op": "add", "path": "/a/c/-", "value": 3},
        {"op": "move", "from": "/d", "path": "/e"},
        {"op": "copy", "from": "/e", "path": "/f"},
        {"op": "remove", "path": "/a/b"},
        {"op": "test", "path": "/f", "value": 1},
    ]
    assert patch.apply_patch(
        content_type=patch.JSON_PATCH, original=original, body=ops, kind="X"
    ) == {
        "a": {"c": [1, 2, 3]},
        "e": 1,
        "f": 1,
    }
    with pytest.raises(errors.ApiError) as info:
        patch.apply_patch(
            content_type=patch.JSON_PATCH,
            original=original,
            body=[{"op": "remove", "path": "/x"}],
            kind="X",
        )
    assert info.value.code == 422


def test_fields_v1_round_trip_and_field_strings() -> None:
    obj = deployment("web")
    obj["metadata"]["finalizers"] = ["x"]
    flat = apply.flatten(obj, kind="Deployment", scope="main", has_status=True)
    fields = apply.to_fields_v1(set(flat))
    assert apply.from_fields_v1(fields) == set(flat)
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container["."] == {} and "f:image" in container
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]
    assert fields["f:metadata"]["f:finalizers"] == {".": {}, 'v:"x"': {}}
    path = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:image")
    assert apply.field_string(path) == '.spec.template.spec.containers[name="web"].image'


SSA = "application/apply-patch+yaml"
CM = "/api/v1/namespaces/default/configmaps"


def ssa(api: Api, body: dict, manager: str, *, force: bool = False) -> Any:
    params = {"fieldManager": manager}
    if force:
        params["force"] = "true"
    return api.call("PATCH", f"{CM}/{body['metadata']['name']}", body, ctype=SSA, **params)


def test_apply_removes_fields_the_manager_no_longer_applies(api: Api) -> None:
    assert (
        ssa(api, configmap("c", {"a": "1", "b": "2"}, labels={"x": "1"}), "syncer").status_code
        == 201
    )
    result = ssa(api, configmap("c", {"a": "1"}), "syncer").json()
    assert result["data"] == {"a": "1"} and "labels" not in result["metadata"]


def test_apply_keeps_fields_another_manager_also_owns(api: Api) -> None:
    ssa(api, configmap("c", {"a": "1", "b": "2"}), "syncer")
    ssa(api, configmap("c", {"b": "2"}), "other")  # same value: shared ownership, no conflict
    result = ssa(api, configmap("c", {"a": "1"}), "syncer").json()
    assert result["data"] == {"a": "1", "b": "2"}
    owners = {m["manager"]: m["fieldsV1"] for m in result["metadata"]["managedFields"]}
    assert owners == {
        "syncer": {"f:data": {".": {}, "f:a": {}}},
        "other": {"f:data": {".": {}, "f:b": {}}},
    }


def test_apply_conflicts_with_an_update_manager_and_force_takes_ownership(api: Api) -> None:
    ssa(api, configmap("c", {"a": "1"}), "syncer")
    api.call(
        "PATCH",
        f"{CM}/c",
        {"data": {"a": "edited"}},
        ctype="application/merge-patch+json",
        fieldManager="kubectl-edit",
    )
    conflict = ssa(api, configmap("c", {"a": "1"}), "syncer")
    assert conflict.status_code == 409
    assert conflict.json()["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-edit" using v1',
            "field": ".data.a",
        }
    ]
    forced = ssa(api, configmap("c", {"a": "1"}), "syncer", force=True).json()
    assert forced["data"] == {"a": "1"}
    assert [m["manager"] for m in forced["metadata"]["managedFields"]] == ["syncer"]


def test_apply_list_items_by_merge_key_keep_other_managers_items(api: Api) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    web = deployment("web")
    assert api.call("PATCH", path, web, ctype=SSA, fieldManager="syncer").status_code == 201
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}},
    }
    api.call("PATCH", path, sidecar, ctype=SSA, fieldManager="mesh")
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    result = api.call("PATCH", path, web, ctype=SSA, fieldManager="syncer").json()
    images = {c["name"]: c["image"] for c in result["spec"]["template"]["spec"]["containers"]}
    assert images == {"web": "nginx:2", "proxy": "envoy:1"}
    assert result["metadata"]["generation"] == 3


def test_apply_without_field_manager_is_rejected(api: Api) -> None:
    resp = api.call("PATCH", f"{CM}/c", configmap("c", {}), ctype=SSA)
    assert resp.status_code == 400 and "fieldManager" in resp.json()["message"]


def test_apply_of_an_unchanged_object_keeps_its_resource_version(api: Api) -> None:
    first = ssa(api, configmap("c", {"a": "1"}), "syncer").json()
    again = ssa(api, configmap("c", {"a": "1"}), "syncer").json()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # a resourceVersion in the applied config is a precondition
    stale = configmap("c", {"a": "2"})
    stale["metadata"]["resourceVersion"] = "1"
    assert ssa(api, stale, "syncer").status_code == 409
