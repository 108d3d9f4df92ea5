"""What every tag policy shares: the ``Selection`` it returns and the selection pipeline.

``registry.resolve`` hands a repository's tags to ``TagPolicy.select``; the pipeline drops
signature/SBOM artifact tags (``registry.policies.artifacts``) and ignored tags
(``registry.policies.ignore``), applies the optional regex filter
(``registry.policies.tagfilter``), and lets the policy's ``Orderer`` pick the winner
among the extracted values. The ``reason`` says why, in one sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from registry.policies import artifacts, ignore, tagfilter


@dataclass(frozen=True)
class Selection:
    tag: str | None
    """The winning tag, or None when no tag qualifies."""
    reason: str
    """One sentence: why this tag, or why none."""
    scanned: int = 0
    """Tags looked at."""


@dataclass(frozen=True)
class Outcome:
    """What an orderer found among (tag, value) pairs."""

    tag: str | None
    summary: str
    """For a winner: ``highest of 37 tags in ^1.2``; for none: ``none in ^3``."""
    notes: tuple[str, ...] = ()
    """Extra clauses: ``3 pre-releases skipped``."""


def plural(count: int, noun: str, nouns: str = "") -> str:
    """``1 tag``, ``3 tags``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


class Orderer(Protocol):
    @property
    def label(self) -> str: ...

    def pick(self, candidates: list[tuple[str, str]]) -> Outcome:
        """Choose among ``(tag, value)`` pairs (value = extracted text or the tag)."""


@dataclass(frozen=True)
class TagPolicy:
    """A tag-choosing policy: orderer + optional filter + artifact exclusion."""

    orderer: Orderer
    filter: tagfilter.TagFilter | None = None
    include_artifacts: bool = False
    ignore: ignore.TagIgnore | None = None

    @property
    def label(self) -> str:
        """E.g. ``semver:^1.2`` or ``numerical:asc filter=^main- extract=$ts``."""
        text = self.orderer.label
        if self.filter is not None:
            text += f" filter={self.filter.pattern.pattern}"
            if self.filter.extract:
                text += f" extract={self.filter.extract}"
        if self.ignore is not None:
            text += f" ignore={','.join(self.ignore.globs)}"
        return text

    def select(
        self, tags: Iterable[str], *, truncated_at: int = 0, limit: str = "", invalid: int = 0
    ) -> Selection:
        """The winner among ``tags``. ``truncated_at``: ``limit`` (``the scan budget of 250
        tags``) stopped the listing after that many tags; ``invalid``: tags the listing
        skipped for breaking the OCI grammar."""
        listed = list(tags)
        scanned = len(listed)
        skipped_artifacts = ignored = 0
        # Signatures and SBOMs are tags too, but never something to run.
        kept = listed if self.include_artifacts else artifacts.split(listed)[0]
        skipped_artifacts = scanned - len(kept)
        if self.ignore is not None:
            checks = self.ignore.ignores
            kept = [tag for tag in kept if not checks(tag)]
            ignored = scanned - skipped_artifacts - len(kept)
        notes: list[str] = []
        if ignored:
            notes.append(f"{plural(ignored, 'tag')} on the ignore list")
        if self.filter is not None:
            candidates, dropped = self.filter.apply(kept)
            if dropped:
                notes.append(
                    f"{plural(dropped, 'tag')} not matching /{self.filter.pattern.pattern}/"
                )
        else:
            candidates = [(tag, tag) for tag in kept]
        outcome = self.orderer.pick(candidates)
        notes.extend(outcome.notes)
        if skipped_artifacts:
            notes.append(f"{plural(skipped_artifacts, 'signature/SBOM tag')} excluded")
        if invalid:
            notes.append(f"{plural(invalid, 'invalid tag')} skipped")
        if truncated_at:
            notes.append(
                f"listing stopped by {limit or 'the scan budget'}: only the first "
                f"{truncated_at} tags were read"
            )
        tail = "".join(f"; {note}" for note in notes)
        if outcome.tag is None:
            return Selection(
                None, f"no tag of {scanned} qualifies: {outcome.summary}{tail}", scanned
            )
        return Selection(outcome.tag, f"{outcome.tag}: {outcome.summary}{tail}", scanned)
