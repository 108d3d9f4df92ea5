"""One on-disk cache per repository URL: a bare repo, its lock, and commit snapshots.

``syncer.source.sources`` owns one ``RepoCache`` per URL, shared by every source and app
that reads the repository. It calls ``ls_remote`` (cheap change detection), ``fetch``
only when a wanted commit is missing, and ``snapshot`` to get an immutable directory of a
commit's files that ``syncer.render`` reads. Every git call goes through
``syncer.source.gitcli`` with a timeout.

Layout under ``<cache_dir>/<sha256(url)[:16]>/``::

    repo.git/               bare repository; fetched refs live under refs/syncer/
    snapshots/<sha>/        read-only checkout of one commit
    lock                    flock()ed while fetching or writing snapshots (other processes)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from syncer import metrics
from syncer.source import errors, gitcli

log = logging.getLogger(__name__)

LOCAL_NAMESPACE = "refs/syncer/"
"""Where fetched remote refs are kept (``refs/syncer/refs/heads/main``); nothing else
writes there, so a force-pushed branch can be compared with what we had."""


class RepoCache:
    """The cache of one repository URL. Thread-safe: one fetch at a time per URL."""

    def __init__(self, *, root: Path, url: str, display_url: str, timeout: float) -> None:
        self.url = url
        self.display_url = display_url
        self.timeout = timeout
        self.dir = root / hashlib.sha256(url.encode()).hexdigest()[:16]
        self.git_dir = self.dir / "repo.git"
        self.snapshots_dir = self.dir / "snapshots"
        self.lock = threading.RLock()
        self.counts: dict[str, int] = {"ls-remote": 0, "fetch": 0}
        self.last_ls_remote: tuple[float, str] | None = None
        """(monotonic time it finished, output) of the latest ls-remote, for coalescing."""
        self._known: set[str] = set()
        """Commits known to be in the cache (saves a git call per check)."""
        self._refs: dict[str, str] = {}
        """Remote ref -> what ``refs/syncer/<ref>`` holds; cleared by every fetch."""
        self._ancestry: dict[tuple[str, str], bool] = {}
        """(old, new) -> new descends from old; commits are immutable, so it never expires."""

    # --- remote operations -----------------------------------------------------------

    def ls_remote(
        self,
        *,
        env: Mapping[str, str],
        secrets: tuple[str, ...],
        clock: Callable[[], float] = time.monotonic,
        what: str = "",
    ) -> str:
        """The remote's refs (``ls-remote --symref``), counted."""
        self._count("ls-remote")
        out = gitcli.run(
            ["ls-remote", "--symref", self.url],
            env=env,
            timeout=self.timeout,
            secrets=secrets,
            what=what or self.display_url,
        )
        self.last_ls_remote = (clock(), out)
        return out

    def fetch(
        self,
        *,
        refs: list[str],
        env: Mapping[str, str],
        secrets: tuple[str, ...],
        what: str = "",
    ) -> None:
        """Fetch ``refs`` (full ref names or SHAs) into ``refs/syncer/``, counted."""
        self._ensure_repo()
        specs = [
            f"+{ref}:{LOCAL_NAMESPACE}{ref}" if ref.startswith("refs/") or ref == "HEAD" else ref
            for ref in refs
        ]
        self._count("fetch")
        self._refs.clear()
        with self._process_lock():
            gitcli.run(
                ["fetch", "--no-tags", "--no-write-fetch-head", "--quiet", self.url, *specs],
                cwd=self.git_dir,
                env=env,
                timeout=self.timeout,
                secrets=secrets,
                what=what or self.display_url,
            )

    # --- local reads -----------------------------------------------------------------

    def has_commit(self, sha: str) -> bool:
        if sha in self._known:
            return True  # objects never leave the cache while a ref keeps them
        if not (self.git_dir / "HEAD").exists():
            return False
        try:
            self._git(["cat-file", "-e", f"{sha}^{{commit}}"])
        except errors.SourceError:
            return False
        self._known.add(sha)
        return True

    def resolve(self, rev: str) -> str:
        """The full SHA of a local revision (short SHA, ``refs/syncer/...``)."""
        if len(rev) == 40 and rev in self._known:
            return rev
        return self._git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]).strip()

    def local_ref(self, ref: str) -> str:
        """What the cache last fetched for remote ``ref`` ("" when never)."""
        if ref not in self._refs:
            try:
                self._refs[ref] = self.resolve(f"{LOCAL_NAMESPACE}{ref}")
            except errors.SourceError:
                return ""
        return self._refs[ref]

    def set_local_ref(self, ref: str, sha: str) -> None:
        self._git(["update-ref", f"{LOCAL_NAMESPACE}{ref}", sha])
        self._refs[ref] = sha

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether ``new`` descends from ``old`` (history was not rewritten)."""
        if (old, new) not in self._ancestry:
            try:
                self._git(["merge-base", "--is-ancestor", old, new])
                self._ancestry[(old, new)] = True
            except errors.SourceError:
                self._ancestry[(old, new)] = False
        return self._ancestry[(old, new)]

    # --- snapshots -------------------------------------------------------------------

    def snapshot(self, sha: str) -> Path:
        """A read-only directory holding the files of commit ``sha`` (made once)."""
        path = self.snapshots_dir / sha
        if path.is_dir():
            _touch(path)
            return path
        with self.lock, self._process_lock():
            if path.is_dir():
                return path
            self.snapshots_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.snapshots_dir / f".tmp-{sha}-{os.getpid()}-{threading.get_ident()}"
            _remove_tree(tmp)
            tmp.mkdir()
            index = self.dir / f".index-{os.getpid()}-{threading.get_ident()}"
            env = {"GIT_INDEX_FILE": str(index)}
            try:
                # A private index and work tree: the bare repo itself is never checked out,
                # so a snapshot is made while other threads read older ones.
                self._git(["--work-tree", str(tmp), "read-tree", sha], env=env)
                self._git(["--work-tree", str(tmp), "checkout-index", "-a", "-f"], env=env)
                _make_read_only(tmp)
                os.rename(tmp, path)
            except BaseException:
                _remove_tree(tmp)
                raise
            finally:
                index.unlink(missing_ok=True)
        return path

    def snapshots(self) -> list[str]:
        if not self.snapshots_dir.is_dir():
            return []
        return [p.name for p in self.snapshots_dir.iterdir() if not p.name.startswith(".")]

    def cleanup(self, *, keep: set[str], keep_recent: int) -> list[str]:
        """Delete snapshots not in ``keep`` beyond the ``keep_recent`` most recently used."""
        with self.lock:
            existing = self.snapshots()
            spare = sorted(
                (sha for sha in existing if sha not in keep),
                key=lambda sha: _last_used(self.snapshots_dir / sha),
                reverse=True,
            )
            removed = spare[keep_recent:]
            for sha in removed:
                _remove_tree(self.snapshots_dir / sha)
            self._remove_abandoned()
            return removed

    def _remove_abandoned(self) -> None:
        """Half-made snapshots of processes that died while making them."""
        if not self.snapshots_dir.is_dir():
            return
        for entry in self.snapshots_dir.iterdir():
            # ".tmp-<sha>-<pid>-<thread>", see snapshot()
            parts = entry.name.split("-")
            dead = len(parts) >= 3 and parts[2].isdigit() and not _alive(int(parts[2]))
            if entry.name.startswith(".tmp-") and dead:
                _remove_tree(entry)

    # --- repair ----------------------------------------------------------------------

    def heal(self, *, failure: Exception) -> bool:
        """After ``failure`` of a git call on this cache, check the cache with ``git
        fsck`` (bounded by the source's timeout); when it is corrupt, remove it so that
        the next fetch clones again. True when the cache was removed."""
        with self.lock, self._process_lock():
            if not (self.git_dir / "HEAD").exists():
                return False
            try:
                gitcli.run(
                    [f"--git-dir={self.git_dir}", "fsck", "--no-progress", "--no-dangling"],
                    timeout=self.timeout,
                    what=self.display_url,
                )
            except errors.GitUnavailableError as exc:
                # fsck ran out of time: no verdict, so the cache is kept.
                log.warning("event=cache-check-inconclusive url=%s error=%s", self.display_url, exc)
                return False
            except errors.SourceError as exc:
                log.warning(
                    "event=cache-corrupt url=%s dir=%s failure=%s fsck=%s action=re-cloning",
                    self.display_url, self.git_dir, failure, _last_line(str(exc)),
                )  # fmt: skip
                _remove_tree(self.git_dir)
                self._known.clear()
                self._refs.clear()
                self._ancestry.clear()
                return True
            return False

    # --- internals -------------------------------------------------------------------

    def _ensure_repo(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        gitcli.init_bare(self.git_dir)

    def _git(self, args: list[str], *, env: Mapping[str, str] | None = None) -> str:
        return gitcli.run(
            [f"--git-dir={self.git_dir}", *args],
            env=env,
            timeout=self.timeout,
            what=self.display_url,
        )

    def _count(self, kind: str) -> None:
        self.counts[kind] += 1
        metrics.GIT_REQUESTS.labels(repository=self.display_url, kind=kind).inc()

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        """Exclusive across processes sharing the cache (the CLI and a running controller)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def is_local_failure(exc: BaseException) -> bool:
    """Whether a git failure may come from the cache itself (not the network, the
    credentials, a missing ref or a missing git binary): worth an fsck."""
    # Network, credential, missing-ref and missing-binary errors are other classes.
    return isinstance(exc, errors.SourceError)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _touch(path: Path) -> None:
    """Mark a snapshot used now; its mtime is what cleanup orders by (in every process
    sharing the cache, unlike anything kept in memory)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _make_read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o444)
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o555)
    os.chmod(root, 0o555)


def _remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return

    def make_writable(func: Callable[[str], object], target: str, _exc: object) -> None:
        parent = os.path.dirname(target)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR)
        with contextlib.suppress(OSError):
            os.chmod(target, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(target)

    for dirpath, dirnames, _files in os.walk(path):
        os.chmod(dirpath, 0o755)
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o755)
    shutil.rmtree(path, onerror=make_writable)
