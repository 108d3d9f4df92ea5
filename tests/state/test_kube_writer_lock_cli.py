"""With state in Kubernetes, a second writer is refused by the CLI as with a state
file: ``syncer sync`` while another process holds the Lease ``syncer-state-writer``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from syncer.config import model
from syncer.state import kubelock
from tests.state.conftest import NAMESPACE, kube_store
from tests.state.test_state_migrate import _config


def test_sync_is_refused_while_another_process_writes_the_state(
    state_cluster: Any, tmp_path: Path
) -> None:
    config = _config(tmp_path, state_cluster)
    where = model.Cluster(
        name=state_cluster.name, kubeconfig=state_cluster.kubeconfig, context=state_cluster.context
    )
    other = kubelock.KubeStateLock(cluster=where, namespace=NAMESPACE)
    other.identity = "syncer-7d9f-abcde/1"  # as a pod of the chart would name itself
    other.acquire()
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "syncer", "sync", "-c", str(config), "web"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
    finally:
        other.release()
    assert refused.returncode == 3, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "another syncer (syncer-7d9f-abcde/1) is writing this Kubernetes state" in line
    assert f"lease {NAMESPACE}/syncer-state-writer on cluster home" in line
    # It wrote nothing: no app state appeared.
    store = kube_store(state_cluster)
    assert store.history("web") == [] and store.inventories() == {}
    store.close()
