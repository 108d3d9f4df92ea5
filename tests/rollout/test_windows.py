"""A window is open during [fire, fire + duration) and says when it next opens."""

from __future__ import annotations

import datetime as dt

import pytest

from syncer import rollout
from tests.rollout import builders


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("cron", "hours", "now", "is_open", "boundary"),
    [
        # boundary: closes_at when open, next_open when closed
        ("0 9 * * mon-fri", 1, "2026-11-23T09:00", True, "2026-11-23T10:00"),
        ("0 9 * * mon-fri", 1, "2026-11-23T09:59:59", True, "2026-11-23T10:00"),
        ("0 9 * * mon-fri", 1, "2026-11-23T10:00", False, "2026-11-24T09:00"),
        ("0 9 * * mon-fri", 1, "2026-11-23T08:59:59", False, "2026-11-23T09:00"),
        ("0 9 * * mon-fri", 1, "2026-11-28T09:30", False, "2026-11-30T09:00"),  # Saturday
        # Across midnight: Sunday 22:00 for 4 hours is still open Monday 01:00.
        ("0 22 * * sun", 4, "2026-11-23T01:00", True, "2026-11-23T02:00"),
        ("0 22 * * sun", 4, "2026-11-23T02:00", False, "2026-11-29T22:00"),
        # Hourly openings of 1h: always open.
        ("0 9-16 * * mon-fri", 1, "2026-11-23T12:34", True, "2026-11-23T13:00"),
        ("0 9-16 * * mon-fri", 1, "2026-11-23T17:00", False, "2026-11-24T09:00"),
        # A short window inside each hour.
        ("*/30 * * * *", 0.25, "2026-11-23T10:20", False, "2026-11-23T10:30"),
        ("*/30 * * * *", 0.25, "2026-11-23T10:44", True, "2026-11-23T10:45"),
        # A window longer than a day.
        ("0 0 * * sat", 48, "2026-11-29T23:59", True, "2026-11-30T00:00"),
    ],
)
def test_window_state(cron: str, hours: float, now: str, is_open: bool, boundary: str) -> None:
    state = rollout.window_state(window=builders.window(cron, hours), now=at(now))
    assert state.open is is_open
    if is_open:
        assert state.closes_at == at(boundary)
        assert state.opened_at is not None and state.opened_at <= at(now)
    else:
        assert state.next_open == at(boundary)


def test_bad_cron_raises_value_error() -> None:
    with pytest.raises(ValueError, match="hour 25"):
        rollout.window_state(window=builders.window("0 25 * * *"), now=builders.NOW)
