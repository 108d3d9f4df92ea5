"""Finding images in every workload kind and pinning the governed ones."""

from __future__ import annotations

import copy

import pytest

from registry import decision
from syncer.config import model
from syncer.render import images, objects

NGINX = decision.make(
    repository="docker.io/library/nginx", tag="1.27.3", digest="sha256:" + "a" * 64,
    reason="1.27.3: highest in ^1.27", policy="semver:^1.27",
)  # fmt: skip
POD = {
    "initContainers": [{"name": "init", "image": "nginx:1.0"}],
    "containers": [{"name": "main", "image": "docker.io/library/nginx"}],
    "ephemeralContainers": [{"name": "debug", "image": "index.docker.io/nginx:1.2"}],
}


def workload(kind: str, api: str) -> dict:
    pod = copy.deepcopy(POD)
    spec: dict = {"template": {"spec": pod}}
    if kind == "Pod":
        spec = pod
    elif kind == "CronJob":
        spec = {"jobTemplate": {"spec": {"template": {"spec": pod}}}}
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, "spec": spec}


@pytest.mark.parametrize(
    ("kind", "api"),
    [("Pod", "v1"), ("Deployment", "apps/v1"), ("StatefulSet", "apps/v1"),
     ("DaemonSet", "apps/v1"), ("ReplicaSet", "apps/v1"), ("Job", "batch/v1"),
     ("CronJob", "batch/v1"), ("ReplicationController", "v1")],
)  # fmt: skip
def test_every_container_of_every_workload_kind_is_pinned(kind, api):
    obj = workload(kind, api)
    item = objects.Item(obj=obj, origin="f.yaml")
    changes = images.rewrite(items=[item], choices=[NGINX])
    assert [c.container for c in changes] == ["init", "main", "debug"]
    assert [c.new for c in changes] == [
        "nginx:1.27.3@sha256:" + "a" * 64,
        "docker.io/library/nginx:1.27.3@sha256:" + "a" * 64,
        "index.docker.io/nginx:1.27.3@sha256:" + "a" * 64,
    ]
    assert all(c.policy == "semver:^1.27" and c.reason.startswith("1.27.3") for c in changes)
    found = [f.image for f in images.find(obj)]
    assert found == [c.new for c in changes]


def test_same_kind_in_another_group_is_not_a_workload():
    obj = workload("Deployment", "example.com/v1")
    assert list(images.find(obj)) == []


def test_ungoverned_invalid_and_already_pinned_images_are_left_alone():
    pinned = "nginx:1.27.3@sha256:" + "a" * 64
    obj = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [
            {"name": "a", "image": "redis:7"},
            {"name": "b", "image": "{{ .Values.image }}"},
            {"name": "c", "image": pinned},
            {"name": "d", "image": "nginxinc/nginx-unprivileged:1.0"},
        ]},
    }  # fmt: skip
    changes = images.rewrite(items=[objects.Item(obj=obj, origin="p")], choices=[NGINX])
    assert changes == []
    assert [c["image"] for c in obj["spec"]["containers"]][2] == pinned


def test_custom_resource_paths_with_indexes_and_lists():
    obj = {
        "apiVersion": "example.com/v1", "kind": "App", "metadata": {"name": "a"},
        "spec": {"image": "nginx:1", "sidecars": [{"image": "nginx:2"}, {"image": "redis"}],
                 "extra": ["nginx:3"]},
    }  # fmt: skip
    paths = (
        model.ImageFieldPath(kind="App", path="spec.image"),
        model.ImageFieldPath(kind="App", path="spec.sidecars[0].image"),
        model.ImageFieldPath(kind="App", path="spec.extra[0]"),
        model.ImageFieldPath(kind="Other", path="spec.image"),
    )
    changes = images.rewrite(
        items=[objects.Item(obj=obj, origin="x")], choices=[NGINX], image_fields=paths
    )
    assert [c.field for c in changes] == ["spec.image", "spec.sidecars[0].image", "spec.extra[0]"]
    assert obj["spec"]["extra"][0].startswith("nginx:1.27.3@sha256:")
    assert obj["spec"]["sidecars"][1]["image"] == "redis"


def test_choice_without_digest_pins_the_tag_only():
    from syncer import release

    choice = release.Image(repository="docker.io/library/nginx", tag="1.27.3", digest="")
    obj = workload("Pod", "v1")
    images.rewrite(items=[objects.Item(obj=obj, origin="x")], choices=[choice])
    assert obj["spec"]["containers"][0]["image"] == "docker.io/library/nginx:1.27.3"
