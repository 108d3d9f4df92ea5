"""Every exception the ``registry`` package raises on purpose; nothing else escapes it.

    RegistryError                      base; ``permanent`` says whether retrying can help
    ├── InvalidReferenceError          (also ValueError) an image reference is malformed
    ├── InvalidPolicyError             (also ValueError) a policy/filter is malformed
    ├── AuthError                      credentials missing, rejected, or token refused
    ├── NotFoundError                  repository (NAME_UNKNOWN) or tag (MANIFEST_UNKNOWN)
    ├── NoCandidateError               the repository has no tag the policy accepts
    ├── RateLimitedError               HTTP 429 beyond what we are willing to wait
    ├── UnreachableError               connection refused, timeouts, TLS failures, 5xx
    └── ResponseError                  the registry answered something we cannot use

Errors raised while talking to a registry wrap the transport's exception (``raise …
from err``) and never carry credentials or whole response bodies.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of the package's errors."""

    permanent = False
    """True when retrying cannot help until the input (config, policy) changes."""


class InvalidReferenceError(RegistryError, ValueError):
    """An image reference or repository name is not valid."""

    permanent = True


class InvalidPolicyError(RegistryError, ValueError):
    """A tag policy, range, filter or extract template is not valid."""

    permanent = True


class AuthError(RegistryError):
    """The registry or its token server refused us (missing or rejected credentials)."""


class NotFoundError(RegistryError):
    """The repository or the manifest does not exist (or we may not see it)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code
        """The registry's error code: NAME_UNKNOWN, MANIFEST_UNKNOWN, or ""."""


class NoCandidateError(RegistryError):
    """The policy accepts none of the repository's tags; the message says why."""


class RateLimitedError(RegistryError):
    """The registry asked us to slow down for longer than we wait inline."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnreachableError(RegistryError):
    """The registry could not be reached or kept failing (network, TLS, 5xx)."""


class ResponseError(RegistryError):
    """The registry answered with something unexpected (bad JSON, unknown status)."""
