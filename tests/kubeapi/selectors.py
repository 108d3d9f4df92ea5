"""Label and field selectors of list and watch requests (``labelSelector``, ``fieldSelector``).

server.py parses the query parameters with ``parse_labels``/``parse_fields``; objects.py
and watch.py filter with ``matches``. Unsupported field labels get 400, as they do from
kube-apiserver.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from tests.kubeapi import errors

_FIELDS_BY_KIND = {
    "Pod": {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "Event": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "Secret": {"type"},
    "Namespace": {"status.phase"},
    "ReplicaSet": {"status.replicas"},
    "Job": {"status.successful"},
    "Node": {"spec.unschedulable"},
}


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # =, !=, in, notin, exists, !
    values: tuple[str, ...]

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


_SET = re.compile(r"^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$")


def parse_labels(text: str | None) -> list[Requirement]:
    reqs = []
    for part in _split(text or ""):
        m = _SET.match(part)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append(Requirement(k.strip(), "!=", (v.strip(),)))
        elif "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            reqs.append(Requirement(k.strip(), "=", (v.strip(),)))
        elif part.startswith("!"):
            reqs.append(Requirement(part[1:].strip(), "!", ()))
        elif re.match(r"^[A-Za-z0-9./_-]+$", part):
            reqs.append(Requirement(part, "exists", ()))
        else:
            raise errors.bad_request(f"unable to parse requirement: {part!r}")
    return reqs


def parse_fields(text: str | None, *, kind: str) -> list[Requirement]:
    reqs = []
    allowed = {"metadata.name", "metadata.namespace"} | _FIELDS_BY_KIND.get(kind, set())
    for part in _split(text or ""):
        if "!=" in part:
            k, v = part.split("!=", 1)
            op = "!="
        elif "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            op = "="
        else:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        if k.strip() not in allowed:
            raise errors.bad_request(f"field label not supported: {k.strip()}")
        reqs.append(Requirement(k.strip(), op, (v.strip(),)))
    return reqs


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def matches(obj: dict[str, Any], *, labels: list[Requirement], fields: list[Requirement]) -> bool:
    obj_labels = obj.get("metadata", {}).get("labels") or {}
    if not all(r.matches(obj_labels) for r in labels):
        return False
    values = {r.key: _field(obj, r.key) for r in fields}
    return all(r.matches(values) for r in fields)
