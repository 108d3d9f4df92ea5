"""A Bearer-token server of the tests' own, for ``docker-registry`` in token auth mode.

The registry (CNCF distribution) answers ``401`` with ``WWW-Authenticate: Bearer
realm=…,service=…,scope=…``; clients then call ``GET realm?service=…&scope=…`` here with
Basic credentials (or none, for anonymous tokens) and get ``{"token", "access_token",
"expires_in", "issued_at"}``. The token is an RS256 JWT whose header carries ``x5c`` with
the DER of a self-signed certificate that the registry trusts as ``rootcertbundle``.

Tests steer it: change or revoke credentials (``users``), grant anonymous pulls, issue
already-expired tokens (``issue_expired``) to exercise refresh-on-401, shorten
``expires_in``, and read every token request (``requests``).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.servers import lifecycle


@dataclass(frozen=True)
class TokenRequest:
    """One call to the token endpoint, as the server saw it."""

    user: str
    """The Basic user name, or "" for anonymous requests."""
    service: str
    scopes: tuple[str, ...]
    status: int


@dataclass
class SigningKey:
    """An RSA key and the self-signed certificate the registry trusts."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def generate(cls, common_name: str = "syncer test token issuer") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, cert=cert)

    def write_cert(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def x5c(self) -> list[str]:
        der = self.cert.public_bytes(serialization.Encoding.DER)
        return [base64.b64encode(der).decode()]


@dataclass
class TokenServer:
    """The running token endpoint; attributes may be changed by tests at any time."""

    service: str
    issuer: str
    signing: SigningKey
    users: dict[str, str] = field(default_factory=dict)
    """user -> password accepted in Basic auth; edit to rotate or revoke credentials."""
    anonymous_actions: tuple[str, ...] = ()
    """Actions granted without credentials (e.g. ("pull",)); empty = none, like Docker Hub."""
    expires_in: int = 300
    """Lifetime of issued tokens in seconds, also returned as ``expires_in``."""
    issue_expired: int = 0
    """How many of the next tokens are issued already expired (past the registry's leeway)
    while ``expires_in`` still claims they are fresh: the client learns it on the 401."""
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    """OAuth2 refresh token -> user, for ``POST`` with ``grant_type=refresh_token`` (what
    docker sends for an ``identitytoken``)."""
    fail_with: int = 0
    """When non-zero, answer every request with this HTTP status (e.g. 503)."""
    requests: list[TokenRequest] = field(default_factory=list)
    _httpd: http.server.ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle_post(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = lifecycle.serve_http(Handler)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            lifecycle.stop_http(self._httpd)
            self._httpd = None

    def count(self, *, user: str | None = None) -> int:
        """Token requests seen so far (optionally only those of one user)."""
        with self._lock:
            return sum(1 for r in self.requests if user is None or r.user == user)

    def issue(self, *, subject: str, scopes: tuple[str, ...], granted: tuple[str, ...]) -> str:
        """Sign a token for ``scopes`` granting at most ``granted`` actions."""
        now = int(time.time())
        expired = False
        with self._lock:
            if self.issue_expired > 0:
                self.issue_expired -= 1
                expired = True
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            rtype, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            allowed = [a for a in actions if a in granted or "*" in granted]
            access.append({"type": rtype, "name": name, "actions": allowed})
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            # An "expired" token lies beyond distribution's 60 s leeway.
            "exp": now - 3600 if expired else now + self.expires_in,
            "nbf": now - 3700 if expired else now - 10,
            "iat": now - 3700 if expired else now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return jwt.encode(
            claims, self.signing.key, algorithm="RS256", headers={"x5c": self.signing.x5c()}
        )

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        service = query.get("service", [""])[0]
        scopes = tuple(s for value in query.get("scope", []) for s in value.split(" ") if s)
        user, status, granted = self._authenticate(handler.headers.get("Authorization", ""))
        if self.fail_with:
            status = self.fail_with
        with self._lock:
            self.requests.append(TokenRequest(user, service, scopes, status))
        if status != 200:
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "bad login"}]})
            handler.send_response(status)
            if status == 401:
                handler.send_header("WWW-Authenticate", 'Basic realm="token"')
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body.encode())
            return
        token = self.issue(subject=user or "anonymous", scopes=scopes, granted=granted)
        body = json.dumps(
            {
                "token": token,
                "access_token": token,
                "expires_in": self.expires_in,
                "issued_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        )
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body.encode())

    def _handle_post(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(handler.rfile.read(length).decode())
        refresh = form.get("refresh_token", [""])[0]
        user = self.refresh_tokens.get(refresh, "")
        ok = form.get("grant_type", [""])[0] == "refresh_token" and bool(user)
        scopes = tuple(s for v in form.get("scope", []) for s in v.split(" ") if s)
        status = self.fail_with or (200 if ok else 401)
        with self._lock:
            self.requests.append(TokenRequest(user, form.get("service", [""])[0], scopes, status))
        if status != 200:
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        token = self.issue(subject=user, scopes=scopes, granted=("pull", "push", "delete"))
        body = json.dumps({"access_token": token, "expires_in": self.expires_in}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _authenticate(self, header: str) -> tuple[str, int, tuple[str, ...]]:
        """(user, status, granted actions) for an Authorization header."""
        if not header:
            return "", 200, self.anonymous_actions
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return "", 401, ()
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return "", 401, ()
        if self.users.get(user) != password or not password:
            return user, 401, ()
        return user, 200, ("pull", "push", "delete", "*")
