"""The ignore list: tags never to choose, as shell-style globs (``*-debug``, ``v1.2.?``).

``registry.policies.base`` drops ignored tags before the regex filter and the orderer
see them. The glob syntax is Go's ``filepath.Match``, which Argo CD Image Updater's
``ignore-tags`` uses: ``*`` any run of characters, ``?`` one character, ``[a-z]`` and
``[^0-9]`` classes, ``\\`` escapes the next character. Globs are validated when the policy
is built: a malformed one is an error, never a list that silently ignores nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from registry import errors


def _class(glob: str, start: int) -> tuple[str, int]:
    """The regex of the ``[...]`` class opening at ``start``, and the index after it."""
    index = start + 1
    negate = index < len(glob) and glob[index] == "^"
    index += negate
    parts: list[str] = []
    while True:
        if index >= len(glob):
            raise ValueError("a '[' is never closed")
        if glob[index] == "]" and parts:
            return ("[^" if negate else "[") + "".join(parts) + "]", index + 1
        low, index = _class_char(glob, index)
        if index < len(glob) and glob[index] == "-":
            high, index = _class_char(glob, index + 1)
            if high < low:
                raise ValueError(f"the range {low}-{high} is backwards")
            parts.append(f"{re.escape(low)}-{re.escape(high)}")
        else:
            parts.append(re.escape(low))


def _class_char(glob: str, index: int) -> tuple[str, int]:
    if index >= len(glob):
        raise ValueError("a '[' is never closed")
    char = glob[index]
    if char == "\\":
        if index + 1 >= len(glob):
            raise ValueError("it ends with a lone '\\'")
        return glob[index + 1], index + 2
    if char in "-]":
        raise ValueError(f"'{char}' must be escaped inside [...]")
    return char, index + 1


def translate(glob: str) -> str:
    """The regex for ``glob``; ``ValueError`` says what is wrong with it."""
    out: list[str] = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            regex, index = _class(glob, index)
            out.append(regex)
            continue
        elif char == "\\":
            if index + 1 >= len(glob):
                raise ValueError("it ends with a lone '\\'")
            index += 1
            out.append(re.escape(glob[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


@dataclass(frozen=True)
class TagIgnore:
    globs: tuple[str, ...]
    pattern: re.Pattern[str]

    @classmethod
    def build(cls, globs: Sequence[str]) -> TagIgnore:
        regexes = []
        for glob in globs:
            if not glob:
                raise errors.InvalidPolicyError("an empty glob in the ignore list; remove it")
            try:
                regexes.append(translate(glob))
            except ValueError as err:
                raise errors.InvalidPolicyError(
                    f"invalid ignore glob {glob!r}: {err}; write e.g. '*-debug', 'v1.2.?', "
                    "'[0-9]*-rc*'"
                ) from err
        return cls(tuple(globs), re.compile("|".join(f"(?:{r})" for r in regexes)))

    def ignores(self, tag: str) -> bool:
        return self.pattern.fullmatch(tag) is not None
