"""``syncer run --shards`` on bad ground: each is one line saying what to do, exit 2 or 3,
never a traceback (real ``python -m syncer`` processes, a real API server for RBAC)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncer", "run", "-c", str(config), "--listen=127.0.0.1:0",
         "--webhook-listen=127.0.0.1:0", *extra],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_shards_without_kubernetes_state_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "syncer.yaml"
    config.write_text("clusters: [{name: k}]\nstate: {path: state.db}\n")
    done = run(config, "--shards=4")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--shards: replicas share their state only in Kubernetes: set state.kubernetes" in (
        done.stderr
    )
    assert not (tmp_path / "state.db").exists()


def test_shards_and_leader_election_exclude_each_other(tmp_path: Path) -> None:
    config = tmp_path / "syncer.yaml"
    config.write_text("clusters: [{name: k}]\nstate: {kubernetes: {cluster: k, namespace: s}}\n")
    done = run(config, "--shards=4", "--leader-elect")
    assert done.returncode == 2, done.stderr
    assert "--shards and --leader-elect exclude each other" in done.stderr


@pytest.mark.integration
def test_missing_lease_rbac_names_the_leases_and_what_to_grant(
    kube_clusters: Any, tmp_path: Path
) -> None:
    (cluster,) = kube_clusters(1)
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "syncer"}})
    # The state Secrets may be used, Leases not at all.
    token = cluster.make_token(resources=["secrets"], namespaces=["syncer"])
    kubeconfig = cluster.kubeconfig_for(token, tmp_path / "limited")
    config = tmp_path / "syncer.yaml"
    config.write_text(
        f"clusters: [{{name: k, kubeconfig: {kubeconfig}}}]\n"
        "state: {kubernetes: {cluster: k, namespace: syncer}}\n"
    )
    done = run(config, "--shards=4", "--shard-identity=pod-a")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "refused" in line]
    assert len(lines) == 1, done.stderr
    assert (
        "shard Leases syncer/syncer-shard-0…syncer-shard-3 and syncer/syncer-replica-pod-a"
        in (lines[0])
    )
    assert (
        "grant the service account get, list, create, update and delete on leases in " in (lines[0])
    )
    assert "namespace syncer" in lines[0]
    assert token not in done.stderr
