"""Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for.

server.py answers with ``to_table`` when the Accept header carries ``as=Table``; the
columns follow kube-apiserver's printers for the kinds syncer deals with, ``Name`` and
``Age`` for the rest.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "Namespace": [("Status", "string")],
    "Deployment": [("Ready", "string"), ("Up-to-date", "integer"), ("Available", "integer")],
    "StatefulSet": [("Ready", "string")],
    "ReplicaSet": [("Desired", "integer"), ("Current", "integer"), ("Ready", "integer")],
    "DaemonSet": [("Desired", "integer"), ("Current", "integer"), ("Ready", "integer")],
    "Job": [("Status", "string"), ("Completions", "string")],
    "ConfigMap": [("Data", "integer")],
    "Secret": [("Type", "string"), ("Data", "integer")],
    "Service": [("Type", "string"), ("Cluster-IP", "string")],
    "Pod": [("Ready", "string"), ("Status", "string")],
}


def age(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    created = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _cells(obj: dict[str, Any], kind: str) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Namespace":
        return [status.get("phase", "Active")]
    if kind == "Deployment":
        return [
            f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0),
        ]
    if kind == "StatefulSet":
        return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"]
    if kind == "ReplicaSet":
        return [spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0)]
    if kind == "DaemonSet":
        return [
            status.get("desiredNumberScheduled", 0),
            status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0),
        ]
    if kind == "Job":
        types = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        state = "Complete" if "Complete" in types else "Failed" if "Failed" in types else "Running"
        return [state, f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}"]
    if kind == "ConfigMap":
        return [len(obj.get("data") or {}) + len(obj.get("binaryData") or {})]
    if kind == "Secret":
        return [obj.get("type", "Opaque"), len(obj.get("data") or {})]
    if kind == "Service":
        return [spec.get("type", "ClusterIP"), spec.get("clusterIP", "")]
    if kind == "Pod":
        statuses = status.get("containerStatuses") or []
        ready = sum(1 for c in statuses if c.get("ready"))
        total = len(spec.get("containers") or []) or len(statuses)
        waiting = next(
            (
                c["state"]["waiting"].get("reason")
                for c in statuses
                if "waiting" in (c.get("state") or {})
            ),
            None,
        )
        return [f"{ready}/{total}", waiting or status.get("phase", "Pending")]
    return []


_STEP = re.compile(
    r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_]+)==[\"']([^\"']*)[\"']\)\]"
)


def json_path(obj: Any, path: str) -> Any:
    """The value at a CRD printer-column path: ``.a.b``, ``[0]``, ``[?(@.type=="Ready")]``."""
    value: Any = obj
    pos = 0
    while pos < len(path) and value is not None:
        m = _STEP.match(path, pos)
        if m is None:
            return None
        field, index, key, wanted = m.groups()
        if field is not None:
            value = value.get(field) if isinstance(value, dict) else None
        elif index is not None:
            value = (
                value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
            )
        else:
            found = [v for v in value or [] if isinstance(v, dict) and str(v.get(key)) == wanted]
            value = found[0] if found else None
        pos = m.end()
    return value


def _custom_cell(obj: dict[str, Any], column: dict[str, Any]) -> Any:
    value = json_path(obj, str(column.get("jsonPath", "")))
    if value is None:
        return None
    if column.get("type") == "date":
        return age(str(value))
    return value


def to_table(
    objs: list[dict[str, Any]],
    *,
    kind: str,
    resource_version: str,
    include: str,
    with_columns: bool = True,
    printer_columns: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Table of objs; printer_columns are a CRD version's additionalPrinterColumns."""
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    ]
    if printer_columns:
        columns += [
            {
                "name": c.get("name", ""),
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description", ""),
                "priority": int(c.get("priority", 0)),
            }
            for c in printer_columns
        ]
    else:
        columns += [
            {"name": n, "type": t, "format": "", "description": n, "priority": 0}
            for n, t in [*_COLUMNS.get(kind, []), ("Age", "string")]
        ]
    rows = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        if printer_columns:
            cells = [_custom_cell(obj, c) for c in printer_columns]
        else:
            cells = [*_cells(obj, kind), age(meta.get("creationTimestamp"))]
        row: dict[str, Any] = {"cells": [meta.get("name"), *cells]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            partial = {k: v for k, v in meta.items() if k != "managedFields"}
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": partial,
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns if with_columns else None,
        "rows": rows,
    }
