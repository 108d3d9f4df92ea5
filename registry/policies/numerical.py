"""The numerical policy: tags (or extracted values) read as numbers.

``asc`` picks the highest number, ``desc`` the lowest (Flux's meaning). Values that are
not numbers are ignored and counted in the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from registry.policies import alphabetical, base


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    # "nan"/"inf" parse as floats but are not tag numbers anyone means.
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Numerical:
    order: str = "asc"

    @classmethod
    def build(cls, order: str) -> Numerical:
        return cls(alphabetical.check_order("numerical", order))

    @property
    def label(self) -> str:
        return f"numerical:{self.order}"

    def pick(self, candidates: list[tuple[str, str]]) -> base.Outcome:
        numbers = []
        for tag, value in candidates:
            number = _number(value)
            if number is not None:
                numbers.append((number, tag))
        skipped = len(candidates) - len(numbers)
        notes = (f"{base.plural(skipped, 'non-numeric value')} ignored",) if skipped else ()
        if not numbers:
            return base.Outcome(None, "no numeric values", notes)
        number, tag = (max if self.order == "asc" else min)(numbers)
        which = "highest" if self.order == "asc" else "lowest"
        shown = int(number) if number.is_integer() else number
        return base.Outcome(
            tag, f"{which} number ({shown}) of {base.plural(len(numbers), 'numeric tag')}", notes
        )
