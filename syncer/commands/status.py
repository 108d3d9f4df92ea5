"""``syncer status -c FILE [APP ...] [-o wide|json|yaml] [--watch]``: every app, the
release on each cluster, health.

Registered by ``syncer.cli``; reads the state file (what ``syncer run``/``sync``
recorded) through the same ``Controller.apps_status`` the HTTP API serves. Touches no
cluster, Git server or registry. Prints a table (one row per app and cluster) and, under
it, what holds or troubles each app; ``--watch`` reads and prints again through
``syncer.output.watch`` until interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

from syncer import controller, output, state
from syncer.commands import common
from syncer.config import loader
from syncer.reconcile import parts as parts_

EXAMPLES = """examples:
  # every app: release, health and last sync per cluster
  syncer status -c deploy/syncer.yaml
  # one app, with commit, images, apply time and error columns
  syncer status -c deploy/syncer.yaml web -o wide
  # follow it (Ctrl-C stops); as JSON Lines, one document per change
  syncer status -c deploy/syncer.yaml --watch
  syncer status -c deploy/syncer.yaml web --watch -o json | jq -r .[0].status
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show each app's release, clusters and health",
        description="What runs where, as recorded in the state file.",
        epilog=EXAMPLES,
    )
    parser.add_argument("-c", "--config", default="syncer.yaml", help="config file")
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
        help="with --watch: how often to read the state (default 2)",
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


class _NoParts:
    """Reading state needs no Git, registry or cluster access."""

    def cleanup(self) -> None:
        pass

    def close(self) -> None:
        pass


def read_only(config_path: str) -> tuple[controller.Controller, state.Store]:
    """A controller over the state file only (for status, history).

    With no state file yet it answers from an empty store rather than create the file,
    and says so on stderr.
    """
    config = loader.load(config_path)
    path = state.state_path(base_dir=config.base_dir, path=config.state.path)
    if not path.exists():
        print(
            f"syncer: no state yet at {path} (run `syncer sync` or `syncer run` first)",
            file=sys.stderr,
        )
    store = state.open_store(path if path.exists() else ":memory:")
    parts: parts_.Parts = _NoParts()  # type: ignore[assignment]
    return controller.Controller(config=config, store=store, parts=parts), store


def run(args: argparse.Namespace) -> int:
    if args.watch:
        return output.watch(
            lambda: for_format(_shown(args, fetch(args)), fmt=args.output),
            fmt=args.output, text=renderer(text, fmt=args.output),
            interval=args.interval, title=f"syncer status -c {args.config}",
        )  # fmt: skip
    emit_listing(_shown(args, fetch(args)), fmt=args.output, text=text)
    return 0


def fetch(args: argparse.Namespace) -> list[dict[str, Any]]:
    ctl, store = read_only(args.config)
    try:
        data = ctl.apps_status()
        common.check_apps(ctl.config, args.app, config_path=args.config)
    finally:
        store.close()
    return data


def _shown(args: argparse.Namespace, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The apps asked for."""
    return [a for a in data if not args.app or a["name"] in args.app]


def emit_listing(data: Any, *, fmt: str, text: Callable[..., str]) -> None:
    """Print a listing (status, history, releases): ``text(data, wide=...)`` for people,
    every field with ISO times for JSON and YAML."""
    output.emit(for_format(data, fmt=fmt), fmt=fmt, text=renderer(text, fmt=fmt))


def for_format(data: Any, *, fmt: str) -> Any:
    return data if fmt in (output.TEXT, output.WIDE) else iso_times(data)


def renderer(text: Callable[..., str], *, fmt: str) -> Callable[[Any], str]:
    return lambda data: text(data, wide=fmt == output.WIDE)


TIME_KEYS = frozenset({"at", "since"})


def iso_times(data: Any) -> Any:
    """``data`` with its timestamps (``*At``, ``at``, ``since``) as ISO-8601 UTC strings."""
    if isinstance(data, list):
        return [iso_times(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        timed = key in TIME_KEYS or (key.endswith("At") and key[:1].islower())
        if timed and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = iso(value)
        else:
            out[key] = iso_times(value)
    return out


def iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, tz=dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def when(ts: float | None) -> str:
    if not ts:
        return "never"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


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


def text(apps: list[dict[str, Any]], *, wide: bool = False) -> str:
    """The table, then, per app, what holds it and what is wrong (one line each)."""
    if not apps:
        return "no apps configured"
    rows = [{"app": a, "cluster": c} for a in apps for c in (a["clusters"] or [{}])]
    notes = [f"{a['name']}: {note}" for a in apps for note in _notes(a, wide=wide)]
    blocks = [output.table(rows, COLUMNS, wide=wide), "\n".join(notes)]
    return "\n\n".join(b for b in blocks if b)


def _notes(a: dict[str, Any], *, wide: bool) -> list[str]:
    lines = []
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
    if a["message"] and a["status"] != "Healthy":
        lines.append(f"last: {a['message']}")
    return lines


def _when(ts: float | None) -> str:
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
