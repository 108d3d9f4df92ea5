"""Defaulting and validation of built-in objects, as kube-apiserver does before storing.

objects.py calls ``apply_defaults`` and then ``validate`` on every create and update, so
objects read back carry the defaulted fields a real cluster adds (which drift detection
must tolerate) and bad objects get 422 Invalid with field causes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from tests.kubeapi import errors, quantity

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _pod_spec(spec: dict[str, Any], *, restart: str | None) -> None:
    if restart:
        spec.setdefault("restartPolicy", restart)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            image = str(c.get("image", ""))
            tag = image.rsplit("/", 1)[-1]
            latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
            c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            _quantities(c["resources"], "limits", "requests")
            for port in c.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _quantities(holder: Any, *keys: str) -> None:
    """Store resource quantities in canonical form (0.5 → 500m, 1024Mi → 1Gi)."""
    if not isinstance(holder, dict):
        return
    for key in keys:
        values = holder.get(key)
        if isinstance(values, dict):
            holder[key] = {name: quantity.canonical(v) for name, v in values.items()}


def _template(spec: dict[str, Any], *, restart: str | None = "Always") -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        pod = template.setdefault("spec", {})
        if isinstance(pod, dict):
            _pod_spec(pod, restart=restart)


def _service_ip(name: str, namespace: str) -> str:
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return f"10.96.{digest[0]}.{max(digest[1], 1)}"


def apply_defaults(obj: dict[str, Any], *, kind: str) -> None:
    spec = obj.get("spec")
    meta = obj["metadata"]
    if kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
    elif kind == "Pod" and isinstance(spec, dict):
        _pod_spec(spec, restart="Always")
    elif kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        _template(spec)
    elif kind == "StatefulSet" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if update.get("type") == "RollingUpdate":
            update.setdefault("rollingUpdate", {"partition": 0})
        _template(spec)
    elif kind == "DaemonSet" and isinstance(spec, dict):
        spec.setdefault("revisionHistoryLimit", 10)
        update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if update.get("type") == "RollingUpdate":
            update.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        _template(spec)
    elif kind == "ReplicaSet" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _template(spec)
    elif kind == "Job" and isinstance(spec, dict):
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        _template(spec, restart=None)
    elif kind == "ResourceQuota" and isinstance(spec, dict):
        _quantities(spec, "hard")
    elif kind == "LimitRange" and isinstance(spec, dict):
        for item in spec.get("limits") or []:
            _quantities(item, "max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
    elif kind == "CronJob" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        node_ports = spec["type"] in ("NodePort", "LoadBalancer")
        for i, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
                if node_ports:
                    ip = _service_ip(f"{meta['name']}:{i}", meta.get("namespace", ""))
                    port.setdefault("nodePort", 30000 + int(ip.split(".")[2]) * 10 + i)
        if node_ports:
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") != "None":
            spec.setdefault("clusterIP", _service_ip(meta["name"], meta.get("namespace", "")))
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
        _quantities(spec.get("resources"), "requests", "limits")
        obj.setdefault("status", {"phase": "Bound"})


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _NAME.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL.match(name))


def _selector_matches(selector: Any, labels: Any) -> bool:
    match = (selector or {}).get("matchLabels") or {}
    labels = labels or {}
    return all(labels.get(k) == v for k, v in match.items())


def validate(obj: dict[str, Any], *, kind: str, group: str) -> None:
    """Raise 422 Invalid listing every problem found."""
    meta = obj["metadata"]
    name = meta.get("name", "")
    causes: list[tuple[str, str, str]] = []
    if not name:
        causes.append(
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        )
    elif len(name) > 253 or not _NAME.match(name):
        causes.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
                "case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character",
            )
        )
    label_kinds = {"Namespace": "RFC 1123 label", "Service": "RFC 1035 label"}
    pattern = _DNS1035 if kind == "Service" else _DNS1123_LABEL
    if name and kind in label_kinds and (len(name) > 63 or not pattern.match(name)):
        causes.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": a {kind} name must be a DNS-{label_kinds[kind][4:8]} '
                "label: at most 63 lower case alphanumeric characters or '-'",
            )
        )
    for key, value in (meta.get("labels") or {}).items():
        if not _label_key_ok(key):
            causes.append(
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    f'Invalid value: "{key}": name part '
                    "must consist of alphanumeric characters, '-', '_' or '.', with an optional "
                    "DNS subdomain prefix and '/'",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL.match(value):
            causes.append(
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    f'Invalid value: "{value}": a valid label value for key {key} must be 63 '
                    "characters or less and consist of alphanumerics, '-', '_' or '.'",
                )
            )
    spec = obj.get("spec")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet") and isinstance(spec, dict):
        if not spec.get("selector"):
            causes.append(("FieldValueRequired", "spec.selector", "Required value"))
        elif not _selector_matches(
            spec.get("selector"), (spec.get("template") or {}).get("metadata", {}).get("labels")
        ):
            causes.append(
                (
                    "FieldValueInvalid",
                    "spec.template.metadata.labels",
                    "Invalid value: `selector` does not match template `labels`",
                )
            )
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job") and isinstance(
        spec, dict
    ):
        pod = (spec.get("template") or {}).get("spec") or {}
        containers = pod.get("containers") or []
        if not containers:
            causes.append(("FieldValueRequired", "spec.template.spec.containers", "Required value"))
        for i, c in enumerate(containers):
            if not isinstance(c, dict) or not c.get("name"):
                causes.append(
                    (
                        "FieldValueRequired",
                        f"spec.template.spec.containers[{i}].name",
                        "Required value",
                    )
                )
            elif not c.get("image"):
                causes.append(
                    (
                        "FieldValueRequired",
                        f"spec.template.spec.containers[{i}].image",
                        "Required value",
                    )
                )
        if kind == "Job" and pod.get("restartPolicy") not in ("Never", "OnFailure"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{pod.get("restartPolicy", "")}": '
                    'supported values: "OnFailure", "Never"',
                )
            )
    if causes:
        raise errors.invalid(kind=kind, group=group, name=name, causes=causes)


def check_immutable(old: dict[str, Any], new: dict[str, Any], *, kind: str, group: str) -> None:
    """Fields kube-apiserver refuses to change after creation (422 'field is immutable')."""
    immutable: list[tuple[str, ...]] = []
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        immutable.append(("spec", "selector"))
    if kind == "Job":
        immutable += [("spec", "selector"), ("spec", "template")]
    if kind == "Service":
        immutable.append(("spec", "clusterIP"))
    if kind in ("ConfigMap", "Secret") and old.get("immutable"):
        immutable += [("data",), ("binaryData",)]
    causes = []
    for path in immutable:
        before, after = _at(old, path), _at(new, path)
        if before is not None and after is not None and before != after:
            causes.append(
                ("FieldValueInvalid", ".".join(path), "Invalid value: field is immutable")
            )
    if causes:
        raise errors.invalid(kind=kind, group=group, name=new["metadata"]["name"], causes=causes)


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


# --- field types ----------------------------------------------------------------------------

_INT, _STR, _BOOL, _LIST, _MAP = "integer", "string", "boolean", "array", "object"
_POD = "spec.template.spec"
_CONTAINER = f"{_POD}.containers.*"
_TYPES: dict[str, str] = {
    "metadata.labels": _MAP,
    "metadata.labels.*": _STR,
    "metadata.annotations": _MAP,
    "metadata.annotations.*": _STR,
    "spec.replicas": _INT,
    "spec.minReadySeconds": _INT,
    "spec.revisionHistoryLimit": _INT,
    "spec.progressDeadlineSeconds": _INT,
    "spec.paused": _BOOL,
    "spec.backoffLimit": _INT,
    "spec.completions": _INT,
    "spec.parallelism": _INT,
    "spec.activeDeadlineSeconds": _INT,
    "spec.selector": _MAP,
    "spec.template": _MAP,
    f"{_POD}.containers": _LIST,
    f"{_POD}.initContainers": _LIST,
    _CONTAINER: _MAP,
    f"{_CONTAINER}.name": _STR,
    f"{_CONTAINER}.image": _STR,
    f"{_CONTAINER}.command": _LIST,
    f"{_CONTAINER}.args": _LIST,
    f"{_CONTAINER}.ports": _LIST,
    f"{_CONTAINER}.ports.*.containerPort": _INT,
    f"{_CONTAINER}.env": _LIST,
    f"{_CONTAINER}.env.*.name": _STR,
    f"{_CONTAINER}.env.*.value": _STR,
    f"{_CONTAINER}.resources": _MAP,
    f"{_POD}.terminationGracePeriodSeconds": _INT,
    "spec.ports": _LIST,
    "spec.ports.*.port": _INT,
    "data": _MAP,
    "data.*": _STR,
}
_CHECKED_KINDS = {
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "Service",
    "ConfigMap",
    "Secret",
    "Namespace",
    "ServiceAccount",
    "Pod",
}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    if isinstance(value, str):
        return _STR
    if isinstance(value, list):
        return _LIST
    if isinstance(value, dict):
        return _MAP
    return "null" if value is None else type(value).__name__


def _walk_types(value: Any, pattern: str, shown: str, out: list[tuple[str, str, Any]]) -> None:
    want = _TYPES.get(pattern)
    if want is not None and value is not None and _type_of(value) != want:
        out.append((shown, want, value))
        return
    if isinstance(value, dict):
        for key, child in value.items():
            specific = f"{pattern}.{key}" if pattern else key
            star = f"{pattern}.*" if pattern else "*"
            nxt = (
                star
                if star in _TYPES or any(t.startswith(star + ".") for t in _TYPES)
                else specific
            )
            if specific in _TYPES or any(t.startswith(specific + ".") for t in _TYPES):
                nxt = specific
            _walk_types(child, nxt, f"{shown}.{key}" if shown else key, out)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _walk_types(child, f"{pattern}.*", f"{shown}[{i}]", out)


def check_types(obj: dict[str, Any], *, kind: str, group: str) -> None:
    """422 Invalid when a well-known field has the wrong JSON type (e.g. replicas: "many")."""
    if kind not in _CHECKED_KINDS:
        return
    found: list[tuple[str, str, Any]] = []
    _walk_types({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}, "", "", found)
    if found:
        causes = [
            (
                "FieldValueTypeInvalid",
                path,
                f"Invalid value: {json.dumps(value)}: {path} in body must be of type "
                f'{want}: "{_type_of(value)}"',
            )
            for path, want, value in found
        ]
        raise errors.invalid(
            kind=kind, group=group, name=obj["metadata"].get("name", ""), causes=causes
        )
