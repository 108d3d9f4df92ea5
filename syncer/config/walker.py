"""Builds ``model`` dataclasses from YAML nodes, driven by the type hints in ``model.py``.

``loader`` calls ``build(model.Config, root, ...)``. For each dataclass the walker maps
camelCase keys to snake_case fields, rejects unknown keys (suggesting the closest
known one), reports missing required fields and wrong types, parses durations
(``unit="s"`` metadata), resolves local paths (``local_path`` metadata), enforces
``positive`` / ``maximum`` metadata, then hands each built object to ``checks``.
Every problem is reported on the context and building continues, so one load lists
them all; a value that cannot be built is ``nodes.INVALID``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

import yaml

from syncer.config import checks, durations, model, names, nodes, refs

UNKNOWN_KEY_MESSAGES: dict[type, str] = {
    model.ImagePolicy: "unknown policy {key!r}; expected one of: {known}",
}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def yaml_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """camelCase key -> field, for the fields a user may write."""
    return {
        nodes.camel(f.name): f for f in dataclasses.fields(cls) if not f.metadata.get("internal")
    }


def is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def build(
    tp: Any,
    node: yaml.Node,
    *,
    path: str,
    ctx: nodes.Context,
    meta: Mapping[str, Any] | None = None,
) -> Any:
    ctx.note(path, node)
    meta = meta or {}
    origin = typing.get_origin(tp)
    if tp is model.SecretRef:
        return refs.secret_ref(node, path=path, ctx=ctx)
    if tp is model.ClusterSelection:
        return refs.cluster_selection(node, path=path, ctx=ctx)
    if dataclasses.is_dataclass(tp):
        return build_dataclass(typing.cast(type, tp), node, path=path, ctx=ctx)
    if origin in (types.UnionType, typing.Union):
        # Only ``X | None`` occurs in the schema: null means "not set".
        if nodes.is_null(node):
            return None
        (inner,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return build(inner, node, path=path, ctx=ctx, meta=meta)
    if origin is tuple:
        return _sequence(typing.get_args(tp)[0], node, path=path, ctx=ctx)
    if origin is dict:
        if typing.get_args(tp)[1] is str:
            return names.labels(node, path=path, ctx=ctx)
        return _free_mapping(node, path=path, ctx=ctx)
    return _scalar(tp, node, path=path, ctx=ctx, meta=meta)


def build_dataclass(cls: type, node: yaml.Node, *, path: str, ctx: nodes.Context) -> Any:
    fields = yaml_fields(cls)
    if nodes.is_null(node) and not any(is_required(f) for f in fields.values()):
        return _finish(cls(), path=path, ctx=ctx)
    if not isinstance(node, yaml.MappingNode):
        keys = ", ".join(fields)
        ctx.problem(node, path, f"got {nodes.describe(node)}; expected a mapping with: {keys}")
        return nodes.INVALID
    pairs = nodes.mapping_pairs(node, path=path, ctx=ctx)
    for key, (key_node, _) in pairs.items():
        # ``x-`` keys are for the user (anchors to merge from), as in Compose files.
        if key not in fields and not key.startswith("x-"):
            _unknown_key(cls, key, key_node, fields=list(fields), path=path, ctx=ctx)
    # Only a required field that is missing or invalid makes the object unbuildable;
    # other problems leave defaults in place so that later checks still run.
    ok = True
    kwargs: dict[str, Any] = {}
    for key, f in fields.items():
        sub = nodes.join(path, key)
        hint = _hints(cls)[f.name]
        if key not in pairs:
            if is_required(f):
                expected = type_name(hint, meta=f.metadata)
                what = str(f.metadata.get("doc", "")).rstrip(".")
                if what:
                    expected = f"{expected} ({what[0].lower()}{what[1:]})"
                ctx.problem(node, sub, f"missing required field; expected {expected}")
                ok = False
            continue
        value = build(hint, pairs[key][1], path=sub, ctx=ctx, meta=f.metadata)
        if value is nodes.INVALID:
            ok = ok and not is_required(f)
            continue
        kwargs[f.name] = value
    if not ok:
        return nodes.INVALID
    return _finish(cls(**kwargs), path=path, ctx=ctx)


def _finish(obj: Any, *, path: str, ctx: nodes.Context) -> Any:
    ctx.paths[id(obj)] = path
    checks.run(obj, path=path, ctx=ctx)
    return obj


def _unknown_key(
    cls: type, key: str, key_node: yaml.Node, *, fields: list[str], path: str, ctx: nodes.Context
) -> None:
    known = ", ".join(fields)
    custom = UNKNOWN_KEY_MESSAGES.get(cls)
    if custom:
        ctx.problem(key_node, path, custom.format(key=key, known=known))
        return
    squashed = {name.lower(): name for name in fields}
    close = squashed.get(key.replace("_", "").replace("-", "").lower())
    if not close:
        matches = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
        close = matches[0] if matches else None
    hint = f"did you mean {close!r}?" if close else f"expected one of: {known}"
    ctx.problem(key_node, nodes.join(path, key), f"unknown field; {hint}")


def _sequence(item_tp: Any, node: yaml.Node, *, path: str, ctx: nodes.Context) -> Any:
    if nodes.is_null(node):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        ctx.problem(node, path, f"got {nodes.describe(node)}; expected a list")
        return nodes.INVALID
    items = []
    # A list no alias reaches (``loader``) lets go of each item's nodes once it is built.
    once = getattr(node, "walk_once", False)
    for i, item in enumerate(node.value):
        if once:
            node.value[i] = None
        value = build(item_tp, item, path=nodes.index(path, i), ctx=ctx)
        if value is nodes.INVALID:
            # Keep the others; cross-checks know this list is missing an element.
            ctx.incomplete.add(path)
        else:
            items.append(value)
    return tuple(items)


def _free_mapping(node: yaml.Node, *, path: str, ctx: nodes.Context) -> Any:
    if nodes.is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        ctx.problem(node, path, f"got {nodes.describe(node)}; expected a mapping")
        return nodes.INVALID
    nodes.mapping_pairs(node, path=path, ctx=ctx)  # reports duplicate keys
    try:
        return nodes.construct(node)
    except (yaml.YAMLError, ValueError) as err:
        # e.g. a !!python/object tag: only plain YAML values are allowed.
        problem = getattr(err, "problem", None) or str(err)
        ctx.problem(node, path, f"unreadable value ({problem}); expected plain YAML values")
        return nodes.INVALID


def _scalar(
    tp: Any, node: yaml.Node, *, path: str, ctx: nodes.Context, meta: Mapping[str, Any]
) -> Any:
    if tp is float and meta.get("unit") == "s":
        return _limits(_duration(node, path=path, ctx=ctx), node, path=path, ctx=ctx, meta=meta)
    expected = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}
    if tp not in expected:
        raise TypeError(f"the config schema uses an unsupported type {tp!r} at {path}")
    if not isinstance(node, yaml.ScalarNode) or nodes.is_null(node):
        ctx.problem(node, path, f"got {nodes.describe(node)}; expected {expected[tp]}")
        return nodes.INVALID
    if tp is str:
        if node.tag == nodes.BOOL:
            # YAML 1.1 reads true/yes/on/no as booleans: `namespace: no` is not "no".
            ctx.problem(
                node, path,
                f"got {node.value} (a YAML boolean); expected a string (quote it: '{node.value}')",
            )  # fmt: skip
            return nodes.INVALID
        # The text as written: `semver: 1.10` or `tag: 2024` stay exactly what the user typed.
        # Kept once per process: thousands of apps repeat their source, namespace,
        # clusters and image repositories.
        text = sys.intern(str(node.value))
        if meta.get("nonempty") and not text.strip():
            ctx.problem(
                node, path, "is empty; expected a value, or leave the field out for the default"
            )
            return nodes.INVALID
        kind = meta.get("local_path")
        return nodes.local_path(text, kind=kind, base_dir=ctx.base_dir) if kind else text
    allowed = {bool: {nodes.BOOL}, int: {nodes.INT}, float: {nodes.INT, nodes.FLOAT}}[tp]
    if node.tag not in allowed:
        ctx.problem(node, path, f"got {nodes.describe(node)}; expected {expected[tp]}")
        return nodes.INVALID
    try:
        value = nodes.construct(node)
    except (yaml.YAMLError, ValueError):
        # An explicit tag on text that is not of its type (``!!int 'abc'``).
        ctx.problem(node, path, f"got {nodes.describe(node)}; expected {expected[tp]}")
        return nodes.INVALID
    if tp is bool:
        return value
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            ctx.problem(node, path, f"got {nodes.describe(node)}; expected a finite number")
            return nodes.INVALID
    return _limits(value, node, path=path, ctx=ctx, meta=meta)


def _duration(node: yaml.Node, *, path: str, ctx: nodes.Context) -> Any:
    if not isinstance(node, yaml.ScalarNode) or nodes.is_null(node):
        ctx.problem(node, path, f"got {nodes.describe(node)}; {durations.EXPECTED}")
        return nodes.INVALID
    try:
        return durations.parse(str(node.value))
    except ValueError as err:
        ctx.problem(node, path, str(err))
        return nodes.INVALID


def _limits(
    value: Any, node: yaml.Node, *, path: str, ctx: nodes.Context, meta: Mapping[str, Any]
) -> Any:
    if value is nodes.INVALID:
        return value
    if meta.get("positive") and value <= 0:
        ctx.problem(node, path, f"{node.value} is too small; expected a value above 0")
        return nodes.INVALID
    if value < 0:
        ctx.problem(node, path, f"{node.value} is negative; expected 0 or more")
        return nodes.INVALID
    maximum = meta.get("maximum")
    if meta.get("unit") == "s" and maximum is None:
        maximum = durations.MAXIMUM
    if maximum is not None and value > maximum:
        shown = limit_text(maximum, meta=meta)
        ctx.problem(node, path, f"{node.value} is too large; expected at most {shown}")
        return nodes.INVALID
    return value


def limit_text(value: float, *, meta: Mapping[str, Any]) -> str:
    """A limit as users write it: ``1h`` for durations, ``1000000`` for counts."""
    if meta.get("unit") == "s":
        return durations.format(value)
    return str(int(value)) if value == int(value) else f"{value:g}"


def type_name(tp: Any, *, meta: Mapping[str, Any] | None = None) -> str:
    """A user-facing name of a schema type (for messages and the reference)."""
    origin = typing.get_origin(tp)
    if tp is model.SecretRef:
        return "a secret reference (env:NAME, file:PATH or secret:NAMESPACE/NAME#KEY)"
    if tp is model.ClusterSelection:
        return "a list of cluster names or {selector: {label: value}}"
    if dataclasses.is_dataclass(tp):
        return "a mapping with: " + ", ".join(yaml_fields(typing.cast(type, tp)))
    if origin in (types.UnionType, typing.Union):
        (inner,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return type_name(inner, meta=meta)
    if origin is tuple:
        return "a list"
    if origin is dict:
        return "a mapping"
    if tp is float and (meta or {}).get("unit") == "s":
        return "a duration like 30s, 5m, 1h30m"
    return {str: "a string", bool: "true or false", int: "an integer", float: "a number"}[tp]
