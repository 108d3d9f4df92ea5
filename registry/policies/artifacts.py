"""Tags that are supply-chain artifacts, not images: cosign signatures, attestations, SBOMs.

``registry.policies.base`` drops them before ordering, unless a policy opts in. Cosign
stores them as ``sha256-<hex>.sig`` / ``.att`` / ``.sbom`` next to the image.
"""

from __future__ import annotations

import re

_ARTIFACT = re.compile(r"^sha256-[0-9a-f]{64}(?:\.[A-Za-z0-9_-]+)*$|\.(?:sig|att|sbom)$")


def is_artifact(tag: str) -> bool:
    return _ARTIFACT.search(tag) is not None
