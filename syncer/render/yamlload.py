"""Parsing multi-document YAML (and JSON) safely, with line numbers in every error.

Called by ``plain`` for files, by ``kustomize``/``helm`` for tool output and by
``kustomize`` for kustomization files. Documents are composed into nodes first and their
size *after* alias expansion is counted before any Python object is built, so an alias
bomb is refused while ordinary anchors work. Empty documents are skipped.

Scalars are read as kubectl reads them (``sigs.k8s.io/yaml``, i.e. go-yaml v2), not as
PyYAML's YAML 1.1 would: ``y``/``n``/``on``/``off`` are booleans, ``1e3``, ``0o17`` and
``1_000`` are numbers, ``1:20`` stays a string (no base 60), a bare ``=`` is a string
(PyYAML reads it as the 1.1 "value" tag and fails), timestamps stay the strings the user
wrote, and non-string keys become strings (``1: a`` is ``"1": a``). A tab after a
token is white space, as in go-yaml: libyaml (bundled in PyYAML's wheels) reads it so;
PyYAML's pure-Python fallback would not. ``scalars="strings"`` keeps every plain
scalar a string, as kustomize does when it decodes its typed kustomization fields.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from syncer import yamlsize
from syncer.render import errors

# libyaml's parser when PyYAML was built with it (about 10x faster); same results.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"

_TRUE = frozenset(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"])
_FALSE = frozenset(["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"])
_NULLS = frozenset(["", "~", "null", "Null", "NULL"])
_SPECIAL_FLOATS = {
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
}
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")


def _go_int(text: str) -> int | None:
    """go's ``strconv.ParseInt(s, 0, 64)`` (unbounded): ``017`` is octal, ``0o17`` too."""
    if not _GO_INT.fullmatch(text):
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567":
        return sign * int(digits[1:], 8)
    return sign * int(digits, 0)


def _resolve_plain(value: str) -> tuple[str, Any]:
    """go-yaml v2's ``resolve()`` for a plain scalar: its tag and value."""
    if value in _NULLS:
        return _NULL, None
    if value in _TRUE:
        return _BOOL, True
    if value in _FALSE:
        return _BOOL, False
    if value in _SPECIAL_FLOATS:
        return _FLOAT, _SPECIAL_FLOATS[value]
    if value == "<<":
        return _MERGE, value
    first = value[0]
    if first == ".":
        if _DOT_FLOAT.fullmatch(value):
            return _FLOAT, float(value)
    elif first in "+-0123456789":
        # Timestamps look like neither (2024-01-01 has two dashes): they stay strings.
        plain = value.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return _INT, number
        if _GO_FLOAT.fullmatch(plain):
            return _FLOAT, float(plain)
    return _STR, value


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """Safe loading with kubectl's reading of plain scalars."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _resolve_plain(value)[0]
        return str(super().resolve(kind, value, implicit))

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        # JSON keys are strings: sigs.k8s.io/yaml turns true/1/1.5 keys into text, and
        # so must we before inserting (in Python, True and 1 are the same key).
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key_text(self.construct_object(key_node, deep=deep))
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found a null or collection key; kubectl refuses it too: quote the key",
                    key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _key_text(key: Any) -> Any:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return repr(key) if not key.is_integer() else str(int(key))
    return key


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise yaml.constructor.ConstructorError(
        None, None, f"cannot read {value!r} as a boolean", node.start_mark
    )


def _construct_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = str(loader.construct_scalar(node))
    tag, number = _resolve_plain(value) if value else (_STR, value)
    if tag not in (_INT, _FLOAT):
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read {value!r} as a number", node.start_mark
        )
    return float(number) if node.tag == _FLOAT else number


_Loader.add_constructor(_BOOL, _construct_bool)
_Loader.add_constructor(_INT, _construct_number)
_Loader.add_constructor(_FLOAT, _construct_number)
# Timestamps stay the strings the user wrote (as Kubernetes reads them), and so does the
# YAML 1.1 "value" tag (a bare "=") should anything still resolve to it.
for _tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"):
    _Loader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


class _StringLoader(_Loader):
    """Every plain scalar a string (only ``~``/``null``/nothing is null)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _NULL if value in _NULLS else _STR
        return super().resolve(kind, value, implicit)


_LOADERS = {"kubectl": _Loader, "strings": _StringLoader}


@dataclass(frozen=True)
class Document:
    index: int
    """Position in the file, from 0, counting empty documents too."""
    line: int
    """1-based line where the document starts."""
    data: Any


PARSED_BYTES = 32 * 1024 * 1024
"""Bytes of parsed documents kept (as JSON, the least recently used dropped first). A release is
rendered once per cluster, and again by each drift check and for each commit of its
repository, mostly from files that did not change: reading a kept document back costs
about a fortieth of parsing it. 32 MiB holds some 30,000 small manifests."""


class _Parsed:
    """Documents by (text, how scalars are read, node limit), kept as JSON: a text
    reads the same every time, and each caller gets objects of its own to change."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._kept: collections.OrderedDict[bytes, tuple[tuple[tuple[int, int], ...], str]] = (
            collections.OrderedDict()
        )
        self._size = 0

    @staticmethod
    def key(text: str, *, scalars: str, max_nodes: int) -> bytes:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(f"{scalars}\0{max_nodes}\0".encode())
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.digest()

    def get(self, key: bytes) -> list[Document] | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                return None
            self._kept.move_to_end(key)
        places, data = found
        return [
            Document(index=index, line=line, data=value)
            for (index, line), value in zip(places, json.loads(data), strict=True)
        ]

    def put(self, key: bytes, docs: list[Document]) -> None:
        values = [d.data for d in docs]
        try:
            data = json.dumps(values, separators=(",", ":"))
        except (TypeError, ValueError):
            return  # a !!binary or !!set: parsed each time
        if json.loads(data) != values:
            return  # a key JSON would turn into a string (None, a number), or a NaN
        places = tuple((d.index, d.line) for d in docs)
        size = _cost(key, places, data)
        if size > self.limit // 8:
            return  # one huge output would push out everything else
        with self._lock:
            if key in self._kept:
                return
            self._kept[key] = (places, data)
            self._size += size
            while self._size > self.limit:
                old, (old_places, old_data) = self._kept.popitem(last=False)
                self._size -= _cost(old, old_places, old_data)


def _cost(key: bytes, places: tuple[tuple[int, int], ...], data: str) -> int:
    """Bytes one kept text takes, about (its JSON, its key, and its documents' places)."""
    return len(data) + len(key) + 64 * len(places)


_PARSED = _Parsed(PARSED_BYTES)


def load_all(
    text: str,
    *,
    shown: str,
    max_nodes: int,
    scalars: Literal["kubectl", "strings"] = "kubectl",
) -> list[Document]:
    """Every non-empty document of ``text`` (``shown`` names the file in errors)."""
    key = _PARSED.key(text, scalars=scalars, max_nodes=max_nodes)
    found = _PARSED.get(key)
    if found is not None:
        return found
    docs = _parse(text, shown=shown, max_nodes=max_nodes, scalars=scalars)
    _PARSED.put(key, docs)
    return docs


def _parse(
    text: str, *, shown: str, max_nodes: int, scalars: Literal["kubectl", "strings"]
) -> list[Document]:
    loader = _LOADERS[scalars](text)
    docs: list[Document] = []
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _check_size(node=node, shown=shown, index=index, max_nodes=max_nodes)
                data = loader.construct_document(node)
                if data is not None:
                    docs.append(Document(index=index, line=node.start_mark.line + 1, data=data))
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "parse error"
        raise errors.RenderError(f"{shown}{line}: invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise errors.RenderError(f"{shown}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise errors.LimitError(f"{shown}: document {index} is nested too deeply") from exc
    finally:
        loader.dispose()
    return docs


def _check_size(*, node: yaml.Node, shown: str, index: int, max_nodes: int) -> None:
    """Count nodes as if every alias were copied; refuse past ``max_nodes``."""
    try:
        yamlsize.expanded_size(node, limit=max_nodes)
    except yamlsize.AliasCycleError as exc:
        raise errors.LimitError(
            f"{shown}: document {index}: a YAML alias refers to itself; remove the cycle"
        ) from exc
    except yamlsize.TooLargeError as exc:
        raise errors.LimitError(
            f"{shown}: document {index} (line {node.start_mark.line + 1}) expands to more "
            f"than {max_nodes:,} YAML nodes through aliases (an alias bomb?); refused"
        ) from exc
