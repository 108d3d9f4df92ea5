"""Change detection without requests: desired fields vs live, and fields syncer dropped."""

from __future__ import annotations

import copy
from typing import Any

from syncer.apply import compare

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "web", "labels": {"syncer.io/app": "web"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "web:1",
                        "resources": {"limits": {"cpu": "0.5"}},
                        "env": [{"name": "A", "value": "1"}],
                    },
                ]
            }
        },
    },
}

SYNCER_FIELDS = {
    "f:metadata": {"f:labels": {"f:syncer.io/app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"app"}': {
                        ".": {},
                        "f:name": {},
                        "f:image": {},
                        "f:resources": {"f:limits": {"f:cpu": {}}},
                        "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                    }
                }
            }
        },
    },
}


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    """What a server stores: defaults added, a quantity canonicalised, managedFields."""
    live = copy.deepcopy(desired)
    live["metadata"].update(
        uid="u1",
        resourceVersion="7",
        managedFields=[
            {
                "manager": "syncer",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": copy.deepcopy(SYNCER_FIELDS),
            },
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "status",
                "fieldsV1": {"f:status": {}},
            },
        ],
    )
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["cpu"] = "500m"
    container["imagePullPolicy"] = "IfNotPresent"
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["status"] = {"replicas": 2}
    return live


def test_unchanged_when_live_holds_every_desired_field() -> None:
    assert compare.needs_apply(live=live_of(DESIRED), desired=DESIRED) == ""


def test_a_changed_field_needs_apply() -> None:
    live = live_of(DESIRED)
    live["spec"]["replicas"] = 5
    assert compare.needs_apply(live=live, desired=DESIRED) == "spec.replicas differs"


def test_a_dropped_field_syncer_owned_needs_apply() -> None:
    desired = copy.deepcopy(DESIRED)
    del desired["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "env" in compare.needs_apply(live=live_of(DESIRED), desired=desired)


def test_an_env_entry_another_manager_added_is_not_our_change() -> None:
    live = live_of(DESIRED)
    live["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "B", "value": "2"})
    assert compare.needs_apply(live=live, desired=DESIRED) == ""


def test_never_applied_by_syncer_needs_apply() -> None:
    live = live_of(DESIRED)
    live["metadata"]["managedFields"] = []
    assert compare.needs_apply(live=live, desired=DESIRED) == "not applied by syncer yet"


def test_differences_name_paths_and_owners() -> None:
    live = live_of(DESIRED)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    live["metadata"]["managedFields"].append(
        {
            "manager": "kubectl-edit",
            "operation": "Update",
            "fieldsV1": {
                "f:spec": {
                    "f:template": {
                        "f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}
                    }
                }
            },
        }
    )
    [difference] = compare.differences(live=live, desired=DESIRED)
    assert difference.path == "spec.template.spec.containers[app].image"
    assert (difference.desired, difference.live) == ("web:1", "web:2")
    assert "kubectl-edit" in compare.owners(live, difference.segments)


def test_types_matter_for_plain_scalars() -> None:
    live = live_of(DESIRED)
    live["spec"]["replicas"] = "2"
    assert compare.needs_apply(live=live, desired=DESIRED) == "spec.replicas differs"


def test_secret_string_data_matches_its_stored_base64_form() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"password": "hunter2"},
    }
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "managedFields": [
                {
                    "manager": "syncer",
                    "operation": "Apply",
                    "fieldsV1": {"f:stringData": {"f:password": {}}},
                }
            ],
        },
        "data": {"password": "aHVudGVyMg=="},
        "type": "Opaque",
    }
    assert compare.needs_apply(live=live, desired=desired) == ""
    live["data"]["password"] = "b3RoZXI="
    assert compare.needs_apply(live=live, desired=desired) == "data.password differs"


def test_an_empty_struct_the_server_dropped_is_not_a_change() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["template"]["spec"]["securityContext"] = {}
    assert compare.differences(live=live_of(DESIRED), desired=desired) == []
