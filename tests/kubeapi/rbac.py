"""RBAC evaluation for tokens of ServiceAccounts and users: Roles and bindings from the store.

auth.py asks ``allowed`` for tokens made with ``make_token(service_account=…)`` or
``make_token(user=…)`` (and for ``kubectl create token``); the answer comes from the
ClusterRoleBindings, RoleBindings, ClusterRoles and Roles stored in the cluster, as
kube-apiserver's RBAC authorizer computes it: verbs, apiGroups, resources (with
``resource/subresource`` and ``*``) and resourceNames, namespaced bindings limited to
their namespace. Seeded ClusterRoles: cluster-admin, admin, edit, view (approximations).
"""

from __future__ import annotations

from typing import Any

from tests.kubeapi import store

_RBAC = "rbac.authorization.k8s.io"
_READ = ["get", "list", "watch"]
_WRITE = ["create", "update", "patch", "delete", "deletecollection"]
_APP_GROUPS = ["", "apps", "batch", "autoscaling", "networking.k8s.io", "policy"]
_APP_RESOURCES = [
    "pods",
    "services",
    "endpoints",
    "persistentvolumeclaims",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "deployments",
    "deployments/scale",
    "statefulsets",
    "statefulsets/scale",
    "daemonsets",
    "replicasets",
    "replicasets/scale",
    "jobs",
    "cronjobs",
    "horizontalpodautoscalers",
    "ingresses",
    "networkpolicies",
    "poddisruptionbudgets",
    "events",
]

SEEDED_CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ],
    "admin": [
        {"apiGroups": _APP_GROUPS, "resources": _APP_RESOURCES, "verbs": _READ + _WRITE},
        {"apiGroups": [_RBAC], "resources": ["roles", "rolebindings"], "verbs": _READ + _WRITE},
    ],
    "edit": [{"apiGroups": _APP_GROUPS, "resources": _APP_RESOURCES, "verbs": _READ + _WRITE}],
    "view": [
        {
            "apiGroups": _APP_GROUPS,
            "resources": [r for r in _APP_RESOURCES if r != "secrets"],
            "verbs": _READ,
        }
    ],
}


def service_account_user(namespace: str, name: str) -> tuple[str, tuple[str, ...]]:
    """The user name and groups kube-apiserver gives a ServiceAccount's token."""
    return (
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


def _subject_matches(
    subject: dict[str, Any], user: str, groups: tuple[str, ...], namespace: str
) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        sa_ns = subject.get("namespace") or namespace
        return user == f"system:serviceaccount:{sa_ns}:{subject.get('name')}"
    if kind == "User":
        return subject.get("name") == user
    if kind == "Group":
        return subject.get("name") in groups
    return False


def _rule_matches(rule: dict[str, Any], *, verb: str, group: str, resource: str, name: str) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and verb not in verbs:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and group not in groups:
        return False
    resources = rule.get("resources") or []
    base = resource.split("/")[0]
    wildcard_sub = f"{base}/*" in resources if "/" in resource else False
    if "*" not in resources and resource not in resources and not wildcard_sub:
        return False
    names = rule.get("resourceNames") or []
    return not names or (bool(name) and name in names)


def _role_rules(st: store.Store, *, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    kind, name = ref.get("kind"), str(ref.get("name", ""))
    if kind == "ClusterRole":
        role = st.get((_RBAC, "clusterroles"), "", name)
        if role is None:
            return SEEDED_CLUSTER_ROLES.get(name, [])
    else:
        role = st.get((_RBAC, "roles"), namespace, name)
    return list((role or {}).get("rules") or [])


def allowed(
    st: store.Store,
    *,
    user: str,
    groups: tuple[str, ...],
    verb: str,
    group: str,
    resource: str,
    namespace: str,
    name: str,
) -> bool:
    """Whether some binding grants verb on group/resource (in namespace, on name)."""
    want = {"verb": verb, "group": group, "resource": resource, "name": name}
    for binding in st.select((_RBAC, "clusterrolebindings")):
        if any(_subject_matches(s, user, groups, "") for s in binding.get("subjects") or []):
            rules = _role_rules(st, ref=binding.get("roleRef") or {}, namespace="")
            if any(_rule_matches(r, **want) for r in rules):
                return True
    if not namespace:
        return False
    for binding in st.select((_RBAC, "rolebindings"), namespace):
        if any(_subject_matches(s, user, groups, namespace) for s in binding.get("subjects") or []):
            rules = _role_rules(st, ref=binding.get("roleRef") or {}, namespace=namespace)
            if any(_rule_matches(r, **want) for r in rules):
                return True
    return False
