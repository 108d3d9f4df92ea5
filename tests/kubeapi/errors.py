"""Kubernetes ``Status`` errors: every failing request in server.py answers one of these.

Operations (objects.py, apply.py, patch.py, auth.py) raise ``ApiError``; server.py turns
it into a JSON ``Status`` body with the same code, reason, message and details.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API call, rendered as a metav1.Status."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(kind: str, name: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def _what(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{_what(plural, group)} "{name}" not found',
        details=_details(plural, name, group),
    )


def already_exists(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_what(plural, group)} "{name}" already exists',
        details=_details(plural, name, group),
    )


def conflict(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_what(plural, group)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        details=_details(plural, name, group),
    )


def invalid(*, kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """causes: (reason e.g. FieldValueRequired, field path, message)."""
    text = "; ".join(f"{field}: {msg}" for _, field, msg in causes)
    details = _details(kind, name, group)
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return ApiError(
        422,
        "Invalid",
        f'{kind}{"." + group if group else ""} "{name}" is invalid: {text}',
        details=details,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)
