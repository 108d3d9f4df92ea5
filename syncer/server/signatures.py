"""Checking that a webhook really comes from who holds its secret.

Called by ``syncer.server.webhooks`` before a payload is even parsed (tokens and the
form of a signature header before the body is even read). Every comparison
is constant-time (``hmac.compare_digest``) so that response timing leaks nothing about
the secret; a missing header is simply a failed check.
"""

from __future__ import annotations

import hashlib
import hmac
import string


def hmac_sha256_hex(*, secret: str, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_hmac(*, header: str | None, secret: str, body: bytes, prefix: str = "") -> bool:
    """Whether ``header`` is ``prefix`` + the hex HMAC-SHA256 of ``body``.

    GitHub and the generic receiver send ``sha256=<hex>``; Gitea sends the bare hex.
    Hex case is ignored, as senders differ.
    """
    given = _hex_part(header, prefix=prefix)
    if given is None or not secret:
        return False
    expected = hmac_sha256_hex(secret=secret, body=body)
    return hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode())


def well_formed_hmac(*, header: str | None, prefix: str = "") -> bool:
    """Whether ``header`` looks like ``prefix`` + a hex HMAC-SHA256 (64 hex digits):
    checked before a body is read, so that requests without one cost no memory."""
    given = _hex_part(header, prefix=prefix)
    return given is not None and len(given) == 64 and all(c in string.hexdigits for c in given)


def _hex_part(header: str | None, *, prefix: str) -> str | None:
    """What follows ``prefix`` (case ignored) in ``header``; None without one."""
    if not header:
        return None
    given = header.strip()
    if prefix:
        if not given.lower().startswith(prefix):
            return None
        given = given[len(prefix) :]
    return given


def check_token(*, given: str | None, secret: str) -> bool:
    """Whether a shared token (GitLab's ``X-Gitlab-Token``, a bearer token) matches."""
    if not given or not secret:
        return False
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
