"""The contract between the HTTP server and the controller core.

The server (``syncer.server.http``) parses and authenticates requests, then calls one
method of a ``ControllerPort``; the controller (scheduling, state, rollout) implements
it. Webhooks only call ``trigger_*``: they move the matching poll jobs to "now" and
never reconcile on the request thread.

Return values are plain JSON-serialisable data (dicts, lists, str, int, float, bool,
None), so the server can answer them as they are.

Unknown apps: the server asks ``app_status(name)`` first and answers 404 when it is
None, so the per-app methods are only called with names of configured apps.

Errors: methods raise ``syncer.errors`` exceptions, which the server maps to HTTP:
``PermanentError`` → 409 (nothing to roll back to, no pending approval for that stage,
unknown release), ``TemporaryError`` → 503 with ``Retry-After``, any other
``SyncerError`` → 500. Their message is shown to the client, so it must not contain
credentials. Anything else is a bug: logged with its traceback, answered 500.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ControllerPort(Protocol):
    """What the HTTP server needs from the controller."""

    def trigger_git(self, url: str, ref: str | None) -> list[str]:
        """Poll every source whose repository is ``url`` now.

        ``url`` is as the webhook sent it (https clone URL, ssh URL or web URL); the
        controller compares it normalised (scheme, ``.git`` suffix, trailing slash,
        case of host). ``ref`` is the pushed ref (``refs/heads/main``,
        ``refs/tags/v1.2.0``) or None when unknown; sources that follow another
        branch may be skipped. Returns the names of the sources scheduled now (empty
        when nothing watches that repository).
        """
        ...

    def trigger_image(self, repository: str, tag: str | None, digest: str | None) -> list[str]:
        """Poll every app image on ``repository`` (``host[:port]/path``) now.

        ``tag``/``digest`` are what the event named, if anything. Returns the names of
        the apps whose image polls were scheduled now.
        """
        ...

    def apps_status(self) -> list[dict[str, Any]]:
        """One summary dict per configured app (name, current release, health, ...)."""
        ...

    def tenants(self) -> list[dict[str, Any]]:
        """Each tenant with an appsFrom: the commit read, its apps, why a newer set does
        not run."""
        ...

    def app_status(self, name: str) -> dict[str, Any] | None:
        """The detailed status of one app, or None when no app has that name."""
        ...

    def history(self, app: str, limit: int) -> list[dict[str, Any]]:
        """The app's most recent history entries, newest first, at most ``limit``."""
        ...

    def releases(self, app: str) -> list[dict[str, Any]]:
        """The app's releases, newest first, with per-cluster outcome."""
        ...

    def plan(self, app: str) -> dict[str, Any]:
        """What a sync of ``app`` now would change (``syncer.reconcile.plan``): fresh
        polls and a server-side dry run per cluster; writes nothing."""
        ...

    # The actions: ``by`` is who asked (a user name), recorded in history.
    def sync_now(self, app: str, *, by: str) -> dict[str, Any]:
        """Schedule a full reconcile of ``app`` now; returns what was scheduled."""
        ...

    def rollback(
        self, app: str, to: str | None, stage: str | None = None, *, by: str
    ) -> dict[str, Any]:
        """Roll ``app`` (or only its pipeline ``stage``) back to release ``to`` (an id or
        unique prefix), or to the last healthy release before the current one when None,
        and pin it there until ``resume``."""
        ...

    def suspend(self, app: str, stage: str | None, *, by: str) -> dict[str, Any]:
        """Apply nothing more to ``app`` (or its pipeline ``stage``) until ``resume``; it
        is still polled. Recorded in history."""
        ...

    def resume(self, app: str, stage: str | None, *, by: str) -> dict[str, Any]:
        """Lift the pins and suspensions of ``stage`` (None: all of the app's)."""
        ...

    def approve(self, app: str, stage: str, *, by: str) -> dict[str, Any]:
        """Record a manual approval of the pending promotion of ``app`` into ``stage``."""
        ...

    def reject(self, app: str, stage: str, *, by: str) -> dict[str, Any]:
        """Refuse the pending promotion of ``app`` into ``stage``: its release is rolled
        out nowhere more (what runs stays) until a newer release comes."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Whether the controller can do its work (state open, config loaded, leading or
        standing by), and a one-line reason either way for ``/readyz``."""
        ...
