"""Gateway policies: checks an app's objects must pass before anything is written.

``sync`` and ``plan`` call ``check`` on the whole rendered set first; any violation
blocks the app (``errors.GatewayViolation``) so nothing is half-applied. Each
violation names the object, the field and the rule (the config key of
``model.GatewayPolicy``), and says what to change.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any

from syncer import quantity
from syncer.apply import errors, refs
from syncer.config import model, tenants
from syncer.render import images

REPLICA_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


def check(
    objects: list[dict[str, Any]],
    *,
    policy: model.GatewayPolicy,
    namespace: str,
    is_namespaced: Callable[[dict[str, Any]], bool],
) -> None:
    """Raise ``GatewayViolation`` listing every violation, or return when all pass."""
    found = violations(objects, policy=policy, namespace=namespace, is_namespaced=is_namespaced)
    if found:
        raise errors.GatewayViolation(found)


def violations(
    objects: list[dict[str, Any]],
    *,
    policy: model.GatewayPolicy,
    namespace: str,
    is_namespaced: Callable[[dict[str, Any]], bool],
) -> list[str]:
    """Every violation as one line: ``Kind ns/name: field: problem (rule)``."""
    found: list[str] = []
    allowed_namespaces = set(policy.allowed_namespaces or (namespace,))
    for obj in objects:
        name = refs.describe(obj)
        found += [
            f"{name}: {line}"
            for line in _placement(obj, policy, allowed_namespaces, is_namespaced(obj))
        ]
        found += [f"{name}: {line}" for line in _replicas(obj, policy)]
        for path, container in _containers(obj):
            found += [f"{name}: {path}.{line}" for line in _container(container, policy)]
        if policy.tenant is not None:
            found += list(tenant_refusals(obj, policy.tenant, namespaced=is_namespaced(obj)))
    return found


def tenant_refusals(
    obj: dict[str, Any], tenant: model.Tenant, *, namespaced: bool
) -> Iterator[str]:
    """``obj`` against the tenant's bounds (what renders, and what prune may delete):
    each line names the tenant's rule."""
    name = refs.describe(obj)
    kind = str(obj.get("kind", ""))
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    if not namespaced and not tenant.kinds.cluster_scoped:
        yield (
            f"tenant {tenant.name} allows no cluster-scoped kinds (kinds.clusterScoped);"
            f" {name} is cluster-scoped"
        )
    elif (
        not namespaced
        and tenant.kinds.cluster_allow
        and not _kind_in(group, kind, tenant.kinds.cluster_allow)
    ):
        allowed = ", ".join(tenant.kinds.cluster_allow)
        yield (
            f"tenant {tenant.name} allows cluster-scoped kinds {allowed}"
            f" (kinds.clusterAllow); {name} is not one"
        )
    if namespaced:
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        if not tenants.matches(namespace, tenant.namespaces):
            yield (
                f"tenant {tenant.name} allows namespaces {', '.join(tenant.namespaces) or 'none'};"
                f" {name} is in {namespace}"
            )
    if tenant.kinds.allow and not _kind_in(group, kind, tenant.kinds.allow):
        allowed = ", ".join(tenant.kinds.allow)
        yield f"tenant {tenant.name} allows kinds {allowed}; {name} is not one"
    if _kind_in(group, kind, tenant.kinds.deny):
        yield f"tenant {tenant.name} denies kinds {', '.join(tenant.kinds.deny)}; {name} is one"
    if tenant.registries:
        for path, container in _containers(obj):
            image = str(container.get("image", ""))
            if not tenants.in_registries(_full_repository(image), tenant.registries):
                yield (
                    f"tenant {tenant.name} allows images from {', '.join(tenant.registries)};"
                    f" {name} {path} uses {image}"
                )


def _kind_in(group: str, kind: str, patterns: tuple[str, ...]) -> bool:
    """``Kind`` matches in any group; ``group/Kind`` (globs) in that group only."""
    for pattern in patterns:
        want_group, slash, want_kind = pattern.rpartition("/")
        if slash and not fnmatch.fnmatchcase(group, want_group):
            continue
        if fnmatch.fnmatchcase(kind, want_kind):
            return True
    return False


def _placement(
    obj: dict[str, Any], policy: model.GatewayPolicy, allowed: set[str], namespaced: bool
) -> Iterator[str]:
    if not namespaced:
        # A tenant's own rule (kinds.clusterScoped) says it, naming the tenant.
        if not policy.allow_cluster_scoped and policy.tenant is None:
            yield (
                f"kind: {obj.get('kind')} is cluster-scoped, which this app may not create "
                "(rule allowClusterScoped: set it to true or remove the object)"
            )
        return
    ns = (obj.get("metadata") or {}).get("namespace", "")
    if ns not in allowed:
        yield (
            f"metadata.namespace: {ns!r} is not an allowed namespace "
            f"(rule allowedNamespaces: allowed are {', '.join(sorted(allowed))})"
        )


def _replicas(obj: dict[str, Any], policy: model.GatewayPolicy) -> Iterator[str]:
    if not policy.max_replicas:
        return
    spec = obj.get("spec") or {}
    fields: list[tuple[str, Any]] = []
    if obj.get("kind") in REPLICA_KINDS:
        fields.append(("spec.replicas", spec.get("replicas", 1)))
    if obj.get("kind") == "HorizontalPodAutoscaler":
        fields.append(("spec.maxReplicas", spec.get("maxReplicas", 0)))
    for field, value in fields:
        if isinstance(value, int) and value > policy.max_replicas:
            yield (
                f"{field}: {value} is above the maximum {policy.max_replicas} (rule maxReplicas)"
            )


def _containers(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for list_path, _, container in images.pod_containers(obj):
        yield (f"{list_path}[{container.get('name', '?')}]", container)


def _container(container: dict[str, Any], policy: model.GatewayPolicy) -> Iterator[str]:
    yield from _image(str(container.get("image", "")), policy)
    resources = container.get("resources") or {}
    if policy.require_resources:
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(section) or {}):
                    yield (
                        f"resources.{section}.{resource}: missing; every container must "
                        "declare CPU and memory requests and limits (rule requireResources)"
                    )
    for resource, maximum, rule in (
        ("cpu", policy.max_cpu, "maxCpu"),
        ("memory", policy.max_memory, "maxMemory"),
    ):
        if not maximum:
            continue
        for section in ("limits", "requests"):
            value = (resources.get(section) or {}).get(resource)
            if value is None:
                continue
            yield from _at_most(f"resources.{section}.{resource}", value, maximum, rule)


def _at_most(field: str, value: Any, maximum: str, rule: str) -> Iterator[str]:
    try:
        over = quantity.parse(value) > quantity.parse(maximum)
    except ValueError as err:
        yield f"{field}: {err} (rule {rule})"
        return
    if over:
        yield f"{field}: {value} is above the maximum {maximum} (rule {rule})"


def _image(image: str, policy: model.GatewayPolicy) -> Iterator[str]:
    if policy.allowed_registries and not any(
        _from_registry(image, allowed) for allowed in policy.allowed_registries
    ):
        yield (
            f"image: {image!r} is not from an allowed registry (rule allowedRegistries: "
            f"allowed are {', '.join(policy.allowed_registries)})"
        )
    if policy.require_digest and "@sha256:" not in image:
        yield (
            f"image: {image!r} is not pinned by digest; write it as repo:tag@sha256:... "
            "(rule requireDigest)"
        )


def registry_of(image: str) -> str:
    """The registry host of an image reference (docker.io when none is written)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _from_registry(image: str, allowed: str) -> bool:
    """``allowed`` is a host (``registry.example.com``) or a host/path prefix."""
    allowed = allowed.rstrip("/")
    if "/" not in allowed:
        return registry_of(image) == allowed
    return tenants.in_registries(_full_repository(image), (allowed,))


def _full_repository(image: str) -> str:
    """The repository of an image with its registry written out, without tag or digest
    (Docker Hub short names: nginx is docker.io/library/nginx)."""
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)
    if ":" in last[-1]:
        repository = repository.rsplit(":", 1)[0]
    if registry_of(image) == "docker.io" and not repository.startswith("docker.io/"):
        short = "/" not in repository
        repository = ("docker.io/library/" if short else "docker.io/") + repository
    return repository
