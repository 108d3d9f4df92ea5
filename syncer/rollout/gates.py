"""The gates between stages, one function each, every one pure.

``syncer.rollout.plan`` calls them for a stage that does not yet run the release
everywhere and combines the results: the release enters the stage only when every
gate has passed. Each returns a ``model.GateResult`` with a sentence that tells people
what is awaited and, for time gates, until when.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Collection

from syncer.config import model as config
from syncer.rollout import model, windows

SHORT = 12
"""Characters of a release id shown in messages (a unique prefix, like a short SHA)."""


def short(release: str) -> str:
    return release.removeprefix("sha256:")[:SHORT]


def prefix(stage: str) -> str:
    """``stage NAME: `` — empty for the single stage of an app without a pipeline."""
    return f"stage {stage}: " if stage else ""


def duration(seconds: float) -> str:
    """``4m12s``, ``1h``, ``2h30m``, ``0s`` — rounded up to whole seconds."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


def after(*, stage: str, upstream: model.StageStatus, release: str) -> model.GateResult:
    """The ``after`` stage must run the release, healthy, on all its clusters."""
    at = prefix(stage)
    if upstream.phase == model.DONE:
        return model.GateResult(
            model.AFTER, model.PASSED, f"{at}release healthy in {upstream.name}"
        )
    if upstream.phase == model.FAILED_PHASE:
        # Refused (gateway, conflict, bad object) is not the same as unhealthy.
        refused = any(c.release == release and c.state == model.FAILED for c in upstream.clusters)
        text = (
            f"stage {upstream.name} failed" if refused else f"release unhealthy in {upstream.name}"
        )
        return model.GateResult(model.AFTER, model.BLOCKED, f"{at}blocked: {text}")
    if upstream.phase == model.BLOCKED_PHASE:
        # Blocked upstream (its own upstream failed): this stage is blocked as well.
        return model.GateResult(
            model.AFTER, model.BLOCKED, f"{at}blocked: stage {upstream.name} is blocked"
        )
    if upstream.phase == model.EMPTY:
        return model.GateResult(
            model.AFTER, model.BLOCKED, f"{at}blocked: stage {upstream.name} has no clusters"
        )
    healthy = sum(c.current for c in upstream.clusters)
    return model.GateResult(
        model.AFTER,
        model.WAITING,
        f"{at}waiting for release {short(release)} to be healthy in {upstream.name} "
        f"({healthy}/{len(upstream.clusters)} clusters)",
    )


def soak(
    *,
    stage: str,
    upstream: model.StageStatus,
    healthy_since: dt.datetime | None,
    seconds: float,
    now: dt.datetime,
) -> model.GateResult:
    """Healthy in the ``after`` stage for ``seconds`` since its last cluster became so."""
    at = prefix(stage)
    if healthy_since is None:
        # The clock starts only once every upstream cluster is healthy.
        return model.GateResult(
            model.SOAK,
            model.WAITING,
            f"{at}soak of {duration(seconds)} in {upstream.name} starts when the release "
            "is healthy there",
        )
    ends = healthy_since + dt.timedelta(seconds=seconds)
    if now >= ends:
        return model.GateResult(
            model.SOAK, model.PASSED, f"{at}soaked {duration(seconds)} in {upstream.name}", ends
        )
    left = (ends - now).total_seconds()
    return model.GateResult(
        model.SOAK,
        model.WAITING,
        f"{at}soaking in {upstream.name}, {duration(left)} left",
        ends,
    )


def approval(
    *, app: str, stage: str, release: str, approvals: Collection[tuple[str, str]]
) -> model.GateResult:
    """A person approved this release for this stage (``POST .../approve``)."""
    at = prefix(stage)
    if (release, stage) in approvals:
        return model.GateResult(
            model.APPROVAL, model.PASSED, f"{at}release {short(release)} approved"
        )
    body = json.dumps({"stage": stage})
    return model.GateResult(
        model.APPROVAL,
        model.WAITING,
        f"{at}waiting for approval of release {short(release)} "
        f"(POST /api/v1/apps/{app}/approve {body})",
    )


def window(*, stage: str, window: config.TimeWindow, now: dt.datetime) -> model.GateResult:
    """``now`` lies inside one of the window's openings."""
    at = prefix(stage)
    state = windows.evaluate(window=window, now=now)
    if state.open:
        return model.GateResult(
            model.WINDOW,
            model.PASSED,
            f'{at}inside window "{window.cron}" (until {_when(state.closes_at)})',
            state.closes_at,
        )
    if state.next_open is None:
        return model.GateResult(
            model.WINDOW, model.BLOCKED, f'{at}outside window "{window.cron}" (it never opens)'
        )
    return model.GateResult(
        model.WINDOW,
        model.WAITING,
        f'{at}outside window "{window.cron}" (next opens {_when(state.next_open)})',
        state.next_open,
    )


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"
