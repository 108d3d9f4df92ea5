"""A cluster client reads its kubeconfig again after a TLS verification failure or a 401,
so a rotated CA or token is picked up without a restart; a certificate that does not
verify is reported as such, not as an unreachable API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import apply, errors
from syncer.config import model
from tests.apply.conftest import NS, config_map

pytestmark = pytest.mark.integration

SYSTEM_CAS = Path("/etc/ssl/certs/ca-certificates.crt")


def own_kubeconfig(cluster: Any, path: Path, *, token: str | None = None) -> Path:
    return Path(cluster.kubeconfig_for(token or cluster.token, path))


def with_wrong_ca(path: Path) -> None:
    """Point the kubeconfig at CAs that did not sign the test server's certificate."""
    doc = yaml.safe_load(path.read_text())
    entry = doc["clusters"][0]["cluster"]
    entry.pop("certificate-authority-data")
    entry["certificate-authority"] = str(SYSTEM_CAS)
    path.write_text(yaml.safe_dump(doc))


def connect(cluster: Any, path: Path) -> apply.ClusterClient:
    return apply.connect(
        model.Cluster(name=cluster.name, kubeconfig=str(path), context=cluster.name, qps=0)
    )


def test_a_rotated_token_is_read_again_after_a_401(kube_clusters: Any, tmp_path: Path) -> None:
    [cluster] = kube_clusters(1)
    path = own_kubeconfig(cluster, tmp_path / "config", token="revoked-or-expired")
    client = connect(cluster, path)
    try:
        with pytest.raises(apply.errors.Unauthorized):
            client.request("GET", "/api/v1/namespaces", what="namespaces")
        own_kubeconfig(cluster, path)  # the new token is written to the file
        assert "items" in client.request("GET", "/api/v1/namespaces", what="namespaces")
    finally:
        client.close()


def test_a_rotated_ca_is_read_again_and_a_bad_one_is_named(
    kube_clusters: Any, tmp_path: Path
) -> None:
    if not SYSTEM_CAS.is_file():
        pytest.skip(f"{SYSTEM_CAS} is missing")
    [cluster] = kube_clusters(1)
    path = own_kubeconfig(cluster, tmp_path / "config")
    with_wrong_ca(path)
    client = connect(cluster, path)
    try:
        with pytest.raises(apply.errors.CertificateFailure) as failed:
            client.get(apply.ObjectRef("v1", "ConfigMap", NS, "x"))
        message = str(failed.value)
        assert "TLS certificate verification failed" in message and "unreachable" not in message
        assert isinstance(failed.value, errors.TemporaryError)  # retried, re-read each time

        own_kubeconfig(cluster, path)  # the right CA is written back
        result = apply.sync(
            client,
            app_name="web",
            objects=[config_map("settings")],
            options=model.SyncOptions(wait=5.0),
            gateway_policy=model.GatewayPolicy(),
            namespace=NS,
        )
        assert [str(r) for r in result.applied] == ["ConfigMap web/settings"]
    finally:
        client.close()
