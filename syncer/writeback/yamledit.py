"""Precise edits of YAML text: set one scalar, add one key, append one list item.

``syncer.writeback.targets`` finds what to change with PyYAML's composer (nodes carry
their position in the text) and records each change here as a span of the original
text and its replacement; ``apply`` splices them in. Everything between the spans --
comments, key order, quoting, blank lines, flow style -- stays byte for byte, which a
load-and-dump round trip would not keep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import yaml


class YamlEditError(ValueError):
    """The text cannot be edited as asked (not YAML, or not the expected shape)."""


@dataclasses.dataclass(frozen=True)
class Splice:
    """Replace ``text[start:end]`` by ``new`` (``start == end`` inserts)."""

    start: int
    end: int
    new: str


def documents(text: str, *, what: str) -> list[yaml.Node]:
    """The YAML documents of ``text`` as nodes (empty documents left out)."""
    try:
        return [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None]
    except yaml.YAMLError as err:
        raise YamlEditError(f"{what} is not valid YAML: {_first_line(str(err))}") from err


def lookup(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node (None when absent or not a mapping)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def set_scalar(text: str, node: yaml.ScalarNode, value: str) -> Splice | None:
    """Replace a scalar's text by ``value``, in the same quoting style when it is still
    read back as the same string; None when it already holds it."""
    if node.value == value and node.tag == "tag:yaml.org,2002:str":
        return None
    old = text[node.start_mark.index : node.end_mark.index]
    return Splice(node.start_mark.index, node.end_mark.index, render(value, like=old))


def render(value: str, *, like: str = "") -> str:
    """``value`` as a YAML scalar that loads back as the string ``value``: quoted as
    ``like`` was, else plain when that is safe (``1.10`` would load as a float)."""
    if like.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    if like.startswith('"') or not _plain_is_string(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def add_key(text: str, mapping: yaml.MappingNode, key: str, value: str) -> Splice:
    """Add ``key: value`` as the last entry of ``mapping`` (block or flow style)."""
    if mapping.flow_style:
        close = mapping.end_mark.index - 1  # the closing brace
        sep = ", " if mapping.value else ""
        return Splice(close, close, f"{sep}{key}: {render(value)}")
    if not mapping.value:
        raise YamlEditError("cannot add a key to an empty block mapping")
    indent = mapping.value[0][0].start_mark.column
    at, lead = _after_line(text, mapping.value[-1][1])
    return Splice(at, at, f"{lead}{' ' * indent}{key}: {render(value)}\n")


def append_item(text: str, sequence: yaml.SequenceNode, lines: Sequence[str]) -> Splice:
    """Append a block item (``lines`` of a mapping: ``key: value``) to a block sequence."""
    if sequence.flow_style or not sequence.value:
        raise YamlEditError("cannot append to an empty or flow-style list")
    first = sequence.value[0]
    dash = _dash_column(text, first)
    inner = first.start_mark.column
    body = f"{' ' * dash}-{' ' * (inner - dash - 1)}{lines[0]}\n"
    body += "".join(f"{' ' * inner}{line}\n" for line in lines[1:])
    at, lead = _after_line(text, sequence.value[-1])
    return Splice(at, at, lead + body)


def apply(text: str, splices: Sequence[Splice]) -> str:
    """``text`` with every splice made (they must not overlap)."""
    out = text
    for s in sorted(splices, key=lambda s: (s.start, s.end), reverse=True):
        out = out[: s.start] + s.new + out[s.end :]
    return out


def walk(node: yaml.Node) -> Iterator[yaml.Node]:
    """Every node under ``node`` (itself first)."""
    yield node
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from walk(k)
            yield from walk(v)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from walk(item)


def _after_line(text: str, node: yaml.Node) -> tuple[int, str]:
    """Where a new line goes after ``node``: the start of the line after the one it
    ends on (past any comment there), and the newline to put first at a file's
    unterminated end."""
    end = node.end_mark.index
    if end > 0 and text[end - 1] == "\n":
        return end, ""  # block nodes end at the start of the next line already
    newline = text.find("\n", end)
    if newline < 0:
        return len(text), "\n"
    return newline + 1, ""


def _dash_column(text: str, item: yaml.Node) -> int:
    """The column of the ``-`` in front of a block sequence item."""
    line_start = text.rfind("\n", 0, item.start_mark.index) + 1
    dash = text.find("-", line_start, item.start_mark.index)
    return dash - line_start if dash >= 0 else max(item.start_mark.column - 2, 0)


def _plain_is_string(value: str) -> bool:
    if not value or value != value.strip() or any(c in value for c in "#\n\"'"):
        return False
    try:
        return yaml.safe_load(value) == value
    except yaml.YAMLError:
        return False


def _first_line(text: str) -> str:
    return " ".join(text.split())
