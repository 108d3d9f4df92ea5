"""The alphabetical policy: tags (or extracted values) in lexical order.

``asc`` picks the last value in ascending order (the greatest, e.g. the newest
``RELEASE.2024-05-01`` timestamp), ``desc`` the first (the least), as Flux does.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import errors
from registry.policies import base

ORDERS = ("asc", "desc")


def check_order(kind: str, order: str) -> str:
    value = (order or "asc").strip().lower()
    if value not in ORDERS:
        raise errors.InvalidPolicyError(
            f"unknown order {order!r} for the {kind} policy; expected asc or desc"
        )
    return value


@dataclass(frozen=True)
class Alphabetical:
    order: str = "asc"

    @classmethod
    def build(cls, order: str) -> Alphabetical:
        return cls(check_order("alphabetical", order))

    @property
    def label(self) -> str:
        return f"alphabetical:{self.order}"

    def pick(self, candidates: list[tuple[str, str]]) -> base.Outcome:
        if not candidates:
            return base.Outcome(None, "no candidates to order alphabetically")
        # (value, tag) keeps ties between equal extracted values deterministic.
        chooser = max if self.order == "asc" else min
        tag = chooser(candidates, key=lambda pair: (pair[1], pair[0]))[0]
        where = "last" if self.order == "asc" else "first"
        return base.Outcome(
            tag, f"{where} of {base.plural(len(candidates), 'tag')} in alphabetical order"
        )
