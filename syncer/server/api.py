"""The JSON API: read app status, releases, history and plans; ask for a sync, rollback,
suspension or approval.

``syncer.server.http`` routes ``/api/v1/...`` here: ``authorize`` first (from the
``Authorization`` header alone, before any body is read) names the caller
(``syncer.server.users``) and checks that their role allows the route, then ``get`` or
``post`` answers ``(status, body)`` from one call on the controller's
``ControllerPort``, with the caller's name recorded in history. The CLI reads and acts
through these same functions on a local controller (``syncer.commands.backend``), so
its JSON is the API's. Times are ISO-8601 UTC strings (``iso_times``).

Every route is in ``ROUTES``; ``GET /api/v1/openapi.json`` serves the OpenAPI document
built from it (``syncer.server.openapi``), needing no token.

    GET  /api/v1/me                          the caller: name, role, stages, what they may do
    GET  /api/v1/apps                        {"apps": [...]}                 viewer
    GET  /api/v1/apps/{app}                  the app's status                viewer
    GET  /api/v1/apps/{app}/history?limit=N  {"app": name, "history": [...]} viewer
    GET  /api/v1/apps/{app}/releases         {"app": name, "releases": [...]} viewer
    GET  /api/v1/apps/{app}/plan             what a sync would change        viewer
    GET  /api/v1/tenants                     {"tenants": [...]}: appsFrom    viewer
    POST /api/v1/apps/{app}/sync             what was scheduled              deployer
    POST /api/v1/apps/{app}/rollback         body {"to": RELEASE, "stage": STAGE} (optional)
    POST /api/v1/apps/{app}/suspend          body {"stage": STAGE} (optional) deployer
    POST /api/v1/apps/{app}/resume           body {"stage": STAGE} (optional) deployer
    POST /api/v1/apps/{app}/approve          body {"stage": STAGE}           approver
    POST /api/v1/apps/{app}/reject           body {"stage": STAGE}           approver
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from syncer.server import openapi, signatures, users
from syncer.server import port as port_

DEFAULT_HISTORY = 50
"""Entries ``/history`` returns without ``?limit=`` (a screenful of recent events)."""
MAX_HISTORY = 1000
"""The highest ``limit`` accepted: bounds the response size."""

Answer = tuple[int, Any]


@dataclasses.dataclass(frozen=True)
class Route:
    """One endpoint: what it needs (``action``, checked against roles) and answers."""

    method: str
    path: str
    """Under ``/api/v1``, with ``{app}`` for the app's name."""
    action: str
    """``read``, a POST's own name (``sync``, ``approve``, ...), or ``public``."""
    summary: str
    answer: str
    """The schema of a successful answer (``openapi.SCHEMAS``)."""
    status: int = 200
    body: str = ""
    """The schema of the request body, if it takes one."""

    def match(self, method: str, parts: list[str]) -> bool:
        pattern = self.path.strip("/").split("/")
        return (
            method == self.method
            and len(pattern) == len(parts)
            and all(
                p.startswith("{") or p == given for p, given in zip(pattern, parts, strict=True)
            )
        )


PUBLIC = "public"
ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", PUBLIC, "This OpenAPI document", "OpenApi"),
    Route("GET", "/me", users.READ, "Who the token belongs to and what they may do", "Me"),
    Route("GET", "/apps", users.READ, "Every app's status in short", "AppList"),
    Route("GET", "/apps/{app}", users.READ, "One app's status in full", "AppStatus"),
    Route("GET", "/apps/{app}/history", users.READ, "The app's history, newest first", "History"),
    Route(
        "GET", "/apps/{app}/releases", users.READ, "The app's releases, newest first", "Releases"
    ),
    Route(
        "GET",
        "/apps/{app}/plan",
        users.READ,
        "What a sync now would change (fresh polls and a server-side dry run)",
        "Plan",
    ),
    Route(
        "GET",
        "/tenants",
        users.READ,
        "Each tenant's appsFrom: the commit read, the apps it runs, and why a newer set does not",
        "TenantList",
    ),
    Route("POST", "/apps/{app}/sync", "sync", "Reconcile the app now", "SyncAnswer", 202),
    Route(
        "POST",
        "/apps/{app}/rollback",
        "rollback",
        "Roll the app (or a stage) back and pin it there until resume",
        "RollbackAnswer",
        202,
        "RollbackBody",
    ),
    Route(
        "POST",
        "/apps/{app}/suspend",
        "suspend",
        "Apply nothing more to the app or a stage",
        "Hold",
        200,
        "StageBody",
    ),
    Route(
        "POST",
        "/apps/{app}/resume",
        "resume",
        "Lift the app's or a stage's holds",
        "ResumeAnswer",
        200,
        "StageBody",
    ),
    Route(
        "POST",
        "/apps/{app}/approve",
        "approve",
        "Approve the promotion waiting for approval into a stage",
        "Approval",
        200,
        "RequiredStageBody",
    ),
    Route(
        "POST",
        "/apps/{app}/reject",
        "reject",
        "Reject the release waiting for approval into a stage: it goes no further",
        "Rejection",
        200,
        "RequiredStageBody",
    ),
)


def route(method: str, parts: list[str]) -> Route | None:
    return next((r for r in ROUTES if r.match(method, parts)), None)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a request may not go on: answered as it is, before its body is read."""

    status: int
    body: dict[str, str]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="syncer"'}


def authorize(
    *, directory: users.Directory, method: str, parts: list[str], authorization: str | None
) -> users.User | Refusal:
    """The caller of ``method parts``, or why they may not call it: 401 without a known
    token, 403 when their role does not allow the route."""
    found = route(method, parts)
    if found is not None and found.action == PUBLIC:
        return users.ANONYMOUS
    # An unknown path needs a token as much as a known one: no probing what exists.
    action = found.action if found is not None else users.READ
    token = signatures.bearer(authorization)
    if token is None:
        if action == users.READ and directory.settings.anonymous_reads:
            return users.ANONYMOUS
        if not directory.configured:
            return Refusal(
                403,
                {
                    "error": "the API is disabled: no users are configured "
                    "(server.users or server.tokenFile)"
                },
            )
        return Refusal(
            401, {"error": "send Authorization: Bearer <token> (see server.users)"}, CHALLENGE
        )
    user = directory.identify(token)
    if user is None:
        return Refusal(401, {"error": "unknown or expired token"}, CHALLENGE)
    if not user.may(action):
        return Refusal(403, {"error": f"user {user.name!r} ({user.role}) may not {action}"})
    return user


def error(status: int, message: str) -> Answer:
    return status, {"error": message}


def get(
    *,
    port: port_.ControllerPort,
    parts: list[str],
    query: Mapping[str, str],
    user: users.User = users.ANONYMOUS,
) -> Answer:
    """``parts``: the path after ``/api/v1/``, split on ``/``; ``user`` may read."""
    if parts == ["me"]:
        return 200, me(user)
    status, body = _get(port=port, parts=parts, query=query)
    return status, iso_times(body)


def me(user: users.User) -> dict[str, Any]:
    """Who the caller is and the actions their role allows (what the web UI enables);
    ``stages``: where an approver may approve or reject (empty: everywhere)."""
    actions = sorted({r.action for r in ROUTES} - {PUBLIC, users.READ})
    return {
        "name": user.name,
        "role": user.role,
        "stages": sorted(user.stages),
        "may": [a for a in actions if user.may(a)],
    }


def _get(*, port: port_.ControllerPort, parts: list[str], query: Mapping[str, str]) -> Answer:
    if parts == ["openapi.json"]:
        return 200, openapi.document(ROUTES)
    if parts == ["apps"]:
        return 200, {"apps": port.apps_status()}
    if parts == ["tenants"]:
        return 200, {"tenants": port.tenants()}
    if route("GET", parts) is None:
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
    return 200, port.plan(name)


def post(
    *,
    port: port_.ControllerPort,
    parts: list[str],
    body: Mapping[str, Any],
    user: users.User,
) -> Answer:
    """``user`` may call the route already (``authorize``); stage limits are checked here,
    where the body is known."""
    status, answer = _post(port=port, parts=parts, body=body, user=user)
    return status, iso_times(answer)


def _post(
    *, port: port_.ControllerPort, parts: list[str], body: Mapping[str, Any], user: users.User
) -> Answer:
    found = route("POST", parts)
    if found is None:
        return error(404, "no such API path")
    name, action, by = parts[1], found.action, user.name
    status = port.app_status(name)
    if status is None:
        return error(404, f"no app named {name!r}")
    if action == "sync":
        return 202, port.sync_now(name, by=by)
    stage = body.get("stage")
    if action in users.STAGED and not stage:
        return error(400, f"'stage' is required: the name of the stage to {action}")
    if stage is not None:
        problem = _stage_problem(name, stage, stages=status.get("pipelineStages", []))
        if problem:
            return error(400, problem)
        if not user.may_stage(action, stage):
            allowed = ", ".join(sorted(user.stages))
            return error(403, f"user {by!r} may {action} only in stages: {allowed}")
    if action == "rollback":
        to = body.get("to")
        if to is not None and (not isinstance(to, str) or not to):
            return error(400, "'to' must be a release id (a non-empty string) or absent")
        return 202, port.rollback(name, to, stage, by=by)
    if action == "suspend":
        return 200, port.suspend(name, stage, by=by)
    if action == "resume":
        return 200, port.resume(name, stage, by=by)
    if action == "reject":
        return 200, port.reject(name, str(stage), by=by)
    return 200, port.approve(name, str(stage), by=by)


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


TIME_KEYS = frozenset({"at", "since"})


def iso_times(data: Any) -> Any:
    """``data`` with its timestamps (``*At``, ``at``, ``since``) as ISO-8601 UTC strings."""
    if isinstance(data, list):
        return [iso_times(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        timed = key in TIME_KEYS or (key.endswith("At") and key[:1].islower())
        if timed and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = iso(value)
        else:
            out[key] = iso_times(value)
    return out


def iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, tz=dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )
