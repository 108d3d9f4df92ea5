"""A state file of schema 2 (releases identified by commit) is migrated in place: what
already runs is recognised as the same release, so an upgrade rolls nothing out again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from syncer import release, state
from syncer.reconcile import app as app_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import plan as plan_
from syncer.state import records, schema
from tests.controller import fakes

OLD_ID = "0f" * 32


def write_schema_2_file(path: Path, *, parts: fakes.FakeParts) -> None:
    """What a syncer of schema 2 left: one release, rolled out and healthy on a and b."""
    cfg = fakes.config()
    image = parts.decide(cfg.apps[0].images[0])
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(schema.MIGRATIONS[0] + schema.MIGRATIONS[1])
    db.execute(
        "INSERT INTO releases VALUES (?,?,?,?,?,?,?)",
        (
            OLD_ID, "web", "deploy", parts.commit, json.dumps([image.to_dict()]),
            release.config_digest(cfg.apps[0]), 100.0,
        ),
    )  # fmt: skip
    db.execute(
        "INSERT INTO rollouts (app, release_id, cause, created_at, finished_at) "
        "VALUES ('web', ?, 'new-release', 100, 101)",
        (OLD_ID,),
    )
    for cluster in ("a", "b"):
        db.execute(
            "INSERT INTO targets (rollout_id, app, cluster, release_id, state, attempts, "
            "started_at, updated_at, finished_at) VALUES (1, 'web', ?, ?, 'healthy', 1, 100, "
            "101, 101)",
            (cluster, OLD_ID),
        )
        db.execute(
            "INSERT INTO deployments VALUES ('web', ?, ?, 1, ?, 101)", (cluster, OLD_ID, OLD_ID)
        )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()


def test_schema_2_file_is_migrated_and_its_release_recognised(store_path: Path) -> None:
    parts = fakes.FakeParts()
    write_schema_2_file(store_path, parts=parts)
    store = state.open_store(store_path)
    try:
        (old,) = store.releases("web")
        assert old.id == OLD_ID and old.content == ""
        assert {d.applied_at for d in store.deployments("web")} == {101.0}
        assert store.holds("web") == []
        cfg = fakes.config()
        # plan already names what runs as the release (and writes nothing)...
        planned = plan_.plan_app(config=cfg, parts=parts, store=store, name="web")
        assert planned.release == OLD_ID
        assert store.releases("web")[0].content == ""
        # ...and so does the first reconcile, which gives it its content.
        inputs = inputs_.Inputs(config=cfg, parts=parts, store=store, fresh_window=0)
        rec = app_.Reconciler(config=cfg, store=store, parts=parts, inputs=inputs)
        out = rec.reconcile("web", fresh=True)
        assert out.ok and out.release == OLD_ID, out
        assert out.clusters == {} and parts.applies == []  # nothing rolled out again
        (same,) = store.releases("web")
        assert same.id == OLD_ID and same.content.startswith("sha256:")
        assert [e.kind for e in store.history("web")] == []
        assert len(store.rollouts("web")) == 1
        # A later commit is a new release, by content, as usual.
        parts.commit = "2" * 40
        out = rec.reconcile("web", fresh=True)
        assert out.ok and out.release != OLD_ID
        assert out.clusters == {"a": records.HEALTHY, "b": records.HEALTHY}
    finally:
        store.close()
    with sqlite3.connect(store_path) as db:
        assert int(db.execute("PRAGMA user_version").fetchone()[0]) == schema.VERSION >= 3
