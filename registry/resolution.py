"""``resolve()``: from a repository and a policy to a ``Decision``, as cheaply as possible.

Called by the CLI and ``syncer.images`` with a ``registry.client.Client`` (or a ``Pool``
that hands out one client per host). A tag policy lists tags (one request per page, or a
304) and, only when the winning tag or the tag list changed, HEADs the winner for its
digest; a digest policy is a single HEAD. ``PollCache`` remembers the last listing per
repository and policy, so a poll where nothing changed costs exactly one request.
Tag policies treat tags as immutable (a re-pushed version tag is noticed when the list
changes); follow mutable tags with the digest policy. For the same reason a tag seen
before (``seen``: what a previous process picked, kept in its state) needs no HEAD when it
wins again, so a restart costs one request too. When a limit (scan budget, page
cap) cut the listing, the newest tag may lie beyond it: the tags running now
(``running``) then count as read, so a cut listing never chooses below them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from registry import client, decision, errors, policies, reference

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollMemo:
    """What the last poll saw: enough to answer the next one without a HEAD."""

    fingerprint: str
    etag: str
    decision: decision.Decision


class PollCache:
    """Last poll per (repository, policy label); thread-safe; may be seeded from state."""

    def __init__(self) -> None:
        self._memos: dict[tuple[str, str], PollMemo] = {}
        self._created: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, repository: str, policy: str) -> PollMemo | None:
        with self._lock:
            return self._memos.get((repository, policy))

    def put(self, repository: str, policy: str, memo: PollMemo) -> None:
        with self._lock:
            self._memos[(repository, policy)] = memo

    def forget(self, repository: str) -> None:
        """Drop memos of a repository (e.g. after a registry webhook said it changed)."""
        with self._lock:
            for key in [k for k in self._memos if k[0] == repository]:
                del self._memos[key]
            for created in [k for k in self._created if k[0] == repository]:
                del self._created[created]

    def created(self, key: tuple[str, str, str]) -> str | None:
        """The build time read earlier for (repository, platform, tag), if any."""
        with self._lock:
            return self._created.get(key)

    def remember_created(self, key: tuple[str, str, str], value: str) -> None:
        with self._lock:
            self._created[key] = value


class ClientSource(Protocol):
    def client_for(self, host: str) -> client.Client: ...


def _client(source: client.Client | ClientSource, host: str) -> client.Client:
    if isinstance(source, client.Client):
        if source.host != host:
            raise errors.InvalidReferenceError(f"the client talks to {source.host}, not to {host}")
        return source
    return source.client_for(host)


def resolve(
    repository: str | reference.Reference,
    policy: str | policies.Policy,
    *,
    client: client.Client | ClientSource,
    cache: PollCache | None = None,
    pattern: str = "",
    extract: str = "",
    ignore_tags: Sequence[str] = (),
    running: Callable[[], Iterable[tuple[str, str]]] | None = None,
    seen: tuple[str, str] | None = None,
) -> decision.Decision:
    """Which image should run now. ``policy`` is ``KIND:VALUE`` or a built policy;
    ``pattern``/``extract`` (a regex filter) and ``ignore_tags`` (globs) go with a
    ``KIND:VALUE``.

    ``running`` gives the (tag, digest) pairs of the images running now (digest may be
    ""); it is called only when a limit cut the tag listing, and then a running tag the
    policy ranks above every tag read is kept, with a ``warning`` saying so.

    ``seen`` is the (tag, digest) this policy picked before (a previous process): when a
    tag policy picks that tag again, its digest is taken from there instead of a HEAD.

    Raises ``NoCandidateError`` (with the reason) when no tag qualifies, and the other
    ``registry.errors`` for registry trouble.
    """
    ref = (
        repository
        if isinstance(repository, reference.Reference)
        else reference.parse_repository(repository)
    )
    built = (
        policies.parse(policy, pattern=pattern, extract=extract, ignore_tags=ignore_tags)
        if isinstance(policy, str)
        else policy
    )
    api = _client(client, ref.domain)
    if isinstance(built, policies.digest.Digest):
        found = _follow_digest(api=api, ref=ref, policy=built, cache=cache)
    else:
        found = _choose_tag(api=api, ref=ref, policy=built, cache=cache, running=running, seen=seen)
    log.debug(
        "repository=%s policy=%s tag=%s digest=%s reason=%r",
        found.repository,
        found.policy,
        found.tag,
        found.digest,
        found.reason,
    )
    return found


def _follow_digest(
    *,
    api: client.Client,
    ref: reference.Reference,
    policy: policies.digest.Digest,
    cache: PollCache | None,
) -> decision.Decision:
    """One HEAD: the current digest of the followed tag."""
    name = ref.repository
    try:
        digest = api.head_digest(ref, policy.tag)
    except errors.NotFoundError as err:
        # For a digest policy the tag is the only candidate: its absence is "no match".
        raise errors.NoCandidateError(
            f"{name}: tag {policy.tag!r} does not exist (or the repository does not); "
            f"nothing to follow for {policy.label}"
        ) from err
    memo = cache.get(name, policy.label) if cache else None
    reason = f"{policy.tag}@{digest}: current digest of mutable tag {policy.tag}"
    if memo and memo.decision.digest != digest:
        reason += f" (was {memo.decision.digest})"
    elif memo:
        # Unchanged: the very same decision, so callers comparing decisions see no change.
        return memo.decision
    found = decision.make(
        repository=name, tag=policy.tag, digest=digest, reason=reason, policy=policy.label
    )
    if cache:
        cache.put(name, policy.label, PollMemo("", "", found))
    return found


def _choose_tag(
    *,
    api: client.Client,
    ref: reference.Reference,
    policy: policies.base.TagPolicy,
    cache: PollCache | None,
    running: Callable[[], Iterable[tuple[str, str]]] | None = None,
    seen: tuple[str, str] | None = None,
) -> decision.Decision:
    """List tags (one request per page, or a 304); HEAD the winner only when it may differ
    (not the same tags as the last poll, and not the tag ``seen`` with its digest)."""
    name = ref.repository
    memo = cache.get(name, policy.label) if cache else None
    listing = api.list_tags(ref, etag=memo.etag if memo else "")
    if memo and (listing.not_modified or listing.fingerprint == memo.fingerprint):
        # Same tags as last time, so the same winner: its digest is already known.
        return memo.decision
    if isinstance(policy.orderer, policies.newest_build.NewestBuild):
        policy = _with_build_times(api=api, ref=ref, policy=policy, cache=cache)
    selection = policy.select(
        listing.tags,
        truncated_at=len(listing.tags) if listing.truncated else 0,
        limit=listing.limit,
        invalid=listing.invalid,
    )
    kept = _kept(listing=listing, policy=policy, selection=selection, running=running)
    if kept is not None:
        tag, digest = kept
        best = selection.tag or "none"
        warning = (
            f"{name}: the tag list is longer than {listing.limit}; the best tag read "
            f"({best}) ranks below the running {tag}, so {tag} is kept. Raise scanBudget "
            f"of registry {api.host} or narrow the policy with a filter"
        )
        log.warning(
            "repository=%s policy=%s kept=%s best_read=%s limit=%r",
            name,
            policy.label,
            tag,
            best,
            listing.limit,
        )
        found = decision.make(
            repository=name,
            tag=tag,
            digest=digest or api.head_digest(ref, tag),
            reason=f"{tag}: kept the running tag, {listing.limit} cut the tag list "
            f"and the best tag read ({best}) ranks below it",
            policy=policy.label,
            warning=warning,
        )
    elif selection.tag is None:
        raise errors.NoCandidateError(f"{name}: {selection.reason}")
    else:
        # Tags are immutable to tag policies: the digest seen for this tag still holds.
        known = seen[1] if seen is not None and seen[0] == selection.tag else ""
        found = decision.make(
            repository=name,
            tag=selection.tag,
            digest=known or api.head_digest(ref, selection.tag),
            reason=selection.reason,
            policy=policy.label,
        )
    if cache:
        cache.put(name, policy.label, PollMemo(listing.fingerprint, listing.etag, found))
    return found


def _with_build_times(
    *,
    api: client.Client,
    ref: reference.Reference,
    policy: policies.base.TagPolicy,
    cache: PollCache | None,
) -> policies.base.TagPolicy:
    """The newest-build policy with its lookup of build times (cached per tag: tags are
    treated as immutable, so each tag's config is read once)."""
    orderer = policy.orderer
    assert isinstance(orderer, policies.newest_build.NewestBuild)
    platform = orderer.platform
    times = cache if cache is not None else PollCache()

    def created(tag: str) -> str:
        key = (ref.repository, platform, tag)
        found = times.created(key)
        if found is None:
            try:
                found = api.image_created(ref, tag, platform=platform)
            except errors.NotFoundError as err:
                if err.code != "PLATFORM_UNKNOWN":
                    raise
                found = ""  # a multi-arch image without our platform: no build time
            times.remember_created(key, found)
        return found

    return dataclasses.replace(policy, orderer=orderer.with_lookup(created))


def _kept(
    *,
    listing: client.TagList,
    policy: policies.base.TagPolicy,
    selection: policies.base.Selection,
    running: Callable[[], Iterable[tuple[str, str]]] | None,
) -> tuple[str, str] | None:
    """The running (tag, digest) to keep instead of ``selection``, or None.

    Only a cut listing may hide the newest tag; a complete one is the truth (a running
    tag missing from it was deleted, and the policy may choose below it).
    """
    if not listing.truncated or running is None:
        return None
    read = set(listing.tags)
    unseen = {tag: digest for tag, digest in running() if reference.is_tag(tag) and tag not in read}
    if not unseen:
        return None
    # The policy ranks the running tags as if the listing had read them.
    best = policy.select([*listing.tags, *unseen]).tag
    if best is None or best not in unseen:
        return None
    return best, unseen[best]
