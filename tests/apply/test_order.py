"""Apply order: CRDs, Namespaces, cluster-scoped, config, Services, workloads, rest;
sync waves override."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.apply import order

CLUSTER_SCOPED = {"CustomResourceDefinition", "Namespace", "ClusterRole", "ClusterRoleBinding"}


def obj(kind: str, name: str = "x", wave: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if wave is not None:
        meta["annotations"] = {"syncer.io/sync-wave": wave}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def namespaced(o: dict[str, Any]) -> bool:
    return o["kind"] not in CLUSTER_SCOPED


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in order.ordered(objects, is_namespaced=namespaced)]


def test_kind_order() -> None:
    shuffled = [
        obj(k)
        for k in (
            "Ingress",
            "Deployment",
            "Service",
            "Widget",
            "ConfigMap",
            "ClusterRole",
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "Secret",
            "Job",
        )
    ]
    assert kinds(shuffled) == [
        "CustomResourceDefinition",
        "Namespace",
        "ClusterRole",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Service",
        "Deployment",
        "Job",
        "Ingress",
        "Widget",
    ]


def test_sync_wave_overrides_kind_order() -> None:
    objects = [
        obj("Deployment", "db", wave="-1"),
        obj("ConfigMap", "late", wave="2"),
        obj("Service", "web"),
    ]
    names = [o["metadata"]["name"] for o in order.ordered(objects, is_namespaced=namespaced)]
    assert names == ["db", "web", "late"]


def test_a_bad_wave_names_the_object_and_annotation() -> None:
    with pytest.raises(
        order.WaveError,
        match=r"ConfigMap x: annotation syncer.io/sync-wave="
        r"'soon' is not an integer",
    ):
        order.wave(obj("ConfigMap", wave="soon"))
