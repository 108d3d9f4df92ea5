"""Durations in the config: ``30s``, ``5m``, ``1h30m``, ``1.5h``, ``250ms``, or plain seconds.

``walker`` calls ``parse`` for every field whose metadata says ``unit="s"``; ``reference``
calls ``format`` to print defaults. In Python a duration is always float seconds.
"""

from __future__ import annotations

import re

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
EXPECTED = "expected seconds or a duration like 30s, 5m, 1h30m, 1.5h"
MAXIMUM = 365 * UNITS["d"]
"""The longest duration any field accepts (1 year): longer ones are typos, and the
scheduler's date arithmetic overflows on absurd values."""

_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:(?:\d+(?:\.\d+)?|\.\d+)(?:ms|s|m|h|d))+")


def parse(text: str) -> float:
    """Seconds in ``text``; ``ValueError`` with a user-facing sentence when invalid."""
    value = text.strip()
    if value.startswith("-"):
        raise ValueError(f"negative duration {text!r}; {EXPECTED}")
    if _NUMBER.fullmatch(value):
        return float(value)
    if not _WHOLE.fullmatch(value):
        raise ValueError(f"invalid duration {text!r}; {EXPECTED}")
    return sum(float(number) * UNITS[unit] for number, unit in _PART.findall(value))


def format(seconds: float) -> str:
    """The shortest spelling of ``seconds``: 90 -> ``1m30s``, 0.5 -> ``500ms``."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts = []
    rest = seconds
    for unit in ("d", "h", "m"):
        count = int(rest // UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
            rest -= count * UNITS[unit]
    if rest:
        parts.append(f"{rest:g}s")
    return "".join(parts)
