"""``syncer history -c FILE APP [-o wide|json|yaml]``: what happened to an app, newest first.

Registered by ``syncer.cli``; reads the state file: new releases, rollouts, applies,
health, rollbacks, drift and errors, each with its cluster and release.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import errors, output
from syncer.commands import common
from syncer.commands import status as status_cmd

EXAMPLES = """examples:
  # the last 50 events of web: releases, rollouts, health, rollbacks, drift, errors
  syncer history -c deploy/syncer.yaml web
  # with the release each event is about, 200 events
  syncer history -c deploy/syncer.yaml web -n 200 -o wide
  syncer history -c deploy/syncer.yaml web -o json | jq '.[] | select(.kind == "rollback")'
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show an app's history (releases, rollouts, rollbacks, errors)",
        description="An app's recorded history, newest first.",
        epilog=EXAMPLES,
    )
    parser.add_argument("-c", "--config", default="syncer.yaml", help="config file")
    common.complete(parser.add_argument("app", metavar="APP", help="app name"), common.app_names)
    parser.add_argument("-n", "--limit", type=int, default=50, help="entries (default 50)")
    output.add_output_flag(parser, wide=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctl, store = status_cmd.read_only(args.config)
    try:
        # An app removed from the config keeps its history (what became of its objects).
        if ctl.app_status(args.app) is None and not ctl.history(args.app, 1):
            raise errors.ConfigError(
                [f"no app named {args.app!r} in {args.config} "
                 f"(apps: {', '.join(a.name for a in ctl.config.apps) or 'none'})"]
            )  # fmt: skip
        data = ctl.history(args.app, args.limit)
    finally:
        store.close()
    status_cmd.emit_listing(data, fmt=args.output, text=text)
    return 0


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
