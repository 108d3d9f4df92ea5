"""Errors of the source layer (Git repositories, Helm charts), classified by what comes next.

Raised by ``syncer.source.gitcli`` (one git call failed) and ``syncer.source.sources``
(a ref is gone, credentials are refused); the reconcile loop marks the app stalled on a
``PermanentError`` and retries the others later. The last good snapshot of a source stays
usable whatever is raised here.
"""

from __future__ import annotations

from syncer import errors


class SourceError(errors.SyncerError):
    """A Git operation failed for a reason not known to be permanent or temporary."""


class GitUnavailableError(errors.TemporaryError):
    """The server could not be reached, or a git call ran past its timeout."""


class GitAuthError(errors.PermanentError):
    """The server refused the credentials (or asked for some and none were given)."""


class RefNotFoundError(errors.PermanentError):
    """The branch, tag, semver range or commit the source names does not exist (any more)."""


class GitBinaryMissingError(errors.PermanentError):
    """The ``git`` binary is not installed."""


class ChartUnavailableError(errors.TemporaryError):
    """A chart repository or registry could not be reached, or ran past its timeout."""


class ChartAuthError(errors.PermanentError):
    """A chart repository refused the credentials (or asked for some)."""


class ChartInvalidError(errors.PermanentError):
    """A chart repository sent something unusable: a malformed or oversized index or
    archive, an archive that escapes its directory, a digest that does not match."""


class PushRejectedError(SourceError):
    """The server refused a push because the branch moved meanwhile (someone else pushed):
    fetch, apply the change again on the new head, and push again."""
