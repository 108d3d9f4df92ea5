"""``syncer history [-c FILE | --server URL] APP [-o wide|json|yaml]``: what happened to
an app, newest first.

Registered by ``syncer.cli``; ``GET /api/v1/apps/APP/history`` of a running syncer, or
the same answer from the state file (``syncer.commands.backend``): new releases,
rollouts, applies, health, rollbacks, drift, errors, and who approved, rejected,
rolled back or suspended, each with its cluster and release.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import errors, output
from syncer.commands import backend, common
from syncer.commands import status as status_cmd
from syncer.server import api

EXAMPLES = """examples:
  # the last 50 events of web: releases, rollouts, health, rollbacks, drift, errors
  syncer history -c deploy/syncer.yaml web
  # with the release each event is about, 200 events
  syncer history -c deploy/syncer.yaml web -n 200 -o wide
  # as a running syncer recorded it
  syncer history --server https://syncer.example.com web
  syncer history -c deploy/syncer.yaml web -o json | jq '.[] | select(.kind == "rollback")'
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show an app's history (releases, rollouts, rollbacks, errors)",
        description="An app's recorded history, newest first.",
        epilog=EXAMPLES,
    )
    backend.add_flags(parser)
    common.complete(parser.add_argument("app", metavar="APP", help="app name"), common.app_names)
    parser.add_argument("-n", "--limit", type=int, default=50, help="entries (default 50)")
    output.add_output_flag(parser, wide=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = backend.open_backend(args)
    try:
        try:
            data = source.get(f"apps/{args.app}/history", {"limit": args.limit})["history"]
        except errors.ConfigError as err:
            if not isinstance(source, backend.Local):
                raise
            data = _removed_app(source, app=args.app, limit=args.limit, err=err)
    finally:
        source.close()
    status_cmd.emit_listing(data, fmt=args.output, text=text)
    return 0


def _removed_app(
    source: backend.Local, *, app: str, limit: int, err: errors.ConfigError
) -> list[dict[str, Any]]:
    """An app removed from the config keeps its history in the state file (what became
    of its objects), though the API knows configured apps only."""
    ctl = source.controller
    if ctl.app_status(app) is not None:
        raise err  # a configured app: the API's own problem (a bad limit)
    kept = ctl.history(app, limit) if limit > 0 else []
    if kept:
        return list(api.iso_times(kept))
    names = ", ".join(a.name for a in ctl.config.apps) or "none"
    raise errors.ConfigError([f"no app named {app!r} in {source.path} (apps: {names})"])


COLUMNS = (
    output.Column("TIME", lambda e: status_cmd.when(e["at"])),
    output.Column("KIND", lambda e: e["kind"], coloured=True),
    output.Column("CLUSTER", lambda e: e["cluster"] or ""),
    output.Column("RELEASE", lambda e: (e.get("release") or "")[:12], wide=True),
    output.Column("MESSAGE", lambda e: e["message"]),
)
"""Newest first; ``-o wide`` adds the release each event is about."""


def text(events: list[dict[str, Any]], *, wide: bool = False) -> str:
    if not events:
        return "no history yet"
    return output.table(events, COLUMNS, wide=wide)
