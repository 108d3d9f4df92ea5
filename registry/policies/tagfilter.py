"""The regex tag filter with an ``extract`` template, applied before a policy orders tags.

``pattern`` is searched in each tag (anchor it yourself); tags that do not match are
dropped. ``extract`` (``$ts``, ``${ts}``, ``$1``) builds the value the policy orders,
so ``main-<sha>-<timestamp>`` can be ordered by its timestamp; the winner maps back to
its original tag. Validated when built: a bad regex or an unknown group is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry import errors

_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class TagFilter:
    pattern: re.Pattern[str]
    extract: str = ""

    @classmethod
    def build(cls, pattern: str, extract: str = "") -> TagFilter:
        try:
            compiled = re.compile(pattern)
        except re.error as err:
            raise errors.InvalidPolicyError(f"invalid tag filter regex {pattern!r}: {err}") from err
        for match in _REF.finditer(extract):
            name = match.group(1) or match.group(2)
            known = int(name) <= compiled.groups if name.isdigit() else name in compiled.groupindex
            if not known:
                groups = ", ".join(f"${g}" for g in compiled.groupindex) or "none named"
                raise errors.InvalidPolicyError(
                    f"extract template {extract!r} uses ${name}, which the filter "
                    f"{pattern!r} does not define (groups: {groups}; "
                    f"numbered $1..${compiled.groups})"
                )
        if extract and not _REF.search(extract):
            raise errors.InvalidPolicyError(
                f"extract template {extract!r} names no group; write e.g. '$ts' or '$1'"
            )
        return cls(compiled, extract)

    def value(self, tag: str) -> str | None:
        match = self.pattern.search(tag)
        if match is None:
            return None
        if not self.extract:
            return tag

        def group(ref: re.Match[str]) -> str:
            name = ref.group(1) or ref.group(2)
            return match.group(int(name) if name.isdigit() else name) or ""

        return _REF.sub(group, self.extract) or None

    def apply(self, tags: list[str]) -> tuple[list[tuple[str, str]], int]:
        """``(tag, value)`` pairs of matching tags, and how many were dropped."""
        kept: list[tuple[str, str]] = []
        for tag in tags:
            value = self.value(tag)
            if value is not None:
                kept.append((tag, value))
        return kept, len(tags) - len(kept)
