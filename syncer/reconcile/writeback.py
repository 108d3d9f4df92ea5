"""When Git is told which images an app runs: after a reconcile, once per choice.

``syncer.reconcile.app`` calls ``after_reconcile`` at the end of every pass of an app
with ``writeBack``. A release's images are written back once one cluster runs the
release healthy (an image a rollback threw out never reaches Git) and the app is not
held (suspended or pinned by a rollback). What was written is kept in
``syncer.state`` (``write_back``), so each choice of images costs one push, also across
restarts; a failure is recorded in history once and tried again at the next pass.

The commit this makes comes back through the next Git poll; it renders to the same
objects with the same images, so the content-addressed release is the one already
running and no second release follows. Another person's change in the same commit (a
push race, re-applied on top of theirs) changes the content and is deployed as usual.
"""

from __future__ import annotations

import logging
from typing import Any

from syncer import errors, release
from syncer.config import model
from syncer.reconcile import parts as parts_
from syncer.state import records
from syncer.state import store as store_

log = logging.getLogger("syncer.reconcile")


def pending(*, store: store_.Store, app: model.App, rel: release.Release) -> bool:
    """Whether Git should be told ``rel``'s images now."""
    if app.write_back is None or not rel.images:
        return False
    done = store.write_back(app.name)
    if done is not None and list(done.images) == rel.image_refs():
        return False
    if rel.id in store.rejected(app.name) or store.holds(app.name):
        # Rolled back from, or a person holds the app: Git keeps naming what it named.
        return False
    return any(t.state == records.HEALTHY for t in store.targets_of_release(app.name, rel.id))


def after_reconcile(
    *,
    store: store_.Store,
    parts: parts_.Parts,
    app: model.App,
    source: model.Source,
    rel: release.Release,
) -> str:
    """Write ``rel``'s images back when due; a sentence for the outcome ("" when
    nothing was due)."""
    if not pending(store=store, app=app, rel=rel):
        return ""
    try:
        done = parts.write_back(app=app, source=source, images=rel.images)
    except errors.SyncerError as err:
        store.record(
            app=app.name, kind="warning", release_id=rel.id,
            message=f"write-back: {err}", once=True,
        )  # fmt: skip
        log.warning("app=%s release=%s write-back failed: %s", app.name, rel.short_id, err)
        return f"write-back failed: {err}"
    store.set_write_back(
        app=app.name, images=rel.image_refs(), branch=done.branch, commit=done.commit
    )
    if not done.commit:
        return ""  # Git already names these images: nothing committed, nothing to say
    text = (
        f"wrote {len(done.changes)} image change(s) to Git: commit {done.commit[:12]}"
        f" on {done.branch}"
    )
    store.record(
        app=app.name,
        kind="write-back",
        release_id=rel.id,
        message=text,
        data={
            "branch": done.branch,
            "commit": done.commit,
            "attempts": done.attempts,
            "changes": list(done.changes),
        },
    )
    log.info(
        "app=%s release=%s event=write-back branch=%s commit=%s changes=%d attempts=%d",
        app.name, rel.short_id, done.branch, done.commit, len(done.changes), done.attempts,
    )  # fmt: skip
    return text


def status(*, store: store_.Store, app: model.App, desired: str) -> dict[str, Any] | None:
    """The app's write-back in ``status``: what Git was last told, and the images of
    the desired release it has not been told yet (``pending``)."""
    if app.write_back is None:
        return None
    done = store.write_back(app.name)
    rel = store.get_release(app.name, desired) if desired else None
    wanted = rel.image_refs() if rel is not None else []
    written = list(done.images) if done is not None else []
    return {
        "branch": done.branch if done is not None else "",
        "commit": done.commit if done is not None else "",
        "at": done.at if done is not None else None,
        "images": written,
        "pending": [ref for ref in wanted if ref not in written],
    }
