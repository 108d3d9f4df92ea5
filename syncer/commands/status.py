"""``syncer status [-c FILE | --server URL] [APP ...] [-o wide|json|yaml] [--watch]``:
every app, the release on each cluster, health.

Registered by ``syncer.cli``; asks ``GET /api/v1/apps`` of a running syncer, or answers
it from the state file (what ``syncer run``/``sync`` recorded) through the same API
function (``syncer.commands.backend``). Touches no cluster, Git server or registry.
Prints a table (one row per app and cluster) and, under it, what holds or troubles each
app; ``--watch`` asks and prints again through ``syncer.output.watch`` until interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from syncer import errors, output
from syncer.commands import backend, common

EXAMPLES = """examples:
  # every app: release, health and last sync per cluster
  syncer status -c deploy/syncer.yaml
  # one app, with commit, images, apply time and error columns
  syncer status -c deploy/syncer.yaml web -o wide
  # follow it (Ctrl-C stops); as JSON Lines, one document per change
  syncer status -c deploy/syncer.yaml --watch
  syncer status -c deploy/syncer.yaml web --watch -o json | jq -r .[0].status
  # as a running syncer says
  syncer status --server https://syncer.example.com web
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show each app's release, clusters and health",
        description="What runs where: as recorded in the state file, or as a running "
        "syncer (--server) says.",
        epilog=EXAMPLES,
    )
    backend.add_flags(parser)
    common.complete(
        parser.add_argument("app", nargs="*", metavar="APP", help="only these apps"),
        common.app_names,
    )
    output.add_output_flag(parser, wide=True)
    parser.add_argument(
        "-w", "--watch", action="store_true",
        help="print again whenever the status changes, until Ctrl-C (exit 0)",
    )  # fmt: skip
    parser.add_argument(
        "--interval", type=_seconds, default=2.0, metavar="SECONDS",
        help="with --watch: how often to ask (default 2)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds between 0.1 and 3600")
    return value


def run(args: argparse.Namespace) -> int:
    if args.watch:
        server = backend.server_of(args)[0]
        where = f"--server {server}" if server else f"-c {backend.config_path(args)}"
        return output.watch(
            lambda: fetch(args),
            fmt=args.output, text=renderer(text, fmt=args.output),
            interval=args.interval, title=f"syncer status {where}",
        )  # fmt: skip
    emit_listing(fetch(args), fmt=args.output, text=text)
    return 0


def fetch(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The apps asked for, as the API answers (asked anew each time: ``--watch``)."""
    source = backend.open_backend(args)
    try:
        data: list[dict[str, Any]] = source.get("apps")["apps"]
    finally:
        source.close()
    names = [a["name"] for a in data]
    unknown = [w for w in args.app or [] if w not in names]
    if unknown:
        where = source.path if isinstance(source, backend.Local) else source.where
        raise errors.ConfigError(
            [f"APP {u}: no such app in {where} (apps: {', '.join(names) or 'none'})"
             for u in unknown]
        )  # fmt: skip
    return [a for a in data if not args.app or a["name"] in args.app]


def emit_listing(data: Any, *, fmt: str, text: Callable[..., str]) -> None:
    """Print a listing (status, history, releases): ``text(data, wide=...)`` for people,
    every field as the API gives it for JSON and YAML."""
    output.emit(data, fmt=fmt, text=renderer(text, fmt=fmt))


def renderer(text: Callable[..., str], *, fmt: str) -> Callable[[Any], str]:
    return lambda data: text(data, wide=fmt == output.WIDE)


def when(ts: float | str | None) -> str:
    """A time for people; ``ts`` as the API gives it (ISO-8601) or seconds since 1970."""
    at = output.moment(ts)
    if at is None:
        return "never"
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


COLUMNS = (
    output.Column("APP", lambda r: r["app"]["name"]),
    output.Column("STATUS", lambda r: r["app"]["status"], coloured=True),
    output.Column("CLUSTER", lambda r: r["cluster"].get("cluster", "")),
    output.Column("HEALTH", lambda r: _health_word(r["cluster"]), coloured=True),
    output.Column("RELEASE", lambda r: r["cluster"].get("release", "")[:12]),
    output.Column("SYNCED", lambda r: output.age(r["app"]["lastAttemptAt"])),
    output.Column("COMMIT", lambda r: r["cluster"].get("commit", "")[:7], wide=True),
    output.Column(
        "IMAGES", lambda r: ",".join(short_image(i) for i in r["cluster"].get("images", [])),
        wide=True,
    ),
    output.Column("APPLIED", lambda r: _when(r["cluster"].get("lastAppliedAt")), wide=True),
    output.Column("MESSAGE", lambda r: r["cluster"].get("error", ""), wide=True),
)  # fmt: skip
"""One row per app and cluster (an app with no cluster yet has one row); ``-o wide``
adds what runs there and its error, like ``kubectl get -o wide``."""

OWNER = output.Column("OWNER", lambda r: r["app"].get("owner") or "-")
"""With shards (``syncer run --shards``): the replica working on the app, shown when
any app has one."""


def text(apps: list[dict[str, Any]], *, wide: bool = False) -> str:
    """The table, then, per app, what holds it and what is wrong (one line each)."""
    if not apps:
        return "no apps configured"
    rows = [{"app": a, "cluster": c} for a in apps for c in (a["clusters"] or [{}])]
    notes = [f"{a['name']}: {note}" for a in apps for note in _notes(a, wide=wide)]
    columns = (*COLUMNS, OWNER) if any(a.get("owner") for a in apps) else COLUMNS
    blocks = [output.table(rows, columns, wide=wide), "\n".join(notes)]
    return "\n\n".join(b for b in blocks if b)


def _notes(a: dict[str, Any], *, wide: bool) -> list[str]:
    lines = []
    if wide and a.get("origin"):
        lines.append(f"defined by tenant {a['tenant']} in {a['origin']}")
    for c in a["clusters"]:
        if not c["release"]:
            # Never got a release (unreachable, bad kubeconfig context): say why.
            lines.append(f"{c['cluster']}: not deployed: {c.get('error') or 'no release yet'}")
        elif c.get("health") == "Unknown":
            lines.append(f"{c['cluster']}: health unknown (cluster not answering)")
    for hold in a.get("holds", []):
        stage = f" --stage {hold['stage']}" if hold["stage"] else ""
        lines.append(f"{hold['message']} (`syncer resume {a['name']}{stage}`)")
    lines += a.get("waiting", [])
    lines += [f"warning: {warning}" for warning in a.get("warnings", [])]
    for e in a["errors"]:
        if wide and e["cluster"]:
            continue  # in the MESSAGE column already
        where = f"{e['cluster']}: " if e["cluster"] else ""
        lines.append(f"{output.state('error')}: {where}{e['stage']}: {e['message']}")
    lines += _write_back(a.get("writeBack"))
    if a["message"] and a["status"] != "Healthy":
        lines.append(f"last: {a['message']}")
    return lines


def _write_back(found: dict[str, Any] | None) -> list[str]:
    """Where Git was last told the app's images, and what it has not been told yet."""
    if not found:
        return []
    lines = []
    if found["commit"]:
        lines.append(
            f"write-back: commit {found['commit'][:7]} on {found['branch']} at {when(found['at'])}"
        )
    if found["pending"]:
        images = " ".join(short_image(ref) for ref in found["pending"])
        lines.append(f"write-back pending: {images}")
    return lines


def _when(ts: float | str | None) -> str:
    return when(ts) if ts else ""


def _health_word(cluster: dict[str, Any]) -> str:
    """The cluster's health in a word; ``-`` for an app with no cluster yet."""
    if not cluster:
        return ""
    return cluster.get("health") or ("Healthy" if cluster.get("healthy") else "Unhealthy")


def short_image(ref: str) -> str:
    """``host/team/web:1.4.2@sha256:<64 hex>`` -> ``web:1.4.2@sha256:<12 hex>``."""
    name, at, digest = ref.partition("@")
    name = name.rsplit("/", 1)[-1]
    return f"{name}{at}{digest[:19]}" if at else name
