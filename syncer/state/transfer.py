"""Copying a whole state between backends, losing nothing (``syncer state migrate``).

``syncer.commands.state`` calls ``export_*`` on the source and ``import_*`` on an empty
destination. Both speak one ``Snapshot``: per app, the document ``syncer.state.kube``
keeps (releases, rollouts with their targets, deployments, history, outbox,
inventories, errors, run, rejections, approvals, holds, write-back, event keys), plus
the poll results, the notification deliveries and event keys that name no app. Ids and
timestamps are kept as they are, so a release, a rollout or a delivery has the same id
on both sides and a round trip gives back an equal snapshot.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from syncer import errors
from syncer.state import kube, kubeobjects, sqlite

Snapshot = dict[str, Any]
"""``{"apps": {app: document}, "polls": …, "deliveries": …, "eventKeys": {key: at}}``."""

_LOCAL = ("number", "seq", "schema")
"""Fields of a Kubernetes app document that are bookkeeping of that backend only."""


def summary(snapshot: Snapshot) -> str:
    apps = snapshot["apps"].values()
    counts = {
        "apps": len(snapshot["apps"]),
        "releases": sum(len(a["releases"]) for a in apps),
        "rollouts": sum(len(a["rollouts"]) for a in apps),
        "history entries": sum(len(a["history"]) for a in apps),
        "deliveries": len(snapshot["deliveries"]),
    }
    return ", ".join(f"{n} {what}" for what, n in counts.items())


# --- Kubernetes ------------------------------------------------------------------------


def export_kube(store: kube.KubeStore) -> Snapshot:
    apps = {}
    for doc in store.objects.list(kind="app"):
        apps[doc.data["app"]] = _normal({k: v for k, v in doc.data.items() if k not in _LOCAL})
    polls = store.objects.get(kube.POLLS)
    deliveries = store.objects.get(kube.DELIVERIES)
    index = store.objects.get(kube.INDEX)
    return {
        "apps": apps,
        "polls": {
            k: v for k, v in (polls.data if polls else kube.new_polls()).items() if k != "schema"
        },
        "deliveries": deliveries.data["deliveries"] if deliveries else {},
        "eventKeys": dict(index.data.get("eventKeys", {})) if index else {},
    }


def import_kube(store: kube.KubeStore, snapshot: Snapshot) -> None:
    """Write ``snapshot`` into an empty Kubernetes state; every document is encoded
    (and checked against the size limit) before the first is written."""
    held = [
        d.name for kind in ("app", "polls", "deliveries") for d in store.objects.list(kind=kind)
    ]
    if held:
        raise errors.PermanentError(
            f"the Kubernetes state in {store.where} is not empty ({len(held)} state Secrets, "
            f"e.g. {held[0]}): migrate into an empty namespace, or delete them first"
        )
    first_free = 1 + max(
        (i >> kube.ID_SHIFT for a in snapshot["apps"].values() for i in _ids(a)), default=0
    )
    writes: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
    for number, (app, doc) in enumerate(sorted(snapshot["apps"].items()), start=first_free):
        data = {**kube.new_app(app, number=number), **doc, "number": number, "seq": 0}
        writes.append((kube.app_secret(app), "app", data, kube._app_labels(data)))
    polls = {**kube.new_polls(), **snapshot["polls"]}
    writes.append((kube.POLLS, "polls", polls, {}))
    deliveries = {**kube.new_deliveries(), "deliveries": snapshot["deliveries"]}
    writes.append((kube.DELIVERIES, "deliveries", deliveries, {}))
    for name, _kind, data, _labels in writes:
        size = len(kubeobjects._encode({**data, "schema": kubeobjects.SCHEMA}))
        if size > store.objects.max_bytes:
            raise errors.PermanentError(
                f"{store.objects.describe(name)} would be {size:,} bytes, over the limit of "
                f"{store.objects.max_bytes:,}; nothing was written: trim that app's history "
                "in the SQLite state first (or migrate fewer apps)"
            )
    for name, kind, data, labels in writes:
        store.objects.put(name, kind=kind, data=data, labels=labels)

    def index(data: dict[str, Any]) -> None:
        data["nextApp"] = max(int(data.get("nextApp", 1)), first_free + len(snapshot["apps"]))
        data["eventKeys"] = dict(snapshot["eventKeys"])

    store.objects.update(kube.INDEX, kind="index", new=lambda: {"nextApp": 1}, change=index)


def _ids(app: dict[str, Any]) -> list[int]:
    found = [e["id"] for e in app["history"]]
    for ro in app["rollouts"]:
        found += [ro["id"], *(t["id"] for t in ro["targets"])]
    return found


# --- SQLite ----------------------------------------------------------------------------


def export_sqlite(store: sqlite.SqliteStore) -> Snapshot:
    rows = store._query  # the store's own read path (locking, error wrapping)
    apps: dict[str, dict[str, Any]] = {}

    def app(name: str) -> dict[str, Any]:
        if name not in apps:
            apps[name] = {k: v for k, v in kube.new_app(name, number=0).items() if k not in _LOCAL}
        return apps[name]

    for r in rows("SELECT * FROM releases ORDER BY rowid"):
        app(r["app"])["releases"].append(sqlite.SqliteStore._release(r).to_dict())
    for r in rows("SELECT * FROM rollouts ORDER BY id"):
        targets = [
            {"id": t["id"], "cluster": t["cluster"], "release": t["release_id"],
             "state": t["state"], "attempts": t["attempts"], "message": t["message"],
             "startedAt": t["started_at"], "updatedAt": t["updated_at"],
             "finishedAt": t["finished_at"]}
            for t in rows("SELECT * FROM targets WHERE rollout_id = ? ORDER BY id", (r["id"],))
        ]  # fmt: skip
        app(r["app"])["rollouts"].append(
            {"id": r["id"], "release": r["release_id"], "cause": r["cause"],
             "createdAt": r["created_at"], "finishedAt": r["finished_at"], "targets": targets}
        )  # fmt: skip
    for r in rows("SELECT * FROM deployments ORDER BY app, cluster"):
        app(r["app"])["deployments"][r["cluster"]] = {
            "release": r["release_id"], "healthy": bool(r["healthy"]),
            "lastHealthyRelease": r["last_healthy_release"], "updatedAt": r["updated_at"],
            "lastAppliedAt": r["applied_at"],
        }  # fmt: skip
    for r in rows("SELECT * FROM history ORDER BY id"):
        app(r["app"])["history"].append(
            {"id": r["id"], "at": r["at"], "kind": r["kind"], "release": r["release_id"],
             "cluster": r["cluster"], "message": r["message"], "data": json.loads(r["data"])}
        )  # fmt: skip
    for r in rows("SELECT event FROM outbox ORDER BY history_id"):
        event = json.loads(r["event"])
        app(event["app"])["outbox"].append(event)
    for r in rows("SELECT * FROM inventories ORDER BY app, cluster"):
        app(r["app"])["inventories"][r["cluster"]] = {
            "objects": json.loads(r["objects"]), "updatedAt": r["updated_at"],
        }  # fmt: skip
    for r in rows("SELECT * FROM errors ORDER BY app, cluster"):
        app(r["app"])["errors"][r["cluster"]] = {
            "stage": r["stage"], "message": r["message"], "since": r["since"], "count": r["count"],
        }  # fmt: skip
    for r in rows("SELECT * FROM runs ORDER BY app"):
        app(r["app"])["run"] = {
            "lastAttemptAt": r["last_attempt_at"], "lastSuccessAt": r["last_success_at"],
            "result": r["result"], "message": r["message"], "desiredRelease": r["desired_release"],
        }  # fmt: skip
    for r in rows("SELECT * FROM rejected ORDER BY app, release_id"):
        app(r["app"])["rejected"][r["release_id"]] = {"reason": r["reason"], "at": r["at"]}
    for r in rows("SELECT * FROM approvals ORDER BY rowid"):
        app(r["app"])["approvals"].append(
            {"stage": r["stage"], "release": r["release_id"], "requestedAt": r["requested_at"],
             "approvedAt": r["approved_at"], "approvedBy": r["approved_by"]}
        )  # fmt: skip
    for r in rows("SELECT * FROM holds ORDER BY rowid"):
        app(r["app"])["holds"].append(
            {"stage": r["stage"], "kind": r["kind"], "release": r["release_id"],
             "by": r["held_by"], "at": r["at"], "reason": r["reason"]}
        )  # fmt: skip
    for r in rows("SELECT * FROM write_backs ORDER BY app"):
        app(r["app"])["writeBack"] = {
            "images": json.loads(r["images"]), "branch": r["branch"], "commit": r["git_commit"],
            "at": r["at"],
        }  # fmt: skip
    loose: dict[str, float] = {}
    for r in rows("SELECT * FROM event_keys ORDER BY key"):
        # Keys are made per app (``syncer.notify.worker``: "what\0app\0…"); one that names
        # no known app is kept beside the apps.
        parts = str(r["key"]).split("\0")
        if len(parts) > 1 and parts[1] in apps:
            apps[parts[1]]["eventKeys"][r["key"]] = r["at"]
        else:
            loose[r["key"]] = r["at"]
    polls: dict[str, Any] = {"images": {}, "heads": {}}
    for r in rows("SELECT * FROM seen_images ORDER BY repository, policy"):
        polls["images"].setdefault(r["repository"], {})[r["policy"]] = {
            "tag": r["tag"], "digest": r["digest"], "at": r["at"],
        }  # fmt: skip
    for r in rows("SELECT * FROM git_heads ORDER BY source, ref"):
        polls["heads"].setdefault(r["source"], {})[r["ref"]] = {
            "commit": r["git_commit"], "at": r["at"],
        }  # fmt: skip
    deliveries = {
        r["id"]: {
            "provider": r["provider"],
            "cluster": r["cluster"],
            "event": json.loads(r["event"]),
            "state": r["state"],
            "attempts": r["attempts"],
            "lastError": r["last_error"],
            "createdAt": r["created_at"],
            "nextAt": r["next_at"],
            "doneAt": r["done_at"],
        }
        for r in rows("SELECT * FROM deliveries ORDER BY created_at, id")
    }
    return {
        "apps": {name: _normal(a) for name, a in apps.items()},
        "polls": polls,
        "deliveries": deliveries,
        "eventKeys": loose,
    }


def import_sqlite(store: sqlite.SqliteStore, snapshot: Snapshot) -> None:
    """Write ``snapshot`` into an empty SQLite state, in one transaction."""
    if store._query("SELECT 1 FROM history UNION ALL SELECT 1 FROM releases LIMIT 1"):
        raise errors.PermanentError(
            f"state file {store.path} is not empty: migrate into a new file"
        )
    try:
        with store._tx() as db:
            for name, a in sorted(snapshot["apps"].items()):
                _import_app(db, name, a)
            for repository, policies in snapshot["polls"]["images"].items():
                for policy, x in policies.items():
                    db.execute("INSERT INTO seen_images VALUES (?,?,?,?,?)",
                               (repository, policy, x["tag"], x["digest"], x["at"]))  # fmt: skip
            for source, refs in snapshot["polls"]["heads"].items():
                for ref, x in refs.items():
                    db.execute("INSERT INTO git_heads VALUES (?,?,?,?)",
                               (source, ref, x["commit"], x["at"]))  # fmt: skip
            for delivery_id, x in snapshot["deliveries"].items():
                db.execute(
                    "INSERT INTO deliveries (id, provider, cluster, event, state, attempts, "
                    "last_error, created_at, next_at, done_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (delivery_id, x["provider"], x["cluster"], json.dumps(x["event"]),
                     x["state"], x["attempts"], x["lastError"], x["createdAt"], x["nextAt"],
                     x["doneAt"]),
                )  # fmt: skip
            for key, at in snapshot["eventKeys"].items():
                db.execute("INSERT INTO event_keys VALUES (?,?)", (key, at))
    except sqlite3.Error as err:
        raise errors.PermanentError(f"state file {store.path}: {err}") from err


def _import_app(db: sqlite3.Connection, name: str, a: dict[str, Any]) -> None:
    for r in a["releases"]:
        db.execute(
            "INSERT INTO releases (id, app, source, git_commit, images, config_digest, "
            "created_at, content) VALUES (?,?,?,?,?,?,?,?)",
            (r["id"], name, r["source"], r["commit"], json.dumps(r["images"]), r["configDigest"],
             r["createdAt"], r["content"]),
        )  # fmt: skip
    for ro in a["rollouts"]:
        db.execute("INSERT INTO rollouts VALUES (?,?,?,?,?,?)",
                   (ro["id"], name, ro["release"], ro["cause"], ro["createdAt"],
                    ro["finishedAt"]))  # fmt: skip
        for t in ro["targets"]:
            db.execute(
                "INSERT INTO targets VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (t["id"], ro["id"], name, t["cluster"], t["release"], t["state"], t["attempts"],
                 t["message"], t["startedAt"], t["updatedAt"], t["finishedAt"]),
            )  # fmt: skip
    for cluster, x in a["deployments"].items():
        db.execute(
            "INSERT INTO deployments (app, cluster, release_id, healthy, last_healthy_release, "
            "updated_at, applied_at) VALUES (?,?,?,?,?,?,?)",
            (name, cluster, x["release"], int(x["healthy"]), x["lastHealthyRelease"],
             x["updatedAt"], x["lastAppliedAt"]),
        )  # fmt: skip
    for e in a["history"]:
        db.execute("INSERT INTO history VALUES (?,?,?,?,?,?,?,?)",
                   (e["id"], name, e["at"], e["kind"], e["release"], e["cluster"], e["message"],
                    json.dumps(e["data"])))  # fmt: skip
    for e in a["outbox"]:
        db.execute("INSERT INTO outbox VALUES (?,?)", (e["id"], json.dumps(e)))
    for cluster, x in a["inventories"].items():
        db.execute("INSERT INTO inventories VALUES (?,?,?,?)",
                   (name, cluster, json.dumps(x["objects"]), x["updatedAt"]))  # fmt: skip
    for cluster, x in a["errors"].items():
        db.execute("INSERT INTO errors VALUES (?,?,?,?,?,?)",
                   (name, cluster, x["stage"], x["message"], x["since"], x["count"]))  # fmt: skip
    if a["run"] is not None:
        x = a["run"]
        db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?)",
                   (name, x["lastAttemptAt"], x["lastSuccessAt"], x["result"], x["message"],
                    x["desiredRelease"]))  # fmt: skip
    for rid, x in a["rejected"].items():
        db.execute("INSERT INTO rejected VALUES (?,?,?,?)", (name, rid, x["reason"], x["at"]))
    for x in a["approvals"]:
        db.execute("INSERT INTO approvals VALUES (?,?,?,?,?,?)",
                   (name, x["stage"], x["release"], x["requestedAt"], x["approvedAt"],
                    x["approvedBy"]))  # fmt: skip
    for h in a["holds"]:
        db.execute("INSERT INTO holds VALUES (?,?,?,?,?,?,?)",
                   (name, h["stage"], h["kind"], h["release"], h["by"], h["at"],
                    h["reason"]))  # fmt: skip
    if a["writeBack"] is not None:
        x = a["writeBack"]
        db.execute("INSERT INTO write_backs VALUES (?,?,?,?,?)",
                   (name, json.dumps(x["images"]), x["branch"], x["commit"], x["at"]))  # fmt: skip
    for key, at in a["eventKeys"].items():
        db.execute("INSERT INTO event_keys VALUES (?,?)", (key, at))


def _normal(app: dict[str, Any]) -> dict[str, Any]:
    """One order for what both backends keep unordered (a hold replaced in place in
    SQLite is appended anew in Kubernetes)."""
    app["holds"].sort(key=lambda h: (h["stage"], h["kind"]))
    app["approvals"].sort(key=lambda a: (a["requestedAt"], a["stage"], a["release"]))
    return app
