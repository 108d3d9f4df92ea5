"""The digest policy: follow a mutable tag (``latest``, ``main``) by its digest.

No tag listing: ``registry.resolve`` asks the registry for the tag's current digest
(one HEAD) and pins the workload to ``tag@sha256:…``, so a re-push rolls out.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import errors, reference


@dataclass(frozen=True)
class Digest:
    tag: str

    @classmethod
    def build(cls, tag: str) -> Digest:
        if not reference.is_tag(tag):
            raise errors.InvalidPolicyError(
                f"digest policy needs the tag to follow, e.g. digest:latest; {tag!r} is not "
                "a valid tag"
            )
        return cls(tag)

    @property
    def label(self) -> str:
        return f"digest:{self.tag}"
