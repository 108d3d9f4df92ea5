"""Git credentials as environment for one git call: never in URLs, argv or logs.

``syncer.source.cache`` calls ``git_env`` before every remote operation. HTTPS
credentials become an ``Authorization: Basic`` header passed through git's config
environment (``GIT_CONFIG_COUNT`` / ``GIT_CONFIG_KEY_n`` / ``GIT_CONFIG_VALUE_n``); SSH
keys and known_hosts are written to private files (mode 0600) in the cache directory and
named in ``GIT_SSH_COMMAND``. The returned ``secrets`` are what logs must mask.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from syncer.config import model
from syncer.source import errors


class Resolver(Protocol):
    """Turns a SecretRef into its value (``syncer.config.secrets.resolve`` bound to
    base_dir); ``secret=False`` for values that are not secrets (a user name)."""

    def __call__(self, ref: model.SecretRef, /, *, secret: bool = True) -> str: ...


DEFAULT_HTTP_USER = "git"
"""User name sent with a token when only ``passwordFrom`` is set (GitHub, GitLab and Gitea
accept any user name with a token)."""


@dataclass(frozen=True)
class GitEnv:
    env: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


def git_env(
    *,
    auth: model.GitAuth | None,
    resolve: Resolver,
    key_dir: Path,
    connect_timeout: float,
) -> GitEnv:
    """Environment entries that authenticate git as ``auth`` says (empty for no auth)."""
    env: dict[str, str] = {}
    secrets: list[str] = []
    config: list[tuple[str, str]] = []
    if auth and (auth.username_from or auth.password_from):
        user = (
            resolve(auth.username_from, secret=False) if auth.username_from else DEFAULT_HTTP_USER
        )
        password = resolve(auth.password_from) if auth.password_from else ""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        config.append(("http.extraHeader", f"Authorization: Basic {token}"))
        secrets += [token, password] if password else [token]
    if auth and auth.ssh_key_from:
        key = resolve(auth.ssh_key_from)
        if not key.endswith("\n"):
            key += "\n"  # ssh refuses keys without the final newline
        known = resolve(auth.known_hosts_from) if auth.known_hosts_from else ""
        key_path = _private_file(key_dir=key_dir, kind="key", content=key)
        hosts_path = _private_file(key_dir=key_dir, kind="known_hosts", content=known)
        env["GIT_SSH_COMMAND"] = ssh_command(
            key=key_path, known_hosts=hosts_path, connect_timeout=connect_timeout
        )
        secrets.append(key.strip())
    if config:
        env.update(config_env(config))
    return GitEnv(env=env, secrets=tuple(s for s in secrets if s))


def config_env(config: list[tuple[str, str]]) -> dict[str, str]:
    """Git config entries as git's config environment (nothing on the command line)."""
    env = {"GIT_CONFIG_COUNT": str(len(config))}
    for index, (name, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = name
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


GNUPG_HOME_MAX = 80
"""Longest GNUPGHOME used in the cache directory (room for gpg-agent's socket names)."""


def signing_env(*, key: str, key_dir: Path, what: str) -> dict[str, str]:
    """Git config (as environment) that makes ``commit-tree -S`` sign with ``key``: an
    OpenSSH private key (``gpg.format=ssh``, signed by ``ssh-keygen``) or an armored
    OpenPGP secret key (imported into a private GNUPGHOME under ``key_dir``)."""
    if not key.endswith("\n"):
        key += "\n"
    if "BEGIN PGP PRIVATE KEY BLOCK" in key:
        home, fingerprint = _gpg_home(key=key, key_dir=key_dir, what=what)
        config = [("gpg.format", "openpgp"), ("user.signingKey", fingerprint)]
        env = {"GNUPGHOME": str(home)}
    elif "PRIVATE KEY" in key:
        path = _private_file(key_dir=key_dir, kind="signing-key", content=key)
        config = [("gpg.format", "ssh"), ("user.signingKey", str(path))]
        env = {}
    else:
        raise errors.GitAuthError(
            f"{what}: the signing key is neither an OpenSSH nor an armored OpenPGP private key"
        )
    return {**env, **config_env(config)}


def _gpg_home(*, key: str, key_dir: Path, what: str) -> tuple[Path, str]:
    """A private GNUPGHOME holding ``key`` (imported once), and its fingerprint."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    home = key_dir / f"gnupg-{digest}"
    if len(str(home)) > GNUPG_HOME_MAX:
        # gpg-agent's socket lives in the home, and a socket path has at most 107 bytes.
        home = Path(tempfile.gettempdir()) / f"syncer-gnupg-{os.getuid()}-{digest}"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        subprocess.run(
            ["gpg", "--batch", "--quiet", "--import"], input=key.encode(), env=env,
            capture_output=True, timeout=30, check=True,
        )  # fmt: skip
        listing = subprocess.run(
            ["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env,
            capture_output=True, timeout=30, check=True, text=True,
        ).stdout  # fmt: skip
    except FileNotFoundError as exc:
        raise errors.GitAuthError(
            f"{what}: gpg is not installed; it signs with OpenPGP keys"
        ) from exc
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise errors.GitAuthError(
            f"{what}: gpg could not import the signing key: {said[-1] if said else exc}"
        ) from exc
    except (subprocess.SubprocessError, OSError) as exc:
        raise errors.GitAuthError(f"{what}: gpg could not import the signing key: {exc}") from exc
    fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not fingerprints:
        raise errors.GitAuthError(f"{what}: the OpenPGP key holds no secret key")
    return home, fingerprints[0]


def ssh_command(*, key: Path | None, known_hosts: Path, connect_timeout: float) -> str:
    """An ``ssh`` command line that trusts only ``known_hosts`` and never prompts."""
    parts = [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"ConnectTimeout={max(1, int(connect_timeout))}",
    ]  # fmt: skip
    if key:
        parts += ["-o", "IdentitiesOnly=yes", "-i", str(key)]
    return " ".join(shlex.quote(p) for p in parts)


def _private_file(*, key_dir: Path, kind: str, content: str) -> Path:
    """Write ``content`` once to a 0600 file named by its hash; return its path."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    path = key_dir / f"{kind}-{digest}"
    if not path.exists():
        tmp = key_dir / f".{kind}-{digest}-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, path)
    return path
