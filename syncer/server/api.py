"""The JSON API: read app status, releases and history; ask for a sync, rollback or approval.

``syncer.server.http`` routes ``/api/v1/...`` here after it has checked the bearer token
of POSTs; every function answers ``(status, body)`` from one call on the controller's
``ControllerPort``. GETs are read-only and need no token; POSTs change what runs in
clusters and are refused unless ``server.apiToken`` is configured and presented.

    GET  /api/v1/apps                        {"apps": [...]}
    GET  /api/v1/apps/{name}                 the app's status
    GET  /api/v1/apps/{name}/history?limit=N {"app": name, "history": [...]}
    GET  /api/v1/apps/{name}/releases        {"app": name, "releases": [...]}
    POST /api/v1/apps/{name}/sync            what was scheduled
    POST /api/v1/apps/{name}/rollback        body {"to": RELEASE, "stage": STAGE} (optional)
    POST /api/v1/apps/{name}/suspend         body {"stage": STAGE} (optional)
    POST /api/v1/apps/{name}/resume          body {"stage": STAGE} (optional)
    POST /api/v1/apps/{name}/approve         body {"stage": STAGE}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncer.server import port as port_

DEFAULT_HISTORY = 50
"""Entries ``/history`` returns without ``?limit=`` (a screenful of recent events)."""
MAX_HISTORY = 1000
"""The highest ``limit`` accepted: bounds the response size."""

Answer = tuple[int, Any]


def error(status: int, message: str) -> Answer:
    return status, {"error": message}


def get(*, port: port_.ControllerPort, parts: list[str], query: Mapping[str, str]) -> Answer:
    """``parts``: the path after ``/api/v1/``, split on ``/``."""
    if parts == ["apps"]:
        return 200, {"apps": port.apps_status()}
    if len(parts) < 2 or parts[0] != "apps" or len(parts) > 3:
        return error(404, "no such API path")
    name = parts[1]
    status = port.app_status(name)
    if status is None:
        return error(404, f"no app named {name!r}")
    if len(parts) == 2:
        return 200, status
    if parts[2] == "history":
        raw = query.get("limit", str(DEFAULT_HISTORY))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_HISTORY:
            return error(400, f"limit must be a whole number from 1 to {MAX_HISTORY}")
        return 200, {"app": name, "history": port.history(name, int(raw))}
    if parts[2] == "releases":
        return 200, {"app": name, "releases": port.releases(name)}
    return error(404, "no such API path")


def post(*, port: port_.ControllerPort, parts: list[str], body: Mapping[str, Any]) -> Answer:
    """The caller has authenticated the request already."""
    if len(parts) != 3 or parts[0] != "apps":
        return error(404, "no such API path")
    name, action = parts[1], parts[2]
    if action not in ("sync", "rollback", "approve", "suspend", "resume"):
        return error(404, "no such API path")
    status = port.app_status(name)
    if status is None:
        return error(404, f"no app named {name!r}")
    if action == "sync":
        return 202, port.sync_now(name)
    stage = body.get("stage")
    if action == "approve" and not stage:
        return error(400, "'stage' is required: the name of the stage to approve")
    if stage is not None:
        problem = _stage_problem(name, stage, stages=status.get("pipelineStages", []))
        if problem:
            return error(400, problem)
    if action == "rollback":
        to = body.get("to")
        if to is not None and (not isinstance(to, str) or not to):
            return error(400, "'to' must be a release id (a non-empty string) or absent")
        if stage is None:
            return 202, port.rollback(name, to)
        return 202, port.rollback(name, to, stage)
    if action == "suspend":
        return 200, port.suspend(name, stage)
    if action == "resume":
        return 200, port.resume(name, stage)
    return 200, port.approve(name, str(stage))


def _stage_problem(name: str, stage: Any, *, stages: list[str]) -> str:
    """Why ``stage`` is not a stage of the app's pipeline; empty when it is."""
    if not isinstance(stage, str) or not stage:
        return "'stage' must be the name of a stage of the app's pipeline"
    if stage not in stages:
        if not stages:
            return f"app {name!r} has no pipeline, so no stage {stage!r}"
        known = ", ".join(stages)
        return f"no stage {stage!r} in the pipeline of {name!r} (stages: {known})"
    return ""
