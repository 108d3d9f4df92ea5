"""Does a live object already hold what syncer would apply? Answered without a request.

The engine calls ``needs_apply(live=..., desired=...)`` on the objects it listed: when
every desired field has the same value live, and syncer's field manager owns nothing
the desired object dropped, an apply would change nothing and is skipped (no PATCH).
When unsure (a value the server may have normalised, a list another manager extended)
the answer is "apply needed", and the engine confirms with a server-side dry run.
``differences`` lists the fields that differ, for drift reports.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from syncer import quantity, redact
from syncer.apply import ownership

_SKIP_TOP = frozenset({"apiVersion", "kind", "status"})
# Maps whose values are resource quantities (containers' resources, quotas, PVCs).
_QUANTITY_KEYS = frozenset({"resources", "hard", "capacity", "limits", "requests"})


@dataclass(frozen=True)
class Difference:
    """One desired field whose live value differs; ``path`` is dotted with list keys."""

    path: str
    segments: tuple[str | int | tuple[str, Any], ...]
    desired: Any
    live: Any


def syncer_fields(live: dict[str, Any]) -> dict[str, Any] | None:
    """The fieldsV1 set syncer's apply owns on the main resource, or None without one."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if (
            entry.get("manager") == ownership.FIELD_MANAGER
            and entry.get("operation") == "Apply"
            and not entry.get("subresource")
        ):
            fields = entry.get("fieldsV1")
            return fields if isinstance(fields, dict) else {}
    return None


def needs_apply(*, live: dict[str, Any], desired: dict[str, Any]) -> str:
    """Why an apply is needed ("" when it is not): the reason is for logs and plans."""
    owned = syncer_fields(live)
    if owned is None:
        return "not applied by syncer yet"
    diffs = differences(live=live, desired=desired)
    if diffs:
        return f"{diffs[0].path} differs"
    dropped = _owned_but_absent(owned, desired, path="") and _owned_but_absent(
        owned, _as_stored(desired), path=""
    )
    if dropped:
        return f"{dropped} is no longer set"
    return ""


def _as_stored(desired: dict[str, Any]) -> dict[str, Any]:
    """A Secret's write-only ``stringData`` is stored base64-encoded in ``data``."""
    if desired.get("kind") != "Secret" or not isinstance(desired.get("stringData"), dict):
        return desired
    data = dict(desired.get("data") or {})
    for key, value in desired["stringData"].items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    stored = {key: value for key, value in desired.items() if key != "stringData"}
    stored["data"] = data
    return stored


def change_text(obj: dict[str, Any], difference: Difference, *, backwards: bool = False) -> str:
    """``path: live -> desired`` (``desired -> live`` with ``backwards``, for drift), values
    shortened; a Secret's values are never shown, only hashes that tell they changed."""
    secret = redact.secret_path(kind=str(obj.get("kind", "")), path=difference.path)
    shown = [
        redact.hashed(v) if secret else _short(v) for v in (difference.live, difference.desired)
    ]
    if backwards:
        shown.reverse()
    return f"{difference.path}: {shown[0]} -> {shown[1]}"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(*, live: dict[str, Any], desired: dict[str, Any]) -> list[Difference]:
    """Desired fields (not apiVersion/kind/status) whose live value differs."""
    found: list[Difference] = []
    for key, value in _as_stored(desired).items():
        if key in _SKIP_TOP:
            continue
        _diff(live.get(key, _MISSING), value, (key,), found)
    return found


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


_MISSING: Any = _Missing()


def _diff(live: Any, desired: Any, segments: tuple[Any, ...], out: list[Difference]) -> None:
    if desired in ({}, []) and (live is _MISSING or live is None or live == desired):
        return  # the server may drop an empty struct or list: nothing of ours is missing
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            out.append(_difference(segments, desired, live))
            return
        for key, value in desired.items():
            _diff(live.get(key, _MISSING), value, (*segments, key), out)
        return
    if isinstance(desired, list):
        _diff_list(live, desired, segments, out)
        return
    if not _same_scalar(live, desired, quantities=not _QUANTITY_KEYS.isdisjoint(segments)):
        out.append(_difference(segments, desired, live))


def _diff_list(
    live: Any, desired: list[Any], segments: tuple[Any, ...], out: list[Difference]
) -> None:
    if not isinstance(live, list):
        out.append(_difference(segments, desired, live))
        return
    # Lists of named things (containers, env, ports, volumes) are matched by name, so
    # an element another manager appended does not count as a change of ours.
    if desired and all(isinstance(item, dict) and "name" in item for item in desired):
        by_name = {item.get("name"): item for item in live if isinstance(item, dict)}
        for item in desired:
            _diff(
                by_name.get(item["name"], _MISSING), item, (*segments, ("name", item["name"])), out
            )
        return
    if len(live) != len(desired):
        out.append(_difference(segments, desired, live))
        return
    for index, (live_item, item) in enumerate(zip(live, desired, strict=True)):
        _diff(live_item, item, (*segments, index), out)


def _same_scalar(live: Any, desired: Any, *, quantities: bool) -> bool:
    if live is _MISSING:
        return desired is None
    if live == desired and type(live) is type(desired):
        return True
    # The server stores quantities canonically ("0.5" comes back as "500m", cpu: 1 as
    # "1"); an int elsewhere (replicas: "2" vs 2) is a real difference.
    if not isinstance(live, str) or isinstance(desired, bool):
        return False
    if isinstance(desired, str | float) or quantities:
        return quantity.same(live, desired)
    return False


def _difference(segments: tuple[Any, ...], desired: Any, live: Any) -> Difference:
    return Difference(path=format_path(segments), segments=segments, desired=desired, live=live)


def format_path(segments: tuple[Any, ...]) -> str:
    """``spec.template.spec.containers[web].image`` style."""
    text = ""
    for segment in segments:
        if isinstance(segment, tuple):
            text += f"[{segment[1]}]"
        elif isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else str(segment)
    return text


def _owned_but_absent(fields: dict[str, Any], desired: Any, *, path: str) -> str:
    """The first path syncer owns that the desired object no longer sets ("" if none)."""
    for key, sub in fields.items():
        if key == ".":
            continue
        kind, _, raw = key.partition(":")
        if kind == "f":
            if not isinstance(desired, dict) or raw not in desired:
                return f"{path}.{raw}".lstrip(".")
            child: Any = desired[raw]
            label = f"{path}.{raw}".lstrip(".")
        elif kind == "k":
            child = _keyed_item(desired, json.loads(raw))
            label = f"{path}[{raw}]"
            if child is _MISSING:
                return label
        elif kind == "v":
            if not isinstance(desired, list) or json.loads(raw) not in desired:
                return f"{path}[{raw}]"
            continue
        elif kind == "i":
            index = int(raw)
            if not isinstance(desired, list) or index >= len(desired):
                return f"{path}[{index}]"
            child, label = desired[index], f"{path}[{index}]"
        else:
            continue
        if isinstance(sub, dict) and sub:
            dropped = _owned_but_absent(sub, child, path=label)
            if dropped:
                return dropped
    return ""


# List-map key fields the server defaults when left out (Service and container ports).
_KEY_DEFAULTS = {"protocol": "TCP"}


def _keyed_item(desired: Any, keys: dict[str, Any]) -> Any:
    if not isinstance(desired, list):
        return _MISSING
    for item in desired:
        if isinstance(item, dict) and all(
            str(item.get(name, _KEY_DEFAULTS.get(name))) == str(value)
            for name, value in keys.items()
        ):
            return item
    return _MISSING


def owners(live: dict[str, Any], segments: tuple[Any, ...]) -> list[str]:
    """The field managers that own the field at ``segments`` on the live object."""
    return [manager for manager, _operation in owner_entries(live, segments)]


def owner_entries(live: dict[str, Any], segments: tuple[Any, ...]) -> list[tuple[str, str]]:
    """(manager, operation) of every managedFields entry owning the field at ``segments``."""
    found = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        fields = entry.get("fieldsV1")
        if isinstance(fields, dict) and _owns(fields, segments):
            found.append((str(entry.get("manager", "")), str(entry.get("operation", ""))))
    return found


def edited_imperatively(*, live: dict[str, Any], desired: dict[str, Any]) -> bool:
    """True when every field that differs is owned only by Update (imperative) managers.

    ``kubectl edit``/``scale``/``patch`` take fields over with an Update; self-heal
    takes them back. A field another *apply* manager declared is a real conflict.
    """
    diffs = differences(live=live, desired=desired)
    if not diffs:
        return False
    for difference in diffs:
        entries = [
            (manager, operation)
            for manager, operation in owner_entries(live, difference.segments)
            if manager != ownership.FIELD_MANAGER
        ]
        if any(operation != "Update" for _manager, operation in entries):
            return False
    return True


def _owns(fields: dict[str, Any], segments: tuple[Any, ...]) -> bool:
    node: Any = fields
    for segment in segments:
        if not isinstance(node, dict):
            return False
        if isinstance(segment, tuple):
            node = next(
                (
                    sub
                    for key, sub in node.items()
                    if key.startswith("k:") and json.loads(key[2:]).get(segment[0]) == segment[1]
                ),
                None,
            )
        elif isinstance(segment, int):
            node = node.get(f"i:{segment}")
        else:
            node = node.get(f"f:{segment}")
        if node is None:
            return False
    return True
