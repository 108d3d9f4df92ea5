"""Prune of a tenant's app, on a real API server: it deletes only within the tenant's
bounds, so an app that inherits a name (and its label on another team's objects) never
deletes what lies outside them."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.config import model
from tests.apply.conftest import NS, config_map, run_sync

pytestmark = pytest.mark.integration


def test_a_tenants_app_prunes_nothing_outside_the_tenant(
    kube_clusters: Any, connect: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    for name in (NS, "team-b"):
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    client = connect(cluster)
    # What the name ran before, for another team, in its namespace.
    before = run_sync(
        client,
        [config_map("settings", ns="team-b"), config_map("kept")],
        options=options,
        gate=model.GatewayPolicy(allowed_namespaces=(NS, "team-b")),
    )
    team_a = model.Tenant(name="team-a", namespaces=(NS,))
    after = run_sync(
        client,
        [config_map("new")],
        options=options,
        gate=model.GatewayPolicy(allowed_namespaces=(NS,), tenant=team_a),
        previous=before.inventory,
    )
    assert cluster.get("v1", "ConfigMap", "settings", namespace="team-b") is not None
    assert [str(ref) for ref in after.pruned] == [f"ConfigMap {NS}/kept"]
    assert after.skipped == [
        "ConfigMap team-b/settings: not pruned, tenant team-a allows namespaces web;"
        " ConfigMap team-b/settings is in team-b"
    ]
