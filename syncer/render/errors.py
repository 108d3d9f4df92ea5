"""Errors of rendering one app: all permanent (the repository content must change).

Raised anywhere under ``syncer.render``; the reconcile loop marks only that app (on that
cluster) failed and goes on with the others. Messages name the file, the document index
or the object, and say what to do.
"""

from __future__ import annotations

from syncer import errors


class RenderError(errors.PermanentError):
    """The app's manifests cannot be turned into objects."""


class UnsafePathError(RenderError):
    """A path or symlink points outside the snapshot."""


class LimitError(RenderError):
    """A file, the app, or a YAML document exceeds a safety limit."""


class ToolMissingError(RenderError):
    """The binary needed to render (kustomize/kubectl, helm) is not installed."""


class ToolFailedError(RenderError):
    """kustomize or helm ran and reported an error."""
