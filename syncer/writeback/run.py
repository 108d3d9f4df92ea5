"""One write-back: the app's chosen images committed to Git and pushed.

``syncer.reconcile.live`` calls ``write`` when the reconcile decides Git should name a
release's images (``syncer.reconcile.writeback``); ``syncer plan`` calls ``preview``.
``write`` hands ``syncer.source`` an edit function that computes the changes
(``syncer.writeback.targets``) on whatever head the branch has -- so after a push race
they are made again on the new head -- and builds the commit message from them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from syncer import release
from syncer.config import model
from syncer.source import push
from syncer.writeback import targets

TRAILER = "Syncer-Write-Back"
"""Trailer the default message ends with (``Syncer-Write-Back: APP``): a person reading
``git log`` sees which commits syncer made."""


class Pusher(Protocol):
    """``syncer.source.GitSources``, as far as a write-back needs it."""

    def push(self, source: model.Source, *, branch: str, edit: push.Edit) -> push.Pushed | None: ...

    def signing_env(self, ref: model.SecretRef, *, what: str) -> dict[str, str]: ...


@dataclasses.dataclass(frozen=True)
class Result:
    """What a write-back did: the commit pushed ("" when Git already said it all)."""

    branch: str
    commit: str = ""
    changes: tuple[targets.Change, ...] = ()
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "commit": self.commit,
            "attempts": self.attempts,
            "changes": [c.to_dict() for c in self.changes],
        }


def branch_of(app: model.App, source: model.Source) -> str:
    """The branch a write-back goes to: ``writeBack.branch`` with ``{app}`` filled in,
    else the branch the source follows."""
    assert app.write_back is not None and source.git is not None
    return app.write_back.branch.replace("{app}", app.name) or source.git.branch


def write(
    *,
    pusher: Pusher,
    source: model.Source,
    app: model.App,
    images: Sequence[release.Image],
) -> Result:
    """Make the app's write-back targets name ``images`` on its branch, in one commit."""
    assert app.write_back is not None
    wb = app.write_back
    branch = branch_of(app, source)
    what = f"app {app.name}: write-back"
    sign_env = (
        pusher.signing_env(wb.commit.signing_key_from, what=what)
        if wb.commit.signing_key_from
        else {}
    )
    made: list[tuple[targets.Edited, ...]] = []

    def edit(root: Path, _head: str) -> tuple[list[push.NewFile], push.Commit] | None:
        edited = targets.changes(root=root, app=app, images=images)
        made.append(tuple(edited))
        if not edited:
            return None
        files = [push.NewFile(path=e.path, content=e.text.encode()) for e in edited]
        changes = [c for e in edited for c in e.changes]
        return files, push.Commit(
            author_name=wb.commit.author_name,
            author_email=wb.commit.author_email,
            message=message(app=app, branch=branch, changes=changes, images=images),
            sign_env=sign_env,
        )

    pushed = pusher.push(source, branch=branch, edit=edit)
    last = made[-1] if made else ()
    return Result(
        branch=branch,
        commit=pushed.commit if pushed else "",
        changes=tuple(c for e in last for c in e.changes),
        attempts=pushed.attempts if pushed else 0,
    )


def preview(*, root: Path, app: model.App, images: Sequence[release.Image]) -> list[targets.Change]:
    """What a write-back of ``images`` would change in the checkout ``root``."""
    return [c for e in targets.changes(root=root, app=app, images=images) for c in e.changes]


def message(
    *,
    app: model.App,
    branch: str,
    changes: Sequence[targets.Change],
    images: Sequence[release.Image],
) -> str:
    """The commit message from the app's template."""
    assert app.write_back is not None
    text = app.write_back.commit.message.format(
        app=app.name,
        branch=branch,
        changes="".join(f"- {c.line()}\n" for c in changes),
        images=", ".join(i.ref for i in images),
    )
    return text.strip() + "\n"
