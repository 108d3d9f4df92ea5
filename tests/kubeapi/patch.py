"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge.

objects.py calls ``apply_patch`` with the request's Content-Type; server-side apply
(``application/apply-patch+yaml``) lives in apply.py instead. Strategic merge honours the
merge keys of schema.py and the directives kubectl sends: ``$patch`` (replace, delete,
merge), ``$setElementOrder/<field>``, ``$retainKeys`` and
``$deleteFromPrimitiveList/<field>``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.kubeapi import errors, schema

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def apply_patch(*, content_type: str, original: dict[str, Any], body: Any, kind: str) -> Any:
    """The patched object (a new dict); raises ApiError 400/415/422 on a bad patch."""
    if content_type == JSON_PATCH:
        if not isinstance(body, list):
            raise errors.bad_request("json patch must be a list of operations")
        return json_patch(copy.deepcopy(original), body)
    if not isinstance(body, dict):
        raise errors.bad_request("patch body must be a JSON object")
    if content_type == MERGE_PATCH:
        return merge_patch(copy.deepcopy(original), body)
    if content_type == STRATEGIC_PATCH:
        return strategic_merge(original, body, path=(), kind=kind)
    raise errors.ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format: {content_type}",
    )


# --- JSON merge patch -------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- JSON patch --------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise errors.bad_request(f"json patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise errors.ApiError(422, "Invalid", f"json patch path {path!r} does not exist")
    return doc


def _add(doc: Any, parts: list[str], value: Any, path: str) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(parent):
            raise errors.ApiError(422, "Invalid", f"json patch index out of range at {path!r}")
        parent.insert(index, value)
    else:
        raise errors.ApiError(422, "Invalid", f"json patch cannot add at {path!r}")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1] if parts else ""
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise errors.ApiError(422, "Invalid", f"json patch cannot remove missing path {path!r}")


def json_patch(doc: Any, ops: list[Any]) -> Any:
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise errors.bad_request(f"invalid json patch operation: {json.dumps(op)}")
        kind, path = op["op"], op["path"]
        parts = _pointer(path)
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path)
        elif kind == "remove":
            _remove(doc, parts, path)
        elif kind == "replace":
            _walk(doc, parts, path)
            if parts:
                _remove(doc, parts, path)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path)
        elif kind in ("move", "copy"):
            from_parts = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, from_parts, op.get("from", "")))
            if kind == "move":
                _remove(doc, from_parts, op.get("from", ""))
            doc = _add(doc, parts, value, path)
        elif kind == "test":
            if _walk(doc, parts, path) != op.get("value"):
                raise errors.ApiError(422, "Invalid", f"json patch test failed at {path!r}")
        else:
            raise errors.bad_request(f"unknown json patch operation {kind!r}")
    return doc


# --- strategic merge patch ---------------------------------------------------------------


def _strip(value: Any) -> Any:
    """A patch value with its directives removed (for replaced subtrees)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return value


def strategic_merge(original: Any, patch: Any, *, path: schema.Path, kind: str) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return None
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        child = (*path, key)
        if isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, path=child, kind=kind)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            order = patch.get(f"$setElementOrder/{key}")
            result[key] = _merge_list(result.get(key), value, path=child, kind=kind, order=order)
        else:
            result[key] = value
    for key, order in patch.items():
        field = key.split("/", 1)[1] if key.startswith("$setElementOrder/") else None
        if field and field not in patch and isinstance(result.get(field), list):
            mk = schema.merge_key((*path, field), kind=kind)
            result[field] = _reorder(result[field], order, mk)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _ident(item: Any, mk: str | None) -> Any:
    return item.get(mk) if mk and isinstance(item, dict) else json.dumps(item, sort_keys=True)


def _reorder(items: list[Any], order: Any, mk: str | None) -> list[Any]:
    if not isinstance(order, list):
        return items
    rank = {json.dumps(_ident(o, mk)): i for i, o in enumerate(order)}
    indexed = list(enumerate(items))
    indexed.sort(key=lambda p: rank.get(json.dumps(_ident(p[1], mk)), len(rank) + p[0]))
    return [item for _, item in indexed]


def _merge_list(
    original: Any, patch: list[Any], *, path: schema.Path, kind: str, order: Any
) -> list[Any]:
    mk = schema.merge_key(path, kind=kind)
    if schema.is_set(path):
        base = list(original) if isinstance(original, list) else []
        merged = base + [v for v in patch if v not in base]
        return _reorder(merged, order, None)
    if mk is None:
        return [_strip(v) for v in patch]
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [_strip(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    result = [copy.deepcopy(v) for v in original] if isinstance(original, list) else []
    for item in patch:
        if not isinstance(item, dict):
            raise errors.bad_request(f"list {'.'.join(path)} items must be objects")
        key = item.get(mk)
        at = next(
            (i for i, o in enumerate(result) if isinstance(o, dict) and o.get(mk) == key), None
        )
        if item.get("$patch") == "delete":
            if at is not None:
                result.pop(at)
            continue
        if at is None:
            result.append(_strip(item))
        else:
            result[at] = strategic_merge(result[at], item, path=path, kind=kind)
    return _reorder(result, order, mk)
