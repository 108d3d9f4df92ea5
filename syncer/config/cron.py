"""5-field cron expressions (UTC): parsing, matching and the next fire time.

The one cron parser of syncer. ``syncer.config.checks`` calls ``problem`` for
``pipelines[].stages[].window.cron`` when the config is loaded (``syncer validate``
included), ``syncer.rollout.validate`` calls ``parse`` again when a pipeline is planned,
and ``syncer.rollout.windows`` uses ``next_fire`` to decide whether a window is open:
what ``validate`` accepts is exactly what the runtime accepts, and an expression that
never fires (``0 0 30 2 *``) is refused by both.

Semantics are those of Vixie cron / cronie, which is what people write crontabs for:
``minute hour day-of-month month day-of-week``; ``*``, lists, ranges, steps
(``*/15``, ``9-17/2``, ``5/10``), month and weekday names (``jan``, ``mon-fri``),
weekday 0 and 7 both Sunday; when both day-of-month and day-of-week are restricted,
a day matches if *either* does. ``parse`` also rejects dates that never occur
(``31 feb``, ``30 2``).
APScheduler's CronTrigger is not used: in 3.x it numbers weekdays from Monday and
requires both day fields to match, so ``0 9 * * 1`` would silently mean Tuesday.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names mapped to numbers from `lowest`)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, WEEKDAYS),
)
SEARCH_DAYS = 366 * 9
"""How far ahead ``next_fire`` looks: Feb 29 can be 8 years away (2096 → 2104)."""
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A parsed cron expression: the allowed values of each field."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday … 6 = Saturday (7 folded into 0)."""
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a day this schedule fires on (at some hour and minute)."""
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        # Vixie cron: both fields restricted means either may match; otherwise the
        # unrestricted one matches everything and the restricted one decides.
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow


def parse(expr: str) -> Schedule:
    """Parse ``expr``; raises ``ValueError`` naming the bad field and what is allowed."""
    parts = expr.strip().lower().split()
    if len(parts) != 5:
        raise ValueError(
            f'cron "{expr}": expected 5 fields (minute hour day-of-month month day-of-week), '
            f"got {len(parts)}; e.g. '0 9-16 * * mon-fri'"
        )
    values = [
        _field(expr=expr, text=part, spec=spec) for part, spec in zip(parts, FIELDS, strict=True)
    ]
    schedule = Schedule(
        expr=expr,
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=frozenset(d % 7 for d in values[4]),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )
    if not schedule.weekdays_restricted and not any(
        d <= _LONGEST_MONTH[m - 1] for m in schedule.months for d in schedule.days
    ):
        raise ValueError(
            f'cron "{expr}": day-of-month and month never meet, so it never fires; '
            "expected a day that exists in one of the months"
        )
    return schedule


def problem(expr: str) -> str | None:
    """``None`` when ``expr`` is a valid cron expression that fires, else what is wrong."""
    try:
        parse(expr)
    except ValueError as err:
        return str(err)
    return None


def next_fire(schedule: Schedule, *, at_or_after: dt.datetime) -> dt.datetime | None:
    """The first fire time ``>= at_or_after`` (UTC), or None if none within 9 years."""
    start = at_or_after.astimezone(dt.UTC)
    if start.second or start.microsecond:
        # Fire times are whole minutes: round up to the next one.
        start = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    day = start.date()
    for _ in range(SEARCH_DAYS):
        if schedule.matches_day(day):
            first_day = day == start.date()
            for hour in schedule.hours:
                if first_day and hour < start.hour:
                    continue
                for minute in schedule.minutes:
                    if first_day and hour == start.hour and minute < start.minute:
                        continue
                    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
        day += dt.timedelta(days=1)
    return None


def _field(*, expr: str, text: str, spec: tuple[str, int, int, tuple[str, ...]]) -> set[int]:
    """The set of values one comma-separated field allows."""
    name, low, high, names = spec
    allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
    values: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(
                    f'cron "{expr}": {name} step "{step_text}" is not a number >= 1; '
                    "expected e.g. */15"
                )
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first = _number(expr=expr, name=name, text=a, low=low, high=high, names=names)
            last = _number(expr=expr, name=name, text=b, low=low, high=high, names=names)
            if first > last:
                raise ValueError(
                    f'cron "{expr}": {name} range "{body}" runs backwards; expected low-high'
                )
        else:
            first = _number(expr=expr, name=name, text=body, low=low, high=high, names=names)
            # "5/10" means from 5 to the end in steps of 10; a bare "5" is just 5.
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if not values:
        raise ValueError(f'cron "{expr}": {name} is empty; expected {allowed}')
    return values


def _number(*, expr: str, name: str, text: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text in names:
        return names.index(text) + (1 if name == "month" else 0)
    allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
    if not text.isdigit():
        raise ValueError(f'cron "{expr}": {name} "{text}" is not a number; expected {allowed}')
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f'cron "{expr}": {name} {value} is out of range; expected {allowed}')
    return value
