"""Time windows: is a stage's window open now, and when does it next open?

``syncer.rollout.gates`` asks ``evaluate`` for a stage with a ``window``; it uses
``syncer.config.cron`` for fire times. A window is open at ``now`` when
``fire <= now < fire + duration`` for some fire time of its cron expression (UTC).
Pure: ``now`` is always given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from syncer.config import cron, model

MINUTE = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class WindowState:
    """Where ``now`` falls relative to a window."""

    open: bool
    opened_at: dt.datetime | None = None
    """When open: the fire time that opened it."""
    closes_at: dt.datetime | None = None
    """When open: when that opening ends (a later opening may extend it)."""
    next_open: dt.datetime | None = None
    """When closed: the next fire time; None if the expression never fires again."""


@functools.lru_cache(maxsize=256)
def schedule(expr: str) -> cron.Schedule:
    """The parsed expression, cached: every reconcile re-evaluates the same windows."""
    return cron.parse(expr)


def evaluate(*, window: model.TimeWindow, now: dt.datetime) -> WindowState:
    """Whether ``window`` is open at ``now``; raises ``ValueError`` for a bad cron."""
    sched = schedule(window.cron)
    length = dt.timedelta(seconds=window.duration)
    now = now.astimezone(dt.UTC)
    # The only fire times that can cover `now` are in (now - duration, now].
    fire = cron.next_fire(sched, at_or_after=now - length)
    while fire is not None and fire + length <= now:
        fire = cron.next_fire(sched, at_or_after=fire + MINUTE)
    if fire is not None and fire <= now:
        return WindowState(open=True, opened_at=fire, closes_at=fire + length)
    return WindowState(open=False, next_open=fire)
