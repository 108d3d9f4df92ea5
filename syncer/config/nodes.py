"""YAML nodes and the problems found in them: the loader's shared bookkeeping.

``syncer.config.loader`` composes the file into PyYAML nodes (which carry line numbers)
and hands them, with a ``Context``, to ``walker``, ``refs``, ``checks`` and ``crossrefs``.
Each of them reports what is wrong through ``Context.problem`` as one line
``FILE:LINE: field.path: what is wrong; expected ...``; nothing here raises.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import yaml

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MERGE = "tag:yaml.org,2002:merge"


class _Invalid:
    """Marks a value that could not be built (its problem is already reported)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()

_constructor = yaml.constructor.SafeConstructor()


@dataclasses.dataclass
class Context:
    """Where problems, field lines and object paths are collected during one load."""

    file: str
    base_dir: str
    problems: list[tuple[tuple[int, int], str]] = dataclasses.field(default_factory=list)
    """((line, column), message): sorted by position before they are shown."""
    marks: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    """Field path (``apps[0].source``) -> (1-based line, column) of its value."""
    paths: dict[int, str] = dataclasses.field(default_factory=dict)
    """``id()`` of every built dataclass -> its field path."""
    incomplete: set[str] = dataclasses.field(default_factory=set)
    """Lists with an element that could not be built (cross-checks do not trust them)."""
    broken: set[str] = dataclasses.field(default_factory=set)
    """Paths with a problem: their values may be defaults, cross-checks skip them."""

    def note(self, path: str, node: yaml.Node) -> None:
        self.marks.setdefault(path, mark_of(node))

    def line(self, path: str) -> int:
        """The line of ``path``, or of its closest parent that has one."""
        return self.mark(path)[0]

    def mark(self, path: str) -> tuple[int, int]:
        while path:
            if path in self.marks:
                return self.marks[path]
            path = parent(path)
        return self.marks.get("", (1, 0))

    def problem(self, where: yaml.Node | int | str, path: str, message: str) -> None:
        """Report a problem at a node, a line number, or the line of a field path."""
        if isinstance(where, yaml.Node):
            position = mark_of(where)
        elif isinstance(where, int):
            position = (where, 0)
        else:
            position = self.mark(where)
        prefix = f"{path}: " if path else ""
        self.problems.append((position, f"{self.file}:{position[0]}: {prefix}{message}"))
        self.broken.add(path)

    def has_own_problem(self, path: str) -> bool:
        """Whether ``path`` itself or one of its direct fields had a problem."""
        for other in self.broken:
            rest = other[len(path) + 1 :] if other.startswith(path + ".") else None
            if other == path or (rest is not None and not any(c in rest for c in ".[")):
                return True
        return False

    def is_broken(self, path: str) -> bool:
        """Whether ``path`` or anything under it had a problem."""
        return any(
            other == path or other.startswith((path + ".", path + "[")) for other in self.broken
        )

    def path_of(self, obj: object) -> str:
        return self.paths.get(id(obj), "")


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def mark_of(node: yaml.Node) -> tuple[int, int]:
    return int(node.start_mark.line) + 1, int(node.start_mark.column)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def parent(path: str) -> str:
    """``apps[0].images[1]`` -> ``apps[0].images`` -> ``apps[0]`` -> ``apps`` -> ``""``."""
    match = re.match(r"^(.*)(\[\d+\]|\.[^.\[]+)$", path)
    return match.group(1) if match else ""


def camel(name: str) -> str:
    """``username_from`` -> ``usernameFrom`` (YAML keys are camelCase)."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL


def describe(node: yaml.Node) -> str:
    """What the user wrote, for 'got ...' in messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing (null)"
    text = str(node.value)
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)


def construct(node: yaml.Node) -> Any:
    """The plain Python value of a node (for scalars and free-form values)."""
    return _constructor.construct_object(node, deep=True)


def mapping_pairs(
    node: yaml.MappingNode, *, path: str, ctx: Context
) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Key -> (key node, value node), reporting duplicate and non-string keys.

    Merge keys (``<<: *defaults``) are honoured: explicit keys win over merged ones.
    """
    pairs: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE:
            merged.extend(
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            continue
        if not isinstance(key_node, yaml.ScalarNode) or is_null(key_node):
            ctx.problem(key_node, path, f"a key must be a plain name, got {describe(key_node)}")
            continue
        key = str(key_node.value)
        if key in pairs:
            first = line_of(pairs[key][0])
            ctx.problem(
                key_node,
                join(path, key),
                f"duplicate key (first at line {first}); expected it once",
            )
            continue
        pairs[key] = (key_node, value_node)
    for source in merged:
        if not isinstance(source, yaml.MappingNode):
            ctx.problem(source, path, f"'<<' merges a mapping, got {describe(source)}")
            continue
        for key, pair in mapping_pairs(source, path=path, ctx=ctx).items():
            pairs.setdefault(key, pair)
    return pairs


# Anything with "://" before its first "/" is meant as a URL (a mistyped scheme is
# reported as such, not turned into a path that does not exist).
_URL_LIKE = re.compile(r"^[^/]*://|^[\w.-]+@[\w.-]+:")


def local_path(value: str, *, kind: str, base_dir: str) -> str:
    """Resolve a path from the config against the config file's directory.

    ``kind`` is ``file`` (always a local path) or ``url`` (a local path unless it looks
    like a URL or ``user@host:path``). Empty stays empty (it means "the default").
    """
    if not value or (kind == "url" and _URL_LIKE.match(value)):
        return value
    expanded = os.path.expanduser(value)
    return os.path.normpath(os.path.join(base_dir, expanded))
