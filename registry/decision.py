"""``Decision``: the answer of ``registry.resolve`` — which image should run, and why.

Consumed by ``syncer`` (releases, events, the CLI). ``ref`` is what goes into manifests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    repository: str
    """Normalised repository, e.g. ``127.0.0.1:5000/team/web``."""
    tag: str
    digest: str
    """``sha256:…`` of the manifest (or index) the tag points at."""
    ref: str
    """``repository:tag@digest``."""
    reason: str
    """A sentence: ``1.4.2: highest of 37 tags in ^1.2; 3 pre-releases skipped``."""
    policy: str
    """The policy's label, e.g. ``semver:^1.2``."""
    warning: str = ""
    """What the user should act on, if anything: e.g. the running tag was kept because
    the scan budget cut the tag list below it."""


def make(
    *, repository: str, tag: str, digest: str, reason: str, policy: str, warning: str = ""
) -> Decision:
    return Decision(
        repository, tag, digest, f"{repository}:{tag}@{digest}", reason, policy, warning
    )
