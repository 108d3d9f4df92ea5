"""Decoding the protobuf request bodies kubectl's typed clients send for simple kinds.

kubectl's imperative ``create namespace|configmap|secret|serviceaccount|deployment|job|
service`` commands (and ``create token``, ``auth can-i``) encode the object as
``application/vnd.kubernetes.protobuf`` (a ``k8s\\x00`` magic prefix, then a
runtime.Unknown envelope around the generated message). server.py calls ``decode`` for
such bodies; the field numbers are those of k8s.io/api's generated.proto. Other kinds
answer 415, with a message saying to send JSON (``kubectl create -f`` / ``apply``).
"""

from __future__ import annotations

import base64
from typing import Any

from tests.kubeapi import errors

MAGIC = b"k8s\x00"
Schema = dict[int, tuple[str, Any]]

_TIME = "time"
_OWNER_REF: Schema = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
_OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", _OWNER_REF)),
    14: ("finalizers", ("repeated", "string")),
}
_LOCAL_REF: Schema = {1: ("name", "string")}
_OBJECT_REF: Schema = {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string")}
KINDS: dict[str, Schema] = {
    "Namespace": {
        1: ("metadata", _OBJECT_META),
        2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
    },
    "ConfigMap": {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
    "ServiceAccount": {
        1: ("metadata", _OBJECT_META),
        2: ("secrets", ("repeated", _OBJECT_REF)),
        3: ("imagePullSecrets", ("repeated", _LOCAL_REF)),
        4: ("automountServiceAccountToken", "bool"),
    },
}
_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
}
KINDS["SelfSubjectAccessReview"] = {
    1: ("metadata", _OBJECT_META),
    2: (
        "spec",
        {
            1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
            2: ("nonResourceAttributes", {1: ("path", "string"), 2: ("verb", "string")}),
        },
    ),
}
KINDS["TokenRequest"] = {
    1: ("metadata", _OBJECT_META),
    2: ("spec", {1: ("audiences", ("repeated", "string")), 4: ("expirationSeconds", "int")}),
}
_LABEL_SELECTOR: Schema = {
    1: ("matchLabels", ("map", "string")),
    2: (
        "matchExpressions",
        (
            "repeated",
            {
                1: ("key", "string"),
                2: ("operator", "string"),
                3: ("values", ("repeated", "string")),
            },
        ),
    ),
}
_CONTAINER: Schema = {
    1: ("name", "string"),
    2: ("image", "string"),
    3: ("command", ("repeated", "string")),
    4: ("args", ("repeated", "string")),
    5: ("workingDir", "string"),
    6: (
        "ports",
        (
            "repeated",
            {
                1: ("name", "string"),
                2: ("hostPort", "int0"),
                3: ("containerPort", "int0"),
                4: ("protocol", "string"),
                5: ("hostIP", "string"),
            },
        ),
    ),
    7: ("env", ("repeated", {1: ("name", "string"), 2: ("value", "string")})),
    8: ("resources", {1: ("limits", ("map", "quantity")), 2: ("requests", ("map", "quantity"))}),
    13: ("terminationMessagePath", "string"),
    14: ("imagePullPolicy", "string"),
    20: ("terminationMessagePolicy", "string"),
}
_POD_SPEC: Schema = {
    2: ("containers", ("repeated", _CONTAINER)),
    3: ("restartPolicy", "string"),
    4: ("terminationGracePeriodSeconds", "int"),
    6: ("dnsPolicy", "string"),
    8: ("serviceAccountName", "string"),
    19: ("schedulerName", "string"),
    20: ("initContainers", ("repeated", _CONTAINER)),
}
_TEMPLATE: Schema = {1: ("metadata", _OBJECT_META), 2: ("spec", _POD_SPEC)}
KINDS["Deployment"] = {
    1: ("metadata", _OBJECT_META),
    2: (
        "spec",
        {
            1: ("replicas", "int"),
            2: ("selector", _LABEL_SELECTOR),
            3: ("template", _TEMPLATE),
            4: ("strategy", {1: ("type", "string")}),
            5: ("minReadySeconds", "int0"),
            6: ("revisionHistoryLimit", "int"),
            7: ("paused", "bool"),
            9: ("progressDeadlineSeconds", "int"),
        },
    ),
}
KINDS["Job"] = {
    1: ("metadata", _OBJECT_META),
    2: (
        "spec",
        {
            1: ("parallelism", "int"),
            2: ("completions", "int"),
            3: ("activeDeadlineSeconds", "int"),
            4: ("selector", _LABEL_SELECTOR),
            5: ("manualSelector", "bool"),
            6: ("template", _TEMPLATE),
            7: ("backoffLimit", "int"),
        },
    ),
}
KINDS["Service"] = {
    1: ("metadata", _OBJECT_META),
    2: (
        "spec",
        {
            1: (
                "ports",
                (
                    "repeated",
                    {
                        1: ("name", "string"),
                        2: ("protocol", "string"),
                        3: ("port", "int0"),
                        4: ("targetPort", "intorstring"),
                        5: ("nodePort", "int0"),
                    },
                ),
            ),
            2: ("selector", ("map", "string")),
            3: ("clusterIP", "string"),
            4: ("type", "string"),
        },
    ),
}
_UNKNOWN: Schema = {
    1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
    2: ("raw", "bytes"),
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    out = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(kind: Any, value: Any) -> Any:
    if kind == "string":
        return value.decode()
    if kind == "quantity":  # resource.Quantity {string: 1}
        return message(value, {1: ("q", "string")}).get("q", "")
    if kind == "intorstring":  # intstr.IntOrString {type: 1, intVal: 2, strVal: 3}
        parsed = message(value, {1: ("type", "int"), 2: ("int", "int"), 3: ("str", "string")})
        return parsed.get("str", "") if parsed.get("type") == 1 else parsed.get("int", 0)
    if kind == "int0":  # a non-pointer integer: 0 means unset
        return int(value)
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    return message(value, kind)


def message(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, _, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _, v in _fields(value)}
            out.setdefault(name, {})[entry.get(1, b"").decode()] = _scalar(
                kind[1], entry.get(2, b"")
            )
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(_scalar(kind[1], value))
        else:
            out[name] = _scalar(kind, value)
    # Go's zero values are omitted from JSON (omitempty): drop them as the decoder does
    return {
        k: v for k, v in out.items() if v not in ("", False, {}, []) and not _zero_int(schema, k, v)
    }


def _zero_int(schema: Schema, key: str, value: Any) -> bool:
    return value == 0 and any(n == key and t == "int0" for n, t in schema.values())


def decode(body: bytes) -> dict[str, Any]:
    """The JSON-shaped object of a protobuf-encoded request body; 415 for other kinds."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("protobuf body does not start with the k8s magic prefix")
    try:
        unknown = message(body[len(MAGIC) :], _UNKNOWN)
        type_meta = unknown.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        if kind not in KINDS:
            raise errors.ApiError(
                415,
                "UnsupportedMediaType",
                f"the test server decodes protobuf only for {', '.join(sorted(KINDS))}, "
                f"not {kind!r}; "
                "send JSON (kubectl create -f / kubectl apply)",
            )
        obj = message(base64.b64decode(unknown.get("raw", "")), KINDS[kind])
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the protobuf body could not be decoded: {exc}") from exc
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
