"""The only module that touches GitPython: runs one git command with timeout and env.

Called by ``syncer.source.cache`` for every git operation (ls-remote, fetch, read-tree,
checkout-index...). It never puts credentials in argv: they arrive in ``env`` as git's
config environment (``GIT_CONFIG_COUNT``...). Errors become ``syncer.source.errors``
classes with the secrets masked out of the message; no GitPython exception leaves here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from syncer import redact
from syncer.source import errors

BASE_ENV: dict[str, str] = {
    # Never wait for a password on a terminal: a missing credential must fail at once.
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    # The machine's /etc/gitconfig (credential helpers, proxies) is not ours to use.
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}

_AUTH_FAILED = re.compile(
    r"Authentication failed|could not read Username|could not read Password|"
    r"terminal prompts disabled|HTTP Basic: Access denied|"
    r"The requested URL returned error: 40[13]|Permission denied \(publickey|"
    r"Host key verification failed|No RSA host key is known|Invalid username or password",
    re.IGNORECASE,
)
_PUSH_RACE = re.compile(
    r"\[rejected\]|\(fetch first\)|non-fast-forward|\(stale info\)|"
    r"failed to update ref|cannot lock ref|incorrect old value",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"Could not resolve host|Connection refused|Failed to connect|Connection timed out|"
    r"Connection reset|unable to connect|Could not read from remote repository|"
    r"The requested URL returned error: 5\d\d|remote end hung up|"
    r"does not appear to be a git repository|Network is unreachable|"
    r"The requested URL returned error: 404|repository '[^']*' not found|Repository not found",
    re.IGNORECASE,
)


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float,
    secrets: Sequence[str] = (),
    what: str = "",
) -> str:
    """Run ``git ARGS`` and return stdout; raise a ``SourceError`` subclass on failure.

    ``secrets`` are masked out of any message; ``what`` names the repository for errors.
    """
    import git  # here, not at the top: commands that run no git do not load GitPython

    runner = git.Git(str(cwd) if cwd else None)
    full_env = {**BASE_ENV, **(env or {})}
    label = what or "git"
    try:
        status, out, err = runner.execute(
            ["git", *args],
            env=full_env,
            kill_after_timeout=timeout,
            with_extended_output=True,
            with_exceptions=False,
            stdout_as_string=True,
        )
    except git.exc.GitCommandNotFound as exc:
        raise errors.GitBinaryMissingError(
            "the git binary was not found on PATH: install git"
        ) from exc
    except (git.exc.GitError, OSError) as exc:
        raise errors.SourceError(
            f"{label}: git {args[0]} failed: {mask(str(exc), secrets)}"
        ) from exc
    if status == 0:
        return str(out)
    detail = mask(str(err).strip() or str(out).strip(), secrets)
    detail = detail.splitlines()[-1] if detail else f"exit status {status}"
    if status in (-9, 137) or "kill_after_timeout" in str(err) or "Timeout" in str(err):
        raise errors.GitUnavailableError(
            f"{label}: git {args[0]} timed out after {timeout:g}s", retry_after=timeout
        )
    if _AUTH_FAILED.search(str(err)):
        raise errors.GitAuthError(
            f"{label}: authentication failed ({detail}); check the source's auth credentials"
        )
    if args and args[0] == "push" and _PUSH_RACE.search(f"{out}\n{err}"):
        raise errors.PushRejectedError(f"{label}: push rejected: {detail}")
    if args and args[0] in ("ls-remote", "fetch", "push") and _UNREACHABLE.search(str(err)):
        raise errors.GitUnavailableError(f"{label}: repository unreachable: {detail}")
    raise errors.SourceError(f"{label}: git {args[0]} failed: {detail}")


def init_bare(path: Path) -> None:
    """Create the bare repository that caches one remote, if it does not exist yet."""
    if (path / "HEAD").exists():
        return
    import git

    try:
        git.Repo.init(str(path), bare=True, mkdir=True)
    except (git.exc.GitError, OSError) as exc:
        raise errors.SourceError(f"cannot create the Git cache at {path}: {exc}") from exc


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (whole tokens) and any URL userinfo replaced by ``***``."""
    text = redact.mask_values(text, secrets)
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)
