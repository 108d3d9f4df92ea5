"""The SQLite schema of ``syncer.state.sqlite``, as numbered migrations.

``PRAGMA user_version`` holds the version a database is at; opening a store applies
every later migration in one transaction each, so an old state file is upgraded in
place and a half-applied migration never exists. A file written by a newer syncer is
refused with a clear error rather than misread.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: releases, rollouts with per-cluster targets, deployments, history, inventories,
    #    last-seen images and Git heads, errors.
    """
    CREATE TABLE releases (
        id TEXT NOT NULL,
        app TEXT NOT NULL,
        source TEXT NOT NULL,
        git_commit TEXT NOT NULL,
        images TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (app, id)
    );
    CREATE INDEX releases_by_time ON releases (app, created_at);
    CREATE TABLE rollouts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        app TEXT NOT NULL,
        release_id TEXT NOT NULL,
        cause TEXT NOT NULL,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX rollouts_by_app ON rollouts (app, id);
    CREATE TABLE targets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
        app TEXT NOT NULL,
        cluster TEXT NOT NULL,
        release_id TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        started_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX targets_by_rollout ON targets (rollout_id);
    CREATE INDEX targets_by_release ON targets (app, release_id);
    CREATE TABLE deployments (
        app TEXT NOT NULL,
        cluster TEXT NOT NULL,
        release_id TEXT NOT NULL,
        healthy INTEGER NOT NULL,
        last_healthy_release TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL,
        PRIMARY KEY (app, cluster)
    );
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        app TEXT NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        release_id TEXT NOT NULL DEFAULT '',
        cluster TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX history_by_app ON history (app, id);
    CREATE TABLE inventories (
        app TEXT NOT NULL,
        cluster TEXT NOT NULL,
        objects TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (app, cluster)
    );
    CREATE TABLE seen_images (
        repository TEXT NOT NULL,
        policy TEXT NOT NULL,
        tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (repository, policy)
    );
    CREATE TABLE git_heads (
        source TEXT NOT NULL,
        ref TEXT NOT NULL,
        git_commit TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (source, ref)
    );
    CREATE TABLE errors (
        app TEXT NOT NULL,
        cluster TEXT NOT NULL,
        stage TEXT NOT NULL,
        message TEXT NOT NULL,
        since REAL NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (app, cluster)
    );
    """,
    # 2: rejected releases (rolled back from), pending approvals, and the outcome of
    #    each app's last reconcile.
    """
    CREATE TABLE rejected (
        app TEXT NOT NULL,
        release_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (app, release_id)
    );
    CREATE TABLE approvals (
        app TEXT NOT NULL,
        stage TEXT NOT NULL,
        release_id TEXT NOT NULL,
        requested_at REAL NOT NULL,
        approved_at REAL,
        approved_by TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (app, stage, release_id)
    );
    CREATE TABLE runs (
        app TEXT PRIMARY KEY,
        last_attempt_at REAL NOT NULL,
        last_success_at REAL,
        result TEXT NOT NULL,
        message TEXT NOT NULL,
        desired_release TEXT NOT NULL
    );
    """,
    # 3: release identity by content (a commit that changes nothing an app deploys makes
    #    no release; old releases get their content filled in when first seen again),
    #    holds (rollback pins and suspensions, per app or pipeline stage) and the time
    #    of each cluster's last apply.
    """
    ALTER TABLE releases ADD COLUMN content TEXT NOT NULL DEFAULT '';
    CREATE INDEX releases_by_content ON releases (app, content);
    CREATE TABLE holds (
        app TEXT NOT NULL,
        stage TEXT NOT NULL,
        kind TEXT NOT NULL,
        release_id TEXT NOT NULL DEFAULT '',
        held_by TEXT NOT NULL,
        at REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (app, stage, kind)
    );
    ALTER TABLE deployments ADD COLUMN applied_at REAL;
    UPDATE deployments SET applied_at = updated_at;
    """,
    # 4: notifications: every history entry also goes into the outbox in its own
    #    transaction; the notification worker routes it into deliveries (one per
    #    provider, retried until sent). Keys of events recorded at most once.
    """
    CREATE TABLE outbox (
        history_id INTEGER PRIMARY KEY,
        event TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        cluster TEXT NOT NULL DEFAULT '',
        event TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        next_at REAL NOT NULL,
        done_at REAL
    );
    CREATE INDEX deliveries_due ON deliveries (state, next_at);
    CREATE TABLE event_keys (
        key TEXT PRIMARY KEY,
        at REAL NOT NULL
    );
    """,
    # 5: the last Git write-back of each app (the images it wrote, where, which commit),
    #    so a reconcile writes each choice of images once, also across restarts.
    """
    CREATE TABLE write_backs (
        app TEXT PRIMARY KEY,
        images TEXT NOT NULL,
        branch TEXT NOT NULL,
        git_commit TEXT NOT NULL,
        at REAL NOT NULL
    );
    """,
)

VERSION = len(MIGRATIONS)
"""The schema version this syncer writes."""
