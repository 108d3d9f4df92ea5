"""A client whose ``guard`` (leader election's fence) refuses sends no write at all:
no apply, no create, no prune — while reads and server-side dry runs still go out."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import errors
from syncer.config import model
from tests.apply.conftest import NS, basic_set, config_map, run_sync, service

pytestmark = pytest.mark.integration


def test_a_fenced_client_writes_nothing(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    (cluster,) = kube_clusters(1)
    client = connect(cluster)
    lease_valid = True
    asked: list[bool] = []

    def fence() -> None:
        asked.append(lease_valid)
        if not lease_valid:
            raise errors.Fenced("lease syncer/syncer-leader last renewed 9.0s ago")

    client.guard = fence
    first = run_sync(client, basic_set(), options=options)
    assert asked and all(asked)  # every write of the first sync asked, and was let through

    lease_valid = False
    cluster.request_log.clear()
    # A changed ConfigMap, a new Service, and the Deployment left out (a prune).
    changed = [service(), config_map("settings", {"k": "v2"}), service("extra")]
    with pytest.raises(errors.Fenced, match="last renewed"):
        run_sync(client, changed, options=options, previous=first.inventory)
    log = list(cluster.request_log)
    writes = [r for r in log if r.method != "GET" and "dryRun=All" not in r.query]
    assert writes == []
    assert any(r.method == "GET" for r in log)  # it did read: only writes are fenced
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS)["data"] == {"k": "v"}
    assert cluster.get("v1", "Service", "extra", namespace=NS) is None
    assert cluster.get("apps/v1", "Deployment", "api", namespace=NS) is not None
