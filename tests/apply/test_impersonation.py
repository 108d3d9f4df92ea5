"""Impersonation in the one client layer, on a real API server: every request carries
Impersonate-User and one Impersonate-Group line per group, so the cluster's RBAC for
that user and those groups is what bounds it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from syncer import apply
from syncer.config import model
from tests.apply.conftest import NS, config_map, run_sync

pytestmark = pytest.mark.integration


def bind_group(cluster: Any, *, group: str, namespace: str) -> None:
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cluster.put(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{group}-edit", "namespace": namespace},
            "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
        }
    )


def test_a_user_and_each_of_its_groups_are_impersonated(
    kube_clusters: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    started = time.time()
    # Only the second group may write in NS: were the groups sent as one comma-joined
    # line, the API server would see a single group "devs,ops" and refuse.
    bind_group(cluster, group="ops", namespace=NS)
    as_alice = apply.connect(
        model.Cluster(
            name=cluster.name, kubeconfig=str(cluster.kubeconfig), context=cluster.context
        ),
        impersonate=apply.Identity(user="alice", groups=("devs", "ops")),
    )
    try:
        gate = model.GatewayPolicy(allowed_namespaces=(NS, "elsewhere"))
        result = run_sync(as_alice, [config_map("settings")], options=options, gate=gate)
        assert len(result.created) == 1
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}})
        with pytest.raises(apply.errors.Unauthorized) as refused:
            run_sync(as_alice, [config_map("other", ns="elsewhere")], options=options, gate=gate)
        assert 'User "alice" cannot' in str(refused.value)
        assert "syncer acts as alice (groups devs, ops) here" in str(refused.value)
    finally:
        as_alice.close()
    assert cluster.get("v1", "ConfigMap", "other", namespace="elsewhere") is None
    [event] = [
        e
        for e in cluster.audit_events(since=started)
        if (e.get("objectRef") or {}).get("name") == "settings"
        and e.get("stage") == "ResponseComplete"
    ]
    assert event["impersonatedUser"]["username"] == "alice"
    assert {"devs", "ops"} <= set(event["impersonatedUser"]["groups"])


def test_a_quota_check_the_tenants_account_may_not_make_names_the_account(
    kube_clusters: Any, options: model.SyncOptions
) -> None:
    [cluster] = kube_clusters(1)
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    rbac = "rbac.authorization.k8s.io"
    cluster.put(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": {"name": "configmaps-only", "namespace": NS},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
        }
    )
    cluster.put(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "carol", "namespace": NS},
            "subjects": [{"kind": "User", "name": "carol", "apiGroup": rbac}],
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "configmaps-only"},
        }
    )
    as_carol = apply.connect(
        model.Cluster(
            name=cluster.name, kubeconfig=str(cluster.kubeconfig), context=cluster.context
        ),
        impersonate=apply.Identity(user="carol"),
    )
    try:
        with pytest.raises(apply.errors.Unauthorized) as refused:
            run_sync(
                as_carol, [config_map("settings")], options=options, gate=model.GatewayPolicy()
            )
    finally:
        as_carol.close()
    assert f"may not list ResourceQuotas in namespace {NS} (acting as carol): grant list on" in str(
        refused.value
    )
    assert cluster.get("v1", "ConfigMap", "settings", namespace=NS) is None
