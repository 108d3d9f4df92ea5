"""Generated material in Helm output: values a chart makes anew at every render.

``syncer.render.helm`` renders a chart twice when its templates call a function whose
result changes between runs (``randAlphaNum``, ``genCA``, ``uuidv4``, ``now`` ...) and
asks ``differing`` which fields differ; ``syncer.render.pipeline`` then calls
``stabilize`` on the finished objects, before images are pinned and the release digest
is taken. Under ``helm template`` a chart's ``lookup`` finds nothing, so a chart that
reuses an existing password that way generates a new one every time: without this,
every render would be a new release that rewrites the Secret and, through the
``checksum/...`` annotations that hash it, restarts the pods.

What ``stabilize`` keeps, field by field:

- a generated field outside annotations (Secret data, a generated certificate, a uuid
  in a ConfigMap): the live object's value (``live``, the cluster's copy); without one,
  the value this process generated first (``Keeper``), so the render that made a
  release and the one that applies it agree until the object exists;
- a generated annotation (``checksum/secret`` on a pod template, ``rollme``): the live
  value while every object with generated fields matches its live copy; otherwise a
  digest of those objects as kept, so pods restart when such an object really changes
  (a key added to the Secret) and never because of a new random value.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from syncer.render import objects

FieldPath = tuple[str | int, ...]
Key = tuple[str, str, str, str]
"""(apiVersion's group, kind, namespace, name) of an object."""
LiveReader = Callable[[dict[str, Any]], dict[str, Any] | None]
"""The cluster's copy of an object (None when it does not exist or cannot be read)."""

MISSING = object()

NONDETERMINISTIC = re.compile(
    rb"\b(rand[A-Za-z]*|uuidv4|gen(CA|PrivateKey|SelfSignedCert|SignedCert)[A-Za-z]*|now"
    rb"|htpasswd|bcrypt|encryptAES|shuffle|lookup)\b"
)
"""Template functions whose result differs between two ``helm template`` runs (``lookup``
finds nothing there and usually guards one of the others)."""


def may_generate(chart: Path) -> bool:
    """Whether the chart may render differently twice: a template calls one of
    ``NONDETERMINISTIC``, or a packaged subchart (not read here) is vendored."""
    for path in chart.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if path.suffix == ".tgz":
            return True
        if path.suffix in (".yaml", ".yml", ".tpl", ".txt", ".json") and (
            NONDETERMINISTIC.search(path.read_bytes())
        ):
            return True
    return False


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (group, str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name")))


def differing(first: list[objects.Item], second: list[objects.Item]) -> list[str]:
    """Mark in ``first`` the fields that differ in ``second`` (a render of the same
    inputs) as ``Item.generated``; returns notes on objects only one render has (their
    names are generated: they are created anew at every sync)."""
    others = {key_of(item.obj): item.obj for item in second}
    notes = []
    for item in first:
        other = others.pop(key_of(item.obj), None)
        if other is None:
            notes.append(
                f"{item.obj.get('kind')} {objects.describe(item.obj)} ({item.origin}) has a "
                "name generated at each render: every sync creates it anew"
            )
            continue
        item.generated = field_differences(item.obj, other, ())
    return notes


def field_differences(a: Any, b: Any, path: FieldPath = ()) -> list[FieldPath]:
    """Paths (under ``path``) where ``a`` and ``b`` differ; a mapping whose keys differ,
    or a list whose length does, differs as a whole."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [path]
        return [p for k in a for p in field_differences(a[k], b[k], (*path, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [p for i, (x, y) in pairs for p in field_differences(x, y, (*path, i))]
    return [] if a == b else [path]


class Keeper:
    """Generated values this process made first, per object and field: what an object
    not yet in the cluster keeps between the renders of one release. Thread-safe;
    bounded (the oldest entries go first)."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._values: dict[tuple[str, Key, FieldPath], Any] = {}
        self._lock = threading.Lock()

    def get(self, *, scope: str, key: Key, path: FieldPath) -> Any:
        with self._lock:
            found = self._values.get((scope, key, path), MISSING)
        return found if found is MISSING else copy.deepcopy(found)

    def put(self, *, scope: str, key: Key, path: FieldPath, value: Any) -> None:
        with self._lock:
            if len(self._values) >= self.LIMIT:
                self._values.pop(next(iter(self._values)))
            self._values.setdefault((scope, key, path), copy.deepcopy(value))


@dataclasses.dataclass(frozen=True)
class Kept:
    """One generated field and where its value came from, for logs and ``syncer render``."""

    obj: str
    """``Secret shop/db``."""
    field: str
    """``data.password``."""
    origin: str
    """``live``, ``first render``, ``digest`` or ``new``."""

    def __str__(self) -> str:
        said = {
            "live": "kept from the live object",
            "first render": "kept from its first render (not in the cluster yet)",
            "digest": "set to a digest of the generated objects as kept",
            "new": "generated now (not in the cluster yet)",
        }[self.origin]
        return f"{self.obj}: {self.field} differs at every render (generated); {said}"


def stabilize(
    *,
    items: list[objects.Item],
    scope: str,
    live: LiveReader | None,
    keeper: Keeper | None,
) -> list[Kept]:
    """Give generated fields of ``items`` (finished objects) their kept values; ``scope``
    names the app and cluster in ``keeper``."""
    marked = [item for item in items if item.generated]
    if not marked:
        return []
    kept: list[Kept] = []
    lives = {id(item): (live(item.obj) if live else None) for item in marked}
    group: list[objects.Item] = []
    changed = False
    for item in marked:
        fields = [p for p in item.generated if not _is_annotation(p)]
        if not fields:
            continue
        group.append(item)
        current = lives[id(item)]
        for path in fields:
            origin = "live"
            value = _live_value(item.obj, current, path)
            if value is MISSING and keeper is not None:
                origin = "first render"
                value = keeper.get(scope=scope, key=key_of(item.obj), path=path)
            if value is MISSING:
                origin = "new"
            else:
                _set(item.obj, path, value)
            if keeper is not None:
                keeper.put(scope=scope, key=key_of(item.obj), path=path, value=_get(item.obj, path))
            kept.append(Kept(obj=_name(item.obj), field=_shown(path), origin=origin))
        changed = changed or current is None or not _matches(item.obj, current)
    digest = (
        "sha256:"
        + hashlib.sha256(
            json.dumps([i.obj for i in group], sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    )
    for item in marked:
        for path in (p for p in item.generated if _is_annotation(p)):
            value = MISSING if changed else _get(lives[id(item)], path)
            origin = "live" if value is not MISSING else "digest"
            _set(item.obj, path, digest if value is MISSING else value)
            kept.append(Kept(obj=_name(item.obj), field=_shown(path), origin=origin))
    return kept


def _is_annotation(path: FieldPath) -> bool:
    return len(path) >= 3 and path[-2] == "annotations" and path[-3] == "metadata"


def _live_value(obj: dict[str, Any], current: dict[str, Any] | None, path: FieldPath) -> Any:
    """The live value for ``path`` of ``obj``, as ``obj`` writes it: a Secret's
    ``stringData`` is stored in ``data`` (base64) by the API server."""
    if current is None:
        return MISSING
    if obj.get("kind") == "Secret" and len(path) == 2 and path[0] == "stringData":
        stored = _get(current, ("data", path[1]))
        if not isinstance(stored, str):
            return MISSING
        try:
            return base64.b64decode(stored, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return MISSING
    if obj.get("kind") == "Secret" and path == ("stringData",):
        data = current.get("data")
        if not isinstance(data, dict):
            return MISSING
        try:
            return {k: base64.b64decode(v).decode() for k, v in data.items() if k in obj[path[0]]}
        except (binascii.Error, UnicodeDecodeError, TypeError):
            return MISSING
    return _get(current, path)


def _matches(obj: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether the live copy has every field ``obj`` sets, with the same value (a Secret:
    exactly the same keys and values)."""
    if obj.get("kind") == "Secret":
        wanted = dict(obj.get("data") or {})
        for k, v in (obj.get("stringData") or {}).items():
            wanted[k] = base64.b64encode(str(v).encode()).decode()
        if wanted != (current.get("data") or {}):
            return False
        rest = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
        return _subset(rest, current)
    return _subset(obj, current)


def _subset(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and all(k in b and _subset(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_subset(x, y) for x, y in zip(a, b, strict=True))
        )
    return bool(a == b or str(a) == str(b))


def _get(obj: Any, path: Iterable[str | int]) -> Any:
    for part in path:
        in_dict = isinstance(obj, dict) and isinstance(part, str) and part in obj
        in_list = isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj)
        if in_dict or in_list:
            obj = obj[part]
        else:
            return MISSING
    return copy.deepcopy(obj)  # never the sentinel: it is returned above


def _set(obj: dict[str, Any], path: FieldPath, value: Any) -> None:
    if not path:
        return
    parent = _get_ref(obj, path[:-1])
    if parent is not None:
        parent[path[-1]] = value


def _get_ref(obj: Any, path: FieldPath) -> Any:
    for part in path:
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')} {objects.describe(obj)}"


def _shown(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(the whole object)"
