"""Which commit a source wants, from the refs a remote advertises.

``syncer.source.sources`` runs ``ls-remote`` (through ``syncer.source.cache``), parses it
with ``parse_ls_remote`` and asks ``select`` for the target: a branch, a tag, the highest
tag in a semver range, a fixed commit, or (none of these set) the remote's HEAD.
Nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import errors as registry_errors
from registry.policies import semver
from syncer.config import model
from syncer.source import errors


@dataclass(frozen=True)
class RemoteRefs:
    """What ``git ls-remote --symref`` said: ref name -> commit (tags peeled)."""

    commits: dict[str, str]
    head_target: str = ""
    """The branch HEAD points at (``refs/heads/main``), when the server says."""

    def tags(self) -> list[str]:
        return [r.removeprefix("refs/tags/") for r in self.commits if r.startswith("refs/tags/")]


@dataclass(frozen=True)
class Target:
    """A source's wish, resolved: fetch ``ref`` and use ``commit``."""

    ref: str
    """Full ref name to fetch (``refs/heads/main``), or the commit SHA for fixed commits."""
    commit: str
    label: str
    """How users name it in messages: ``branch 'main'``, ``tag 'v1.2.0' (semver ^1)``."""


def parse_ls_remote(text: str) -> RemoteRefs:
    commits: dict[str, str] = {}
    peeled: dict[str, str] = {}
    head_target = ""
    for line in text.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            head_target = line[5:].split("\t")[0]
            continue
        sha, _, name = line.partition("\t")
        if not name:
            continue
        if name.endswith("^{}"):
            # An annotated tag: the commit it points at is what we deploy.
            peeled[name[:-3]] = sha
        else:
            commits[name] = sha
    commits.update(peeled)
    return RemoteRefs(commits=commits, head_target=head_target)


def describe(git: model.GitSource) -> str:
    """How the source's wish reads in messages."""
    if git.commit:
        return f"commit {git.commit}"
    if git.tag:
        return f"tag {git.tag!r}"
    if git.semver:
        return f"semver range {git.semver!r}"
    if git.branch:
        return f"branch {git.branch!r}"
    return "the remote HEAD"


def needs_remote(git: model.GitSource) -> bool:
    """False for a fixed commit: its content never changes, so no ls-remote is needed."""
    return not git.commit


def select(*, git: model.GitSource, remote: RemoteRefs, where: str) -> Target:
    """The target of ``git`` among ``remote``'s refs; ``RefNotFoundError`` when absent."""
    if git.commit:
        return Target(ref=git.commit, commit=git.commit, label=describe(git))
    if git.semver:
        # The same ranges and tag reading as image policies (registry.policies.semver).
        try:
            chooser = semver.Semver.build(git.semver)
        except registry_errors.InvalidPolicyError as exc:
            raise errors.RefNotFoundError(f"{where}: {exc}") from exc
        outcome = chooser.pick([(tag, tag) for tag in remote.tags()])
        if outcome.tag is None:
            raise errors.RefNotFoundError(
                f"{where}: no tag matches semver range {git.semver!r} "
                f"(tags: {', '.join(sorted(remote.tags())[:10]) or 'none'})"
            )
        ref = f"refs/tags/{outcome.tag}"
        label = f"tag {outcome.tag!r} ({git.semver})"
        return Target(ref=ref, commit=remote.commits[ref], label=label)
    if git.tag:
        ref = f"refs/tags/{git.tag}"
    elif git.branch:
        ref = f"refs/heads/{git.branch}"
    else:
        ref = remote.head_target or "HEAD"
    if ref not in remote.commits:
        raise errors.RefNotFoundError(
            f"{where}: {describe(git)} does not exist on the remote (deleted or misspelt?)"
        )
    return Target(ref=ref, commit=remote.commits[ref], label=describe(git))
