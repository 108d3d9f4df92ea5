"""Helpers for the kubeapi fidelity suite: one fast cluster and a raw HTTP session to it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.kubeapi import cluster, tls


class Api:
    """Raw REST calls against a test cluster (JSON in, JSON out, status kept)."""

    def __init__(self, kube: cluster.KubeCluster, token: str | None = None) -> None:
        self.base = kube.url
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override our CA
        self.session.verify = tls.ca_file()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ctype: str = "application/json",
        **params: Any,
    ) -> requests.Response:
        data = None
        if body is not None:
            data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.session.request(
            method,
            self.base + path,
            data=data,
            params=params or None,
            headers={"Content-Type": ctype},
            timeout=10,
        )


@pytest.fixture
def kube(kube_clusters: Callable[..., list[cluster.KubeCluster]]) -> cluster.KubeCluster:
    (c,) = kube_clusters(1, workload_delay=0.05, progress_deadline=0.6, bookmark_interval=0.2)
    return c


@pytest.fixture
def api(kube: cluster.KubeCluster) -> Iterator[Api]:
    client = Api(kube, kube.token)
    yield client
    client.session.close()


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(
    name: str, *, image: str = "nginx:1.25", replicas: int = 2, ns: str = "default"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": name, "image": image, "ports": [{"containerPort": 80}]}]
                },
            },
        },
    }


def configmap(
    name: str, data: dict[str, str], *, ns: str = "default", labels: dict | None = None
) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
