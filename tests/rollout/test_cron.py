"""Cron expressions fire when Vixie cron would, and bad ones are named precisely."""

from __future__ import annotations

import datetime as dt

import pytest

from syncer.config import cron


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        # 2026-11-23 is a Monday.
        ("0 9-16 * * mon-fri", "2026-11-23T08:59", "2026-11-23T09:00"),
        ("0 9-16 * * mon-fri", "2026-11-23T09:00", "2026-11-23T09:00"),  # inclusive
        ("0 9-16 * * mon-fri", "2026-11-23T09:00:01", "2026-11-23T10:00"),  # rounds up
        ("0 9-16 * * mon-fri", "2026-11-23T16:01", "2026-11-24T09:00"),
        ("0 9-16 * * mon-fri", "2026-11-27T17:00", "2026-11-30T09:00"),  # Fri → Mon
        ("*/15 * * * *", "2026-11-23T10:16", "2026-11-23T10:30"),
        ("5/20 * * * *", "2026-11-23T10:26", "2026-11-23T10:45"),
        ("0 22 * * 0", "2026-11-23T00:00", "2026-11-29T22:00"),  # 0 is Sunday
        ("0 22 * * 7", "2026-11-23T00:00", "2026-11-29T22:00"),  # so is 7
        ("0 0 1 * *", "2026-11-23T00:00", "2026-12-01T00:00"),
        ("30 2 * jan,jul *", "2026-11-23T00:00", "2027-01-01T02:30"),
        ("0 0 29 2 *", "2026-11-23T00:00", "2028-02-29T00:00"),  # next leap day
        # Both day fields restricted: either matches (the 1st, or any Friday).
        ("0 12 1 * fri", "2026-11-23T00:00", "2026-11-27T12:00"),
        ("0 12 1 * fri", "2026-11-28T00:00", "2026-12-01T12:00"),
        # Day-of-month written with a star: only day-of-week decides.
        ("0 12 */1 * fri", "2026-11-28T00:00", "2026-12-04T12:00"),
    ],
)
def test_next_fire(expr: str, start: str, expected: str) -> None:
    schedule = cron.parse(expr)
    assert cron.next_fire(schedule, at_or_after=at(start)) == at(expected)


def test_next_fire_converts_other_timezones_to_utc() -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    start = dt.datetime(2026, 11, 23, 9, 30, tzinfo=cet)  # 08:30 UTC
    got = cron.next_fire(cron.parse("0 9 * * *"), at_or_after=start)
    assert got == at("2026-11-23T09:00")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 9 * *", "expected 5 fields"),
        ("0 24 * * *", "hour 24 is out of range; expected 0-23"),
        ("60 * * * *", "minute 60 is out of range; expected 0-59"),
        ("0 0 0 * *", "day-of-month 0 is out of range; expected 1-31"),
        ("0 0 * 13 *", "month 13 is out of range; expected 1-12 or jan-dec"),
        ("0 0 * * 8", "day-of-week 8 is out of range; expected 0-7 or sun-sat"),
        ("0 0 * * funday", 'day-of-week "funday" is not a number; expected 0-7 or sun-sat'),
        ("*/0 * * * *", 'minute step "0" is not a number >= 1'),
        ("0 17-9 * * *", 'hour range "17-9" runs backwards'),
        ("0 0 31 feb *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
    ],
)
def test_bad_expressions_say_which_field_and_what_is_allowed(expr: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        cron.parse(expr)
    assert message in str(caught.value)
    assert f'cron "{expr}"' in str(caught.value)


def test_day_31_with_a_weekday_is_not_rejected() -> None:
    # Restricted weekday makes it fire on Mondays too (either field matches).
    schedule = cron.parse("0 0 31 feb mon")
    assert cron.next_fire(schedule, at_or_after=at("2026-11-23T01:00")) == at("2027-02-01T00:00")


@pytest.mark.parametrize("expr", ["0 0 30 2 *", "0 0 31 feb *", "0 9 31 apr,jun *"])
def test_a_cron_that_never_fires_is_a_config_problem(expr: str) -> None:
    problem = cron.problem(expr)
    assert problem is not None and "never fires" in problem
