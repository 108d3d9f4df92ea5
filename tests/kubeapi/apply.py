"""Server-side apply and managedFields, after sigs.k8s.io/structured-merge-diff.

objects.py calls ``server_side_apply`` for ``application/apply-patch+yaml`` PATCHes and
``track_update`` after every other write (create, PUT, JSON/merge/strategic patch), so
each object's ``metadata.managedFields`` records which manager owns which field
(fieldsV1 sets) per operation (Apply/Update) and subresource. List merge semantics come
from schema.py.
"""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

from tests.kubeapi import errors, schema

FPath = tuple[str, ...]  # fieldsV1 path elements: "f:spec", 'k:{"name":"web"}', "v:\"x\""
_NODE = object()  # marks a map or list item that is a node, not a leaf, in a flat view

_UNTRACKED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
}
_KEY_DEFAULTS = {"protocol": "TCP"}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _item_key(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in keys if k in item or k in _KEY_DEFAULTS}


def _key_elem(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    return "k:" + json.dumps(_item_key(item, keys), sort_keys=True, separators=(",", ":"))


def _in_scope(key: str, *, scope: str, has_status: bool) -> bool:
    if key in ("apiVersion", "kind"):
        return False
    if scope == "status":
        return key == "status"
    return not (has_status and key == "status")


def flatten(
    obj: dict[str, Any], *, kind: schema.Kind, scope: str, has_status: bool
) -> dict[FPath, Any]:
    """path -> leaf value (or _NODE) for every field the fieldsV1 sets would track."""
    out: dict[FPath, Any] = {}
    for key, value in obj.items():
        if not _in_scope(key, scope=scope, has_status=has_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            meta = {k: v for k, v in value.items() if k not in _UNTRACKED_META}
            _walk(meta, ("f:metadata",), ("metadata",), kind, out)
        else:
            _value(value, (f"f:{key}",), (key,), kind, out, top=True)
    return out


def _walk(
    d: dict[str, Any], path: FPath, names: tuple[str, ...], kind: schema.Kind, out: dict
) -> None:
    for key, value in d.items():
        if value is None:
            continue
        _value(value, (*path, f"f:{key}"), (*names, key), kind, out, top=False)


# maps that are Go structs (no "." entry of their own in fieldsV1), by field name
_STRUCTS = {"spec", "metadata", "status", "template", "strategy"}


def _value(
    value: Any, path: FPath, names: tuple[str, ...], kind: schema.Kind, out: dict, top: bool
) -> None:
    if isinstance(value, dict) and value:
        if names[-1] not in _STRUCTS:
            out[path] = _NODE
        _walk(value, path, names, kind, out)
        return
    if isinstance(value, list) and value:
        ltype, keys = schema.list_type(names, kind=kind)
        if ltype == "map" and all(isinstance(i, dict) for i in value):
            if names[-1] == "ownerReferences":
                out[path] = _NODE
            for item in value:
                ipath = (*path, _key_elem(item, keys))
                out[ipath] = _NODE
                _walk(item, ipath, names, kind, out)
            return
        if ltype == "set":
            out[path] = _NODE
            for item in value:
                out[(*path, "v:" + json.dumps(item, separators=(",", ":")))] = item
            return
    out[path] = value


# --- fieldsV1 <-> sets ------------------------------------------------------------------


def to_fields_v1(paths: set[FPath]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for elem in path:
            node = node.setdefault(elem, {})
    for path in paths:
        node = root
        for elem in path:
            node = node[elem]
        if node and "." not in node:
            node["."] = {}
    return _sorted(root)


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def from_fields_v1(fields: dict[str, Any], prefix: FPath = ()) -> set[FPath]:
    out: set[FPath] = set()
    for key, child in fields.items():
        if key == ".":
            out.add(prefix)
        elif isinstance(child, dict) and child:
            out |= from_fields_v1(child, (*prefix, key))
        else:
            out.add((*prefix, key))
    return out


def field_string(path: FPath) -> str:
    """'.spec.template.spec.containers[name="web"].image', as conflict messages print."""
    text = ""
    for elem in path:
        kind, _, rest = elem.partition(":")
        if kind == "f":
            text += "." + rest
        elif kind == "k":
            pairs = json.loads(rest)
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in pairs.items()) + "]"
        else:
            text += f"[={rest}]"
    return text


# --- managedFields bookkeeping -----------------------------------------------------------

Entry = tuple[str, str, str]  # (manager, operation, subresource)


def _read(obj: dict[str, Any] | None) -> dict[Entry, dict[str, Any]]:
    out: dict[Entry, dict[str, Any]] = {}
    for mf in (obj or {}).get("metadata", {}).get("managedFields") or []:
        ident = (mf.get("manager", ""), mf.get("operation", "Update"), mf.get("subresource", ""))
        out[ident] = {
            "apiVersion": mf.get("apiVersion", ""),
            "time": mf.get("time", _now()),
            "set": from_fields_v1(mf.get("fieldsV1") or {}),
        }
    return out


def _write(obj: dict[str, Any], managed: dict[Entry, dict[str, Any]]) -> None:
    entries = []
    for (manager, operation, sub), info in managed.items():
        if not info["set"]:
            continue
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": info["apiVersion"],
            "time": info["time"],
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(info["set"]),
        }
        if sub:
            entry["subresource"] = sub
        entries.append(entry)
    if entries:
        obj["metadata"]["managedFields"] = entries
    else:
        obj["metadata"].pop("managedFields", None)


def _compare(old: dict[FPath, Any], new: dict[FPath, Any]) -> tuple[set, set, set]:
    added = set(new) - set(old)
    removed = set(old) - set(new)
    modified = {p for p in set(old) & set(new) if old[p] is not _NODE and old[p] != new[p]}
    return added, modified, removed


def track_update(
    *,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    subresource: str,
    kind: str,
    has_status: bool,
    openapi: dict[str, Any] | None = None,
) -> None:
    """Record a non-apply write in new's managedFields (the writer takes what it changed)."""
    scope = "status" if subresource == "status" else "main"
    managed = _read(old)
    types = schema.types_for(kind, openapi)
    before = flatten(old or {}, kind=types, scope=scope, has_status=has_status)
    after = flatten(new, kind=types, scope=scope, has_status=has_status)
    added, modified, removed = _compare(before, after)
    me = (manager, "Update", subresource)
    for ident, info in managed.items():
        if ident != me:
            info["set"] = info["set"] - added - modified - removed
    if added or modified or me in managed:
        mine = managed.setdefault(me, {"apiVersion": new.get("apiVersion", ""), "set": set()})
        mine["set"] = (mine["set"] | added | modified) - removed
        mine["time"] = _now()
        mine["apiVersion"] = new.get("apiVersion", "")
    _write(new, managed)


# --- server-side apply -------------------------------------------------------------------


def _merge(live: Any, config: Any, names: tuple[str, ...], kind: schema.Kind) -> Any:
    if isinstance(config, dict):
        result = copy.deepcopy(live) if isinstance(live, dict) else {}
        for key, value in config.items():
            if value is None:
                continue
            result[key] = _merge(result.get(key), value, (*names, key), kind)
        return result
    if isinstance(config, list) and isinstance(live, list):
        ltype, keys = schema.list_type(names, kind=kind)
        if ltype == "set":
            return live + [v for v in config if v not in live]
        if ltype == "map" and all(isinstance(i, dict) for i in live + config):
            items = [copy.deepcopy(i) for i in live]
            for item in config:
                ident = _item_key(item, keys)
                at = next((n for n, i in enumerate(items) if _item_key(i, keys) == ident), None)
                if at is None:
                    items.append(_merge(None, item, names, kind))
                else:
                    items[at] = _merge(items[at], item, names, kind)
            return items
    return copy.deepcopy(config)


def _remove_path(obj: Any, path: FPath) -> None:
    """Remove the field at path (fieldsV1 elements) from obj, if present."""
    parent: Any = obj
    for elem in path[:-1]:
        parent = _step(parent, elem)
        if parent is None:
            return
    last = path[-1]
    kind, _, rest = last.partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(rest)
        parent[:] = [
            i for i in parent if not (isinstance(i, dict) and _item_key(i, tuple(want)) == want)
        ]
    elif kind == "v" and isinstance(parent, list):
        value = json.loads(rest)
        parent[:] = [i for i in parent if i != value]


def _step(node: Any, elem: str) -> Any:
    kind, _, rest = elem.partition(":")
    if kind == "f":
        return node.get(rest) if isinstance(node, dict) else None
    if kind == "k" and isinstance(node, list):
        want = json.loads(rest)
        return next(
            (i for i in node if isinstance(i, dict) and _item_key(i, tuple(want)) == want), None
        )
    return None


def _prune_empty(obj: Any, path: FPath) -> None:
    """After removing a leaf, drop maps on its path that became empty (not top level)."""
    for depth in range(len(path) - 1, 1, -1):
        parent: Any = obj
        for elem in path[: depth - 1]:
            parent = _step(parent, elem)
        node = _step(parent, path[depth - 1])
        if isinstance(node, dict | list) and not node:
            _remove_path(obj, path[:depth])


def server_side_apply(
    *,
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    force: bool,
    subresource: str,
    kind: str,
    group: str,
    has_status: bool,
    openapi: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The object after applying config as manager; raises 409 on conflicts unless force."""
    types = schema.types_for(kind, openapi)
    scope = "status" if subresource == "status" else "main"
    base = copy.deepcopy(live) if live is not None else {"metadata": {}}
    scoped = {
        k: v
        for k, v in config.items()
        if k == "metadata" or _in_scope(k, scope=scope, has_status=has_status)
    }
    if scope == "status":
        scoped["metadata"] = {}
    meta = {k: v for k, v in (scoped.get("metadata") or {}).items() if k not in _UNTRACKED_META}
    scoped["metadata"] = meta
    new = _merge(base, scoped, (), types)
    new["apiVersion"] = config.get("apiVersion", base.get("apiVersion"))
    new["kind"] = kind

    managed = _read(live)
    me = (manager, "Apply", subresource)
    last = managed.get(me, {}).get("set", set())
    applied = set(flatten(scoped, kind=types, scope=scope, has_status=has_status))
    managed[me] = {"apiVersion": new["apiVersion"], "time": _now(), "set": applied}
    owned: set[FPath] = set().union(*(info["set"] for info in managed.values()))
    for path in sorted(last - owned, key=len, reverse=True):
        if any(p[: len(path)] == path and p != path for p in owned):
            continue  # another manager still owns something below this node
        _remove_path(new, path)
        _prune_empty(new, path)

    before = flatten(base, kind=types, scope=scope, has_status=has_status)
    after = flatten(new, kind=types, scope=scope, has_status=has_status)
    added, modified, removed = _compare(before, after)
    conflicts: dict[Entry, set[FPath]] = {}
    for ident, info in managed.items():
        if ident != me:
            clash = info["set"] & (added | modified)
            if clash:
                conflicts[ident] = clash
    if conflicts and not force:
        raise _conflict_error(conflicts, managed, kind=kind, group=group, config=config)
    for ident, clash in conflicts.items():
        managed[ident]["set"] = managed[ident]["set"] - clash
    for info in managed.values():
        info["set"] = info["set"] - removed
    _write(new, managed)
    return new


def _conflict_error(
    conflicts: dict[Entry, set[FPath]],
    managed: dict[Entry, dict[str, Any]],
    *,
    kind: str,
    group: str,
    config: dict[str, Any],
) -> errors.ApiError:
    causes = []
    for ident, paths in conflicts.items():
        api_version = managed[ident]["apiVersion"]
        for path in sorted(paths):
            causes.append(
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{ident[0]}" using {api_version}',
                    "field": field_string(path),
                }
            )
    if len(causes) == 1:
        text = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
    else:
        parts = []
        for ident, paths in conflicts.items():
            fields = "".join(f"\n- {field_string(p)}" for p in sorted(paths))
            head = f'conflicts with "{ident[0]}" using {managed[ident]["apiVersion"]}:'
            parts.append(head + fields)
        text = f"Apply failed with {len(causes)} conflicts: " + "\n".join(parts)
    name = (config.get("metadata") or {}).get("name", "")
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": causes}
    if group:
        details["group"] = group
    return errors.ApiError(409, "Conflict", text, details=details)
