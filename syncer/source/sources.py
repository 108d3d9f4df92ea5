"""Git sources: from a configured ``Source`` to an immutable snapshot at a known commit.

The scheduler (per repository poll job), the reconcile loop and ``syncer render`` call
``GitSources.poll`` / ``poll_all``; ``syncer.render`` then reads ``Revision.path``. This
module decides what network work is needed: an ``ls-remote`` first, a fetch only when
the wanted commit is not in the cache, and no remote call at all for a fixed commit we
already have. Concurrent polls of one URL share one ``ls-remote`` (single flight), and
``poll_all`` groups sources by URL so 100 apps reading one repository cost one
``ls-remote`` and at most one fetch.

A failed poll raises (see ``syncer.source.errors``) and leaves ``current(name)`` -- the
last good revision and its snapshot directory -- untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncer import errors as syncer_errors
from syncer import metrics
from syncer.config import model, secrets
from syncer.source import auth, cache, errors, push, refs, urls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revision:
    """The outcome of one poll of one source."""

    source: str
    url: str
    """The repository URL as users wrote it (never carries credentials)."""
    ref: str
    """The remote ref followed (``refs/heads/main``, ``refs/tags/v1.2.0``) or the SHA."""
    commit: str
    path: Path
    """The read-only snapshot directory of ``commit`` (the repository root)."""
    label: str = ""
    """``branch 'main'``, ``tag 'v1.4.0' (^1)`` ... for messages."""
    previous: str = ""
    """The commit this source was at before the poll ("" on the first one)."""
    fetched: bool = False
    """This poll fetched from the remote."""
    forced: bool = False
    """History was rewritten: ``commit`` does not descend from ``previous``."""

    @property
    def changed(self) -> bool:
        return self.commit != self.previous


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    """Where repositories and snapshots are kept; survives restarts."""
    base_dir: Path = Path(".")
    """Directory of the config file: relative repository paths are resolved against it."""
    auto_cleanup: bool = True
    """Drop unused snapshots whenever a poll makes a new one (default on). One-shot
    commands sharing the controller's cache turn it off: they cannot know which
    snapshots the controller is rendering from."""
    keep_snapshots: int = 3
    """Snapshots kept per repository beyond the ones in use (default 3: room for the
    previous releases a rollback needs without re-checkout)."""


Result = Revision | syncer_errors.SyncerError
"""What ``poll_all`` gives per source: its new revision, or why it failed."""


class GitSources:
    """Every Git repository the controller reads, each cached once by URL."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolve_secret: auth.Resolver | None = None,
        read_secret: secrets.SecretReader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._resolve = resolve_secret or _default_resolver(
            base_dir=settings.base_dir, read_secret=read_secret
        )
        self._clock = clock
        self._caches: dict[str, cache.RepoCache] = {}
        self._current: dict[str, Revision] = {}
        self._guard = threading.Lock()

    # --- public ----------------------------------------------------------------------

    def poll(self, source: model.Source, *, max_age: float = 0.0) -> Revision:
        """Bring ``source`` up to date and return its revision; raise on failure.

        ``max_age`` (seconds): reuse this URL's last ls-remote when it is at most that old
        (so apps reconciled right after their repository's poll cost no remote call);
        0 always asks the remote.
        """
        result = self._poll_group([source], max_age=max_age)[source.name]
        if isinstance(result, syncer_errors.SyncerError):
            raise result
        return result

    def poll_all(
        self, sources: Sequence[model.Source], *, max_age: float = 0.0
    ) -> dict[str, Result]:
        """Poll many sources; per URL one ls-remote and at most one fetch. One source's
        failure never stops the others: its entry is the error instead."""
        groups: dict[str, list[model.Source]] = {}
        for source in sources:
            groups.setdefault(self._url(source), []).append(source)
        results: dict[str, Result] = {}
        for group in groups.values():
            results.update(self._poll_group(group, max_age=max_age))
        return results

    def current(self, name: str) -> Revision | None:
        """The last good revision of source ``name`` (its snapshot still exists)."""
        return self._current.get(name)

    def checkout(self, source: model.Source, commit: str) -> Revision:
        """A snapshot of a specific ``commit`` of ``source`` (fetching it if needed)."""
        fixed = model.Source(name=source.name, git=_with_commit(git_of(source), commit))
        repo = self._cache(fixed)
        where = f"source {source.name!r} ({repo.display_url})"
        for attempt in (1, 2):
            try:
                with repo.lock:
                    sha, _fetched = self._ensure_commit(repo=repo, source=fixed, where=where)
                    path = repo.snapshot(sha)
                break
            except syncer_errors.SyncerError as exc:
                # A damaged cache is rebuilt once; anything else is the caller's.
                if attempt == 1 and cache.is_local_failure(exc) and repo.heal(failure=exc):
                    metrics.GIT_ERRORS.labels(source=source.name, reason="corrupt-cache").inc()
                    continue
                metrics.GIT_ERRORS.labels(source=source.name, reason=error_reason(exc)).inc()
                raise
        return Revision(
            source=source.name, url=repo.display_url, ref=sha, commit=sha, path=path,
            label=f"commit {sha[:12]}",
        )  # fmt: skip

    def push(self, source: model.Source, *, branch: str, edit: push.Edit) -> push.Pushed | None:
        """Commit what ``edit`` says onto ``branch`` of ``source`` (made from the source's
        branch when missing) and push it with the source's credentials; None when
        nothing had to change (``syncer.source.push``)."""
        assert source.git is not None  # the config refuses write-back from chart sources
        repo = self._cache(source)
        where = f"source {source.name!r} ({repo.display_url})"
        env = self._env(repo=repo, source=source)
        return push.commit_and_push(
            repo=repo, env=env.env, secrets=env.secrets, branch=branch,
            base_branch=source.git.branch, edit=edit, what=where,
        )  # fmt: skip

    def signing_env(self, ref: model.SecretRef, *, what: str) -> dict[str, str]:
        """Environment with which ``git commit-tree -S`` signs with the key ``ref`` holds."""
        try:
            key = self._resolve(ref)
        except syncer_errors.SyncerError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise errors.GitAuthError(f"{what}: cannot read the signing key: {exc}") from exc
        return auth.signing_env(key=key, key_dir=self.settings.cache_dir / "keys", what=what)

    def counts(self, url: str | None = None) -> dict[str, int]:
        """Remote git operations so far (``ls-remote``, ``fetch``), for one URL or all."""
        total = {"ls-remote": 0, "fetch": 0}
        for key, repo in self._caches.items():
            if url is None or key == url or repo.display_url == url:
                for kind, n in repo.counts.items():
                    total[kind] += n
        return total

    def cleanup(self) -> list[str]:
        """Delete snapshots no source is at, keeping a few recent ones per repository."""
        in_use = self._in_use()
        removed: list[str] = []
        for repo in list(self._caches.values()):
            removed += repo.cleanup(keep=in_use, keep_recent=self.settings.keep_snapshots)
        return removed

    def _in_use(self) -> set[str]:
        return {rev.commit for rev in list(self._current.values())}

    # --- one URL ---------------------------------------------------------------------

    def _poll_group(self, group: Sequence[model.Source], *, max_age: float) -> dict[str, Result]:
        """Poll sources that share one URL; a cache found corrupt on the way (``git fsck``
        after a failure that is not the network's) is removed and the poll made again."""
        repo = self._cache(group[0])
        results = self._poll_group_once(group, repo=repo, max_age=max_age)
        local = [
            r
            for r in results.values()
            if isinstance(r, syncer_errors.SyncerError) and cache.is_local_failure(r)
        ]
        if local and repo.heal(failure=local[0]):
            for source in group:
                metrics.GIT_ERRORS.labels(source=source.name, reason="corrupt-cache").inc()
            results = self._poll_group_once(group, repo=repo, max_age=0.0)
        for name, result in results.items():
            if isinstance(result, syncer_errors.SyncerError):
                self._failed(source=_named(group, name), exc=result)
        return results

    def _poll_group_once(
        self, group: Sequence[model.Source], *, repo: cache.RepoCache, max_age: float
    ) -> dict[str, Result]:
        """Poll sources that share one URL: one ls-remote, one fetch of all missing refs."""
        # Another poll's answer is good enough when it arrived after this moment.
        started = self._clock() - max_age
        results: dict[str, Result] = {}
        with repo.lock:
            targets: dict[str, refs.Target] = {}
            remote_sources = [s for s in group if refs.needs_remote(git_of(s))]
            if remote_sources:
                try:
                    remote = self._ls_remote(
                        repo=repo, source=group[0], started=started, what=self._what(repo, group)
                    )
                except syncer_errors.SyncerError as exc:
                    return {s.name: exc for s in group}
                for source in remote_sources:
                    try:
                        targets[source.name] = refs.select(
                            git=git_of(source), remote=remote, where=self._where(repo, source)
                        )
                    except syncer_errors.SyncerError as exc:
                        results[source.name] = exc
            wanted = {t.commit: t.ref for t in targets.values()}  # each commit checked once
            missing = sorted({ref for sha, ref in wanted.items() if not repo.has_commit(sha)})
            if missing:
                try:
                    self._fetch(
                        repo=repo, source=group[0], refs=missing, what=self._what(repo, group)
                    )
                except syncer_errors.SyncerError as exc:
                    for name in list(targets):
                        results[name] = exc
                        del targets[name]
            for source in group:
                if source.name in results:
                    continue
                target = targets.get(source.name)
                try:
                    results[source.name] = self._finish(
                        repo=repo, source=source, target=target,
                        fetched=target is not None and target.ref in missing,
                    )  # fmt: skip
                except syncer_errors.SyncerError as exc:
                    results[source.name] = exc
            made = any(isinstance(r, Revision) and r.changed for r in results.values())
            if made and self.settings.auto_cleanup:
                # A new snapshot was made: drop the ones nobody is at any more, so the
                # cache stays bounded without anyone having to call cleanup().
                repo.cleanup(keep=self._in_use(), keep_recent=self.settings.keep_snapshots)
        return results

    def _ls_remote(
        self, *, repo: cache.RepoCache, source: model.Source, started: float, what: str
    ) -> refs.RemoteRefs:
        last = repo.last_ls_remote
        if last and last[0] >= started:
            # Another poll of this URL asked the remote while we waited for the lock (its
            # answer is as fresh as ours would be: bursts of webhooks coalesce), or
            # within the ``max_age`` the caller accepts.
            return refs.parse_ls_remote(last[1])
        env = self._env(repo=repo, source=source)
        out = repo.ls_remote(env=env.env, secrets=env.secrets, clock=self._clock, what=what)
        return refs.parse_ls_remote(out)

    def _fetch(
        self, *, repo: cache.RepoCache, source: model.Source, refs: list[str], what: str
    ) -> None:
        env = self._env(repo=repo, source=source)
        repo.fetch(refs=refs, env=env.env, secrets=env.secrets, what=what)

    def _finish(
        self,
        *,
        repo: cache.RepoCache,
        source: model.Source,
        target: refs.Target | None,
        fetched: bool,
    ) -> Revision:
        where = self._where(repo, source)
        if target is None:
            # A fixed commit: no ls-remote, fetch only when it is not cached yet.
            sha, fetched = self._ensure_commit(repo=repo, source=source, where=where)
            target = refs.Target(ref=sha, commit=sha, label=f"commit {sha[:12]}")
        elif not repo.has_commit(target.commit):
            # The ref moved again between ls-remote and fetch: use what we fetched.
            fresh = repo.local_ref(target.ref)
            if not fresh:
                raise errors.SourceError(f"{where}: fetch did not bring {target.ref}")
            target = refs.Target(ref=target.ref, commit=fresh, label=target.label)
        before = self._current.get(source.name)
        unmoved = before and before.commit == target.commit and before.ref == target.ref
        if before and unmoved and before.path.is_dir():
            # Nothing moved: no git call at all (100 apps on one repo stay cheap).
            unchanged = dataclasses.replace(
                before, previous=before.commit, fetched=fetched, forced=False
            )
            self._current[source.name] = unchanged
            return unchanged
        previous = before.commit if before else repo.local_ref(target.ref)
        if target.ref.startswith("refs/") and repo.local_ref(target.ref) != target.commit:
            repo.set_local_ref(target.ref, target.commit)
        forced = bool(
            previous
            and previous != target.commit
            and repo.has_commit(previous)
            and not repo.is_ancestor(previous, target.commit)
        )
        if forced:
            log.warning(
                "event=force-push source=%s url=%s ref=%s old=%s new=%s",
                source.name, repo.display_url, target.ref, previous, target.commit,
            )  # fmt: skip
        revision = Revision(
            source=source.name, url=repo.display_url, ref=target.ref, commit=target.commit,
            path=repo.snapshot(target.commit), label=target.label,
            previous=previous if before else "", fetched=fetched, forced=forced,
        )  # fmt: skip
        self._current[source.name] = revision
        if revision.changed:
            log.info(
                "event=revision source=%s url=%s ref=%s commit=%s fetched=%s forced=%s",
                source.name, repo.display_url, target.ref, target.commit, fetched, forced,
            )  # fmt: skip
        return revision

    def _ensure_commit(
        self, *, repo: cache.RepoCache, source: model.Source, where: str
    ) -> tuple[str, bool]:
        """The full SHA of the source's fixed commit, and whether it had to be fetched."""
        wanted = git_of(source).commit
        if repo.has_commit(wanted):
            return repo.resolve(wanted), False
        env = self._env(repo=repo, source=source)
        # Branches and tags first (works on every server); then the SHA itself, which
        # servers allow when it is reachable (uploadpack.allowReachableSHA1InWant).
        repo.fetch(
            refs=["refs/heads/*", "refs/tags/*"], env=env.env, secrets=env.secrets, what=where
        )
        if not repo.has_commit(wanted) and len(wanted) == 40:
            with contextlib.suppress(errors.SourceError):
                # reported just below, in words the user can act on
                repo.fetch(refs=[wanted], env=env.env, secrets=env.secrets, what=where)
        if not repo.has_commit(wanted):
            raise errors.RefNotFoundError(
                f"{where}: commit {wanted} is not in the repository (not pushed, or "
                "rewritten away); set a commit that exists"
            )
        return repo.resolve(wanted), True

    def _failed(self, *, source: model.Source, exc: syncer_errors.SyncerError) -> None:
        last = self._current.get(source.name)
        metrics.GIT_ERRORS.labels(source=source.name, reason=error_reason(exc)).inc()
        # info, not warning: the caller reports the error itself (CLI line, app status).
        log.info(
            "event=poll-failed source=%s error=%s last_good=%s",
            source.name, exc, last.commit if last else "none",
        )  # fmt: skip

    # --- plumbing --------------------------------------------------------------------

    @staticmethod
    def _where(repo: cache.RepoCache, source: model.Source) -> str:
        return f"source {source.name!r} ({repo.display_url})"

    @classmethod
    def _what(cls, repo: cache.RepoCache, group: Sequence[model.Source]) -> str:
        """How errors of a shared remote call name it: the source, or just the URL."""
        return cls._where(repo, group[0]) if len(group) == 1 else repo.display_url

    def _url(self, source: model.Source) -> str:
        return urls.normalize(git_of(source).url, base_dir=self.settings.base_dir)

    def _cache(self, source: model.Source) -> cache.RepoCache:
        url = self._url(source)
        with self._guard:
            repo = self._caches.get(url)
            if repo is None:
                repo = cache.RepoCache(
                    root=self.settings.cache_dir, url=url,
                    display_url=urls.display(git_of(source).url), timeout=git_of(source).timeout,
                )  # fmt: skip
                self._caches[url] = repo
            return repo

    def _env(self, *, repo: cache.RepoCache, source: model.Source) -> auth.GitEnv:
        try:
            return auth.git_env(
                auth=git_of(source).auth, resolve=self._resolve,
                key_dir=self.settings.cache_dir / "keys", connect_timeout=git_of(source).timeout,
            )  # fmt: skip
        except syncer_errors.SyncerError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise errors.GitAuthError(
                f"source {source.name!r} ({repo.display_url}): cannot read credentials: {exc}"
            ) from exc


def error_reason(exc: Exception) -> str:
    """The ``reason`` label of ``syncer_git_errors_total`` for a failed poll."""
    if isinstance(exc, errors.GitUnavailableError):
        return "unreachable"
    if isinstance(exc, errors.GitAuthError):
        return "auth"
    if isinstance(exc, errors.RefNotFoundError):
        return "ref-not-found"
    return "other"


def git_of(source: model.Source) -> model.GitSource:
    """The Git settings of a source that has them (chart sources never come here)."""
    if source.git is None:
        raise errors.SourceError(f"source {source.name!r} is not a Git repository")
    return source.git


def _named(group: Sequence[model.Source], name: str) -> model.Source:
    return next(s for s in group if s.name == name)


def _with_commit(git: model.GitSource, commit: str) -> model.GitSource:
    return model.GitSource(url=git.url, commit=commit, timeout=git.timeout, auth=git.auth)


def _default_resolver(*, base_dir: Path, read_secret: secrets.SecretReader | None) -> auth.Resolver:
    return functools.partial(secrets.resolve, base_dir=str(base_dir), read_secret=read_secret)
