"""Gateway policies: each rule blocks with a message naming object, field and rule."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import errors as syncer_errors
from syncer.apply import errors, gateway
from syncer.config import model

NS = "web"


def deployment(
    *,
    image: str = "registry.example.com/team/web:1.0@sha256:" + "a" * 64,
    replicas: int = 2,
    resources: dict[str, Any] | None = None,
    namespace: str = NS,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image}
    container["resources"] = (
        resources
        if resources is not None
        else {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": namespace},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}},
    }


def namespaced(obj: dict[str, Any]) -> bool:
    return obj["kind"] not in ("Namespace", "ClusterRole", "CustomResourceDefinition")


def violations(objects: list[dict[str, Any]], **policy: Any) -> list[str]:
    return gateway.violations(
        objects, policy=model.GatewayPolicy(**policy), namespace=NS, is_namespaced=namespaced
    )


def test_a_compliant_deployment_passes_every_rule() -> None:
    assert (
        violations(
            [deployment()],
            require_resources=True,
            max_cpu="1",
            max_memory="1Gi",
            max_replicas=3,
            allowed_registries=("registry.example.com",),
            require_digest=True,
        )
        == []
    )


@pytest.mark.parametrize(
    ("obj", "policy", "expected"),
    [
        (
            deployment(resources={"limits": {"cpu": "1", "memory": "1Gi"}}),
            {"require_resources": True},
            "Deployment web/api: spec.template.spec.containers[app].resources.requests.cpu: "
            "missing; every container must declare CPU and memory requests and limits "
            "(rule requireResources)",
        ),
        (
            deployment(
                resources={
                    "requests": {"cpu": "1", "memory": "1Gi"},
                    "limits": {"cpu": "2500m", "memory": "1Gi"},
                }
            ),
            {"max_cpu": "2"},
            "Deployment web/api: spec.template.spec.containers[app].resources.limits.cpu: 2500m "
            "is above the maximum 2 (rule maxCpu)",
        ),
        (
            deployment(resources={"limits": {"memory": "3Gi"}}),
            {"max_memory": "2Gi"},
            "Deployment web/api: spec.template.spec.containers[app].resources.limits.memory: 3Gi "
            "is above the maximum 2Gi (rule maxMemory)",
        ),
        (
            deployment(replicas=11),
            {"max_replicas": 10},
            "Deployment web/api: spec.replicas: 11 is above the maximum 10 (rule maxReplicas)",
        ),
        (
            deployment(image="docker.io/library/nginx:1.27"),
            {"allowed_registries": ("registry.example.com",)},
            "Deployment web/api: spec.template.spec.containers[app].image: "
            "'docker.io/library/nginx:1.27' is not from an allowed registry "
            "(rule allowedRegistries: allowed are registry.example.com)",
        ),
        (
            deployment(image="registry.example.com/team/web:1.0"),
            {"require_digest": True},
            "Deployment web/api: spec.template.spec.containers[app].image: "
            "'registry.example.com/team/web:1.0' is not pinned by digest; write it as "
            "repo:tag@sha256:... (rule requireDigest)",
        ),
        (
            deployment(namespace="kube-system"),
            {},
            "Deployment kube-system/api: metadata.namespace: 'kube-system' is not an allowed "
            "namespace (rule allowedNamespaces: allowed are web)",
        ),
        (
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "admin-ish"},
            },
            {},
            "ClusterRole admin-ish: kind: ClusterRole is cluster-scoped, which this app may not "
            "create (rule allowClusterScoped: set it to true or remove the object)",
        ),
    ],
    ids=[
        "requireResources",
        "maxCpu",
        "maxMemory",
        "maxReplicas",
        "allowedRegistries",
        "requireDigest",
        "allowedNamespaces",
        "allowClusterScoped",
    ],
)
def test_each_rule_names_object_field_and_rule(
    obj: dict[str, Any], policy: dict[str, Any], expected: str
) -> None:
    assert expected in violations([obj], **policy)


def test_check_raises_a_permanent_error_listing_all_violations() -> None:
    with pytest.raises(errors.GatewayViolation) as caught:
        gateway.check(
            [deployment(replicas=5), deployment(namespace="other")],
            policy=model.GatewayPolicy(max_replicas=1),
            namespace=NS,
            is_namespaced=namespaced,
        )
    assert isinstance(caught.value, syncer_errors.PermanentError)
    assert len(caught.value.violations) == 3  # two replica counts and one namespace
    assert "rule maxReplicas" in str(caught.value)


def test_allowed_namespaces_and_cluster_scoped_when_permitted() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}}
    found = violations(
        [deployment(namespace="shared"), ns],
        allowed_namespaces=("web", "shared"),
        allow_cluster_scoped=True,
    )
    assert found == []


@pytest.mark.parametrize(
    ("image", "allowed", "ok"),
    [
        ("nginx:1.27", "docker.io", True),
        ("nginx:1.27", "docker.io/library", True),
        ("registry.example.com/team/web:1", "registry.example.com/team", True),
        ("registry.example.com/teamx/web:1", "registry.example.com/team", False),
        ("localhost:5000/web:1", "localhost:5000", True),
        ("evil.com/registry.example.com/web:1", "registry.example.com", False),
    ],
)
def test_registry_matching_by_host_or_path_prefix(image: str, allowed: str, ok: bool) -> None:
    found = violations([deployment(image=image)], allowed_registries=(allowed,))
    assert (found == []) is ok


def test_cronjob_init_containers_and_hpa_are_checked() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": NS},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "initContainers": [{"name": "init", "image": "busybox"}],
                            "containers": [{"name": "run", "image": "registry.example.com/x:1"}],
                        }
                    }
                }
            }
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"maxReplicas": 50},
    }
    found = violations(
        [cronjob, hpa], allowed_registries=("registry.example.com",), max_replicas=10
    )
    assert any("initContainers[init].image: 'busybox'" in line for line in found)
    assert any("HorizontalPodAutoscaler web/api: spec.maxReplicas: 50" in line for line in found)
    assert len(found) == 2


def test_an_unparseable_quantity_is_a_violation_not_a_crash() -> None:
    found = violations([deployment(resources={"limits": {"cpu": "lots"}})], max_cpu="2")
    assert found == [
        "Deployment web/api: spec.template.spec.containers[app].resources.limits.cpu: 'lots' "
        "is not a quantity: write a number with an optional suffix (m, k, M, G, Ki, Mi, Gi, "
        "...), e.g. 500m or 2Gi (rule maxCpu)"
    ]


TEAM_A = model.Tenant(
    name="team-a",
    namespaces=("web", "web-*"),
    registries=("registry.example.com/team",),
    kinds=model.TenantKinds(allow=("apps/*", "ConfigMap"), deny=("apps/DaemonSet",)),
)


def tenant_violations(objects: list[dict[str, Any]], tenant: model.Tenant = TEAM_A) -> list[str]:
    policy = model.GatewayPolicy(
        allowed_namespaces=("web", "web-2", "other", "kube-system"), tenant=tenant
    )
    return [
        line
        for line in gateway.violations(
            objects, policy=policy, namespace=NS, is_namespaced=namespaced
        )
        if line.startswith("tenant ")
    ]


def test_what_renders_inside_the_tenant_passes() -> None:
    assert tenant_violations([deployment(), deployment(namespace="web-2")]) == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            deployment(namespace="other"),
            "tenant team-a allows namespaces web, web-*; Deployment other/api is in other",
        ),
        (
            deployment(image="registry.example.com/teams/web:1"),
            "tenant team-a allows images from registry.example.com/team; Deployment web/api"
            " spec.template.spec.containers[app] uses registry.example.com/teams/web:1",
        ),
        (
            deployment(image="nginx:1"),
            "tenant team-a allows images from registry.example.com/team; Deployment web/api"
            " spec.template.spec.containers[app] uses nginx:1",
        ),
        (
            {**deployment(), "kind": "DaemonSet"},
            "tenant team-a denies kinds apps/DaemonSet; DaemonSet web/api is one",
        ),
        (
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": NS}},
            "tenant team-a allows kinds apps/*, ConfigMap; Service web/s is not one",
        ),
        (
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web-3"}},
            "tenant team-a allows no cluster-scoped kinds (kinds.clusterScoped);"
            " Namespace web-3 is cluster-scoped",
        ),
    ],
)
def test_what_renders_outside_the_tenant_names_the_tenants_rule(
    obj: dict[str, Any], expected: str
) -> None:
    found = tenant_violations([obj])
    assert expected in found, found


def test_a_tenant_that_allows_cluster_scoped_kinds_still_bounds_them_by_kind() -> None:
    tenant = model.Tenant(
        name="platform-ish",
        namespaces=("web",),
        kinds=model.TenantKinds(cluster_scoped=True, deny=("rbac.authorization.k8s.io/*",)),
    )
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web-3"}}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "r"},
    }
    assert tenant_violations([namespace], tenant) == []
    assert tenant_violations([role], tenant) == [
        "tenant platform-ish denies kinds rbac.authorization.k8s.io/*; ClusterRole r is one"
    ]
    only_namespaces = model.Tenant(
        name="ns-maker",
        namespaces=("web",),
        kinds=model.TenantKinds(cluster_scoped=True, cluster_allow=("Namespace",)),
    )
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
    }
    assert tenant_violations([namespace], only_namespaces) == []
    assert tenant_violations([crd], only_namespaces) == [
        "tenant ns-maker allows cluster-scoped kinds Namespace (kinds.clusterAllow);"
        " CustomResourceDefinition widgets.example.com is not one"
    ]


def test_a_namespace_glob_with_a_negation_excludes_what_it_matches() -> None:
    tenant = model.Tenant(name="most", namespaces=("*", "!kube-*"))
    assert tenant_violations([deployment(namespace="other")], tenant) == []
    assert tenant_violations([deployment(namespace="kube-system")], tenant) == [
        "tenant most allows namespaces *, !kube-*; Deployment kube-system/api is in kube-system"
    ]
