"""The errors apply raises, classified for the reconciler (see ``syncer.errors``).

``client`` turns every ``kubernetes``/``urllib3`` exception and every API ``Status``
into one of these; nothing from those libraries leaves ``syncer.apply``.
"""

from __future__ import annotations

from typing import Any

from syncer import errors


class ApplyError(Exception):
    """Mixed into every apply error: ``partial`` is the SyncResult reached before it.

    ``sync`` sets it when it stops part-way, so the caller can record the inventory of
    what was written (those objects carry the app's labels and will be pruned later).
    """

    partial: Any = None
    rolled_back: Any = None
    """``deploy`` sets it to the rollback's SyncResult when it undid a failed sync."""


class ClusterUnreachable(errors.TemporaryError, ApplyError):
    """The cluster's API did not answer (down, refused, timed out): retry later."""


class CertificateFailure(errors.TemporaryError, ApplyError):
    """The API's TLS certificate did not verify against the kubeconfig's CA, even after
    the kubeconfig was read again (a rotated CA is picked up on the next try)."""


class ApiUnavailable(errors.TemporaryError, ApplyError):
    """The API answered 429 or 5xx more times than the retry budget allows."""


class Gone(errors.TemporaryError, ApplyError):
    """410: a watch's resourceVersion is too old (compacted); list again."""


class ApiError(errors.SyncerError, ApplyError):
    """An API error with no better class (retried with backoff by the reconciler)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Unauthorized(errors.PermanentError, ApplyError):
    """401/403: the credentials are wrong or lack a permission (fix RBAC or kubeconfig)."""


class InvalidObject(errors.PermanentError, ApplyError):
    """The API rejected an object (422 Invalid, 400 BadRequest): fix the manifest."""


class UnknownKind(errors.PermanentError, ApplyError):
    """No resource on the cluster serves this apiVersion/kind (missing CRD?)."""


class NotFound(errors.PermanentError, ApplyError):
    """The object (or its namespace) does not exist."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class FieldConflict(errors.PermanentError, ApplyError):
    """Server-side apply conflict: another field manager owns fields syncer sets."""


class OwnershipConflict(errors.PermanentError, ApplyError):
    """The object belongs to another app (its ownership label names it)."""


class GatewayViolation(errors.PermanentError, ApplyError):
    """The app's objects break its gateway policy; nothing was written."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__("gateway policy violated:\n" + "\n".join(violations))
        self.violations = violations


class QuotaExceeded(GatewayViolation):
    """The rollout would not fit a namespace's ResourceQuota (gateway rule ``checkQuota``);
    nothing was written."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__(violations)
        self.args = (
            "gateway policy violated (rule checkQuota: the rollout would not fit):\n"
            + "\n".join(violations),
        )


class EmptyRender(errors.PermanentError, ApplyError):
    """The app has no objects although it owns some on the cluster: pruning all of them
    is refused (an empty render is almost always a wrong path, branch or overlay)."""


class NotEstablished(errors.TemporaryError, ApplyError):
    """An applied CRD did not become Established in time; retry later."""


class NotDeleted(errors.TemporaryError, ApplyError):
    """An object deleted to be re-created (immutable field) did not go away in time."""


class WaveUnhealthy(errors.SyncerError, ApplyError):
    """A sync wave did not become healthy within ``sync.wait``; later waves wait.

    ``report`` is its ``HealthReport``. Retried with backoff like any sync failure.
    """

    def __init__(self, message: str, *, report: Any) -> None:
        super().__init__(message)
        self.report = report
