"""The semver policy: the highest version within a range wins.

Built by ``registry.policies.build`` from ``semver:RANGE``; the range is validated then
(``registry.policies.semver_range``). Tags that are not versions are ignored, and
pre-releases count only when the range names one. Tags of equal precedence (``1.2.3``,
``v1.2.3``, ``1.2``, ``01.2.3``, ``1.2.3_b7``) are ordered deterministically, whatever order
the registry lists them in: the one spelling all three numbers wins, then the one
without zero padding, then the one without a ``v``, then the alphabetically last.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.policies import base, semver_range


@dataclass(frozen=True)
class Semver:
    range: semver_range.Range

    @classmethod
    def build(cls, text: str) -> Semver:
        return cls(semver_range.parse_range(text))

    @property
    def label(self) -> str:
        return f"semver:{self.range}"

    def pick(self, candidates: list[tuple[str, str]]) -> base.Outcome:
        best: tuple[object, ...] | None = None
        winner = None
        in_range = not_semver = prereleases = 0
        for tag, value in candidates:
            version = semver_range.parse_version(value)
            if version is None:
                not_semver += 1
                continue
            if not self.range.test(version):
                # Count the pre-releases the range would take if it named pre-releases.
                prereleases += bool(version.pre) and self.range.within(version)
                continue
            in_range += 1
            # Precedence first; then "1.2.3" over "1.2", "01.2.3" or "v1.2.3"; then the tag.
            plain = not value.startswith(("v", "V"))
            key = (version.key, version.parts, not version.padded, plain, tag)
            if best is None or key > best:
                best, winner = key, tag
        notes = []
        if prereleases:
            notes.append(f"{base.plural(prereleases, 'pre-release')} skipped")
        if not_semver:
            notes.append(f"{base.plural(not_semver, 'non-semver tag')} ignored")
        if winner is None:
            return base.Outcome(None, f"none in {self.range}", tuple(notes))
        return base.Outcome(
            winner, f"highest of {base.plural(in_range, 'tag')} in {self.range}", tuple(notes)
        )
