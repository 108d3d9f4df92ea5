"""The resource types a test cluster serves: built-in kinds plus those CRDs register.

server.py routes requests by (group, version, plural) through a ``Registry``; discovery
documents, OpenAPI documents and the store's key for objects all come from here.
"""

from __future__ import annotations

import dataclasses
import threading

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One REST resource (one group/version/plural), as discovery describes it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status: bool = False
    scale: bool = False
    categories: tuple[str, ...] = ()
    crd: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Objects are stored per (group, plural), whatever version they were written in."""
        return (self.group, self.plural)

    @property
    def tracks_generation(self) -> bool:
        """kube-apiserver sets metadata.generation for these kinds and for CRs."""
        return self.crd or self.kind in _GENERATION_KINDS


_GENERATION_KINDS = {
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Pod",
    "PodDisruptionBudget",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "CustomResourceDefinition",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    scale: bool = False,
    verbs: tuple[str, ...] = ALL_VERBS,
    categories: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        short_names=short,
        status=status,
        scale=scale,
        verbs=verbs,
        categories=categories,
    )


_ALL = ("all",)
BUILTIN: tuple[ResourceType, ...] = (
    _rt("", "v1", "Namespace", "namespaces", False, ("ns",), status=True),
    _rt("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _rt("", "v1", "Secret", "secrets"),
    _rt("", "v1", "Service", "services", short=("svc",), status=True, categories=_ALL),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _rt("", "v1", "Pod", "pods", short=("po",), status=True, categories=_ALL),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), status=True),
    _rt("", "v1", "Event", "events", short=("ev",)),
    _rt("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _rt(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        short=("rc",),
        status=True,
        scale=True,
        categories=_ALL,
    ),
    _rt("", "v1", "Node", "nodes", False, ("no",), status=True),
    _rt("apps", "v1", "Deployment", "deployments", True, ("deploy",), True, True, categories=_ALL),
    _rt("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), True, True, categories=_ALL),
    _rt("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), True, categories=_ALL),
    _rt("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), True, True, categories=_ALL),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _rt("batch", "v1", "Job", "jobs", status=True, categories=_ALL),
    _rt("batch", "v1", "CronJob", "cronjobs", short=("cj",), status=True, categories=_ALL),
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), status=True),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), status=True),
    _rt("coordination.k8s.io", "v1", "Lease", "leases"),
    _rt(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        False,
        verbs=("create",),
    ),
    _rt("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), status=True),
    _rt("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _rt("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), status=True),
    _rt(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        status=True,
        categories=_ALL,
    ),
    _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _rt("events.k8s.io", "v1", "Event", "events", short=("ev",)),
    _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    _rt(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
    ),
    _rt(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
    ),
    _rt(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        status=True,
    ),
)

# Version each group prefers (discovery's preferredVersion); CRD groups add theirs.
GROUP_ORDER = (
    "apps",
    "events.k8s.io",
    "autoscaling",
    "batch",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "policy",
    "coordination.k8s.io",
    "authorization.k8s.io",
    "apiextensions.k8s.io",
    "discovery.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
)


class Registry:
    """The set of served resource types of one cluster; CRDs add and remove entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: list[ResourceType] = list(BUILTIN)

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types)

    def find(self, *, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.all():
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_kind(self, *, api_version: str, kind: str) -> ResourceType | None:
        for rt in self.all():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

    def versions_of(self, *, group: str, plural: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.plural == plural]

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions (preferred first), built-in groups first."""
        out: dict[str, list[str]] = {g: [] for g in GROUP_ORDER}
        for rt in self.all():
            if rt.group and rt.version not in out.setdefault(rt.group, []):
                out[rt.group].append(rt.version)
        return {g: v for g, v in out.items() if v}

    def register(self, types: list[ResourceType], *, replace_key: tuple[str, str]) -> None:
        with self._lock:
            self._types = [t for t in self._types if not (t.crd and t.key == replace_key)]
            self._types.extend(types)

    def unregister(self, *, key: tuple[str, str]) -> None:
        with self._lock:
            self._types = [t for t in self._types if not (t.crd and t.key == key)]
