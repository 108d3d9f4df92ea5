"""Tags that are supply-chain artifacts, not images: cosign signatures, attestations, SBOMs.

``registry.policies.base`` drops them before ordering, unless a policy opts in. Cosign
stores them as ``sha256-<hex>.sig`` / ``.att`` / ``.sbom`` next to the image.
"""

from __future__ import annotations

import re

_SUFFIXES = (".sig", ".att", ".sbom")
_COSIGN = re.compile(r"sha256-[0-9a-f]{64}(?:\.[A-Za-z0-9_-]+)*")


def is_artifact(tag: str) -> bool:
    # String tests first: a policy runs this over every tag of a repository.
    if tag.endswith(_SUFFIXES):
        return True
    return tag.startswith("sha256-") and _COSIGN.fullmatch(tag) is not None


def split(tags: list[str]) -> tuple[list[str], int]:
    """``tags`` without the artifact tags, and how many those were: one pass over a whole
    listing, as ``is_artifact`` would go, without a call per tag."""
    kept = [
        tag
        for tag in tags
        if not tag.endswith(_SUFFIXES)
        and not (tag.startswith("sha256-") and _COSIGN.fullmatch(tag) is not None)
    ]
    return kept, len(tags) - len(kept)
