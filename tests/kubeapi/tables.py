"""Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for.

server.py answers with ``to_table`` when the Accept header carries ``as=Table``; the
columns follow kube-apiserver's printers for the kinds syncer deals with, ``Name`` and
``Age`` for the rest.
"""

from __future__ import annotations

import datetime
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


def to_table(
    objs: list[dict[str, Any]],
    *,
    kind: str,
    resource_version: str,
    include: str,
    with_columns: bool = True,
) -> dict[str, Any]:
    extra = _COLUMNS.get(kind, [])
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    ]
    columns += [
        {"name": n, "type": t, "format": "", "description": n, "priority": 0} for n, t in extra
    ]
    columns.append(
        {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}
    )
    rows = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        row: dict[str, Any] = {
            "cells": [meta.get("name"), *_cells(obj, kind), age(meta.get("creationTimestamp"))]
        }
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
