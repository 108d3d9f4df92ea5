"""``SqliteStore``: the default ``Store``, one SQLite file in WAL mode.

Opened by ``syncer.state.open_store`` for the controller and the CLI; several
processes may share the file (``syncer run`` writing, ``syncer status`` reading), which
WAL allows without blocking readers. Every write is one ``BEGIN IMMEDIATE``
transaction with ``synchronous=FULL``, so a ``kill -9`` leaves either the whole change
or none of it. Within a process, writes take turns on one connection, and reads go to
a few read connections of their own: a read sees every write committed before it began,
and never queues behind a write transaction (WAL again). ``sqlite3`` errors never leave
this module: they become ``syncer.errors`` exceptions naming the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from syncer import errors
from syncer import release as release_mod
from syncer.state import records, schema

log = logging.getLogger("syncer.state")

BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another process's transaction (10s: far above any of ours)."""
_OPEN = tuple(sorted(records.OPEN_STATES))
"""The open target states as SQL arguments, always in the same order."""
_OPEN_MARKS = ",".join("?" * len(_OPEN))
"""Their placeholders, for ``state IN (...)``."""
OUTBOX_MAX = 100_000
"""Events waiting to be routed at most: a state file nobody routes (no notification
worker ever runs on it) stops growing there; the rest is dropped and logged."""
FINISHED_DELIVERIES_KEPT = 5000
"""Delivered or abandoned notifications kept for ``deliveries()`` (the newest)."""
READERS = 4
"""Read connections of a store on a file. On the one connection that also writes, every
read of a busy ``syncer run`` waited for the write transaction in progress, and for the
thread holding it to get the interpreter back after each statement."""
READER_CACHE_KIB = 1024
"""Page cache of each read connection (SQLite's default is 2 MiB per connection)."""


class SqliteStore:
    """A ``Store`` in one SQLite file (``:memory:`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._attempts = records.Attempts()
        self._writing = threading.local()
        """``active``: this thread is inside a write transaction (its reads must see it)."""
        self._readers: queue.SimpleQueue[sqlite3.Connection] | None = None
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            if self.path != ":memory:":  # a second connection to :memory: is another database
                self._readers = queue.SimpleQueue()
                for _ in range(READERS):
                    self._readers.put(self._reader())
        except sqlite3.DatabaseError as err:
            raise errors.PermanentError(
                f"state file {self.path}: {err}: move it away to start with empty state"
            ) from err
        except OSError as err:
            raise errors.PermanentError(f"state file {self.path}: {err}") from err

    # --- plumbing ---------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        reader.row_factory = sqlite3.Row
        reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        reader.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        reader.execute("PRAGMA query_only = ON")
        return reader

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > schema.VERSION:
            raise errors.PermanentError(
                f"state file {self.path} has schema version {version}, this syncer knows "
                f"up to {schema.VERSION}: upgrade syncer or use another state file"
            )
        for number in range(version + 1, schema.VERSION + 1):
            # executescript commits first; wrap the migration and the version bump in
            # one explicit transaction so that a crash leaves the old version intact.
            script = schema.MIGRATIONS[number - 1]
            try:
                self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )
            except sqlite3.OperationalError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                # Another process opening the same new file migrated it first.
                if int(self._db.execute("PRAGMA user_version").fetchone()[0]) < number:
                    raise

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (serialised in-process, IMMEDIATE across processes)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                raise errors.TemporaryError(
                    f"state file {self.path} is busy: {err}", retry_after=1.0
                ) from err
            self._writing.active = True
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as err:
                    self._db.execute("ROLLBACK")
                    raise errors.SyncerError(f"state file {self.path}: {err}") from err
            finally:
                self._writing.active = False

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        readers = self._readers
        if readers is None or getattr(self._writing, "active", False):
            with self._lock:
                return self._read(self._db, sql, args)
        reader = readers.get()
        try:
            return self._read(reader, sql, args)
        finally:
            readers.put(reader)

    def _read(self, db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
        try:
            return list(db.execute(sql, tuple(args)).fetchall())
        except sqlite3.Error as err:
            raise errors.SyncerError(f"state file {self.path}: {err}") from err

    def close(self) -> None:
        with self._lock:
            self._db.close()
            readers, self._readers = self._readers, None
            while readers is not None and not readers.empty():
                readers.get().close()

    @contextlib.contextmanager
    def reading(self, app: str) -> Iterator[None]:
        """Reads of a local file are cheap: always fresh."""
        del app
        yield

    # --- releases ---------------------------------------------------------------------
    @staticmethod
    def _release(row: sqlite3.Row) -> release_mod.Release:
        return release_mod.Release(
            id=row["id"],
            app=row["app"],
            source=row["source"],
            commit=row["git_commit"],
            images=tuple(release_mod.Image.from_dict(i) for i in json.loads(row["images"])),
            config_digest=row["config_digest"],
            created_at=row["created_at"],
            content=row["content"],
        )

    def put_release(
        self, release: release_mod.Release, *, event: records.NewEvent | None = None
    ) -> bool:
        if self._query("SELECT 1 FROM releases WHERE id = ?", (release.id,)):
            return False  # every reconcile offers its release: known, no write transaction
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO releases (id, app, source, git_commit, images, "
                "config_digest, created_at, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    release.id,
                    release.app,
                    release.source,
                    release.commit,
                    json.dumps([i.to_dict() for i in release.images]),
                    release.config_digest,
                    release.created_at,
                    release.content,
                ),
            )
            if cur.rowcount == 1 and event is not None:
                self._insert_new(db, event)
            return cur.rowcount == 1

    def release_by_content(self, app: str, content: str) -> release_mod.Release | None:
        rows = self._query(
            "SELECT * FROM releases WHERE app = ? AND content = ? "
            "ORDER BY created_at, rowid LIMIT 1",
            (app, content),
        )
        return self._release(rows[0]) if rows else None

    def set_release_content(self, *, app: str, release_id: str, content: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE releases SET content = ? WHERE app = ? AND id = ? AND content = ''",
                (content, app, release_id),
            )

    def get_release(self, app: str, ref: str) -> release_mod.Release | None:
        ref = ref.strip().lower()
        if not ref:
            return None
        rows = self._query(
            "SELECT * FROM releases WHERE app = ? AND substr(id, 1, ?) = ? LIMIT 2",
            (app, len(ref), ref),
        )
        if len(rows) > 1:
            raise errors.PermanentError(
                f"release prefix {ref!r} of app {app!r} is ambiguous: give more characters"
            )
        return self._release(rows[0]) if rows else None

    def releases(self, app: str, *, limit: int = 50) -> list[release_mod.Release]:
        rows = self._query(
            "SELECT * FROM releases WHERE app = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (app, limit),
        )
        return [self._release(r) for r in rows]

    # --- rollouts ---------------------------------------------------------------------
    @staticmethod
    def _target(row: sqlite3.Row) -> records.Target:
        return records.Target(
            id=row["id"],
            rollout_id=row["rollout_id"],
            app=row["app"],
            cluster=row["cluster"],
            release_id=row["release_id"],
            state=row["state"],
            attempts=row["attempts"],
            message=row["message"],
            started_at=row["started_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
        )

    def _rollout(self, row: sqlite3.Row) -> records.Rollout:
        targets = self._query(
            "SELECT * FROM targets WHERE rollout_id = ? ORDER BY id", (row["id"],)
        )
        return records.Rollout(
            id=row["id"],
            app=row["app"],
            release_id=row["release_id"],
            cause=row["cause"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
            targets=tuple(self._target(t) for t in targets),
        )

    def _target_by_id(self, db: sqlite3.Connection, target_id: int) -> records.Target:
        row = db.execute("SELECT * FROM targets WHERE id = ?", (target_id,)).fetchone()
        if row is None:
            raise errors.PermanentError(f"no rollout target {target_id} in {self.path}")
        return self._target(row)

    def _rollout_by_id(self, rollout_id: int) -> records.Rollout:
        return self._rollout(self._query("SELECT * FROM rollouts WHERE id = ?", (rollout_id,))[0])

    def begin_rollout(
        self, *, app: str, release_id: str, clusters: Sequence[str], cause: str
    ) -> records.Rollout:
        now = time.time()
        with self._tx() as db:
            rollout_id = self._begin(
                db, app=app, release_id=release_id, clusters=clusters, cause=cause, now=now
            )
        return self._rollout_by_id(rollout_id)

    def _begin(
        self,
        db: sqlite3.Connection,
        *,
        app: str,
        release_id: str,
        clusters: Sequence[str],
        cause: str,
        now: float,
    ) -> int:
        self._supersede(db, app=app, release_id=release_id, clusters=clusters, now=now)
        existing = db.execute(
            f"SELECT r.id FROM rollouts r JOIN targets t ON t.rollout_id = r.id "
            f"WHERE r.app = ? AND r.release_id = ? AND t.state IN ({_OPEN_MARKS}) "
            f"ORDER BY r.id DESC LIMIT 1",
            (app, release_id, *_OPEN),
        ).fetchone()
        if existing:
            rollout_id = int(existing["id"])
            have = {
                r["cluster"]
                for r in db.execute(
                    "SELECT cluster FROM targets WHERE rollout_id = ? "
                    f"AND state IN ({_OPEN_MARKS})",
                    (rollout_id, *_OPEN),
                )
            }
        else:
            cur = db.execute(
                "INSERT INTO rollouts (app, release_id, cause, created_at) VALUES (?,?,?,?)",
                (app, release_id, cause, now),
            )
            rollout_id = int(cur.lastrowid or 0)
            have = set()
            self._insert_event(
                db,
                app=app,
                kind="rollout",
                release_id=release_id,
                message=f"rollout of {release_id[:12]} to {', '.join(clusters)} ({cause})",
                data={"clusters": list(clusters), "cause": cause, "rollout": rollout_id},
            )
        for cluster in clusters:
            if cluster in have:
                continue
            db.execute(
                "INSERT INTO targets (rollout_id, app, cluster, release_id, state, "
                "started_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                (rollout_id, app, cluster, release_id, records.PENDING, now, now),
            )
        db.execute("UPDATE rollouts SET finished_at = NULL WHERE id = ?", (rollout_id,))
        return rollout_id

    def _supersede(
        self,
        db: sqlite3.Connection,
        *,
        app: str,
        release_id: str,
        clusters: Sequence[str],
        now: float,
    ) -> None:
        """Supersede unfinished targets of other releases on these clusters: the newer
        intent wins, and their history says so."""
        for cluster in clusters:
            stale = db.execute(
                f"SELECT id, release_id FROM targets WHERE app = ? AND cluster = ? "
                f"AND release_id != ? AND state IN ({_OPEN_MARKS})",
                (app, cluster, release_id, *_OPEN),
            ).fetchall()
            for row in stale:
                db.execute(
                    "UPDATE targets SET state = ?, message = ?, updated_at = ?, "
                    "finished_at = ? WHERE id = ?",
                    (
                        records.SUPERSEDED,
                        f"superseded by {release_id[:12]}",
                        now,
                        now,
                        row["id"],
                    ),
                )
                self._insert_event(
                    db,
                    app=app,
                    kind="superseded",
                    release_id=row["release_id"],
                    cluster=cluster,
                    message=f"superseded by release {release_id[:12]}",
                )

    def retry_targets(
        self, *, app: str, release_id: str, clusters: Sequence[str], reason: str
    ) -> list[str]:
        now = time.time()
        retried: list[str] = []
        with self._tx() as db:
            self._supersede(db, app=app, release_id=release_id, clusters=clusters, now=now)
            for cluster in clusters:
                row = db.execute(
                    "SELECT id, rollout_id, state FROM targets WHERE app = ? AND cluster = ? "
                    "AND release_id = ? ORDER BY id DESC LIMIT 1",
                    (app, cluster, release_id),
                ).fetchone()
                if row is None or row["state"] != records.FAILED:
                    continue
                db.execute(
                    "UPDATE targets SET state = ?, message = ?, updated_at = ?, "
                    "finished_at = NULL WHERE id = ?",
                    (records.PENDING, reason, now, row["id"]),
                )
                db.execute(
                    "UPDATE rollouts SET finished_at = NULL WHERE id = ?", (row["rollout_id"],)
                )
                retried.append(cluster)
        if retried:
            # One app-level entry (not one per cluster, so a cluster's own history keeps
            # its error once however often someone retries), once per retry in a row.
            self.record(
                app=app,
                kind="retry",
                release_id=release_id,
                message=f"retrying {release_id[:12]} on {', '.join(retried)} ({reason})",
                once=True,
            )
        return retried

    def roll_back(self, *, target_id: int, to_release: str, reason: str) -> records.Rollout:
        now = time.time()
        with self._tx() as db:
            failed = self._target_by_id(db, target_id)
            db.execute(
                "UPDATE targets SET state = ?, message = ?, updated_at = ?, finished_at = ? "
                "WHERE id = ?",
                (records.UNHEALTHY, reason, now, now, target_id),
            )
            self._track_deployment(db, target=self._target_by_id(db, target_id), now=now)
            earlier = db.execute(
                "SELECT reason FROM rejected WHERE app = ? AND release_id = ?",
                (failed.app, failed.release_id),
            ).fetchone()
            if earlier is None or not records.rejected_automatically(str(earlier[0])):
                self._reject(
                    db, app=failed.app, release_id=failed.release_id, reason=reason, now=now
                )
            rollout_id = self._begin(
                db,
                app=failed.app,
                release_id=to_release,
                clusters=[failed.cluster],
                cause="rollback",
                now=now,
            )
        return self._rollout_by_id(rollout_id)

    def set_target(
        self,
        target_id: int,
        *,
        state: str,
        message: str = "",
        attempt: bool = False,
        event: records.NewEvent | None = None,
    ) -> records.Target:
        if state not in records.TARGET_STATES:
            raise ValueError(f"unknown target state {state!r}: one of {records.TARGET_STATES}")
        now = time.time()
        finished = None if state in records.OPEN_STATES else now
        with self._tx() as db:
            db.execute(
                "UPDATE targets SET state = ?, message = ?, updated_at = ?, finished_at = ?, "
                "attempts = attempts + ? WHERE id = ?",
                (state, message, now, finished, 1 if attempt else 0, target_id),
            )
            target = self._target_by_id(db, target_id)
            self._track_deployment(db, target=target, now=now)
            remaining = db.execute(
                f"SELECT COUNT(*) FROM targets WHERE rollout_id = ? AND state IN ({_OPEN_MARKS})",
                (target.rollout_id, *_OPEN),
            ).fetchone()[0]
            if remaining == 0:
                db.execute(
                    "UPDATE rollouts SET finished_at = ? WHERE id = ?", (now, target.rollout_id)
                )
            if event is not None:
                self._insert_new(db, event)
        return target

    @staticmethod
    def _track_deployment(db: sqlite3.Connection, *, target: records.Target, now: float) -> None:
        """Keep ``deployments`` (what runs where) in step with target states."""
        if target.state not in (records.APPLIED, records.HEALTHY, records.UNHEALTHY):
            return
        healthy = target.state == records.HEALTHY
        prev = db.execute(
            "SELECT last_healthy_release FROM deployments WHERE app = ? AND cluster = ?",
            (target.app, target.cluster),
        ).fetchone()
        last_healthy = target.release_id if healthy else (prev[0] if prev else "")
        applied = now if target.state == records.APPLIED else None
        db.execute(
            "INSERT INTO deployments (app, cluster, release_id, healthy, last_healthy_release, "
            "updated_at, applied_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT (app, cluster) DO UPDATE "
            "SET release_id = excluded.release_id, healthy = excluded.healthy, "
            "last_healthy_release = excluded.last_healthy_release, "
            "updated_at = excluded.updated_at, "
            "applied_at = COALESCE(excluded.applied_at, deployments.applied_at)",
            (
                target.app, target.cluster, target.release_id, int(healthy), last_healthy,
                now, applied,
            ),
        )  # fmt: skip

    def open_rollouts(self, app: str | None = None) -> list[records.Rollout]:
        sql = (
            f"SELECT DISTINCT r.* FROM rollouts r JOIN targets t ON t.rollout_id = r.id "
            f"WHERE t.state IN ({_OPEN_MARKS})"
        )
        args: list[Any] = list(_OPEN)
        if app is not None:
            sql += " AND r.app = ?"
            args.append(app)
        return [self._rollout(r) for r in self._query(sql + " ORDER BY r.id", args)]

    def rollouts(self, app: str, *, limit: int = 50) -> list[records.Rollout]:
        rows = self._query(
            "SELECT * FROM rollouts WHERE app = ? ORDER BY id DESC LIMIT ?", (app, limit)
        )
        return [self._rollout(r) for r in rows]

    def get_rollout(self, rollout_id: int) -> records.Rollout | None:
        rows = self._query("SELECT * FROM rollouts WHERE id = ?", (rollout_id,))
        return self._rollout(rows[0]) if rows else None

    def latest_targets(self, app: str) -> dict[str, records.Target]:
        rows = self._query(
            "SELECT * FROM targets WHERE id IN (SELECT MAX(id) FROM targets WHERE app = ? "
            "AND state != ? GROUP BY cluster)",
            (app, records.SUPERSEDED),
        )
        return {r["cluster"]: self._target(r) for r in rows}

    def targets_of_release(self, app: str, release_id: str) -> list[records.Target]:
        rows = self._query(
            "SELECT * FROM targets WHERE app = ? AND release_id = ? ORDER BY id",
            (app, release_id),
        )
        return [self._target(r) for r in rows]

    # --- what runs where --------------------------------------------------------------
    def deployments(self, app: str) -> list[records.Deployment]:
        rows = self._query("SELECT * FROM deployments WHERE app = ? ORDER BY cluster", (app,))
        return [
            records.Deployment(
                app=r["app"],
                cluster=r["cluster"],
                release_id=r["release_id"],
                healthy=bool(r["healthy"]),
                last_healthy_release=r["last_healthy_release"],
                updated_at=r["updated_at"],
                applied_at=r["applied_at"],
            )
            for r in rows
        ]

    def last_healthy_release(self, app: str, *, exclude: Sequence[str] = ()) -> str | None:
        rows = self._query(
            "SELECT release_id, MAX(finished_at) AS at FROM targets WHERE app = ? AND state = ? "
            "AND release_id NOT IN (SELECT release_id FROM targets WHERE app = ? "
            "AND state IN (?, ?)) AND release_id NOT IN (SELECT release_id FROM rejected "
            "WHERE app = ?) GROUP BY release_id ORDER BY at DESC",
            (app, records.HEALTHY, app, records.UNHEALTHY, records.ROLLED_BACK, app),
        )
        for row in rows:
            if row["release_id"] not in exclude:
                return str(row["release_id"])
        return None

    def reject(self, *, app: str, release_id: str, reason: str) -> None:
        with self._tx() as db:
            self._reject(db, app=app, release_id=release_id, reason=reason, now=time.time())

    @staticmethod
    def _reject(
        db: sqlite3.Connection, *, app: str, release_id: str, reason: str, now: float
    ) -> None:
        db.execute(
            "INSERT INTO rejected VALUES (?,?,?,?) ON CONFLICT (app, release_id) "
            "DO UPDATE SET reason = excluded.reason, at = excluded.at",
            (app, release_id, reason, now),
        )

    def rejected(self, app: str) -> dict[str, str]:
        rows = self._query("SELECT release_id, reason FROM rejected WHERE app = ?", (app,))
        return {r["release_id"]: r["reason"] for r in rows}

    # --- history ----------------------------------------------------------------------
    def _insert_event(
        self,
        db: sqlite3.Connection,
        *,
        app: str,
        kind: str,
        message: str,
        release_id: str = "",
        cluster: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        now = time.time()
        text = json.dumps(data or {}, default=str)
        cur = db.execute(
            "INSERT INTO history (app, at, kind, release_id, cluster, message, data) "
            "VALUES (?,?,?,?,?,?,?)",
            (app, now, kind, release_id, cluster, message, text),
        )
        history_id = int(cur.lastrowid or 0)
        # The event enters the outbox with the change that caused it: a crash keeps
        # both or neither, and notifications are routed from here (``route_events``).
        waiting = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        if waiting >= OUTBOX_MAX:
            log.error(
                "app=%s event=%s not queued for notifications: %d events wait already",
                app, kind, waiting,
            )  # fmt: skip
            return
        event = records.Event(
            id=history_id, app=app, at=now, kind=kind, release_id=release_id, cluster=cluster,
            message=message, data=json.loads(text),
        )  # fmt: skip
        db.execute(
            "INSERT INTO outbox (history_id, event) VALUES (?,?)",
            (history_id, json.dumps(event.to_dict(), default=str)),
        )

    def _insert_new(self, db: sqlite3.Connection, event: records.NewEvent) -> None:
        self._insert_event(
            db, app=event.app, kind=event.kind, message=event.message,
            release_id=event.release_id, cluster=event.cluster, data=event.data,
        )  # fmt: skip

    def record(
        self,
        *,
        app: str,
        kind: str,
        message: str,
        release_id: str = "",
        cluster: str = "",
        data: dict[str, Any] | None = None,
        once: bool = False,
        key: str = "",
    ) -> bool:
        with self._tx() as db:
            if key:
                cur = db.execute(
                    "INSERT OR IGNORE INTO event_keys (key, at) VALUES (?,?)", (key, time.time())
                )
                if cur.rowcount == 0:
                    return False
            if once:
                last = db.execute(
                    "SELECT kind, message FROM history WHERE app = ? AND cluster = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (app, cluster),
                ).fetchone()
                if last is not None and (last["kind"], last["message"]) == (kind, message):
                    return False
            self._insert_event(
                db,
                app=app,
                kind=kind,
                message=message,
                release_id=release_id,
                cluster=cluster,
                data=data,
            )
        return True

    @staticmethod
    def _event(r: sqlite3.Row) -> records.Event:
        return records.Event(
            id=r["id"],
            app=r["app"],
            at=r["at"],
            kind=r["kind"],
            release_id=r["release_id"],
            cluster=r["cluster"],
            message=r["message"],
            data=json.loads(r["data"]),
        )

    def history(self, app: str, *, limit: int = 50) -> list[records.Event]:
        rows = self._query(
            "SELECT * FROM history WHERE app = ? ORDER BY id DESC LIMIT ?", (app, limit)
        )
        return [self._event(r) for r in rows]

    def trim_history(self, app: str, *, keep: int) -> int:
        (count,) = self._query("SELECT COUNT(*) FROM history WHERE app = ?", (app,))[0]
        if count <= keep:
            return 0  # the usual case, after every reconcile: no write transaction
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM history WHERE app = ? AND id < (SELECT COALESCE(MIN(id), 0) FROM "
                "(SELECT id FROM history WHERE app = ? ORDER BY id DESC LIMIT ?))",
                (app, app, keep),
            )
            return int(cur.rowcount)

    # --- inventories ------------------------------------------------------------------
    def set_inventory(self, *, app: str, cluster: str, objects: Sequence[str]) -> None:
        if self.inventory(app, cluster) == sorted(objects):
            return  # what was applied before: no write
        with self._tx() as db:
            db.execute(
                "INSERT INTO inventories VALUES (?,?,?,?) ON CONFLICT (app, cluster) "
                "DO UPDATE SET objects = excluded.objects, updated_at = excluded.updated_at",
                (app, cluster, json.dumps(sorted(objects)), time.time()),
            )

    def inventory(self, app: str, cluster: str) -> list[str] | None:
        rows = self._query(
            "SELECT objects FROM inventories WHERE app = ? AND cluster = ?", (app, cluster)
        )
        return list(json.loads(rows[0]["objects"])) if rows else None

    def inventories(self) -> dict[str, dict[str, list[str]]]:
        found: dict[str, dict[str, list[str]]] = {}
        for row in self._query("SELECT app, cluster, objects FROM inventories ORDER BY app"):
            objects = list(json.loads(row["objects"]))
            if objects:
                found.setdefault(row["app"], {})[row["cluster"]] = objects
        return found

    # --- polls ------------------------------------------------------------------------
    def set_seen_image(self, *, repository: str, policy: str, tag: str, digest: str) -> None:
        was = self.seen_image(repository, policy)
        if was is not None and (was.tag, was.digest) == (tag, digest):
            return  # seen before: no write
        with self._tx() as db:
            db.execute(
                "INSERT INTO seen_images VALUES (?,?,?,?,?) ON CONFLICT (repository, policy) "
                "DO UPDATE SET tag = excluded.tag, digest = excluded.digest, at = excluded.at",
                (repository, policy, tag, digest, time.time()),
            )

    def seen_image(self, repository: str, policy: str) -> records.SeenImage | None:
        rows = self._query(
            "SELECT * FROM seen_images WHERE repository = ? AND policy = ?", (repository, policy)
        )
        if not rows:
            return None
        r = rows[0]
        return records.SeenImage(
            repository=r["repository"],
            policy=r["policy"],
            tag=r["tag"],
            digest=r["digest"],
            at=r["at"],
        )

    def set_git_head(self, *, source: str, ref: str, commit: str) -> None:
        if self.git_head(source, ref) == commit:
            return  # seen before: no write
        with self._tx() as db:
            db.execute(
                "INSERT INTO git_heads VALUES (?,?,?,?) ON CONFLICT (source, ref) "
                "DO UPDATE SET git_commit = excluded.git_commit, at = excluded.at",
                (source, ref, commit, time.time()),
            )

    def git_head(self, source: str, ref: str) -> str | None:
        rows = self._query(
            "SELECT git_commit FROM git_heads WHERE source = ? AND ref = ?", (source, ref)
        )
        return str(rows[0][0]) if rows else None

    def set_write_back(self, *, app: str, images: Sequence[str], branch: str, commit: str) -> None:
        was = self.write_back(app)
        if was is not None and (list(was.images), was.branch, was.commit) == (
            sorted(images), branch, commit,
        ):  # fmt: skip
            return  # recorded before: no write
        with self._tx() as db:
            db.execute(
                "INSERT INTO write_backs VALUES (?,?,?,?,?) ON CONFLICT (app) DO UPDATE SET "
                "images = excluded.images, branch = excluded.branch, "
                "git_commit = excluded.git_commit, at = excluded.at",
                (app, json.dumps(sorted(images)), branch, commit, time.time()),
            )

    def write_back(self, app: str) -> records.WriteBack | None:
        rows = self._query("SELECT * FROM write_backs WHERE app = ?", (app,))
        if not rows:
            return None
        r = rows[0]
        return records.WriteBack(
            app=r["app"], images=tuple(json.loads(r["images"])), branch=r["branch"],
            commit=r["git_commit"], at=r["at"],
        )  # fmt: skip

    # --- errors and runs --------------------------------------------------------------
    def set_error(self, *, app: str, cluster: str = "", stage: str, message: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO errors VALUES (?,?,?,?,?,1) ON CONFLICT (app, cluster) DO UPDATE "
                "SET count = errors.count + 1, "
                "since = CASE WHEN errors.message = excluded.message THEN errors.since "
                "ELSE excluded.since END, stage = excluded.stage, message = excluded.message",
                (app, cluster, stage, message, time.time()),
            )

    def clear_error(self, *, app: str, cluster: str = "") -> None:
        if not any(e.cluster == cluster for e in self.errors(app)):
            return  # nothing to clear: no write transaction
        with self._tx() as db:
            db.execute("DELETE FROM errors WHERE app = ? AND cluster = ?", (app, cluster))

    def errors(self, app: str) -> list[records.AppError]:
        rows = self._query("SELECT * FROM errors WHERE app = ? ORDER BY cluster", (app,))
        return [
            records.AppError(
                app=r["app"],
                cluster=r["cluster"],
                stage=r["stage"],
                message=r["message"],
                since=r["since"],
                count=r["count"],
            )
            for r in rows
        ]

    def set_run(self, *, app: str, result: str, message: str, desired_release: str) -> None:
        now = time.time()
        outcome = {"result": result, "message": message, "desired_release": desired_release}
        if records.same_outcome(self._run(app), **outcome):
            self._attempts.note(app, at=now, ok=result == "ok")  # nothing new: no write
            return
        self._attempts.forget(app)
        success = now if result == "ok" else None
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?) ON CONFLICT (app) DO UPDATE SET "
                "last_attempt_at = excluded.last_attempt_at, "
                "last_success_at = COALESCE(excluded.last_success_at, runs.last_success_at), "
                "result = excluded.result, message = excluded.message, "
                "desired_release = excluded.desired_release",
                (app, now, success, result, message, desired_release),
            )

    def writer(self, app: str) -> dict[str, Any] | None:
        return None  # one process writes a state file: no shards

    def run(self, app: str) -> records.AppRun | None:
        return self._attempts.merge(self._run(app))

    def _run(self, app: str) -> records.AppRun | None:
        rows = self._query("SELECT * FROM runs WHERE app = ?", (app,))
        if not rows:
            return None
        r = rows[0]
        return records.AppRun(
            app=r["app"],
            last_attempt_at=r["last_attempt_at"],
            last_success_at=r["last_success_at"],
            result=r["result"],
            message=r["message"],
            desired_release=r["desired_release"],
        )

    # --- approvals --------------------------------------------------------------------
    @staticmethod
    def _approval(r: sqlite3.Row) -> records.Approval:
        return records.Approval(
            app=r["app"],
            stage=r["stage"],
            release_id=r["release_id"],
            requested_at=r["requested_at"],
            approved_at=r["approved_at"],
            approved_by=r["approved_by"],
        )

    def _approval_of(
        self, db: sqlite3.Connection, *, app: str, stage: str, release_id: str
    ) -> records.Approval:
        row = db.execute(
            "SELECT * FROM approvals WHERE app = ? AND stage = ? AND release_id = ?",
            (app, stage, release_id),
        ).fetchone()
        return self._approval(row)

    def request_approval(self, *, app: str, stage: str, release_id: str) -> records.Approval:
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO approvals (app, stage, release_id, requested_at) "
                "VALUES (?,?,?,?)",
                (app, stage, release_id, time.time()),
            )
            if cur.rowcount:
                # Once per release and stage: a request asked again is the same request.
                self._insert_event(
                    db, app=app, kind="approval", release_id=release_id,
                    message=f"promotion of {release_id[:12]} into {stage} waits for approval",
                    data={"stage": stage},
                )  # fmt: skip
            return self._approval_of(db, app=app, stage=stage, release_id=release_id)

    def approve(self, *, app: str, stage: str, by: str) -> records.Approval:
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM approvals WHERE app = ? AND stage = ? AND approved_at IS NULL "
                "ORDER BY requested_at DESC LIMIT 1",
                (app, stage),
            ).fetchone()
            if row is None:
                raise errors.PermanentError(
                    f"app {app!r} has no promotion waiting for approval into stage {stage!r}"
                )
            db.execute(
                "UPDATE approvals SET approved_at = ?, approved_by = ? WHERE app = ? "
                "AND stage = ? AND release_id = ?",
                (time.time(), by, app, stage, row["release_id"]),
            )
            self._insert_event(
                db,
                app=app,
                kind="approved",
                release_id=row["release_id"],
                message=f"promotion into {stage} approved by {by}",
                data={"stage": stage, "by": by},
            )
            return self._approval_of(db, app=app, stage=stage, release_id=row["release_id"])

    def reject_promotion(
        self, *, app: str, stage: str, release_id: str, by: str
    ) -> records.Approval:
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM approvals WHERE app = ? AND stage = ? AND release_id = ? "
                "AND approved_at IS NULL",
                (app, stage, release_id),
            ).fetchone()
            if row is None:
                raise errors.PermanentError(
                    f"app {app!r} has no promotion of release {release_id[:12]} waiting for "
                    f"approval into stage {stage!r}"
                )
            reason = f"promotion into {stage} rejected by {by}"
            self._reject(db, app=app, release_id=release_id, reason=reason, now=time.time())
            self._insert_event(
                db,
                app=app,
                kind="rejected",
                release_id=release_id,
                message=f"release {release_id[:12]}: {reason}",
            )
            return self._approval(row)

    def approvals(self, app: str) -> list[records.Approval]:
        rows = self._query(
            "SELECT * FROM approvals WHERE app = ? ORDER BY requested_at DESC", (app,)
        )
        return [self._approval(r) for r in rows]

    # --- holds ------------------------------------------------------------------------
    def hold(
        self, *, app: str, stage: str, kind: str, release_id: str = "", by: str, reason: str = ""
    ) -> records.Hold:
        if kind not in records.HOLD_KINDS:
            raise ValueError(f"unknown hold {kind!r}: one of {records.HOLD_KINDS}")
        held = records.Hold(
            app=app, stage=stage, kind=kind, release_id=release_id, by=by, at=time.time(),
            reason=reason,
        )  # fmt: skip
        with self._tx() as db:
            self._hold(db, held)
        return held

    def _hold(self, db: sqlite3.Connection, held: records.Hold) -> None:
        db.execute(
            "INSERT INTO holds VALUES (?,?,?,?,?,?,?) ON CONFLICT (app, stage, kind) "
            "DO UPDATE SET release_id = excluded.release_id, held_by = excluded.held_by, "
            "at = excluded.at, reason = excluded.reason",
            (held.app, held.stage, held.kind, held.release_id, held.by, held.at, held.reason),
        )
        self._insert_event(
            db, app=held.app, kind=held.kind, release_id=held.release_id,
            message=held.describe(), data={"stage": held.stage, "by": held.by},
        )  # fmt: skip

    def pin_rollback(
        self,
        *,
        app: str,
        stage: str,
        release_id: str,
        clusters: Sequence[str],
        leaving: Sequence[str],
        by: str,
        message: str,
    ) -> records.Hold:
        now = time.time()
        held = records.Hold(
            app=app, stage=stage, kind=records.PIN, release_id=release_id, by=by, at=now,
            reason="rollback",
        )  # fmt: skip
        with self._tx() as db:
            for rid in leaving:
                self._reject(db, app=app, release_id=rid, reason=f"rolled back by {by}", now=now)
            self._insert_event(db, app=app, kind="rollback", release_id=release_id, message=message)
            self._hold(db, held)
            self._begin(
                db, app=app, release_id=release_id, clusters=clusters, cause="rollback", now=now
            )
        return held

    # --- notification deliveries --------------------------------------------------------
    def route_events(self, *, route: records.Route, limit: int, max_pending: int) -> records.Routed:
        queued: list[records.NewDelivery] = []
        dropped: list[records.NewDelivery] = []
        if not self._query("SELECT 1 FROM outbox LIMIT 1"):
            # Nothing waits (the usual case, asked every second): no write transaction.
            return records.Routed(events=0, queued=queued, dropped=dropped)
        with self._tx() as db:
            rows = db.execute(
                "SELECT history_id, event FROM outbox ORDER BY history_id LIMIT ?", (limit,)
            ).fetchall()
            pending = int(
                db.execute(
                    "SELECT COUNT(*) FROM deliveries WHERE state = ?", (records.PENDING_DELIVERY,)
                ).fetchone()[0]
            )
            for row in rows:
                event = records.Event.from_dict(json.loads(row["event"]))
                for delivery in route(event):
                    if pending >= max_pending:
                        dropped.append(delivery)
                        continue
                    cur = db.execute(
                        "INSERT OR IGNORE INTO deliveries (id, provider, cluster, event, state, "
                        "created_at, next_at) VALUES (?,?,?,?,?,?,?)",
                        (delivery.id, delivery.provider, delivery.cluster, row["event"],
                         records.PENDING_DELIVERY, event.at, event.at),
                    )  # fmt: skip
                    if cur.rowcount:
                        pending += 1
                        queued.append(delivery)
                db.execute("DELETE FROM outbox WHERE history_id = ?", (row["history_id"],))
        return records.Routed(events=len(rows), queued=queued, dropped=dropped)

    @staticmethod
    def _delivery(r: sqlite3.Row) -> records.Delivery:
        return records.Delivery(
            id=r["id"],
            provider=r["provider"],
            cluster=r["cluster"],
            event=records.Event.from_dict(json.loads(r["event"])),
            state=r["state"],
            attempts=r["attempts"],
            last_error=r["last_error"],
            created_at=r["created_at"],
            next_at=r["next_at"],
            done_at=r["done_at"],
        )

    def due_deliveries(
        self, *, now: float, limit: int, skip: Collection[str] = ()
    ) -> list[records.Delivery]:
        skipped = sorted(skip)
        rows = self._query(
            "SELECT * FROM deliveries WHERE state = ? AND next_at <= ? "
            f"AND provider NOT IN ({','.join('?' * len(skipped))}) "
            "ORDER BY next_at, created_at LIMIT ?",
            (records.PENDING_DELIVERY, now, *skipped, limit),
        )
        return [self._delivery(r) for r in rows]

    def next_delivery_at(self) -> float | None:
        rows = self._query(
            "SELECT MIN(next_at) FROM deliveries WHERE state = ?", (records.PENDING_DELIVERY,)
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def finish_delivery(
        self, delivery_id: str, *, state: str, error: str = "", next_at: float | None = None
    ) -> None:
        if state not in records.DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {state!r}: one of {records.DELIVERY_STATES}")
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?, "
                "next_at = ?, done_at = ? WHERE id = ?",
                (
                    state, error, next_at if next_at is not None else now,
                    None if state == records.PENDING_DELIVERY else now, delivery_id,
                ),
            )  # fmt: skip
            if state != records.PENDING_DELIVERY:
                db.execute(
                    "DELETE FROM deliveries WHERE state != ? AND done_at < (SELECT "
                    "COALESCE(MIN(done_at), 0) FROM (SELECT done_at FROM deliveries "
                    "WHERE state != ? ORDER BY done_at DESC LIMIT ?))",
                    (records.PENDING_DELIVERY, records.PENDING_DELIVERY, FINISHED_DELIVERIES_KEPT),
                )

    def delivering(self, app: str) -> contextlib.AbstractContextManager[bool]:
        return contextlib.nullcontext(True)  # one writer (the state file's lock) sends

    def claim_delivery(self, delivery: records.Delivery, *, window: float) -> records.Claim:
        # The writer lock makes this process the only sender: nothing to record.
        return records.Claim(verdict=records.CLAIMED)

    def deliveries(self, *, limit: int = 100) -> list[records.Delivery]:
        rows = self._query(
            "SELECT * FROM deliveries ORDER BY created_at DESC, id LIMIT ?", (limit,)
        )
        return [self._delivery(r) for r in rows]

    def holds(self, app: str) -> list[records.Hold]:
        rows = self._query("SELECT * FROM holds WHERE app = ? ORDER BY stage, kind", (app,))
        return [
            records.Hold(
                app=r["app"],
                stage=r["stage"],
                kind=r["kind"],
                release_id=r["release_id"],
                by=r["held_by"],
                at=r["at"],
                reason=r["reason"],
            )
            for r in rows
        ]

    def release_holds(self, *, app: str, stage: str | None, by: str) -> list[records.Hold]:
        found = [h for h in self.holds(app) if stage is None or h.stage == stage]
        if not found:
            return []
        with self._tx() as db:
            for h in found:
                db.execute(
                    "DELETE FROM holds WHERE app = ? AND stage = ? AND kind = ?",
                    (app, h.stage, h.kind),
                )
                self._insert_event(
                    db, app=app, kind="resume", release_id=h.release_id,
                    message=f"resumed by {by}: no longer {h.describe()}",
                    data={"stage": h.stage, "by": by, "was": h.kind},
                )  # fmt: skip
        return found
