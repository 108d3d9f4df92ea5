"""Tenants at load time: the effective gateway is the tenant's tightened by the app's."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import apply, release
from syncer.config import model
from syncer.reconcile import live
from tests.config.conftest import load_text, problems_of

PLATFORM = """\
sources:
  - name: deploy
    git: {url: https://git.example.com/team-a/deploy.git}
clusters:
  - {name: dev}
tenants:
  - name: team-a
    sources: [{repo: "https://git.example.com/team-a/*"}]
    clusters: ["*"]
    namespaces: [team-a, team-a-*]
    gateway:
      maxReplicas: 10
      requireResources: true
      maxCpu: "2"
      checkQuota: false
      allowedRegistries: [registry.example.com]
    defaults: {namespace: team-a}
apps:
  - name: web
    source: deploy
    tenant: team-a
    clusters: [dev]
"""


def app_with(gateway: str = "", extra: str = ""):
    text = PLATFORM + (f"    gateway: {gateway}\n" if gateway else "") + extra
    return load_text(text).apps[0]


def test_an_app_that_writes_no_gateway_gets_its_tenants() -> None:
    app = app_with()
    assert app.namespace == "team-a"
    assert app.gateway.max_replicas == 10
    assert app.gateway.require_resources is True
    assert app.gateway.max_cpu == "2"
    assert app.gateway.check_quota is False
    assert app.gateway.allowed_registries == ("registry.example.com",)
    assert app.gateway.allow_cluster_scoped is False
    assert app.gateway.tenant is not None and app.gateway.tenant.name == "team-a"


@pytest.mark.parametrize(
    ("gateway", "field", "value"),
    [
        ("{maxReplicas: 3}", "max_replicas", 3),
        ("{maxReplicas: 10}", "max_replicas", 10),
        ("{maxCpu: 500m}", "max_cpu", "500m"),
        ("{maxMemory: 1Gi}", "max_memory", "1Gi"),
        ("{requireDigest: true}", "require_digest", True),
        ("{checkQuota: true}", "check_quota", True),
        (
            "{allowedRegistries: [registry.example.com]}",
            "allowed_registries",
            ("registry.example.com",),
        ),
    ],
)
def test_an_app_may_tighten_its_tenants_gateway(gateway, field, value) -> None:
    app = app_with(gateway)
    assert getattr(app.gateway, field) == value
    # What the app did not write stays the tenant's.
    assert app.gateway.require_resources is True


@pytest.mark.parametrize(
    ("gateway", "key", "looser", "tenants"),
    [
        ("{maxReplicas: 11}", "maxReplicas", "11", "10 (tenants[0].gateway.maxReplicas)"),
        ("{maxReplicas: 0}", "maxReplicas", "no limit", "10 (tenants[0].gateway.maxReplicas)"),
        ("{maxCpu: 2500m}", "maxCpu", "2500m", "2 (tenants[0].gateway.maxCpu)"),
        (
            "{requireResources: false}",
            "requireResources",
            "false",
            "true (tenants[0].gateway.requireResources)",
        ),
        (
            "{allowedRegistries: []}",
            "allowedRegistries",
            "any",
            "registry.example.com (tenants[0].gateway.allowedRegistries)",
        ),
        (
            "{allowClusterScoped: true}",
            "allowClusterScoped",
            "true",
            "false (tenants[0].kinds.clusterScoped)",
        ),
    ],
)
def test_a_looser_app_gateway_is_a_config_error_naming_both_fields(
    gateway, key, looser, tenants
) -> None:
    [found] = problems_of(PLATFORM + f"    gateway: {gateway}\n")
    assert f"apps[0].gateway.{key}: {looser} is looser than tenant team-a's {tenants};" in found
    assert found.startswith("syncer.yaml:")


def test_an_app_namespace_outside_its_tenant_is_refused() -> None:
    [found] = problems_of(PLATFORM + "    namespace: kube-system\n")
    assert found.endswith(
        "apps[0].namespace: tenant team-a allows namespaces team-a, team-a-*; the app deploys"
        " to kube-system (tenants[0].namespaces)"
    )


def test_apps_without_a_tenant_are_the_platforms_own_and_keep_their_release_ids() -> None:
    text = PLATFORM.replace("    tenant: team-a\n", "")
    app = load_text(text).apps[0]
    assert app.gateway.tenant is None
    assert app.namespace == "default"
    assert app.gateway.max_replicas == 0
    # The digest an app had before tenants existed (gateway fields at their defaults).
    assert release.config_digest(app) == (
        "sha256:7fa7e6c8358c1f37440431cf4f83a3b49eee948ba6152978adfd84a97f52a075"
    )


def test_impersonation_applies_to_the_tenants_apps_in_the_clusters_it_names() -> None:
    clusters = "  - {name: dev}\n  - {name: prod}\n  - {name: stage}\n"
    text = PLATFORM.replace("  - {name: dev}\n", clusters).replace(
        "    defaults: {namespace: team-a}\n",
        "    defaults: {namespace: team-a}\n"
        "    impersonate: {user: alice, groups: [devs, ops], clusters: [prod]}\n"
        "    clusterImpersonate: [{serviceAccount: team-a/dev-deployer, clusters: [dev]}]\n",
    )
    config = load_text(text + "  - {name: own, source: deploy, clusters: [dev, prod]}\n")
    tenant_app, own_app = config.apps
    dev, prod, stage = config.clusters
    assert live.impersonation(tenant_app, stage) is None  # syncer's own account there
    assert live.impersonation(tenant_app, dev) == apply.Identity(
        user="system:serviceaccount:team-a:dev-deployer"
    )
    assert live.impersonation(tenant_app, prod) == apply.Identity(
        user="alice", groups=("devs", "ops")
    )
    assert live.impersonation(own_app, prod) is None
    assert live.impersonation(None, prod) is None


def test_a_service_account_is_impersonated_as_its_user_name() -> None:
    account = model.Impersonation(service_account="team-a/deployer")
    identity = apply.Identity.of(account)
    assert identity.user == "system:serviceaccount:team-a:deployer"
    headers = identity.headers({"Accept": "application/json"})
    assert headers["Impersonate-User"] == "system:serviceaccount:team-a:deployer"
    assert "Impersonate-Group" not in headers


def test_the_readme_example_is_a_valid_config_with_the_effective_gateways_it_promises() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Tenants") :]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    web, shop = load_text(example).apps
    assert (web.gateway.max_replicas, web.gateway.max_cpu, web.gateway.require_digest) == (
        6,
        "2",
        True,
    )
    assert web.namespace == "team-a"  # the tenant's default
    assert shop.gateway.max_replicas == 4
    assert shop.gateway.tenant is not None
    assert shop.gateway.tenant.kinds.allow[0] == "apps/*"
