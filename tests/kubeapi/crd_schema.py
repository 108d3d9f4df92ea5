"""Structural schemas of CRDs: defaulting, pruning and validation of custom resources.

objects.py calls ``apply`` before storing a custom resource: the CRD version's
``openAPIV3Schema`` fills ``default`` values, prunes fields the schema does not declare
(unless ``x-kubernetes-preserve-unknown-fields``), and validates types, ``enum``,
``required``, bounds, lengths, ``pattern`` and item counts, answering 422 Invalid with
one cause per problem, as kube-apiserver does. ``unknown`` lists the fields that pruning
would drop, for ``fieldValidation=Strict``.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from tests.kubeapi import errors

Schema = dict[str, Any]
_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def version_schema(crd: dict[str, Any], version: str) -> Schema | None:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return ((v.get("schema") or {}).get("openAPIV3Schema")) or None
    return None


def _type_ok(value: Any, schema: Schema) -> bool:
    want = schema.get("type")
    if value is None:
        return bool(schema.get("nullable"))
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    if not want:
        return True
    if want == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if want == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(want, object))


def _walk(
    value: Any,
    schema: Schema,
    path: str,
    *,
    unknown: list[str],
    problems: list[tuple[str, str, str]],
    prune: bool,
) -> Any:
    """Default, prune and validate value in place; returns the (possibly new) value."""
    if not _type_ok(value, schema):
        kind = type(value).__name__ if value is not None else "null"
        problems.append(
            (
                "FieldValueTypeInvalid",
                path,
                f"Invalid value: {json.dumps(value)}: {path} in body must be of type "
                f'{schema.get("type")}: "{kind}"',
            )
        )
        return value
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(e) for e in schema["enum"])
        problems.append(
            (
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {json.dumps(value)}: supported values: {allowed}",
            )
        )
    _bounds(value, schema, path, problems)
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, sub in (props or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        for key in list(value):
            child = f"{path}.{key}" if path else key
            if props and key in props:
                value[key] = _walk(
                    value[key], props[key], child, unknown=unknown, problems=problems, prune=prune
                )
            elif isinstance(extra, dict):
                value[key] = _walk(
                    value[key], extra, child, unknown=unknown, problems=problems, prune=prune
                )
            elif (
                props is not None
                and not schema.get("x-kubernetes-preserve-unknown-fields")
                and extra is not True
            ):
                unknown.append(child)
                if prune:
                    del value[key]
        for key in schema.get("required") or []:
            if key not in value:
                child = f"{path}.{key}" if path else key
                problems.append(("FieldValueRequired", child, "Required value"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            value[i] = _walk(
                item,
                schema["items"],
                f"{path}[{i}]",
                unknown=unknown,
                problems=problems,
                prune=prune,
            )
    return value


def _bounds(value: Any, schema: Schema, path: str, problems: list[tuple[str, str, str]]) -> None:
    def bad(reason: str, message: str) -> None:
        problems.append((reason, path, f"Invalid value: {json.dumps(value)}: {message}"))

    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            bad("FieldValueInvalid", f"should be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            bad("FieldValueInvalid", f"should be less than or equal to {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            bad("FieldValueInvalid", f"should be at least {schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            bad("FieldValueTooLong", f"may not be more than {schema['maxLength']} bytes")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            bad("FieldValueInvalid", f"should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            bad("FieldValueInvalid", f"should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            bad("FieldValueTooMany", f"must have at most {schema['maxItems']} items")


def apply(
    obj: dict[str, Any],
    schema: Schema,
    *,
    kind: str,
    group: str,
    prune: bool = True,
    validate: bool = True,
) -> list[str]:
    """Default, prune (when prune) and validate obj in place; returns the unknown fields.
    Raises 422 Invalid listing every problem."""
    unknown: list[str] = []
    problems: list[tuple[str, str, str]] = []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    meta_keys = ("apiVersion", "kind", "metadata")
    top = {
        **schema,
        "properties": {
            k: v for k, v in (schema.get("properties") or {}).items() if k not in meta_keys
        },
        "required": [r for r in schema.get("required") or [] if r not in meta_keys],
    }
    if not schema.get("properties"):
        top["properties"] = None
    _walk(body, top, "", unknown=unknown, problems=problems, prune=prune)
    for key in [k for k in obj if k not in ("apiVersion", "kind", "metadata")]:
        if key not in body:
            del obj[key]
        else:
            obj[key] = body[key]
    for key, value in body.items():
        obj[key] = value
    if problems and validate:
        raise errors.invalid(
            kind=kind, group=group, name=obj["metadata"].get("name", ""), causes=problems
        )
    return unknown
