"""The OpenAPI 3 document of the JSON API, served at ``GET /api/v1/openapi.json``.

``syncer.server.api`` passes its ``ROUTES`` to ``document``: paths, methods, who may call
them and the request and answer schemas all come from there and from ``SCHEMAS`` below,
so the document cannot list a route the API lacks. A test checks the other direction
(every route answers, and its answers validate against these schemas).
"""

from __future__ import annotations

from typing import Any, Protocol

from syncer import __version__
from syncer.server import users


class RouteLike(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def answer(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> str: ...


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object schema: ``required`` keys must be present; others may be added later."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
STRS = _list(STR)
ANY_OBJECT = {"type": "object"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _obj({"error": STR}),
    "OpenApi": _obj({"openapi": STR, "paths": ANY_OBJECT}),
    "ClusterEntry": _obj(
        {
            "cluster": STR,
            "release": STR,
            "healthy": BOOL,
            "health": STR,
            "commit": STR,
            "images": STRS,
            "lastAppliedAt": TIME_OR_NULL,
        },
        {"error": STR, "errorSince": TIME, "lastHealthyRelease": STR},
    ),
    "AppError": _obj({"cluster": STR, "stage": STR, "message": STR, "since": TIME}),
    "Gate": _obj(
        {"gate": STR, "state": {"enum": ["passed", "waiting", "blocked"]}, "message": STR},
        {"until": {"type": ["string", "null"]}},
    ),
    "Stage": _obj(
        {
            "name": STR,
            "phase": STR,
            "message": STR,
            "clusters": _list(ANY_OBJECT),
            "gates": _list(_ref("Gate")),
        },
    ),
    "Hold": _obj(
        {
            "stage": STR,
            "kind": {"enum": ["suspend", "pin"]},
            "release": STR,
            "by": STR,
            "at": TIME,
            "message": STR,
        },
        {"app": STR, "reason": STR},
    ),
    "AppSummary": _obj(
        {
            "name": STR,
            "status": STR,
            "sync": {"enum": ["Synced", "OutOfSync", "Unknown"]},
            "release": STR,
            "releases": STRS,
            "healthy": BOOL,
            "clusters": _list(_ref("ClusterEntry")),
            "lastAttemptAt": TIME_OR_NULL,
            "lastSuccessAt": TIME_OR_NULL,
            "message": STR,
            "errors": _list(_ref("AppError")),
            "waiting": STRS,
            "stages": _list(_ref("Stage")),
            "warnings": STRS,
            "holds": _list(_ref("Hold")),
        },
        {
            "tenant": STR,
            "origin": {
                "type": "string",
                "description": "SOURCE:PATH of the tenant's file defining it (appsFrom);"
                " absent for the config file's own apps",
            },
            # With shards: the replica holding the app's shard, and the shard.
            "owner": STR,
            "shard": {"type": "integer"},
        },
    ),
    "Me": _obj(
        {
            "name": STR,
            "role": {"enum": list(users.GRANTS)},
            "stages": STRS,
            "may": STRS,
        }
    ),
    "AppList": _obj({"apps": _list(_ref("AppSummary"))}),
    "Tenant": _obj(
        {
            "name": STR,
            "appsFrom": _obj({"source": STR, "path": STR}),
            "commit": {
                "type": "string",
                "description": "The commit last read; empty when the source could not be read",
            },
            "loadedCommit": {
                "type": "string",
                "description": "The commit the running apps"
                " come from; empty when none was ever valid",
            },
            "apps": _list(_obj({"name": STR, "origin": STR})),
            "ok": BOOL,
            "errors": {
                **STRS,
                "description": "Why the commit read does not run (FILE:LINE:"
                " field: ...); its last good apps do",
            },
            "refused": {**STRS, "description": "Apps left out: their name is taken"},
            "checkedAt": TIME_OR_NULL,
            "loadedAt": TIME_OR_NULL,
        }
    ),
    "TenantList": _obj({"tenants": _list(_ref("Tenant"))}),
    "Approval": _obj(
        {
            "stage": STR,
            "release": STR,
            "state": {"type": "string", "enum": ["pending", "approved", "rejected"]},
            "requestedAt": TIME,
            "approvedAt": TIME_OR_NULL,
            "approvedBy": {"type": ["string", "null"]},
        },
        {"app": STR},
    ),
    "AppStatus": {
        "allOf": [
            _ref("AppSummary"),
            _obj(
                {
                    "desiredRelease": STR,
                    "rollouts": _list(ANY_OBJECT),
                    "approvals": _list(_ref("Approval")),
                    "rejected": {"type": "object", "additionalProperties": STR},
                    "pipelineStages": STRS,
                    "queue": ANY_OBJECT,
                },
            ),
        ]
    },
    "Event": _obj(
        {
            "id": INT,
            "app": STR,
            "at": TIME,
            "kind": STR,
            "release": STR,
            "cluster": STR,
            "message": STR,
            "data": ANY_OBJECT,
        },
    ),
    "History": _obj({"app": STR, "history": _list(_ref("Event"))}),
    "Release": _obj(
        {
            "id": STR,
            "app": STR,
            "commit": STR,
            "images": _list(ANY_OBJECT),
            "createdAt": TIME,
            "targets": _list(ANY_OBJECT),
        },
    ),
    "Releases": _obj({"app": STR, "releases": _list(_ref("Release"))}),
    "Plan": _obj(
        {
            "app": STR,
            "commit": STR,
            "release": STR,
            "images": _list(ANY_OBJECT),
            "clusters": _list(ANY_OBJECT),
            "error": STR,
            "ok": BOOL,
            "changes": BOOL,
        },
        {"tree": STR, "notes": STRS},
    ),
    "SyncAnswer": _obj({"app": STR, "scheduled": BOOL}),
    "RollbackAnswer": _obj({"app": STR, "to": STR, "stage": STR, "scheduled": BOOL}),
    "ResumeAnswer": _obj({"app": STR, "stage": STR, "resumed": _list(_ref("Hold"))}),
    "Rejection": _obj(
        {"app": STR, "stage": STR, "release": STR, "requestedAt": TIME, "rejectedBy": STR}
    ),
    "StageBody": _obj({}, {"stage": STR}),
    "RequiredStageBody": _obj({"stage": STR}),
    "RollbackBody": _obj({}, {"stage": STR, "to": STR}),
}


def who_may(action: str) -> str:
    """Who may call a route, by its action (``syncer.server.users.GRANTS`` in words)."""
    if action == "public":
        return "anyone, no token"
    roles = " or ".join(role for role, grants in users.GRANTS.items() if action in grants)
    if action == users.READ:
        return f"{roles} (anyone, with server.anonymousReads)"
    return f"{roles} (approvers: of that stage)" if action in users.STAGED else roles


ERRORS = {
    "400": "bad request (the message says which field)",
    "401": "no token, or a token of nobody",
    "403": "the user's role does not allow it",
    "404": "no such app or path",
    "409": "not possible now (nothing waits for approval, no release to roll back to)",
    "503": "not ready yet, or busy; retry after Retry-After seconds",
}


def document(routes: tuple[RouteLike, ...]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "description": f"Who may call it: {who_may(r.action)}.",
            "responses": {
                str(r.status): {
                    "description": "done",
                    "content": {"application/json": {"schema": _ref(r.answer)}},
                },
                **{
                    code: {
                        "description": text,
                        "content": {"application/json": {"schema": _ref("Error")}},
                    }
                    for code, text in ERRORS.items()
                    if r.action != "public"
                },
            },
        }
        if r.action == "public":
            op["security"] = []
        if "{app}" in r.path:
            op["parameters"] = [{"name": "app", "in": "path", "required": True, "schema": STR}]
        if r.path.endswith("/history"):
            op.setdefault("parameters", []).append(
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                }
            )
        if r.body:
            op["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": _ref(r.body)}},
            }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "syncer API", "version": __version__},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": paths,
    }
