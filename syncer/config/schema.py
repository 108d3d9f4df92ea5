"""A JSON Schema of ``syncer.yaml`` for editors, generated from ``model.py`` so it cannot drift.

Beside the Markdown reference (``reference``), from the same type hints and ``doc``
metadata: every key with its type, description and default; required keys; unknown keys
refused (``x-`` keys allowed); durations, secret references and cluster selections by
their forms; numeric limits. Rules across fields (exactly one Git ref, references between
names, DNS-1123 names, regex safety) stay with ``syncer validate``.

``python -m syncer.config.schema`` prints it; ``--update PATH`` writes it (a test fails
when ``syncer/config/syncer.schema.json`` differs from what this generates).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syncer.config import durations, model, reference, walker

PUBLISHED = Path(__file__).with_name("syncer.schema.json")
DURATION = r"^((\d+(\.\d+)?|\.\d+)(ms|s|m|h|d))+$"
SECRET_REF = r"^(env:.+|file:.+|secret:[^/#]+/[^/#]+#.+)$"


def schema() -> dict[str, Any]:
    """The whole schema (draft 2020-12)."""
    definitions: dict[str, Any] = {}
    root = _object(model.Config, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "syncer configuration (syncer.yaml)",
        **root,
        "$defs": dict(sorted(definitions.items())),
    }


def _object(cls: type, definitions: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = walker.yaml_fields(cls)
    out: dict[str, Any] = {"type": "object"}
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        out["description"] = cls.__doc__.strip()
    out["properties"] = {key: _field(hints[f.name], f, definitions) for key, f in fields.items()}
    required = [key for key, f in fields.items() if walker.is_required(f)]
    if required:
        out["required"] = required
    out["patternProperties"] = {"^x-": {}}  # ignored keys, for YAML anchors
    out["additionalProperties"] = False
    return out


def _field(tp: Any, f: dataclasses.Field[Any], definitions: dict[str, Any]) -> dict[str, Any]:
    inner, is_list = reference._unwrap(tp)
    one = _value(inner, f, definitions)
    out: dict[str, Any] = {"type": "array", "items": one} if is_list else dict(one)
    described = reference._description(f)
    if described:
        out["description"] = described
    default = _default(f)
    if default is not None:
        out["default"] = default
    return out


def _value(tp: Any, f: dataclasses.Field[Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if reference._is_object(tp):
        name = tp.__name__
        if name not in definitions:
            definitions[name] = {}  # a placeholder first: classes may refer to each other
            definitions[name] = _object(tp, definitions)
        return {"$ref": f"#/$defs/{name}"}
    if tp is model.SecretRef:
        return {"type": "string", "pattern": SECRET_REF}
    if tp is model.ClusterSelection:
        return {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
                {
                    "type": "object",
                    "properties": {
                        "selector": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                    "required": ["selector"],
                    "additionalProperties": False,
                },
            ]
        }
    if typing.get_origin(tp) is dict:
        value = typing.get_args(tp)[1]
        return {
            "type": "object",
            "additionalProperties": {"type": "string"} if value is str else {},
        }
    if tp is float and f.metadata.get("unit") == "s":
        return {
            "oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION}]
        }
    if tp is bool:
        return {"type": "boolean"}
    if tp in (int, float):
        out: dict[str, Any] = {"type": "integer" if tp is int else "number"}
        if f.metadata.get("positive"):
            out["exclusiveMinimum"] = 0
        else:
            out["minimum"] = 0  # the loader refuses negative numbers
        if f.metadata.get("maximum") is not None:
            out["maximum"] = f.metadata["maximum"]
        return out
    return {"type": "string"}


def _default(f: dataclasses.Field[Any]) -> Any:
    if walker.is_required(f) or f.default_factory is not dataclasses.MISSING:
        return None
    value = f.default
    if value is None or value == "" or isinstance(value, tuple):
        return None
    if isinstance(value, float) and f.metadata.get("unit") == "s":
        return durations.format(value)
    return value


def text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m syncer.config.schema", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--update", metavar="PATH", help="write the schema to PATH")
    args = parser.parse_args(argv)
    if args.update:
        Path(args.update).write_text(text(), encoding="utf-8")
    else:
        sys.stdout.write(text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
