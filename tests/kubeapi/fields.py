"""Unknown-field detection for ``fieldValidation`` (Strict / Warn / Ignore).

server.py calls ``unknown`` on request bodies of built-in kinds: with ``Strict`` (what
kubectl sends) unknown fields are a 400 "strict decoding error"; with ``Warn`` (the
server default) or ``Ignore`` they are dropped, with a ``Warning`` header for Warn. Only
the levels syncer's manifests touch are known here: the top level, ObjectMeta, workload
specs, pod templates, pod specs and containers; deeper fields are not checked.
"""

from __future__ import annotations

from typing import Any

_META = {
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
}
_CONTAINER = {
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "restartPolicyRules",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
    "targetContainerName",
}
_POD_SPEC = {
    "volumes",
    "initContainers",
    "containers",
    "ephemeralContainers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "topologySpreadConstraints",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources",
    "hostnameOverride",
}
_TOP = {"apiVersion", "kind", "metadata"}
_KIND_TOP = {
    "ConfigMap": {"data", "binaryData", "immutable"},
    "Secret": {"data", "stringData", "type", "immutable"},
    "ServiceAccount": {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
    "Namespace": {"spec", "status"},
}
_WORKLOAD_SPEC = {
    "Deployment": {
        "replicas",
        "selector",
        "template",
        "strategy",
        "minReadySeconds",
        "revisionHistoryLimit",
        "paused",
        "progressDeadlineSeconds",
    },
    "StatefulSet": {
        "replicas",
        "selector",
        "template",
        "volumeClaimTemplates",
        "serviceName",
        "podManagementPolicy",
        "updateStrategy",
        "revisionHistoryLimit",
        "minReadySeconds",
        "persistentVolumeClaimRetentionPolicy",
        "ordinals",
    },
    "DaemonSet": {
        "selector",
        "template",
        "updateStrategy",
        "minReadySeconds",
        "revisionHistoryLimit",
    },
    "ReplicaSet": {"replicas", "minReadySeconds", "selector", "template"},
    "Job": {
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "podFailurePolicy",
        "successPolicy",
        "backoffLimit",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "selector",
        "manualSelector",
        "template",
        "ttlSecondsAfterFinished",
        "completionMode",
        "suspend",
        "podReplacementPolicy",
        "managedBy",
    },
}


def _extra(obj: Any, known: set[str], path: str, out: list[str]) -> None:
    if isinstance(obj, dict):
        for key in obj:
            if key not in known and not key.startswith("$"):
                out.append(f"{path}.{key}" if path else key)


def _pod_spec(spec: Any, path: str, out: list[str]) -> None:
    if not isinstance(spec, dict):
        return
    _extra(spec, _POD_SPEC, path, out)
    for key in ("containers", "initContainers"):
        for i, container in enumerate(spec.get(key) or []):
            _extra(container, _CONTAINER, f"{path}.{key}[{i}]", out)


def unknown(obj: dict[str, Any], *, kind: str) -> list[str]:
    """Paths of fields this kind does not have (only for the levels known here)."""
    out: list[str] = []
    if kind in _KIND_TOP:
        _extra(obj, _TOP | _KIND_TOP[kind], "", out)
    elif kind in _WORKLOAD_SPEC:
        _extra(obj, _TOP | {"spec", "status"}, "", out)
        spec = obj.get("spec")
        _extra(spec, _WORKLOAD_SPEC[kind], "spec", out)
        template = spec.get("template") if isinstance(spec, dict) else None
        if isinstance(template, dict):
            _extra(template, {"metadata", "spec"}, "spec.template", out)
            _extra(template.get("metadata"), _META, "spec.template.metadata", out)
            _pod_spec(template.get("spec"), "spec.template.spec", out)
    elif kind == "Pod":
        _extra(obj, _TOP | {"spec", "status"}, "", out)
        _pod_spec(obj.get("spec"), "spec", out)
    else:
        return out
    _extra(obj.get("metadata"), _META, "metadata", out)
    return out


def drop(obj: dict[str, Any], paths: list[str]) -> None:
    """Remove the unknown fields (as the decoder does for Warn and Ignore)."""
    for path in paths:
        node: Any = obj
        parts = path.replace("[", ".[").split(".")
        for part in parts[:-1]:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        node.pop(parts[-1], None)
