"""syncer's exception tree; every layer turns its third-party errors into these.

What happens next decides the class:

- ``PermanentError``: retrying is useless (bad config, invalid policy, forbidden object).
  The app is marked stalled until its input changes.
- ``TemporaryError``: a dependency is not ready or asked us to slow down; retry after
  ``retry_after`` seconds.
- any other ``SyncerError``: retry with exponential backoff.

``Fenced`` stands apart on purpose: it is not the app's failure but this process's loss
of the right to act (its leader lease is no longer valid), so no layer may catch it as a
``SyncerError`` and record a failed target or start a rollback; it unwinds the work to
the controller, which drops it.

The original exception is always chained (``raise ... from err``).
"""

from __future__ import annotations


class SyncerError(Exception):
    """Base of every error syncer raises on purpose."""


class PermanentError(SyncerError):
    """Retrying will not help until the input (config, manifests, policy) changes."""


class TemporaryError(SyncerError):
    """Retry after a known delay."""

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigError(PermanentError):
    """The configuration is invalid; ``problems`` lists every finding, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Fenced(Exception):
    """This process may not write to clusters now: it is not the leader, or cannot be
    sure it still is (its lease was last renewed too long ago by its own clock).

    Raised before the write is sent. Deliberately not a ``SyncerError``: nothing that
    handles an app's failures may catch it (a target marked failed, a rollback started,
    an error recorded would all be acts of a replica that no longer leads)."""


class Denied(SyncerError):
    """A server does not know the token, or the user's role does not allow it."""
