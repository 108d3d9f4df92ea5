"""A real CNCF distribution registry (``docker-registry``) on a free 127.0.0.1 port.

``start_registry()`` writes a config, starts ``docker-registry serve`` in anonymous,
htpasswd Basic or Bearer-token mode (with ``tests.servers.tokenserver``), optionally over
TLS with a fresh self-signed certificate, and waits until ``/v2/`` answers. The returned
``RegistryServer`` knows its URL, credentials, CA file and token server, counts the
requests the registry served (from its access log) and stops the process.
``tests.servers.registry_fixtures`` turns this into pytest fixtures.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.servers import lifecycle, tokenserver

MODES = ("anonymous", "basic", "token")
USERNAME = "syncer"
PASSWORD = "s3cret-registry-pass"
SERVICE = "test-registry"
ISSUER = "syncer-test-token-issuer"

_ACCESS_LINE = re.compile(
    r'^\S+ - \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" '
    r"(?P<status>\d{3}) "
)


@dataclass(frozen=True)
class ServedRequest:
    """One request as the registry's access log recorded it."""

    method: str
    path: str
    status: int


@dataclass
class RegistryServer:
    """A running registry. ``host`` is what image references use (``127.0.0.1:PORT``)."""

    mode: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    tls: bool = False
    ca_file: str = ""
    """PEM of the self-signed certificate (TLS only); pass it as the client's CA."""
    username: str = ""
    password: str = ""
    htpasswd_path: Path | None = None
    token_server: tokenserver.TokenServer | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    """How the registry process was started (``up()`` starts it again)."""

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def verify(self) -> str | bool:
        """The ``verify=`` value for a requests call to this registry."""
        return self.ca_file or True

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def served(self) -> list[ServedRequest]:
        """Every request the registry answered so far, in order (from its access log)."""
        found = []
        for line in self.log().splitlines():
            match = _ACCESS_LINE.match(line)
            if match:
                found.append(ServedRequest(match["method"], match["path"], int(match["status"])))
        return found

    def request_count(self, *, settle: float = 0.3) -> int:
        """Requests served so far; waits ``settle`` s for the log to catch up first."""
        time.sleep(settle)
        return len(self.served())

    def set_password(self, password: str) -> None:
        """Rotate the test user's password (htpasswd file or token server)."""
        self.password = password
        if self.token_server is not None:
            self.token_server.users[self.username] = password
        if self.htpasswd_path is not None:
            _htpasswd(self.htpasswd_path, self.username, password)
            # distribution re-reads the htpasswd file when its mtime changes.
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.token_server is not None:
            self.token_server.stop()

    def down(self) -> None:
        """An outage: the registry stops answering (its data and token server stay)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def up(self, *, timeout: float = 20.0) -> None:
        """Back from ``down()``: same port, same data, same credentials."""
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        _wait_ready(self, timeout=timeout)

    def alive(self) -> bool:
        return self.process.poll() is None


free_port = lifecycle.free_port
"""Kept under this name: benchmarks call ``registry_process.free_port()``."""


def write_self_signed(*, cert_path: Path, key_path: Path, ip: str = "127.0.0.1") -> None:
    """A self-signed server certificate for ``ip`` and ``localhost`` (it is its own CA)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def _htpasswd(path: Path, user: str, password: str) -> None:
    flags = "-Bbc" if not path.exists() else "-Bb"
    subprocess.run(
        ["htpasswd", flags, str(path), user, password],
        check=True,
        capture_output=True,
    )


def start_registry(
    *,
    binary: str,
    workdir: Path,
    mode: str = "anonymous",
    tls: bool = False,
    notifications: list[dict[str, Any]] | None = None,
    anonymous_pull: bool = False,
    timeout: float = 20.0,
) -> RegistryServer:
    """Start ``docker-registry`` in ``mode`` and wait until it answers on ``/v2/``.

    ``notifications`` are distribution notification endpoints, each
    ``{"url": ..., "headers": {"Authorization": ["Bearer x"]}}`` (other keys optional).
    ``anonymous_pull`` lets token mode hand out pull tokens without credentials.
    """
    if mode not in MODES:
        raise ValueError(f"unknown registry mode {mode!r}; expected one of {MODES}")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "syncer-test-secret"},
    }
    server_kwargs: dict[str, Any] = {}
    if mode == "basic":
        htpasswd_path = workdir / "htpasswd"
        _htpasswd(htpasswd_path, USERNAME, PASSWORD)
        config["auth"] = {"htpasswd": {"realm": "test-registry", "path": str(htpasswd_path)}}
        server_kwargs.update(username=USERNAME, password=PASSWORD, htpasswd_path=htpasswd_path)
    elif mode == "token":
        signing = tokenserver.SigningKey.generate()
        token = tokenserver.TokenServer(
            service=SERVICE,
            issuer=ISSUER,
            signing=signing,
            users={USERNAME: PASSWORD},
            anonymous_actions=("pull",) if anonymous_pull else (),
        ).start()
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(signing.write_cert(workdir / "token-root.pem")),
            }
        }
        server_kwargs.update(username=USERNAME, password=PASSWORD, token_server=token)
    if tls:
        cert, key = workdir / "tls.crt", workdir / "tls.key"
        write_self_signed(cert_path=cert, key_path=key)
        config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}
        server_kwargs["ca_file"] = str(cert)
    if notifications:
        config["notifications"] = {
            "endpoints": [
                {
                    "name": f"endpoint-{i}",
                    "timeout": "2s",
                    "threshold": 3,
                    "backoff": "1s",
                    **endpoint,
                }
                for i, endpoint in enumerate(notifications)
            ]
        }
    config_path = workdir / "config.yml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = workdir / "registry.log"
    command = [binary, "serve", str(config_path)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = RegistryServer(
        mode=mode,
        port=port,
        workdir=workdir,
        process=process,
        log_path=log_path,
        tls=tls,
        notifications=list(notifications or []),
        command=command,
        **server_kwargs,
    )
    _wait_ready(server, timeout=timeout)
    return server


def _wait_ready(server: RegistryServer, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    session = requests.Session()
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE would override verify=
    last = ""
    while time.monotonic() < deadline:
        if not server.alive():
            server.stop()
            raise RuntimeError(f"docker-registry exited early:\n{server.log()[-4000:]}")
        try:
            response = session.get(f"{server.url}/v2/", verify=server.verify, timeout=2)
            if response.status_code in (200, 401):
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as err:
            last = str(err)
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"docker-registry not ready after {timeout}s ({last}):\n{server.log()}")


def dump(server: RegistryServer) -> str:
    """A short description for failure reports."""
    return json.dumps({"mode": server.mode, "url": server.url, "tls": server.tls})
