"""Syntax of the 5-field cron expressions used by pipeline time windows.

``checks`` calls ``problem`` for ``pipelines[].stages[].window.cron``. Fields: minute,
hour, day of month, month (1-12 or jan-dec), day of week (0-7 with 0 and 7 = Sunday,
or sun-sat); each a comma list of ``*``, ``N``, ``N-M``, optionally ``/STEP``.
"""

from __future__ import annotations

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(MONTHS)}),
    ("day of week", 0, 7, {name: i for i, name in enumerate(DAYS)}),
)
EXPECTED = (
    "expected 5 fields: minute hour day-of-month month day-of-week, e.g. '0 9-16 * * mon-fri'"
)


def problem(expr: str) -> str | None:
    """``None`` when ``expr`` is a valid 5-field cron expression, else what is wrong."""
    parts = expr.split()
    if len(parts) != 5:
        return f"cron {expr!r} has {len(parts)} fields; {EXPECTED}"
    for text, (name, low, high, names) in zip(parts, FIELDS, strict=True):
        for item in text.split(","):
            error = _item_problem(item, low=low, high=high, names=names)
            if error:
                return f"cron {expr!r}: {name} {item!r}: {error}"
    return None


def _item_problem(item: str, *, low: int, high: int, names: dict[str, int]) -> str | None:
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return "the step after '/' must be a number above 0"
    if base == "*":
        return None
    first, dash, last = base.partition("-")
    bounds = []
    for value in (first, last) if dash else (first,):
        number = names.get(value.lower()) if not value.isdigit() else int(value)
        if number is None:
            allowed = f"{low}-{high}" + (f" or {', '.join(names)}" if names else "")
            return f"{value!r} is not a value; expected {allowed}"
        if not low <= number <= high:
            return f"{number} is out of range; expected {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return "the range goes backwards; expected low-high"
    return None
