"""Bare Git repositories that tests shape directly: commit, tag, move, force-push, delete.

The Git test servers (``git_http.py``, ``git_daemon.py``) serve directories of bare
repositories made here. Changes are written with git's plumbing straight into the bare
repository (no work tree, no push), so a "force-push" is exactly what a server sees after
one: the branch now points at a commit that does not descend from the old one.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Commit dates advance by one second per commit so that two commits with the same tree
# and parent still get different SHAs, and history order is the order tests made them.
_CLOCK = itertools.count(1_700_000_000)


@dataclass(frozen=True)
class Symlink:
    """A file value that makes a symbolic link to ``target`` instead of a regular file."""

    target: str


FileValue = str | bytes | Symlink | None
"""Content of a file in ``BareRepo.commit``: text, bytes, a Symlink, or None to delete."""


def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = 60,
) -> str:
    """Run git and return its stdout (stripped); raise with stderr when it fails."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, input=input, capture_output=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed ({proc.returncode}): "
            + proc.stderr.decode(errors="replace")
        )
    return proc.stdout.decode(errors="replace").strip()


def create_served(
    *,
    root: Path,
    name: str,
    files: Mapping[str, FileValue] | None,
    branch: str,
    url_for: Callable[[BareRepo], str],
) -> BareRepo:
    """A new bare repository under a server's ``root``, with the ``url`` that server gives
    it; with ``files``, a first commit on ``branch``. Each server's ``create_repo``."""
    repo = BareRepo.create(root=root, name=name, branch=branch)
    repo.url = url_for(repo)
    if files is not None:
        repo.commit(files, branch=branch, message="initial")
    return repo


class BareRepo:
    """One bare repository under a server root; ``url`` is set by the server serving it."""

    def __init__(self, *, path: Path, url: str = "") -> None:
        self.path = path
        self.name = path.name
        self.url = url

    @classmethod
    def create(cls, *, root: Path, name: str, url: str = "", branch: str = "main") -> BareRepo:
        path = root / (name if name.endswith(".git") else f"{name}.git")
        path.parent.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", f"--initial-branch={branch}", str(path))
        # Clients may fetch a fixed commit by SHA, as hosted Git servers allow.
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=path)
        git("config", "http.receivepack", "true", cwd=path)
        return cls(path=path, url=url)

    def git(
        self, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None
    ) -> str:
        return git(f"--git-dir={self.path}", *args, env=env, input=input)

    # --- reading ---------------------------------------------------------------------

    def rev(self, ref: str) -> str:
        """The commit SHA a ref (branch, tag, SHA) points at."""
        return self.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")

    def head(self, branch: str = "main") -> str:
        return self.rev(f"refs/heads/{branch}")

    def has_ref(self, ref: str) -> bool:
        try:
            self.git("rev-parse", "--verify", "-q", ref)
        except RuntimeError:
            return False
        return True

    # --- writing ---------------------------------------------------------------------

    def commit(
        self,
        files: Mapping[str, FileValue],
        *,
        branch: str = "main",
        message: str = "update",
        parent: str | None = None,
        orphan: bool = False,
    ) -> str:
        """Commit ``files`` (path -> content, Symlink, or None = delete) on ``branch``.

        The new commit's parent is ``parent`` when given, else the branch's head (none
        for a new branch or when ``orphan``); the branch is moved to it, forcibly.
        """
        if parent is None and not orphan and self.has_ref(f"refs/heads/{branch}"):
            parent = self.head(branch)
        sha = self._commit_tree(files=files, parent=parent, message=message)
        self.git("update-ref", f"refs/heads/{branch}", sha)
        return sha

    def force_push(
        self,
        files: Mapping[str, FileValue],
        *,
        branch: str = "main",
        message: str = "rewritten",
        base: str | None = None,
    ) -> str:
        """Rewrite ``branch``: a new commit on ``base`` (default: the head's parent).

        The old head is no longer reachable from the branch, as after ``push --force``.
        """
        old = self.head(branch)
        if base is None:
            parents = self.git("rev-list", "--parents", "-n", "1", old).split()[1:]
            base = parents[0] if parents else None
        sha = self._commit_tree(files=files, parent=base, message=message)
        self.git("update-ref", f"refs/heads/{branch}", sha)
        return sha

    def move_branch(self, branch: str, sha: str) -> None:
        """Point ``branch`` at ``sha`` (creating it when missing)."""
        self.git("update-ref", f"refs/heads/{branch}", sha)

    def tag(self, name: str, ref: str = "main", *, annotated: bool = False) -> str:
        """Tag the commit ``ref`` resolves to; return that commit's SHA."""
        sha = self.rev(ref)
        if annotated:
            self.git("tag", "-f", "-a", "-m", f"release {name}", name, sha, env=_dates())
        else:
            self.git("update-ref", f"refs/tags/{name}", sha)
        return sha

    def delete_branch(self, branch: str) -> None:
        self.git("update-ref", "-d", f"refs/heads/{branch}")

    def delete_tag(self, name: str) -> None:
        self.git("update-ref", "-d", f"refs/tags/{name}")

    def _commit_tree(
        self, *, files: Mapping[str, FileValue], parent: str | None, message: str
    ) -> str:
        index = self.path / f"tmp-index-{os.getpid()}-{next(_CLOCK)}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            if parent:
                self.git("read-tree", parent, env=env)
            else:
                self.git("read-tree", "--empty", env=env)
            lines = [self._index_line(rel=rel, value=value) for rel, value in files.items()]
            if lines:
                self.git("update-index", "--index-info", env=env, input="".join(lines).encode())
            tree = self.git("write-tree", env=env)
            args = ["commit-tree", tree, "-m", message]
            if parent:
                args += ["-p", parent]
            return self.git(*args, env=_dates())
        finally:
            index.unlink(missing_ok=True)

    def _index_line(self, *, rel: str, value: FileValue) -> str:
        """One ``update-index --index-info`` line; mode 0 removes the path."""
        if value is None:
            return f"0 {'0' * 40}\t{rel}\n"
        if isinstance(value, Symlink):
            mode, data = "120000", value.target.encode()
        else:
            mode, data = "100644", value.encode() if isinstance(value, str) else value
        blob = self.git("hash-object", "-w", "--stdin", input=data)
        return f"{mode} {blob}\t{rel}\n"


def _dates() -> dict[str, str]:
    stamp = f"{next(_CLOCK)} +0000"
    return {
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
