"""Authenticating to one registry: Basic, or the Bearer token challenge flow.

``registry.client`` asks ``headers(scope)`` before each request, calls
``on_unauthorized(response, scope)`` on a 401 and ``settled`` once the request is over.
The first 401 tells us the scheme (``WWW-Authenticate``); until it is known, one request
at a time goes out to learn it, so a process that starts reading many repositories at
once meets one 401, not one per repository. For Bearer we fetch a token from the realm for the scope
(with Basic credentials, an OAuth2 refresh token, or anonymously like Docker Hub), and
cache it per scope until it expires; a 401 with a cached token drops it and fetches a
fresh one. Credentials come from a ``registry.credentials`` source, looked up again
after any rejection, so rotated secrets are picked up. Nothing here logs a secret.

A challenge learnt by an earlier process (``registry.challenges``) is used from the
first request: no 401 to learn it again. It is a hint until its token server has
answered: when it does not, the challenge is forgotten and the registry asked again.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from registry import answers, credentials, errors, reference, transport

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME = 60.0
"""Seconds a token lives when the server omits ``expires_in`` (the Docker spec's value)."""
EXPIRY_MARGIN = 5.0
"""Tokens are renewed this many seconds before they expire, to absorb clock drift."""
DISCOVERY_WAIT = 10.0
"""Seconds a request waits for the one learning how the registry authenticates before it
goes without credentials itself (a registry slow to answer delays no one for longer)."""

_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str
    """Lowercase: ``bearer`` or ``basic``."""
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header, or None if unparseable."""
    match = re.match(r"\s*([A-Za-z][\w-]*)\s*(.*)$", header or "", re.S)
    if not match:
        return None
    scheme, rest = match.group(1).lower(), match.group(2)
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        param = _PARAM.match(rest, pos)
        if not param or param.end() == pos:
            break
        quoted, bare = param.group(2), param.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[param.group(1).lower()] = value
        pos = param.end()
    return Challenge(scheme, params)


def registry_error(response: requests.Response) -> str:
    """``CODE: message`` from a Distribution error body, or "" (bodies are never echoed)."""
    try:
        found = response.json().get("errors") or []
        first = found[0]
        return f"{first.get('code', '')}: {first.get('message', '')}"[:200]
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


class Authenticator:
    """Auth state of one registry: its scheme, credentials and tokens per scope."""

    def __init__(
        self,
        *,
        host: str,
        http: transport.Transport,
        source: credentials.Source | None,
        clock: Callable[[], float] = time.monotonic,
        https: bool = True,
        remembered: Challenge | None = None,
        remember: Callable[[Challenge | None], None] | None = None,
    ) -> None:
        """``https``: the registry is spoken to over TLS (credentials stay encrypted).
        ``remembered``: the challenge an earlier process learnt; ``remember`` is told each
        challenge learnt (None: the remembered one was wrong)."""
        self.host = host
        self._https = https
        self._http = http
        self._source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._challenge: Challenge | None = remembered
        self._doubtful = remembered is not None and remembered.scheme == "bearer"
        """The challenge is remembered and its token server has not answered yet."""
        self._remember = remember
        self._creds: credentials.Credentials | None = None
        self._creds_loaded = False
        self._tokens: dict[str, tuple[str, float]] = {}
        self._settled = threading.Condition(self._lock)
        self._probing = False
        """A request without credentials is out, learning the scheme from its answer."""
        self._open = False
        """A request without credentials was answered: some reads need none, so requests
        no longer wait for a challenge (one may still come for a private repository)."""

    # -- what to send --------------------------------------------------------------------

    def headers(self, scope: str) -> dict[str, str]:
        """Authorization for a request needing ``scope``; empty until challenged.

        Once a registry is known to use Bearer tokens, a missing or expired token is
        fetched here, before the request, sparing the registry a 401 round trip.
        """
        with self._lock:
            self._await_discovery()
            challenge = self._challenge
            if challenge is None:
                self._probing = not self._open
                return {}
            creds = self._credentials()
            if challenge.scheme == "basic":
                if creds and creds.username:
                    return {"Authorization": _basic(creds.username, creds.password)}
                return {}
            token = self._tokens.get(scope)
            if token and token[1] > self._clock():
                return {"Authorization": f"Bearer {token[0]}"}
        try:
            value, lifetime = self._token(challenge, scope=scope, creds=creds)
        except errors.RegistryError as err:
            if not self._doubt(challenge, err):
                raise
            return {}  # this request learns the challenge again
        self._store(scope, value, lifetime)
        return {"Authorization": f"Bearer {value}"}

    def _doubt(self, challenge: Challenge, err: errors.RegistryError) -> bool:
        """Forget a remembered challenge whose token server failed us; True when it was
        one (the registry is then asked again, as on a first request)."""
        with self._lock:
            if not (self._doubtful and self._challenge is challenge):
                return False
            self._challenge, self._doubtful = None, False
            self._probing = not self._open
        log.info(
            "msg=remembered challenge of registry %s failed; asking the registry again "
            "error=%s",
            self.host, err,
        )  # fmt: skip
        if self._remember is not None:
            self._remember(None)
        return True

    def _await_discovery(self) -> None:
        """While another request learns the scheme, wait for its answer (lock held)."""
        deadline = time.monotonic() + DISCOVERY_WAIT
        while self._challenge is None and self._probing and not self._open:
            left = deadline - time.monotonic()
            if left <= 0 or not self._settled.wait(timeout=left):
                return

    def settled(self, *, answered_anonymously: bool) -> None:
        """A request is over (``on_unauthorized`` already ran for a 401):
        ``answered_anonymously`` when it went without credentials and was not refused.
        Requests waiting for the scheme go on."""
        with self._lock:
            if answered_anonymously and self._challenge is None:
                self._open = True
            if self._probing:
                self._probing = False
                self._settled.notify_all()

    def _store(self, scope: str, token: str, lifetime: float) -> None:
        with self._lock:
            self._tokens[scope] = (token, self._clock() + max(1.0, lifetime - EXPIRY_MARGIN))
            self._doubtful = False

    def _credentials(self) -> credentials.Credentials | None:
        if not self._creds_loaded:
            self._creds = self._source.lookup(self.host) if self._source else None
            self._creds_loaded = True
        return self._creds

    def username(self) -> str:
        with self._lock:
            creds = self._credentials()
        return creds.username if creds else ""

    # -- reacting to 401 -----------------------------------------------------------------

    def on_unauthorized(self, response: requests.Response, *, scope: str, retry: bool) -> None:
        """Learn from a 401 and prepare new credentials; AuthError when hopeless.

        ``retry`` is False when the request already carried fresh credentials: then the
        registry has truly refused us.
        """
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        with self._lock:
            # Whatever we sent failed: forget it, and re-read credentials next time.
            self._tokens.pop(scope, None)
            self._creds_loaded = False
            if not retry:
                raise errors.AuthError(self._refused(response, scope=scope))
            if challenge is None or challenge.scheme not in ("basic", "bearer"):
                raise errors.AuthError(
                    f"registry {self.host} asks for unsupported authentication "
                    f"{(challenge.scheme if challenge else 'none')!r}"
                )
            self._challenge, self._doubtful = challenge, False
            creds = self._credentials()
        if self._remember is not None:
            self._remember(challenge)  # kept for the next process (written on change)
        if challenge.scheme == "basic":
            if not creds:
                raise errors.AuthError(
                    f"registry {self.host} needs credentials (Basic auth) and none are "
                    "configured; set the registry's auth or --docker-config"
                )
            return
        # Token fetches are network calls: made outside the lock.
        # The registry names the scope it wants for this request; prefer it.
        wanted = challenge.params.get("scope") or scope
        token, lifetime = self._token(challenge, scope=wanted, creds=creds)
        self._store(scope, token, lifetime)

    def _refused(self, response: requests.Response, *, scope: str) -> str:
        who = (
            f" for user {self._creds.username!r}"
            if self._creds and self._creds.username
            else " (anonymous)"
        )
        detail = registry_error(response)
        return (
            f"registry {self.host} refused access to {scope}{who}"
            f"{': ' + detail if detail else ''}; check the credentials and their permissions"
        )

    def _token(
        self,
        challenge: Challenge,
        *,
        scope: str,
        creds: credentials.Credentials | None,
    ) -> tuple[str, float]:
        """A token for ``scope``; when refused, credentials are re-read and tried once more."""
        try:
            return self._fetch_token(challenge, scope=scope, creds=creds)
        except _Rejected:
            with self._lock:
                self._creds_loaded = False
                fresh = self._credentials()
            if fresh == creds:
                raise
            return self._fetch_token(challenge, scope=scope, creds=fresh)

    def _fetch_token(
        self,
        challenge: Challenge,
        *,
        scope: str,
        creds: credentials.Credentials | None,
    ) -> tuple[str, float]:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise errors.AuthError(f"registry {self.host} sent a Bearer challenge without realm")
        wanted = scope
        service = challenge.params.get("service", "")
        realm_host = urllib.parse.urlsplit(realm).netloc.rpartition("@")[2]
        if (
            creds
            and realm.startswith("http://")
            and self._https
            and not reference.is_loopback(realm_host)
        ):
            # A TLS registry must not make us send its credentials in clear text.
            raise errors.AuthError(
                f"registry {self.host} asks for credentials at a plain-HTTP realm {realm}; "
                "refusing to send them unencrypted"
            )
        if creds and creds.identity_token:
            # OAuth2 refresh-token grant, as docker does with an identitytoken.
            response = self._http.send(
                "POST",
                realm,
                kind="token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "service": service,
                    "scope": wanted,
                    "client_id": "syncer",
                },
            )
        else:
            response = self._http.send(
                "GET",
                realm,
                kind="token",
                # Empty values are left out: /v2/ pings ask for a token without scope.
                params={k: v for k, v in (("service", service), ("scope", wanted)) if v},
                auth=(creds.username, creds.password) if creds else None,
            )
        if response.status_code in (401, 403):
            if creds and creds.identity_token:
                who = "the identity (refresh) token"
            elif creds and creds.username:
                who = f"user {creds.username!r}"
            else:
                who = "anonymous access"
            raise _Rejected(
                f"token server of {self.host} rejected {who} (HTTP {response.status_code}); "
                "check the registry credentials"
            )
        if response.status_code != 200:
            raise errors.AuthError(
                f"token server of {self.host} answered HTTP {response.status_code}"
            )
        try:
            token, lifetime = answers.token(response.content)
        except answers.Invalid as err:
            raise errors.AuthError(
                f"token server of {self.host} sent an invalid answer: {err}"
            ) from err
        return token, lifetime or DEFAULT_TOKEN_LIFETIME


class _Rejected(errors.AuthError):
    """The token server refused the credentials we sent."""


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
