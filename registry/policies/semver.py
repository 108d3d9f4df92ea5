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
        best: tuple[semver_range.VersionKey, int, bool, bool] | None = None
        best_values: set[str] = set()
        in_range = prereleases = matched = 0
        test, within = self.range.test_key, self.range.within_key
        for value, key in semver_range.scan([value for _, value in candidates]):
            matched += 1
            if not test(key):
                # Count the pre-releases the range would take if it named pre-releases.
                prereleases += not key[3] and within(key)
                continue
            in_range += 1
            if best is not None and key < best[0]:
                continue
            # Precedence first; then "1.2.3" over "1.2", "01.2.3" or "v1.2.3"; then the tag.
            version = semver_range.parse_version(value)
            assert version is not None
            rank = (key, version.parts, not version.padded, not value.startswith(("v", "V")))
            if best is None or rank > best:
                best, best_values = rank, {value}
            elif rank == best:
                best_values.add(value)
        notes = []
        if prereleases:
            notes.append(f"{base.plural(prereleases, 'pre-release')} skipped")
        not_semver = len(candidates) - matched
        if not_semver:
            notes.append(f"{base.plural(not_semver, 'non-semver tag')} ignored")
        if best is None:
            return base.Outcome(None, f"none in {self.range}", tuple(notes))
        winner = max(tag for tag, value in candidates if value in best_values)
        return base.Outcome(
            winner, f"highest of {base.plural(in_range, 'tag')} in {self.range}", tuple(notes)
        )
