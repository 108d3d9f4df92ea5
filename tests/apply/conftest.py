"""Fixtures for apply's integration tests: clusters from the API test server, clients,
and small manifest builders."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncer import apply
from syncer.config import model

APP = "web"
NS = "web"
IMAGE = "registry.example.com/team/web:1.0"


def config_map(name: str, data: dict[str, str] | None = None, *, ns: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data or {"k": "v"},
    }


def service(name: str = "api") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


def deployment(
    name: str = "api", *, image: str = IMAGE, replicas: int = 2, progress_deadline: int = 0
) -> dict[str, Any]:
    """progress_deadline: spec.progressDeadlineSeconds (the server's 600 when 0), after which
    the real Deployment controller reports a rollout that makes no progress as failed."""
    labels = {"app": name}
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "64Mi"},
                                "limits": {"cpu": "0.5", "memory": "128Mi"},
                            },
                        }
                    ]
                },
            },
        },
    }
    if progress_deadline:
        obj["spec"]["progressDeadlineSeconds"] = progress_deadline
    return obj


CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def widget(name: str = "blue", size: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"size": size},
    }


def basic_set() -> list[dict[str, Any]]:
    return [deployment(), service(), config_map("settings")]


OPEN_GATE = model.GatewayPolicy(allow_cluster_scoped=True)


@pytest.fixture
def options() -> model.SyncOptions:
    return model.SyncOptions(wait=15.0)


@pytest.fixture
def connect() -> Iterator[Callable[[Any], apply.ClusterClient]]:
    """Turn a test cluster into a syncer client, as the controller would (kubeconfig +
    context); clients are closed after the test."""
    made: list[apply.ClusterClient] = []

    def make(cluster: Any) -> apply.ClusterClient:
        client = apply.connect(
            model.Cluster(
                name=cluster.name,
                kubeconfig=str(cluster.kubeconfig),
                context=cluster.context,
                qps=0,
                timeout=10.0,
            )
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def run_sync(
    client: apply.ClusterClient,
    objects: list[dict[str, Any]],
    *,
    options: model.SyncOptions,
    app: str = APP,
    gate: model.GatewayPolicy = OPEN_GATE,
    previous: list[apply.ObjectRef] | None = None,
) -> apply.SyncResult:
    return apply.sync(
        client,
        app_name=app,
        objects=copy.deepcopy(objects),
        options=options,
        gateway_policy=gate,
        namespace=NS,
        previous_inventory=previous or [],
    )


def reset_log(cluster: Any) -> None:
    """Clear the server's request log (it records each request before answering it)."""
    cluster.request_log.clear()


def settled(cluster: Any) -> Any:
    """The server's request log: every request already answered is in it."""
    return cluster.request_log
