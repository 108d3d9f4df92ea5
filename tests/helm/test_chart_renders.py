"""The Helm chart: lint, and what ``helm template`` renders for the values users set."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer.config import loader
from tests.helm.conftest import CHART, NAMESPACE, Rendered

DANGEROUS_VERBS = {"*", "escalate", "bind", "impersonate"}


def all_rules(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}", rule)
        for o in rendered.of_kind("ClusterRole") + rendered.of_kind("Role")
        for rule in o["rules"]
    ]


def test_lint_passes_strict(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"rbac": {"scope": "namespaces", "namespaces": ["web", "api"]}},
        {"rbac": {"readSecrets": [{"namespace": "web", "name": "pull"}]}},
        {"replicaCount": 2},
    ],
    ids=["default", "namespaced", "read-secrets", "two-replicas"],
)
def test_rbac_is_least_privilege(render: Callable[..., Rendered], values: dict) -> None:
    rendered = render(values)
    rules = all_rules(rendered)
    assert rules
    for where, rule in rules:
        for field in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), f"{where}: wildcard in {field}"
        assert not DANGEROUS_VERBS & set(rule["verbs"]), f"{where}: {rule['verbs']}"
        resources = set(rule["resources"])
        if "secrets" in resources and where == f"Role/{NAMESPACE}/t-syncer-state":
            # The state Secrets: in the state namespace only (a Role), never deleted or
            # patched; listed and watched there for the cache of the state.
            assert rule["verbs"] == ["get", "list", "watch", "create", "update"], where
        elif "secrets" in resources:
            # Other Secrets only by name, only get: never list (which would read them all).
            assert rule.get("resourceNames"), f"{where}: secrets without resourceNames"
            assert rule["verbs"] == ["get"], where
        if "namespaces" in resources:
            assert "delete" not in rule["verbs"], f"{where}: may delete namespaces"
        if "pods" in resources:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, where
        assert not resources & {"clusterroles", "clusterrolebindings", "roles", "rolebindings"}


def test_cluster_rbac_grants_what_syncer_deploys_and_leases_by_name(
    render: Callable[..., Rendered],
) -> None:
    rendered = render({"rbac": {"scope": "cluster"}, "sharding": {"enabled": False}})
    cluster_role = rendered.one("ClusterRole")
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert {"get", "list", "create", "patch", "delete"} <= granted[("apps", "deployments")]
    assert {"get", "list", "create", "patch", "delete"} <= granted[("", "configmaps")]
    assert ("", "secrets") not in granted
    assert granted[("", "namespaces")] == {"create"}
    # The gateway's quota check reads quotas and ranges, nothing more.
    assert granted[("", "resourcequotas")] == granted[("", "limitranges")] == {"list"}
    binding = rendered.one("ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "t-syncer", "namespace": NAMESPACE}
    ]
    lease_role = next(r for r in rendered.of_kind("Role") if "leader" in r["metadata"]["name"])
    assert lease_role["metadata"]["namespace"] == NAMESPACE
    assert lease_role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["t-syncer-leader"],
            "verbs": ["get", "update"],
        },
    ]
    args = rendered.container["args"]
    assert "--leader-elect" in args
    assert "--leader-elect-name=t-syncer-leader" in args
    assert f"--leader-elect-namespace={NAMESPACE}" in args
    # The leader's address for standbys: the pod IP, expanded by the kubelet.
    assert "--leader-elect-advertise-url=http://$(POD_IP):8080" in args
    env = {e["name"]: e for e in rendered.container["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


APPS_CONFIG = {
    "clusters": [{"name": "here", "inCluster": True}],
    "sources": [{"name": "s", "git": {"url": "https://git.example.com/d.git"}}],
    "apps": [
        {"name": "web", "source": "s", "path": "web", "namespace": "web", "clusters": ["here"]},
        {
            "name": "api",
            "source": "s",
            "path": "api",
            "namespace": "api",
            "clusters": ["here"],
            "gateway": {"allowedNamespaces": ["api", "api-jobs"]},
        },
    ],
}


def test_default_rbac_is_namespaced_to_the_configs_namespaces(
    render: Callable[..., Rendered],
) -> None:
    rendered = render({"config": APPS_CONFIG})
    assert rendered.of_kind("ClusterRole") == [] and rendered.of_kind("ClusterRoleBinding") == []
    roles = {r["metadata"]["namespace"] for r in rendered.of_kind("Role")}
    assert roles == {"web", "api", "api-jobs", NAMESPACE}
    # Namespaces syncer may not create itself: the chart makes them, kept on uninstall.
    made = {n["metadata"]["name"]: n for n in rendered.of_kind("Namespace")}
    assert set(made) == {"web", "api", "api-jobs"}
    assert all(
        n["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for n in made.values()
    )
    # Nothing at all without a namespace to deploy to (and NOTES say so).
    assert render().of_kind("Role") == [
        r
        for r in render().of_kind("Role")
        if r["metadata"]["name"].endswith(("leader-election", "-state"))
    ]


def test_namespaced_scope_has_no_cluster_wide_access(render: Callable[..., Rendered]) -> None:
    rendered = render({"rbac": {"scope": "namespaces", "namespaces": ["web", "api"]}})
    assert rendered.of_kind("ClusterRole") == []
    assert rendered.of_kind("ClusterRoleBinding") == []
    roles = {r["metadata"]["namespace"] for r in rendered.of_kind("Role")}
    assert roles == {"web", "api", NAMESPACE}
    for binding in rendered.of_kind("RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role"


def test_secrets_are_readable_by_name_only(render: Callable[..., Rendered]) -> None:
    rendered = render(
        {
            "rbac": {
                "readSecrets": [
                    {"namespace": "web", "name": "pull"},
                    {"namespace": "web", "name": "git-token"},
                    {"namespace": "ops", "name": "kubeconfig"},
                ]
            }
        }
    )
    secret_roles = {
        r["metadata"]["namespace"]: r["rules"]
        for r in rendered.of_kind("Role")
        if r["metadata"]["name"].endswith("-secrets")
    }
    assert secret_roles == {
        "web": [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["pull", "git-token"],
                "verbs": ["get"],
            }
        ],
        "ops": [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["kubeconfig"],
                "verbs": ["get"],
            }
        ],
    }


def test_pod_is_hardened_and_probed(render: Callable[..., Rendered]) -> None:
    rendered = render()
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = rendered.container
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "webhooks", "containerPort": 8081, "protocol": "TCP"},
    ]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # A read-only root needs writable scratch space: /tmp and the cache are emptyDirs.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert "emptyDir" in volumes[mounts["/var/cache/syncer"]]


def test_config_is_mounted_and_is_a_valid_syncer_config(
    render: Callable[..., Rendered], tmp_path: Path
) -> None:
    webhooks = {"github": "file:/etc/syncer/secrets/github-webhook"}
    config = {
        "sources": [
            {
                "name": "deploy",
                "git": {"url": "https://git.example.com/deploy.git", "branch": "main"},
            }
        ],
        "clusters": [{"name": "in-cluster", "inCluster": True}],
        "apps": [
            {"name": "web", "source": "deploy", "path": "apps/web", "clusters": ["in-cluster"]}
        ],
        "server": {"apiToken": "file:/etc/syncer/secrets/api-token", "webhooks": webhooks},
    }
    rendered = render(
        {"config": config, "existingSecret": "syncer-credentials", "state": {"backend": "sqlite"}}
    )
    config_map = rendered.one("ConfigMap")
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    loaded = loader.load(path)
    assert loaded.server.listen == "0.0.0.0:8080"
    assert loaded.server.webhook_listen == "0.0.0.0:8081"
    assert str(loaded.server.api_token) == "file:/etc/syncer/secrets/api-token"
    assert str(loaded.server.webhooks.github) == "file:/etc/syncer/secrets/github-webhook"
    assert [a.name for a in loaded.apps] == ["web"]

    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    container = rendered.container
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_mount = mounts["/etc/syncer/config"]
    assert config_mount["readOnly"] is True
    assert volumes[config_mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert "--config=/etc/syncer/config/config.yaml" in container["args"]
    secret_mount = mounts["/etc/syncer/secrets"]
    assert secret_mount["readOnly"] is True
    assert volumes[secret_mount["name"]]["secret"]["secretName"] == "syncer-credentials"
    # State lives on the PVC, at the path the config names.
    state_mount = mounts["/var/lib/syncer"]
    claim = volumes[state_mount["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim == rendered.one("PersistentVolumeClaim")["metadata"]["name"]
    assert loaded.state.path == "/var/lib/syncer/state.db"
    # The pod template carries the config's checksum, so a config change rolls it.
    annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    other = render({"config": {**config, "apps": []}})
    other_annotations = other.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] != other_annotations["checksum/config"]


def test_service_and_optional_service_monitor(render: Callable[..., Rendered]) -> None:
    rendered = render()
    service = rendered.one("Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert (
        service["spec"]["selector"] == rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    )
    assert rendered.of_kind("ServiceMonitor") == []
    monitor = render(
        {"serviceMonitor": {"enabled": True}},
        api_versions=["monitoring.coreos.com/v1/ServiceMonitor"],
    ).one("ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"


def test_without_persistence_state_is_an_empty_dir(render: Callable[..., Rendered]) -> None:
    rendered = render({"persistence": {"enabled": False}, "leaderElection": {"enabled": False}})
    assert rendered.of_kind("PersistentVolumeClaim") == []
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert {"name": "state", "emptyDir": {}} in pod["volumes"]
    assert "--leader-elect" not in rendered.container["args"]
    assert not [r for r in rendered.of_kind("Role") if "leader" in r["metadata"]["name"]]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "replicaCount": 2,
                "leaderElection": {"enabled": False},
                "sharding": {"enabled": False},
            },
            "replicaCount > 1 needs sharding.enabled=true (state.backend kubernetes) or "
            "leaderElection.enabled=true",
        ),
        (
            {
                "replicaCount": 2,
                "leaderElection": {"enabled": False},
                "state": {"backend": "sqlite"},
            },
            "replicaCount > 1 needs sharding.enabled=true",
        ),
        (
            {"rbac": {"rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]}},
            "/rbac/rules/0/resources/0",
        ),
        (
            {"rbac": {"extraRules": [{"apiGroups": ["*"], "resources": ["x"], "verbs": ["get"]}]}},
            "/rbac/extraRules/0/apiGroups/0",
        ),
        (
            {"rbac": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]}},
            "/rbac/rules/0/verbs/0",
        ),
        ({"replicas": 2}, "replicas"),
    ],
)
def test_bad_values_fail_with_a_message_naming_them(
    helm: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    values: dict,
    message: str,
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    proc = helm("template", "t", str(CHART), "--values", str(path), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_notes_tell_what_is_disabled(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    # helm template leaves NOTES.txt out; an install dry run renders it.
    proc = helm("install", "t", str(CHART), "--namespace", NAMESPACE, "--dry-run=client")
    assert "every webhook is refused" in proc.stdout
    assert (
        "config.server.users is not set: the API (and `syncer --server`) is disabled" in proc.stdout
    )
    assert "port-forward svc/t-syncer 8080" in proc.stdout
    assert "syncer may deploy nowhere" in proc.stdout
    assert f"State: Secrets in namespace {NAMESPACE}" in proc.stdout
    assert "state (releases, history) is lost" not in proc.stdout


def test_network_policy_opens_the_http_port_to_the_listed_peers_only(
    render: Callable[..., Rendered],
) -> None:
    policy = render().one("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rule = policy["spec"]["ingress"][0]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == [{"podSelector": {}}]  # the release namespace only
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "t"
    ingress = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
    widened = render({"networkPolicy": {"from": [{"podSelector": {}}, ingress]}})
    assert widened.one("NetworkPolicy")["spec"]["ingress"][0]["from"][1] == ingress
    assert render({"networkPolicy": {"enabled": False}}).of_kind("NetworkPolicy") == []


def _grants_events(rendered: Rendered) -> list[str]:
    return [
        where
        for where, rule in all_rules(rendered)
        if "events" in rule["resources"] and rule["apiGroups"] == ["events.k8s.io"]
    ]


def test_events_are_granted_only_with_a_kubernetes_notification_provider(
    render: Callable[..., Rendered],
) -> None:
    assert _grants_events(render({})) == []
    config = {
        "clusters": [{"name": "in-cluster", "inCluster": True}],
        "notifications": {
            "providers": [{"name": "events", "type": "kubernetes"}],
            "rules": [{"providers": ["events"]}],
        },
    }
    rendered = render({"config": config, "rbac": {"namespaces": ["web"]}})
    granted = _grants_events(rendered)
    assert granted == ["Role/web/t-syncer"], granted
    rule = next(r for w, r in all_rules(rendered) if w in granted and "events" in r["resources"])
    assert rule["verbs"] == ["create"]  # never read, update or delete
    forced = render({"existingConfigMap": "mine", "rbac": {"events": True, "namespaces": ["web"]}})
    assert _grants_events(forced) == ["Role/web/t-syncer"]
    refused = render({"config": config, "rbac": {"events": False, "namespaces": ["web"]}})
    assert _grants_events(refused) == []


def _grants_impersonation(rendered: Rendered) -> dict[str, Any]:
    return {
        f"{where} {','.join(rule['resources'])}": rule.get("resourceNames", "any")
        for where, rule in all_rules(rendered)
        if "impersonate" in rule["verbs"]
    }


def test_impersonation_is_granted_only_for_the_accounts_tenants_name(
    render: Callable[..., Rendered],
) -> None:
    assert _grants_impersonation(render({})) == {}
    config = {
        "clusters": [{"name": "in-cluster", "inCluster": True}],
        "tenants": [
            {"name": "a", "impersonate": {"serviceAccount": "team-a/deployer"}},
            {"name": "b", "impersonate": {"user": "bob", "groups": ["team-b"]}},
            {
                "name": "c",
                "clusterImpersonate": [
                    {"serviceAccount": "team-a/prod-deployer", "clusters": ["in-cluster"]}
                ],
            },
            {"name": "d"},
        ],
    }
    rendered = render({"config": config, "rbac": {"namespaces": ["web"]}})
    assert _grants_impersonation(rendered) == {
        "ClusterRole//t-syncer-impersonate users": ["bob"],
        "ClusterRole//t-syncer-impersonate groups": ["team-b"],
        "Role/team-a/t-syncer-impersonate serviceaccounts": ["deployer", "prod-deployer"],
    }
    bindings = {
        f"{o['kind']}/{o['metadata'].get('namespace', '')}": o["subjects"][0]["name"]
        for o in rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding")
        if o["metadata"]["name"] == "t-syncer-impersonate"
    }
    assert bindings == {"ClusterRoleBinding/": "t-syncer", "RoleBinding/team-a": "t-syncer"}
    forced = render(
        {"existingConfigMap": "mine", "rbac": {"impersonate": True, "namespaces": ["web"]}}
    )
    assert _grants_impersonation(forced) == {
        "ClusterRole//t-syncer-impersonate users,groups,serviceaccounts": "any"
    }
    refused = render({"config": config, "rbac": {"impersonate": False, "namespaces": ["web"]}})
    assert _grants_impersonation(refused) == {}


def test_state_in_kubernetes_by_default_no_volume_and_a_role_for_it_alone(
    render: Callable[..., Rendered], tmp_path: Path
) -> None:
    rendered = render({"replicaCount": 2})
    assert rendered.of_kind("PersistentVolumeClaim") == []
    deployment = rendered.one("Deployment")
    # No volume to hand over: pods roll like any Deployment, on any node.
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "state", "emptyDir": {}} in pod["volumes"]
    path = tmp_path / "config.yaml"
    path.write_text(rendered.one("ConfigMap")["data"]["config.yaml"])
    loaded = loader.load(path)
    assert loaded.state.kubernetes is not None
    assert (loaded.state.kubernetes.cluster, loaded.state.kubernetes.namespace) == (
        "in-cluster", NAMESPACE,
    )  # fmt: skip
    (role,) = [r for r in rendered.of_kind("Role") if r["metadata"]["name"] == "t-syncer-state"]
    assert role["metadata"]["namespace"] == NAMESPACE
    # Sharded replicas (the default): shard and heartbeat Leases, names not known ahead.
    assert role["rules"] == [
        {
            "apiGroups": [""], "resources": ["secrets"],
            "verbs": ["get", "list", "watch", "create", "update"],
        },
        {
            "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
            "verbs": ["get", "list", "create", "update", "delete"],
        },
    ]  # fmt: skip
    # One writer (no sharding): the writer Lease by name only.
    single = render({"sharding": {"enabled": False}})
    (role,) = [r for r in single.of_kind("Role") if r["metadata"]["name"] == "t-syncer-state"]
    assert role["rules"][1:] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
            "resourceNames": ["syncer-state-writer"], "verbs": ["get", "update"],
        },
    ]  # fmt: skip
    (binding,) = [
        b for b in rendered.of_kind("RoleBinding") if b["metadata"]["name"] == "t-syncer-state"
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "t-syncer-state",
    }  # fmt: skip
    elsewhere = render({"state": {"namespace": "syncer-state"}})
    (moved,) = [r for r in elsewhere.of_kind("Role") if r["metadata"]["name"] == "t-syncer-state"]
    assert moved["metadata"]["namespace"] == "syncer-state"
    assert "namespace: syncer-state" in elsewhere.one("ConfigMap")["data"]["config.yaml"]


def test_sqlite_state_brings_back_the_volume(render: Callable[..., Rendered]) -> None:
    rendered = render({"state": {"backend": "sqlite"}})
    assert len(rendered.of_kind("PersistentVolumeClaim")) == 1
    assert rendered.one("Deployment")["spec"]["strategy"]["type"] == "Recreate"
    assert not [r for r in rendered.of_kind("Role") if r["metadata"]["name"].endswith("-state")]
    assert "kubernetes" not in rendered.one("ConfigMap")["data"]["config.yaml"]


def test_two_sharded_replicas_by_default_spread_over_nodes(
    render: Callable[..., Rendered],
) -> None:
    rendered = render()
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    args = rendered.container["args"]
    assert "--shards=16" in args
    assert "--shard-advertise-url=http://$(POD_IP):8080" in args
    assert not [a for a in args if a.startswith("--leader-elect")]
    assert not [r for r in rendered.of_kind("Role") if "leader" in r["metadata"]["name"]]
    assert rendered.of_kind("PersistentVolumeClaim") == []
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    pod = deployment["spec"]["template"]["spec"]
    (preferred,) = pod["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    term = preferred["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    hard = render({"podAntiAffinity": "hard"}).one("Deployment")["spec"]["template"]["spec"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in hard["affinity"]["podAntiAffinity"]
    none = render({"podAntiAffinity": "none"}).one("Deployment")["spec"]["template"]["spec"]
    assert "affinity" not in none
    # A SQLite file belongs to one process: one leads, the other stands by.
    sqlite = render({"state": {"backend": "sqlite"}})
    assert "--leader-elect" in sqlite.container["args"]
    assert not [a for a in sqlite.container["args"] if a.startswith("--shard")]
