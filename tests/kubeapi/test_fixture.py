"""The kube_clusters fixture: several independent clusters, one kubeconfig, real-cluster mode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.kubeapi import cluster, fixtures
from tests.kubeapi.conftest import Api, configmap

pytestmark = pytest.mark.integration


def test_clusters_share_one_kubeconfig_with_a_context_each(
    kube_clusters: Callable[..., list[Any]],
) -> None:
    dev, prod = kube_clusters(2, names=["dev", "prod"])
    assert dev.kubeconfig == prod.kubeconfig and dev.port != prod.port
    assert (dev.name, dev.context, prod.context) == ("dev", "dev", "prod")
    doc = yaml.safe_load(Path(dev.kubeconfig).read_text(encoding="utf-8"))
    assert [c["name"] for c in doc["contexts"]] == ["dev", "prod"] and doc[
        "current-context"
    ] == "dev"
    servers = {c["name"]: c["cluster"]["server"] for c in doc["clusters"]}
    assert servers == {"dev": dev.url, "prod": prod.url}
    # state is per cluster
    Api(dev, dev.token).call(
        "POST", "/api/v1/namespaces/default/configmaps", configmap("only-dev", {})
    )
    assert dev.get("v1", "ConfigMap", "only-dev") is not None
    assert prod.get("v1", "ConfigMap", "only-dev") is None
    # the Python client reaches each cluster through its context
    names = client.CoreV1Api(prod.api_client()).list_namespaced_config_map("default").items
    assert names == []
    assert dev.token != prod.token
    assert Api(prod, dev.token).call("GET", "/api/v1/namespaces").status_code == 401


def test_default_names_and_one_cluster(kube_clusters: Callable[..., list[Any]]) -> None:
    (one,) = kube_clusters()
    assert one.name == "kube-0" and one.url.startswith("https://127.0.0.1:")
    proc = one.kubectl("get", "namespaces", "-o", "name")
    assert proc.stdout.split() == [
        "namespace/default",
        "namespace/kube-node-lease",
        "namespace/kube-public",
        "namespace/kube-system",
    ], proc.stderr


def test_real_cluster_mode_reads_contexts_and_skips_test_server_controls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    servers = [cluster.KubeCluster(name).start() for name in ("east", "west")]
    try:
        path = tmp_path / "real"
        from tests.kubeapi import kubeconfig

        kubeconfig.write(path, [kubeconfig.Entry(c.name, c.url, c.token) for c in servers])
        monkeypatch.setenv(fixtures.ENV, str(path))
        (west,) = fixtures._real(1, ["west"])
        assert (west.name, west.url) == ("west", servers[1].url)
        servers[1].put(configmap("seen", {"a": "1"}))
        assert (west.get("v1", "ConfigMap", "seen") or {})["data"] == {"a": "1"}
        assert west.get("v1", "ConfigMap", "missing") is None
        assert [o["metadata"]["name"] for o in west.list_objects("v1", "ConfigMap", "default")] == [
            "seen"
        ]
        with pytest.raises(pytest.skip.Exception):
            west.stop()
        with pytest.raises(pytest.skip.Exception):
            west.set_fault("drop")
        with pytest.raises(pytest.skip.Exception):
            fixtures._real(3, None)
    finally:
        for c in servers:
            c.close()
