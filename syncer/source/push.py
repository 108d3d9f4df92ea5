"""Commit files onto a branch of a source and push it, re-applying after a push race.

``GitSources.push`` calls ``commit_and_push`` for a write-back (``syncer.writeback``).
It works in the repository's shared bare cache without a work tree: it fetches the
branch, hands the commit's snapshot to ``edit`` (which says what the files should now
hold), writes blobs, a tree and a commit with git's plumbing and a private index, and
pushes that commit. When the server refuses because the branch moved (someone pushed
in between), it fetches the new head and runs ``edit`` again on it, up to
``MAX_ATTEMPTS`` times, so both changes are kept. No commit is made when ``edit`` finds
nothing to change. Credentials arrive in ``env`` (``syncer.source.auth``), never in argv.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from syncer.source import cache, errors, gitcli, refs

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""Pushes tried before giving up on a branch that keeps moving (each one re-fetches and
re-applies; five covers a busy repository without looping for long)."""


@dataclasses.dataclass(frozen=True)
class NewFile:
    """What one file of the repository (relative path) must now hold."""

    path: str
    content: bytes


@dataclasses.dataclass(frozen=True)
class Commit:
    """The commit to make: who, what message, and git config that signs it."""

    author_name: str
    author_email: str
    message: str
    sign_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Environment (git config entries, GNUPGHOME) for ``commit-tree -S``; empty: unsigned."""


@dataclasses.dataclass(frozen=True)
class Pushed:
    """A commit that reached the server."""

    commit: str
    branch: str
    parent: str
    attempts: int


Edit = Callable[[Path, str], tuple[Sequence[NewFile], Commit] | None]
"""``edit(snapshot_dir, head_commit)`` -> the files to write and the commit, or None
when the files already say what they should."""


def commit_and_push(
    *,
    repo: cache.RepoCache,
    env: Mapping[str, str],
    secrets: tuple[str, ...],
    branch: str,
    base_branch: str,
    edit: Edit,
    what: str,
) -> Pushed | None:
    """Commit ``edit``'s files on ``branch`` (created from ``base_branch`` when missing)
    and push; None when nothing had to change."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with repo.lock:
            head = _fetch_head(
                repo=repo, env=env, secrets=secrets, branch=branch, base=base_branch, what=what
            )
            made = edit(repo.snapshot(head), head)
            if made is None:
                return None
            files, commit = made
            sha = _commit(repo=repo, parent=head, files=files, commit=commit, what=what)
            try:
                gitcli.run(
                    ["push", "--porcelain", "--quiet", repo.url, f"{sha}:refs/heads/{branch}"],
                    cwd=repo.git_dir, env=env, timeout=repo.timeout, secrets=secrets, what=what,
                )  # fmt: skip
            except errors.PushRejectedError as err:
                log.info(
                    "event=push-race url=%s branch=%s attempt=%d error=%s",
                    repo.display_url, branch, attempt, err,
                )  # fmt: skip
                continue
            repo.set_local_ref(f"refs/heads/{branch}", sha)
            return Pushed(commit=sha, branch=branch, parent=head, attempts=attempt)
    raise errors.GitUnavailableError(
        f"{what}: branch {branch!r} moved during each of {MAX_ATTEMPTS} pushes; will try again",
        retry_after=repo.timeout,
    )


def _fetch_head(
    *,
    repo: cache.RepoCache,
    env: Mapping[str, str],
    secrets: tuple[str, ...],
    branch: str,
    base: str,
    what: str,
) -> str:
    """The branch's remote head (the base branch's when the branch does not exist
    yet), fetched into the cache."""
    remote = refs.parse_ls_remote(repo.ls_remote(env=env, secrets=secrets, what=what))
    for name in (branch, base):
        ref = f"refs/heads/{name}"
        sha = remote.commits.get(ref)
        if sha is None:
            continue
        if not repo.has_commit(sha):
            repo.fetch(refs=[ref], env=env, secrets=secrets, what=what)
        return sha
    raise errors.RefNotFoundError(f"{what}: branch {base!r} does not exist on the server")


def _commit(
    *, repo: cache.RepoCache, parent: str, files: Sequence[NewFile], commit: Commit, what: str
) -> str:
    """A commit of ``files`` on top of ``parent``, made with a private index."""
    tag = f"{os.getpid()}-{threading.get_ident()}"
    index = repo.dir / f".push-index-{tag}"
    blob_file = repo.dir / f".push-blob-{tag}"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        _git(repo, ["read-tree", parent], env=env, what=what)
        for new in files:
            blob_file.write_bytes(new.content)
            blob = _git(repo, ["hash-object", "-w", "--no-filters", str(blob_file)], what=what)
            mode = _mode(repo, parent=parent, path=new.path, what=what)
            _git(
                repo, ["update-index", "--add", "--cacheinfo", f"{mode},{blob.strip()},{new.path}"],
                env=env, what=what,
            )  # fmt: skip
        tree = _git(repo, ["write-tree"], env=env, what=what).strip()
        people = {
            "GIT_AUTHOR_NAME": commit.author_name,
            "GIT_AUTHOR_EMAIL": commit.author_email,
            "GIT_COMMITTER_NAME": commit.author_name,
            "GIT_COMMITTER_EMAIL": commit.author_email,
        }
        args = ["commit-tree", tree, "-p", parent, "-m", commit.message]
        if commit.sign_env:
            args.insert(1, "-S")
        return _git(repo, args, env={**people, **commit.sign_env}, what=what).strip()
    finally:
        for path in (index, blob_file):
            with contextlib.suppress(OSError):
                path.unlink()


def _mode(repo: cache.RepoCache, *, parent: str, path: str, what: str) -> str:
    """The file's mode in ``parent`` (an executable stays one); 100644 for a new file."""
    out = _git(repo, ["ls-tree", parent, "--", path], what=what).split()
    return out[0] if out and out[0] in ("100644", "100755") else "100644"


def _git(
    repo: cache.RepoCache, args: list[str], *, what: str, env: Mapping[str, str] | None = None
) -> str:
    return gitcli.run(
        [f"--git-dir={repo.git_dir}", *args], env=env, timeout=repo.timeout, what=what
    )
