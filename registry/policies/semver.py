"""The semver policy: the highest version within a range wins.

Built by ``registry.policies.build`` from ``semver:RANGE``; the range is validated then
(``registry.policies.semver_range``). Tags that are not versions are ignored, and
pre-releases count only when the range names one. Ties (``1.2.3`` and ``v1.2.3``) go to
the fully spelled, unprefixed tag, then to the alphabetically last.
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
            # Precedence first; then prefer "1.2.3" over "1.2" or "v1.2.3"; then the tag.
            key = (version.key, version.parts, not value.startswith(("v", "V")), tag)
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
